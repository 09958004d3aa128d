// Package stomp serves STOMP 1.2 (and 1.1, 1.0) over WebSocket for c1m: a
// frame codec (Parser, Frame, the Append functions) and the session logic
// built on it (Handler, a poller.Handler). docs/PROTOCOL.md, "STOMP", is the
// client's view.
//
// The Parser takes the payloads of a connection's WebSocket messages in
// order. One message may hold several frames and EOL heart-beats, and a frame
// may be split over several messages; the same bytes give the same frames and
// the same errors however they are split. Every error is a fatal protocol
// error, a *Error whose Kind names it; the Handler answers it with an ERROR
// frame and closes the connection.
//
// # Sessions and the hub
//
// Each SUBSCRIBE is a hub.Subscriber of its own, so that two subscriptions
// of one connection matching one topic each get their MESSAGE, as STOMP
// requires. A MESSAGE differs between subscribers only in its subscription
// and ack headers, so it is the hub.Format's variant: a publish is encoded
// once per (subscription id, ack mode, destination prefix) present, and most
// clients (@stomp/stompjs numbers its subscriptions sub-0, sub-1, ...) share
// one encoding. With ack client or client-individual a subscription holds at
// most prefetch-count unacknowledged MESSAGEs in flight; the rest wait in a
// bounded queue (conflated per topic when the subscription conflates).
//
// # Goroutines
//
// A Handler runs one goroutine (New to Close): the heart-beats of every
// session, the closing of clients that fall silent, and of connections that
// send no CONNECT in time. A session's frames are handled on the reactor's
// read callback for its connection, never concurrently; the hub calls a
// subscription's Send and SendSlot concurrently with that, under the
// subscription's lock.
//
// # Goroutine safety
//
// Handler methods are safe for concurrent use. A Parser belongs to one
// connection and is not safe for concurrent use. The Append functions and
// Command methods are safe for concurrent use.
//
// # Buffer lifetimes
//
//   - Parser.Feed may modify its data in place (headers are unescaped where
//     they lie) and does not retain it after returning.
//   - A *Frame passed to the callback, its Headers, names, values and Body are
//     valid only until the callback returns; copy what you keep.
//   - A Parser holds a pooled buffer only while a frame is incomplete, and its
//     header slices only during Feed or while a frame is incomplete; they go
//     back to their pools when the frame completes, on an error and on Reset.
//   - The Append functions write only to the slice they return.
//   - A MESSAGE frame is a wsframe.Prepared shared by reference by every
//     subscriber of its variant; a subscription waiting on its prefetch
//     window holds one reference per waiting MESSAGE and releases it when
//     the MESSAGE is sent, dropped, or the subscription ends.
package stomp
