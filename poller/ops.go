package poller

import "github.com/c1mhq/c1m/internal/oprate"

// OpBucket returns the connection's client-operation bucket
// (internal/oprate), made on first use, for its protocol handler to limit
// the operations it asks for per second. Only the goroutine that handles
// the connection's messages may call it (the poller never runs two for
// one connection).
func (c *Conn) OpBucket() *oprate.Bucket {
	if c.ops == nil {
		c.ops = new(oprate.Bucket)
	}
	return c.ops
}
