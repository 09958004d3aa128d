package socketio

import "encoding/json"

// Conformance sets cfg up to behave as the reference server the Socket.IO
// protocol's test suite is written against: namespaces "/" and "/custom";
// on connect an "auth" event carrying the CONNECT payload (or {}); an event
// "message" sent back as "message-back" with the same arguments,
// attachments included; "message-with-ack" acknowledged with the same
// arguments (both in "/" only). It replaces cfg.Namespaces, cfg.OnSocket and cfg.OnEvent.
func Conformance(cfg *Config) {
	cfg.Namespaces = []string{"/", "/custom"}
	cfg.OnSocket = func(so *Socket) {
		auth := so.Auth()
		if len(auth) == 0 {
			auth = json.RawMessage(`{}`)
		}
		so.EmitRaw("auth", []json.RawMessage{auth}, nil)
	}
	cfg.OnEvent = func(so *Socket, e *Event) bool {
		if so.Namespace() != "/" {
			return false
		}
		switch e.Name {
		case "message":
			so.EmitRaw("message-back", e.Args, e.Attachments)
		case "message-with-ack":
			e.Ack(e.Args, e.Attachments)
		default:
			return false
		}
		return true
	}
}
