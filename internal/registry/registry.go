// Package registry is the sharded session table the emulated transports
// (Engine.IO, SockJS) keep: sessions by id, looked up by every request
// concurrently, walked by one sweeper goroutine.
//
// A Map is safe for concurrent use. Its shards have a mutex each; no
// callback runs with a shard lock held except LoadOrCreate's create.
package registry

import (
	"hash/maphash"
	"sync"
	"time"
)

const numShards = 64

type shard[V comparable] struct {
	mu sync.Mutex
	m  map[string]V
}

// Map maps session ids to sessions (V, a pointer type). The zero Map is
// not usable: make one with New.
type Map[V comparable] struct {
	seed   maphash.Seed
	shards [numShards]shard[V]
}

// New returns an empty Map.
func New[V comparable]() *Map[V] {
	m := &Map[V]{seed: maphash.MakeSeed()}
	for i := range m.shards {
		m.shards[i].m = make(map[string]V)
	}
	return m
}

func (m *Map[V]) shard(id string) *shard[V] {
	return &m.shards[maphash.String(m.seed, id)%numShards]
}

// Get returns the session id, the zero V if there is none.
func (m *Map[V]) Get(id string) V {
	sh := m.shard(id)
	sh.mu.Lock()
	v := sh.m[id]
	sh.mu.Unlock()
	return v
}

// LoadOrCreate returns the session id, or stores and returns create() when
// there is none (created reports which). create runs with the id's shard
// locked: it must be quick and must not use the Map.
func (m *Map[V]) LoadOrCreate(id string, create func() V) (v V, created bool) {
	sh := m.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if v, ok := sh.m[id]; ok {
		return v, false
	}
	v = create()
	sh.m[id] = v
	return v, true
}

// Add stores v under id unless the id is taken; it reports whether it did.
func (m *Map[V]) Add(id string, v V) bool {
	sh := m.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, dup := sh.m[id]; dup {
		return false
	}
	sh.m[id] = v
	return true
}

// Remove removes id if it still maps to v.
func (m *Map[V]) Remove(id string, v V) {
	sh := m.shard(id)
	sh.mu.Lock()
	if sh.m[id] == v {
		delete(sh.m, id)
	}
	sh.mu.Unlock()
}

// Len returns the number of sessions.
func (m *Map[V]) Len() int {
	n := 0
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// Append appends every session to buf and returns it.
func (m *Map[V]) Append(buf []V) []V {
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		for _, v := range sh.m {
			buf = append(buf, v)
		}
		sh.mu.Unlock()
	}
	return buf
}

// Sweep calls tick for every session every period (with the time, unix
// ns) until stop is closed, then closes done. It is the one timer of a
// transport's sessions: walking them costs a lock and a few comparisons
// each, far below a timer per session. No shard lock is held during tick.
func (m *Map[V]) Sweep(every time.Duration, stop <-chan struct{}, done chan<- struct{}, tick func(v V, now int64)) {
	defer close(done)
	t := time.NewTicker(every)
	defer t.Stop()
	var buf []V
	var zero V
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		now := time.Now().UnixNano()
		buf = m.Append(buf[:0])
		for i, v := range buf {
			tick(v, now)
			buf[i] = zero
		}
	}
}
