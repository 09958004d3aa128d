package socketio

import (
	"encoding/json"
	"sync"
	"time"
)

// authDelay is how long after the CONNECT answer the conformance
// listener's "auth" event goes out.
const authDelay = 5 * time.Millisecond

// Conformance sets cfg up to behave as the reference server the Socket.IO
// protocol's test suite is written against: namespaces "/" and "/custom";
// on connect an "auth" event carrying the CONNECT payload (or {}); an event
// "message" sent back as "message-back" with the same arguments,
// attachments included; "message-with-ack" acknowledged with the same
// arguments (both in "/" only). It replaces cfg.Namespaces, cfg.OnSocket and cfg.OnEvent.
//
// One event is c1m's own, for testing acknowledgements from server to
// client, which the reference suite does not cover: "server-ack" with
// arguments (timeoutMs, args...) makes the server emit "server-ack-question"
// with args, waiting timeoutMs for the client's ack as the reference's
// socket.timeout(ms).emit does, then emit "server-ack-result" with
// {"args":[...]} (the client's ack arguments) or {"error":"operation has
// timed out"}.
func Conformance(cfg *Config) {
	cfg.Namespaces = []string{"/", "/custom"}
	// The "auth" event follows the CONNECT answer in a write of its own, a
	// few milliseconds later (or at once before anything the socket's next
	// event sends): the suite's client loses the second of two messages
	// that arrive in one read, and the reactor would write both together.
	// The reference server writes them separately too (engine.io sends what
	// was queued during a write after that write completes).
	var pending sync.Map // *Socket -> func(), the auth event not yet sent
	cfg.OnSocket = func(so *Socket) {
		auth := so.Auth()
		if len(auth) == 0 {
			auth = json.RawMessage(`{}`)
		}
		var once sync.Once
		send := func() {
			once.Do(func() {
				pending.Delete(so)
				so.EmitRaw("auth", []json.RawMessage{auth}, nil)
			})
		}
		pending.Store(so, send)
		time.AfterFunc(authDelay, send)
	}
	cfg.OnEvent = func(so *Socket, e *Event) bool {
		if send, ok := pending.Load(so); ok {
			send.(func())()
		}
		if so.Namespace() != "/" {
			return false
		}
		switch e.Name {
		case "message":
			so.EmitRaw("message-back", e.Args, e.Attachments)
		case "message-with-ack":
			e.Ack(e.Args, e.Attachments)
		case "server-ack":
			serverAck(so, e.Args)
		default:
			return false
		}
		return true
	}
}

// serverAck handles the conformance listener's "server-ack" event.
func serverAck(so *Socket, args []json.RawMessage) {
	var ms float64
	if len(args) == 0 || json.Unmarshal(args[0], &ms) != nil || ms < 0 || ms > 60000 {
		so.EmitRaw("server-ack-result", []json.RawMessage{json.RawMessage(`{"error":"the first argument must be a timeout in milliseconds, at most 60000"}`)}, nil)
		return
	}
	q := make([]any, 0, len(args)-1)
	for _, a := range args[1:] {
		q = append(q, a)
	}
	_ = so.EmitTimeout(time.Duration(ms*float64(time.Millisecond)), func(got []json.RawMessage, err error) {
		res := json.RawMessage(`{"error":"operation has timed out"}`)
		if err == nil {
			if got == nil {
				got = []json.RawMessage{}
			}
			res, _ = json.Marshal(struct {
				Args []json.RawMessage `json:"args"`
			}{got})
		}
		so.EmitRaw("server-ack-result", []json.RawMessage{res}, nil)
	}, "server-ack-question", q...)
}
