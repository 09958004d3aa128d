package sockjs

import (
	"strconv"

	"github.com/gobwas/ws"

	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/wsframe"
)

// wsHandler is the framed websocket transport,
// <prefix>/<server>/<session>/websocket: SockJS frames in WebSocket text
// messages, the client's messages as a JSON array of strings (or one
// string) per WebSocket message.
type wsHandler struct{ srv *Server }

// OnOpen implements poller.Handler.
func (h *wsHandler) OnOpen(c *poller.Conn) {
	s := h.srv
	rest, _ := s.under(c.Path())
	if _, _, _, ok := splitSession(rest); !ok {
		c.CloseWith(wsframe.StatusPolicyViolation, "not a SockJS session path", poller.ReasonProtocolError)
		return
	}
	// As sockjs-node does, a WebSocket session is not looked up by the
	// client's id: two WebSockets with one id are two sessions (a client
	// reconnecting reuses its URL). The key cannot collide with an id of
	// an HTTP transport, which has no dots.
	ss, _ := s.lookupOrCreate(".ws"+strconv.FormatUint(s.wsSeq.Add(1), 36), c.Authorization(), c.Query(), c.RemoteAddr(), encWS)
	ss.attach(c, framer{k: kindWebSocket}, "")
}

// OnMessage implements poller.Handler. A message that is not JSON closes
// the session with c[1002,"Broken framing."]; an empty one is ignored.
func (h *wsHandler) OnMessage(c *poller.Conn, _ ws.OpCode, data []byte) {
	ss, ok := c.Value().(*Session)
	if !ok || len(data) == 0 {
		return
	}
	ss.mu.Lock()
	cur := ss.recv == c
	ss.mu.Unlock()
	if !cur {
		return // a connection that got c[2010,...] or the close frame
	}
	d := decodedPool.Get().(*Decoded)
	err := d.Decode(data, true)
	if err == nil {
		ss.deliver(d)
	}
	if cap(d.Buf) <= maxPooledBody {
		decodedPool.Put(d)
	}
	if err != nil {
		if ss.close(int(CodeInterrupted), "Broken framing.", ReasonBrokenFraming) {
			ss.runClosed()
		}
	}
}

// OnClose implements poller.Handler: the WebSocket went, and the session
// with it.
func (h *wsHandler) OnClose(c *poller.Conn, _ poller.CloseReason) {
	if ss, ok := c.Value().(*Session); ok {
		ss.receiverGone(c)
	}
}

// rawHandler is <prefix>/websocket: a plain WebSocket without SockJS
// framing, each message one message of the Protocol (text or binary
// alike), the connection itself the Protocol's peer.
type rawHandler struct{ srv *Server }

// OnOpen implements poller.Handler.
func (h *rawHandler) OnOpen(c *poller.Conn) { h.srv.proto.Open(c) }

// OnMessage implements poller.Handler.
func (h *rawHandler) OnMessage(c *poller.Conn, _ ws.OpCode, data []byte) {
	h.srv.proto.Message(c, data)
}

// OnClose implements poller.Handler.
func (h *rawHandler) OnClose(c *poller.Conn, _ poller.CloseReason) { h.srv.proto.Closed(c) }
