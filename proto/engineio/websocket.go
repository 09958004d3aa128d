package engineio

import (
	"strconv"

	"github.com/gobwas/ws"

	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/wsframe"
)

// wsHandler is the WebSocket transport: a session opened over WebSocket, or
// the probe and then the transport of a polling session that upgrades.
type wsHandler struct{ srv *Server }

// OnOpen implements poller.Handler. CheckUpgrade refused the requests the
// reference refuses with 400 before the upgrade; one that passed it but is
// bad now (its session went meanwhile) is closed with 1008 and the
// reference's message.
func (h *wsHandler) OnOpen(c *poller.Conn) {
	s := h.srv
	q, ok := parseQuery(c.Query())
	switch {
	case !ok:
		c.CloseWith(wsframe.StatusPolicyViolation, CodeBadRequest.Message(), poller.ReasonProtocolError)
		return
	case q.transport != WebSocket:
		c.CloseWith(wsframe.StatusPolicyViolation, CodeUnknownTransport.Message(), poller.ReasonProtocolError)
		return
	}
	if q.sid == "" {
		if q.eio != "4" {
			c.CloseWith(wsframe.StatusPolicyViolation, CodeUnsupportedVersion.Message(), poller.ReasonProtocolError)
			return
		}
		ss := s.newSession(WebSocket)
		if s.debug() {
			s.log.Debug("engine.io open", "sid", ss.id, "transport", WebSocket)
		}
		ss.mu.Lock()
		ss.ws = c
		ss.mu.Unlock()
		c.SetValue(ss)
		_ = c.Send(wsframe.NewPrepared(ws.OpText, s.openPacket(ss, false)))
		// The reactor reads no message of c before OnOpen returns.
		s.h.OnOpen(ss)
		return
	}
	ss := s.lookup(q.sid)
	if ss == nil || ss.pongLate() {
		c.CloseWith(wsframe.StatusPolicyViolation, CodeUnknownSID.Message(), poller.ReasonProtocolError)
		return
	}
	ss.mu.Lock()
	if ss.closed || ss.ws != nil || ss.probe != nil {
		// Upgraded already, or upgrading: the reference closes the newcomer.
		ss.mu.Unlock()
		c.CloseWith(wsframe.StatusPolicyViolation, CodeBadRequest.Message(), poller.ReasonProtocolError)
		return
	}
	ss.probe, ss.probed = c, false
	ss.upgradeBy = nowNano() + int64(s.cfg.UpgradeTimeout)
	c.SetValue(ss)
	ss.mu.Unlock()
}

// OnMessage implements poller.Handler.
func (h *wsHandler) OnMessage(c *poller.Conn, op ws.OpCode, data []byte) {
	ss, ok := c.Value().(*Session)
	if !ok {
		return
	}
	ss.mu.Lock()
	cur, probe := ss.ws == c, ss.probe == c
	ss.mu.Unlock()
	switch {
	case probe:
		h.onProbe(c, ss, op, data)
		return
	case !cur:
		return // a transport the session left
	}
	if len(data) > h.srv.cfg.MaxPayload {
		ss.close("transport error", TypeClose)
		return
	}
	if op == ws.OpBinary {
		ss.onPacket(packet{typ: TypeMessage, data: data, binary: true})
		return
	}
	p, _, err := decodePacket(data, false, nil)
	if err != nil {
		ss.close("parse error", TypeClose)
		return
	}
	ss.onPacket(p)
}

// onProbe handles a packet on the WebSocket of an upgrade: "2probe" is
// answered "3probe" and the held GET is released so the client pauses
// polling; "5" (upgrade) makes the WebSocket the session's transport, after
// the packets that were waiting for the next GET. Anything else ends the
// upgrade.
func (h *wsHandler) onProbe(c *poller.Conn, ss *Session, op ws.OpCode, data []byte) {
	s := h.srv
	switch {
	case op == ws.OpText && string(data) == "2probe":
		ss.mu.Lock()
		ss.probed = true
		get, cors := ss.get, ss.getCORS
		ss.get, ss.getCORS = nil, ""
		ss.mu.Unlock()
		_ = c.Send(wsframe.NewPrepared(ws.OpText, []byte("3probe")))
		ss.answer(get, []byte{TypeNoop}, cors)
	case op == ws.OpText && string(data) == "5":
		ss.mu.Lock()
		if !ss.probed || ss.probe != c || ss.closed {
			ss.mu.Unlock()
			c.Close()
			return
		}
		// Every packet still waiting goes first, in order; then the
		// WebSocket is the transport and new packets go straight to it.
		for i, e := range ss.q {
			p := e.p
			if e.slot != nil {
				p = e.slot.Frame
				e.slot.Frame, e.slot.Queued = nil, false
			}
			_ = c.Send(p)
			ss.q[i] = qentry{}
		}
		ss.q, ss.queued = nil, 0
		ss.ws, ss.probe, ss.transport = c, nil, WebSocket
		get, cors := ss.get, ss.getCORS
		ss.get, ss.getCORS = nil, ""
		ss.mu.Unlock()
		ss.answer(get, []byte{TypeNoop}, cors)
		if s.debug() {
			s.log.Debug("engine.io upgrade", "sid", ss.id)
		}
	default:
		ss.mu.Lock()
		if ss.probe == c {
			ss.probe, ss.probed = nil, false
		}
		ss.mu.Unlock()
		c.Close()
	}
}

// OnClose implements poller.Handler: the end of a session's WebSocket ends
// the session; the end of a probe ends the upgrade.
func (h *wsHandler) OnClose(c *poller.Conn, _ poller.CloseReason) {
	ss, ok := c.Value().(*Session)
	if !ok {
		return
	}
	ss.mu.Lock()
	cur := ss.ws == c
	if cur {
		ss.ws = nil
	}
	if ss.probe == c {
		ss.probe, ss.probed = nil, false
	}
	ss.mu.Unlock()
	if cur {
		ss.close("transport close", TypeClose)
	}
}

// CheckUpgrade is a wsframe.Upgrader.Check for the WebSocket transport: it
// refuses, before the upgrade and as the reference server does (400 with
// {"code":N,"message":"..."}), a request with a bad query, another
// transport, an unsupported protocol version or an unknown session. OnOpen
// checks again: a session may go between the two.
func (s *Server) CheckUpgrade(path, rawQuery string) error {
	q, ok := parseQuery(rawQuery)
	code := Code(-1)
	switch {
	case !ok:
		code = CodeBadRequest
	case q.transport != WebSocket:
		code = CodeUnknownTransport
	case q.sid == "" && q.eio != "4":
		code = CodeUnsupportedVersion
	case q.sid != "":
		if ss := s.lookup(q.sid); ss == nil || ss.pongLate() {
			code = CodeUnknownSID
		}
	}
	if code < 0 {
		return nil
	}
	b := append([]byte(`{"code":`), strconv.Itoa(int(code))...)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, code.Message())
	b = append(b, '}')
	return wsframe.RejectWith(code.Status(), "Content-Type: application/json\r\n", string(b))
}
