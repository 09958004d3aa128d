// Package native implements c1m's own protocol (docs/PROTOCOL.md): JSON text
// frames for sub, unsub, pub and ping over WebSocket, binary publishes with a
// compact header, and the checks of the HTTP batch publish.
//
// A Handler is a poller.Handler; it knows the reactor and the hub only
// through their APIs. Deliveries are encoded by the hub, once per publish, and
// queued by reference; this package encodes only replies, which are per
// connection by nature.
//
// # Goroutine safety
//
// A Handler is safe for concurrent use; the poller calls it for one
// connection at a time.
//
// # Buffer lifetimes
//
// The data given to OnMessage is valid only during the call: decoding copies
// what it keeps (topics, ids). DecodeBatch returns data slices that point
// into the body it was given.
package native
