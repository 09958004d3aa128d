package socketio

import (
	"encoding/json"

	"github.com/c1mhq/c1m/proto/native"
)

// tokenOf returns the token of a CONNECT payload, {"token":"..."}; "" if
// none.
func tokenOf(payload []byte) string {
	if firstByte(payload) != '{' {
		return ""
	}
	var a struct {
		Token string `json:"token"`
	}
	_ = json.Unmarshal(payload, &a)
	return a.Token
}

// permit checks that the socket's token allows subscribing to (pub false)
// or publishing to topic: nil, or the native err 403 (401 without a
// token).
func (so *Socket) permit(topic string, pub bool) error {
	a := so.srv.cfg.Auth
	if a == nil {
		return nil
	}
	if err := a.Check(so.sess, topic, pub); err != nil {
		return native.AuthError(err, so.sess, pub)
	}
	return nil
}

// permitsAll reports whether the socket's token allows every subscription
// of a recovered socket.
func (so *Socket) permitsAll(subs subSpecs) bool {
	for _, sp := range subs {
		if so.permit(sp.pattern, false) != nil {
			return false
		}
	}
	return true
}

// expiredArg is the argument of the token_expired event.
var expiredArg = json.RawMessage(`{"reason":"token expired"}`)

// expire runs when the socket's token expired without a refresh: the client
// gets a "token_expired" event, then DISCONNECT (its "disconnect" reason is
// "io server disconnect", after which socket.io-client does not reconnect
// by itself: it connects again with a new token).
func (so *Socket) expire() {
	_ = so.Emit(nil, "token_expired", expiredArg)
	so.Disconnect()
}

// refresh handles the "refresh" event: its argument is the new token, or
// {"token":"..."}. The ack is {"op":"ok"} or the native err (401 for a
// refused token, 400 without one).
func (so *Socket) refresh(args []json.RawMessage) []byte {
	var tok string
	if len(args) > 0 {
		if json.Unmarshal(args[0], &tok) != nil {
			tok = tokenOf(args[0])
		}
	}
	if tok == "" {
		return errReply(badRequest(`refresh needs the new token: "..." or {"token":"..."}`))
	}
	if so.sess == nil {
		return errReply(&native.ProtocolError{Code: native.CodeUnauthorized, Msg: "refresh: this socket has no session"})
	}
	if err := so.sess.Refresh(tok); err != nil {
		return errReply(&native.ProtocolError{Code: native.CodeUnauthorized, Msg: "refresh refused: " + err.Error()})
	}
	return okReply
}
