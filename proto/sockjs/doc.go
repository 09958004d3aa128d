// Package sockjs serves the SockJS protocol (as sockjs-client 1.x speaks
// it, with the reference server sockjs-node's behaviour) on the reactor,
// carrying another protocol (Protocol: the native c1m protocol, STOMP) over
// whichever transport the client could open: websocket, xhr_streaming,
// eventsource, htmlfile (iframe), xhr polling and jsonp polling, plus the
// raw <prefix>/websocket.
//
// # Sessions
//
// A Session outlives its receiving requests: an xhr_streaming response
// ends after Config.ResponseLimit bytes and the client opens the next one,
// a poll ends with every frame. It lives Config.DisconnectDelay after the
// last receiving request ended, then it is closed (ReasonTimeout) and
// forgotten. A closed session answers its close frame to receiving
// requests for DisconnectDelay. A second receiving request while one is
// open gets c[2010,"Another connection still open"] and ends; the first
// goes on. A client that aborts a receiving request closes its session
// (c[1002,"Connection interrupted"]); one that drops a request and sends
// the next at once gets that too, even before the reactor has seen the
// first go (poller.Conn.PeerClosed). A websocket session is its
// WebSocket: its id is not registered (as in sockjs-node), so two
// WebSockets with one URL are two sessions. Every close is counted by
// reason.
//
// Sessions cost no goroutine and no timer: one sweeper per Server sends
// the heart-beats ("h" after Config.Heartbeat of silence), runs the
// timeouts and forgets closed sessions. Held polls and open streams are
// held by the reactor (poller.Conn.Respond, StartStream) without a
// goroutine.
//
// # Encode once
//
// A Session is a hub.Wrapper: a protocol subscribes it with Wrap(f), a
// Format whose Encode runs f's Encode into a scratch frame and writes the
// SockJS message frame a["<payload as a JSON string>"] framed for the
// session's encoding: a WebSocket text frame (websocket), an HTTP chunk
// "a[...]\n" (xhr_streaming) or "data: a[...]\r\n\r\n" (eventsource). The
// hub encodes a publish once per (protocol format and variant, encoding)
// and every session of that encoding queues the same bytes by reference on
// its receiving request's connection. The polling transports (xhr, jsonp),
// htmlfile (JavaScript-escaped into script elements) and HTTP/1.0 streams
// get bare frames that each response re-frames (and a poll merges into one
// a[...] frame). The protocol's own frames (replies, heart-beats) are
// wrapped per session as they are sent. A native binary delivery is
// carried as the SSE transport carries it: the JSON delivery object with
// "binary":true and base64 data.
//
// # Buffer lifetimes
//
// Frames given to Session.Send and SendSlot are consumed (one reference,
// released when written, dropped or re-framed). data given to
// Protocol.Message is valid only during the call. A Decoded's messages are
// valid until its next Decode.
//
// # Goroutine safety
//
// Server and Session methods are safe for concurrent use. Protocol calls
// for one session are never concurrent: Open, then each Message in order,
// then Closed once; Closed is never called under the hub's locks (a
// session closed from Send is closed by the sweeper). Lock order:
// Session.inMu (Protocol calls), then Session.mu, then the connection's
// lock (Send, EndStream); no Session.mu is held while the Protocol is
// called.
package sockjs
