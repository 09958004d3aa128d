package poller

import (
	"net"
	"net/netip"
	"strconv"
	"sync"
)

// ipLimits bounds what one client address may hold and open:
// Config.MaxConnsPerIP TCP connections at once, and Config.ConnectRatePerIP
// new ones per second (a token bucket of ConnectBurstPerIP). A connection
// past either is counted when accepted and answered 429 with Retry-After
// when its first request head arrives, before any upgrade or stream; the
// other addresses are not affected. Entries of addresses with no
// connection left and a full bucket are dropped by the sweeper.
type ipLimits struct {
	maxConns int32
	rate     float64 // tokens per second; 0: no rate limit
	burst    float64
	shards   [64]ipShard
}

type ipShard struct {
	mu sync.Mutex
	m  map[netip.Addr]*ipEntry
}

// ipEntry is one client address (guarded by its shard's mu).
type ipEntry struct {
	addr   netip.Addr
	conns  int32
	tokens float64
	at     int64 // unix ns of the last refill
}

// ipRefusal says why a connection is refused (Conn.ipRefused).
const (
	ipOK uint8 = iota
	ipTooMany
	ipTooFast
)

func (l *ipLimits) init(maxConns int, rate float64, burst int) {
	l.maxConns, l.rate = int32(max(maxConns, 0)), max(rate, 0)
	l.burst = float64(max(burst, 1))
	if l.rate > 0 && burst <= 0 {
		l.burst = max(l.rate, 1)
	}
	for i := range l.shards {
		l.shards[i].m = make(map[netip.Addr]*ipEntry)
	}
}

func (l *ipLimits) enabled() bool { return l.maxConns > 0 || l.rate > 0 }

func (l *ipLimits) shard(a netip.Addr) *ipShard {
	b := a.As16()
	return &l.shards[(b[15]^b[13]^b[11])&63]
}

// open counts a new connection from addr at now (unix ns) and says whether
// it is within the limits. The entry is returned for close.
func (l *ipLimits) open(addr netip.Addr, now int64) (*ipEntry, uint8) {
	sh := l.shard(addr)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.m[addr]
	if e == nil {
		e = &ipEntry{addr: addr, tokens: l.burst, at: now}
		sh.m[addr] = e
	}
	e.conns++
	if l.maxConns > 0 && e.conns > l.maxConns {
		return e, ipTooMany
	}
	if l.rate > 0 {
		e.tokens = min(l.burst, e.tokens+float64(now-e.at)/1e9*l.rate)
		e.at = now
		if e.tokens < 1 {
			return e, ipTooFast
		}
		e.tokens--
	}
	return e, ipOK
}

// close uncounts a connection of e.
func (l *ipLimits) close(e *ipEntry) {
	sh := l.shard(e.addr)
	sh.mu.Lock()
	e.conns--
	sh.mu.Unlock()
}

// sweep drops the entries that hold nothing: no connection and a full
// bucket (an address that comes back starts afresh, as it would then).
func (l *ipLimits) sweep(now int64) {
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		for a, e := range sh.m {
			if e.conns <= 0 && (l.rate == 0 || e.tokens+float64(now-e.at)/1e9*l.rate >= l.burst) {
				delete(sh.m, a)
			}
		}
		sh.mu.Unlock()
	}
}

// addrs returns the number of addresses tracked.
func (l *ipLimits) addrs() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// clientAddr is the IP of a remote address (zero if it has none).
func clientAddr(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return ip.Unmap()
		}
	}
	return netip.Addr{}
}

// ipRefusalResponse is the 429 a connection refused by ipLimits gets.
func (l *ipLimits) response(why uint8) []byte {
	body, retry := "too many connections from your address", "5"
	if why == ipTooFast {
		body = "too many new connections from your address: at most " +
			strconv.FormatFloat(l.rate, 'f', -1, 64) + " per second"
		retry = strconv.Itoa(max(1, int(1/l.rate+0.999)))
	}
	return []byte("HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nRetry-After: " +
		retry + "\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}
