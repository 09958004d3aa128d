// Package wsframe is the RFC 6455 codec of c1m: the HTTP upgrade, an incremental
// server-side frame parser and pre-encoded (prepared) server frames.
//
// Everything here works on bytes that have already arrived; nothing reads from
// or blocks on a socket. The poller accumulates the request head until
// RequestHeadLen reports it complete, calls Upgrader.Upgrade once, then hands
// every later read to Parser.Feed. A client that sends half a handshake or half
// a frame costs only the bytes it sent, never a goroutine.
//
// # Goroutine safety
//
//   - RequestHeadLen, IsUpgradeRequest, Reject, AppendPing, AppendPong,
//     AppendDeflate, ReadPoolStats and ReadDeflateStats are safe for
//     concurrent use.
//   - An Upgrader is safe for concurrent use once configured; do not change its
//     fields after the first Upgrade.
//   - A Parser belongs to one connection and is not safe for concurrent use.
//   - A Prepared is built (B, Seal) by one goroutine; after Seal, Bytes, Len,
//     Deflated, Retain and Release may be called from any goroutine. The goroutine that
//     publishes it must Retain for every holder before handing it over.
//
// # Buffer lifetimes
//
//   - Upgrade only reads head during the call.
//   - Parser.Feed may unmask data in place; data must not be used after Feed.
//     Payloads passed to a FrameHandler are valid only until the callback
//     returns: they point either into data or into a pooled buffer that is
//     reused as soon as the message is complete.
//   - A Parser keeps pooled buffers only while a frame or a fragmented message
//     is incomplete; Release returns them.
//   - Prepared.Bytes is valid until the last Release; the buffer then goes back
//     to the pool, exactly once.
//
// # Compression
//
// With Upgrader.Deflate the handshake accepts permessage-deflate (RFC 7692):
// the first offer the server can honour, answered with
// server_no_context_takeover and client_no_context_takeover, so that
// neither side keeps a compression window between messages
// (Handshake.Deflate). Prepared.Deflated gives a sealed text or binary frame's
// compressed variant (RSV1 set), made once per DeflateMode on first need
// and held by the frame until its last Release: a broadcast is compressed
// once, not once per connection. A client offering server_max_window_bits
// below 15 gets DeflateHuffman (Huffman coding without LZ77 matches, valid
// for any window), since compress/flate cannot bound its window.
//
// A Parser with ParserConfig.Deflate accepts RSV1 on the first frame of a
// data message and inflates the joined message with a pooled flate reader
// before OnMessage: MaxMessageSize bounds it once inflated (1009), invalid
// DEFLATE data is 1007. A kept inflate context would cost about 45 KB per
// connection; a kept compressor (level 1) 1.2 MB: compressors are pooled and
// reset per message.
//
// # Errors
//
// Every way a connection ends with a close code is a *CloseError (use
// errors.As). Handshake refusals are *ws.ConnectionRejectedError values from
// github.com/gobwas/ws, whose StatusCode method reports the HTTP status sent.
package wsframe
