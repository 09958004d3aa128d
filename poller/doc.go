// Package poller is c1m's reactor: it multiplexes many thousands of TCP
// connections over cloudwego/netpoll's epoll loops, upgrades them to WebSocket
// with wsframe, and gives every upgraded connection a bounded, coalescing
// outbound queue that any goroutine may fill without ever blocking on the socket.
//
// # Goroutines
//
// No goroutine exists per connection. The goroutines are:
//
//   - netpoll's pollers (one epoll loop each) and its worker pool, which runs the
//     read handler only while a connection has input to process;
//   - Config.Flushers flusher goroutines: each owns a ready list of connections
//     whose queues are non-empty and writes them with one writev per connection;
//   - a write-back goroutine per backlogged connection, alive only while the
//     kernel refuses bytes for that connection (see "Writes");
//   - one sweeper goroutine enforcing handshake, idle and write timeouts and
//     sending pings;
//   - net/http goroutines for plain HTTP requests handed off to Config.HTTP.
//
// # Reads
//
// The read handler consumes everything that has arrived (netpoll requires it)
// and parses it incrementally: a request head is accumulated in a pooled buffer
// until complete, frames are parsed by wsframe.Parser, which copies only the tail
// of a split frame. A client that sends half a handshake or half a frame costs
// a small buffer, never a worker.
//
// # Writes
//
// Conn.Send and Conn.SendSlot append a reference to a shared wsframe.Prepared to
// the connection's queue under the connection's mutex and, if the connection is
// not already scheduled, put it on a flusher's ready list. The flusher takes
// every queued frame and writes them with one non-blocking writev. When the
// kernel takes only part, the connection gets a write-back goroutine that hands
// the rest to netpoll's blocking Flush (which waits for EPOLLOUT) and keeps
// draining until the queue is empty or the write deadline passes. Queued bytes
// are bounded by Config.MaxQueueBytes; past the bound the SlowPolicy decides:
// close with 1008 "slow consumer", or drop the oldest queued frames. Every close
// and drop is counted by reason (Stats).
//
// # Buffer lifetimes
//
// A frame queued on a Conn holds one reference to its Prepared buffer; the
// reference is released after the frame has been written, dropped, or the
// connection has closed. Message payloads passed to Handler.OnMessage are valid
// only until OnMessage returns.
//
// # Goroutine safety
//
// Server methods and Conn.Send, SendSlot, Close, Value and SetValue are safe for
// concurrent use. Handler callbacks for one connection are never concurrent with
// each other.
package poller
