// Package stomp implements STOMP 1.2 over WebSocket for c1m: a frame codec
// (Parser, Frame, the Append functions) and the session logic built on it.
//
// The Parser takes the payloads of a connection's WebSocket messages in
// order. One message may hold several frames and EOL heart-beats, and a frame
// may be split over several messages; the same bytes give the same frames and
// the same errors however they are split. Every error is a fatal protocol
// error, a *Error whose Kind names it.
//
// # Goroutine safety
//
// A Parser belongs to one connection and is not safe for concurrent use. The
// Append functions and Command methods are safe for concurrent use.
//
// # Buffer lifetimes
//
//   - Parser.Feed may modify its data in place (headers are unescaped where
//     they lie) and does not retain it after returning.
//   - A *Frame passed to the callback, its Headers, names, values and Body are
//     valid only until the callback returns; copy what you keep.
//   - A Parser holds a pooled buffer only while a frame is incomplete; it goes
//     back to the pool when the frame completes, on an error and on Reset.
//   - The Append functions write only to the slice they return.
package stomp
