// Package engineio serves the Engine.IO v4 protocol (the transport layer
// under Socket.IO) on the reactor: HTTP long-polling as a poller.HTTPHandler
// and WebSocket as a poller.Handler, both under one Server that owns the
// sessions, so that a session outlives its transport and an upgrade from
// polling to WebSocket swaps them after the probe without losing or
// duplicating a packet.
//
// A Session is what the layer above (package socketio) talks to: it sends
// Prepared frames built once and shared by every session (Session.Send), gets
// messages through Handler.OnMessage, and never learns which transport
// carried them. Every frame a session sends is one or more WebSocket frames,
// each an Engine.IO packet: a text frame holds the packet's text form ("4"
// and the message), a binary frame a binary message. A WebSocket session
// queues such a frame on its connection by reference; a polling session keeps
// it until a GET takes it and writes the payload form (packets separated by
// 0x1e, binary messages as "b" and base64).
//
// Sessions cost no goroutine: one sweeper per Server sends pings, closes the
// sessions whose pong is late, ends upgrades that did not complete, and
// enforces deadlines set with Session.CloseAfter. Held GETs are held by the
// reactor (poller.Conn.Respond is called later, from any goroutine).
//
// Lock order: Session.mu, then the poller connection's lock (Send, Respond).
// No Session lock is held while the Handler is called.
package engineio
