// Package poller is c1m's reactor: it multiplexes many thousands of TCP
// connections over cloudwego/netpoll's epoll loops, upgrades them to WebSocket
// with wsframe or serves their plain HTTP requests itself (HTTPHandler: Server-Sent
// Events, long-polling), and gives every upgraded connection and HTTP stream a
// bounded, coalescing outbound queue that any goroutine may fill without ever
// blocking on the socket.
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
//   - one sweeper goroutine enforcing handshake, idle and write timeouts,
//     sending pings and queueing the heartbeats of silent HTTP streams;
//   - net/http goroutines for plain HTTP requests handed off to Config.HTTP;
//   - a goroutine that parses the input a client pipelined behind a held HTTP
//     request, alive only from the late answer (Respond or EndStream from
//     another goroutine) until that input is parsed.
//
// An open HTTP stream or a held HTTP request has no goroutine.
//
// # Reads
//
// The read handler consumes everything that has arrived (netpoll requires it)
// and parses it incrementally: a request head is accumulated in a pooled buffer
// until complete, frames are parsed by wsframe.Parser, which copies only the tail
// of a split frame. A client that sends half a handshake or half a frame costs
// a small buffer, never a worker.
//
// # Plain HTTP on the reactor
//
// A request whose method and path Config.HTTPRoutes claims is parsed by the
// reactor (HTTP/1.0 and 1.1: Content-Length and chunked bodies up to
// MaxBodySize, Expect: 100-continue, keep-alive, pipelining) and handed to
// its HTTPHandler complete. The handler answers with Conn.Respond, or with
// Conn.StartStream and then frames queued by Send and SendSlot, as for a
// WebSocket connection, until Conn.EndStream. Until the request is answered
// the connection reads no further request (pipelined input is buffered, up to
// MaxHeadSize+MaxBodySize). Requests HTTPRoutes does not claim go to
// Config.HTTP at a request boundary; a claimed request that arrives on a
// connection net/http serves is taken back by the reactor (the connection is
// hijacked and its buffered bytes recovered).
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
// # Compression
//
// With Config.Upgrader.Deflate a client that offers permessage-deflate
// (RFC 7692) gets it, without context takeover in either direction. Send
// and SendSlot on such a connection queue the frame's compressed variant
// (wsframe.Prepared.Deflated) instead of the frame: the variant is made by
// the first deflate connection that sends the frame and shared by every
// other, so a broadcast is compressed once per wire format (and
// DeflateMode), never per connection. Frames under Config.DeflateThreshold,
// control frames and raw bytes go as they are. The parser inflates the
// client's compressed messages with pooled state before
// Handler.OnMessage.
//
// # Buffer lifetimes
//
// A frame queued on a Conn holds one reference to its Prepared buffer; the
// reference is released after the frame has been written, dropped, or the
// connection has closed. Message payloads passed to Handler.OnMessage are valid
// only until OnMessage returns. A Request passed to HTTPHandler.ServeHTTP, its
// Body and HeaderBytes are valid only until ServeHTTP returns; Respond copies
// its header and body.
//
// # Goroutine safety
//
// Server methods and Conn.Send, SendSlot, Close, Respond, StartStream,
// EndStream, Value and SetValue are safe for concurrent use. Handler callbacks
// for one connection are never concurrent with each other, and neither are
// HTTPHandler's ServeHTTP and OnClose (Heartbeater.Heartbeat runs on the
// sweeper and may be).
package poller
