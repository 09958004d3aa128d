package poller

// EachConn calls fn for every connection the server holds, whatever its
// state (see Kind), one registry shard at a time: each shard is copied under its lock and fn runs without it, so fn
// may call the connection's methods. Connections that open or close
// meanwhile may or may not be seen. For operator listings, not hot paths:
// it allocates one slice the size of the largest shard.
func (s *Server) EachConn(fn func(c *Conn)) {
	var buf []*Conn
	for i := range s.reg.shards {
		buf = s.reg.appendShard(buf[:0], i)
		for _, c := range buf {
			fn(c)
		}
	}
	clear(buf)
}

// Kind names what c is now, for listings: "websocket" (upgraded),
// "stream" (a reactor HTTP response streaming, e.g. SSE), "held" (a
// reactor HTTP request waiting for its answer, e.g. a long poll), "http"
// (between requests or handed to net/http), "closing" or "closed".
func (c *Conn) Kind() string {
	c.mu.Lock()
	st := c.state
	c.mu.Unlock()
	switch st {
	case stOpen:
		return "websocket"
	case stStream:
		return "stream"
	case stHeld:
		return "held"
	case stHandshake, stHTTP:
		return "http"
	case stClosing:
		return "closing"
	}
	return "closed"
}
