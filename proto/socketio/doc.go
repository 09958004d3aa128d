// Package socketio serves the Socket.IO v5 protocol over package engineio,
// and c1m's market data through it: a client connects to a namespace (with
// an auth payload a hook may refuse), subscribes by emitting "subscribe"
// with topics or patterns and the native options, and receives every
// delivery as a "msg" event carrying the native delivery object; binary
// publishes arrive as a binary attachment. docs/PROTOCOL.md ("Socket.IO")
// describes the events.
//
// Every namespace socket is a hub.Subscriber whose deliveries use Format
// with the namespace as the variant: a publish is encoded once per namespace
// as Engine.IO packets in WebSocket frames, shared by reference by every
// WebSocket socket of that namespace, and unwrapped into a polling payload
// by the GET that takes it.
//
// Safe for concurrent use. The hub calls Send and SendSlot with its locks
// held; they only queue (engineio.Session.Send) and never call the hub.
package socketio
