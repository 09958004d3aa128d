package poller

import (
	"time"
)

// sweepInterval is the sweeper's tick and so the precision of every timeout.
const sweepInterval = time.Second

// sweep enforces handshake, idle and close timeouts, sends pings and queues
// the heartbeats of silent HTTP streams. It visits
// every connection once per tick, one registry shard at a time, without holding
// a shard lock while it acts.
func (s *Server) sweep() {
	defer s.wg.Done()
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	clock := time.NewTicker(10 * time.Millisecond)
	defer clock.Stop()
	var scratch []*Conn
	for {
		select {
		case <-s.done:
			return
		case now := <-clock.C:
			s.clock.Store(now.UnixNano())
			continue
		case now := <-t.C:
			s.clock.Store(now.UnixNano())
		}
		now := s.now()
		if s.ipl.enabled() {
			s.ipl.sweep(now)
		}
		for i := range s.reg.shards {
			scratch = s.reg.appendShard(scratch[:0], i)
			for _, c := range scratch {
				s.check(c, now)
			}
			clear(scratch)
		}
	}
}

func (s *Server) check(c *Conn, now int64) {
	c.mu.Lock()
	st, since := c.state, c.since
	var partial bool
	var hb Heartbeater
	var lastSend int64
	h := c.h
	if h != nil {
		partial, hb, lastSend = h.partial || h.busy, h.hb, h.lastSend
	}
	c.mu.Unlock()
	if c.tls != nil {
		c.tls.trimIdle(time.Duration(now - c.lastRead.Load()))
	}
	switch st {
	case stHandshake:
		switch {
		case h == nil:
			if now-since > int64(s.cfg.HandshakeTimeout) {
				c.hardClose(ReasonHandshakeTimeout)
			}
		case partial:
			if now-since > int64(s.cfg.HandshakeTimeout) {
				c.CloseWith(0, "", ReasonHandshakeTimeout)
			}
		case now-since > int64(s.cfg.IdleTimeout):
			c.CloseWith(0, "", ReasonIdleTimeout) // a kept-alive connection with no next request
		}
	case stStream:
		// The client of a stream sends nothing: no idle timeout. A frame on a
		// silent stream keeps proxies from cutting it, and finds a dead peer
		// through the write timeout.
		if hb != nil && now-lastSend > int64(s.cfg.PingInterval) {
			c.mu.Lock()
			if h.lastSend == lastSend {
				h.lastSend = now // one Heartbeat per PingInterval, even when it returns nil
			}
			c.mu.Unlock()
			if p := hb.Heartbeat(c); p != nil {
				_ = c.Send(p)
			}
		}
	case stOpen:
		silent := now - c.lastRead.Load()
		switch {
		case silent > int64(s.cfg.IdleTimeout):
			c.hardClose(ReasonIdleTimeout)
		case silent > int64(s.cfg.PingInterval) && now-c.lastPing > int64(s.cfg.PingInterval):
			c.lastPing = now
			s.ping.Retain(1)
			_ = c.Send(s.ping)
		}
	case stClosing:
		if now-since > int64(s.cfg.CloseTimeout) {
			c.hardClose(c.reasonOr(ReasonServer))
		}
	}
}

func (c *Conn) reasonOr(r CloseReason) CloseReason {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reason != reasonUnset {
		return c.reason
	}
	return r
}
