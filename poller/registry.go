package poller

import "sync"

const regShards = 64

// registry holds every connection for the sweeper and for Shutdown. It is
// sharded by fd; each shard is a slice with swap-remove, 8 bytes per
// connection.
type registry struct {
	shards [regShards]regShard
}

type regShard struct {
	mu    sync.Mutex
	conns []*Conn // guarded by mu; conns[i].regIdx == i
}

func (r *registry) init() {}

func (r *registry) shard(c *Conn) *regShard { return &r.shards[uint(c.fd)%regShards] }

func (r *registry) add(c *Conn) {
	sh := r.shard(c)
	sh.mu.Lock()
	c.regIdx = int32(len(sh.conns))
	sh.conns = append(sh.conns, c)
	sh.mu.Unlock()
}

func (r *registry) remove(c *Conn) {
	sh := r.shard(c)
	sh.mu.Lock()
	i := int(c.regIdx)
	if i >= 0 && i < len(sh.conns) && sh.conns[i] == c {
		last := len(sh.conns) - 1
		sh.conns[i] = sh.conns[last]
		sh.conns[i].regIdx = int32(i)
		sh.conns[last] = nil
		sh.conns = sh.conns[:last]
		c.regIdx = -1
	}
	sh.mu.Unlock()
}

// appendShard appends the connections of shard i to dst.
func (r *registry) appendShard(dst []*Conn, i int) []*Conn {
	sh := &r.shards[i]
	sh.mu.Lock()
	dst = append(dst, sh.conns...)
	sh.mu.Unlock()
	return dst
}

// snapshot returns every connection.
func (r *registry) snapshot() []*Conn {
	var all []*Conn
	for i := range r.shards {
		all = r.appendShard(all, i)
	}
	return all
}
