package engineio

import (
	"sync"
	"time"

	"github.com/gobwas/ws"

	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/wsframe"
)

// Transport names.
const (
	Polling   = "polling"
	WebSocket = "websocket"
)

// qentry is one queued frame of a polling session: a Prepared reference, or
// a conflation slot whose frame is taken when a GET flushes it.
type qentry struct {
	p    *wsframe.Prepared
	slot *poller.Slot
}

// Session is one Engine.IO session. It outlives its transport: a polling
// session becomes a WebSocket session on upgrade. Safe for concurrent use.
type Session struct {
	srv *Server
	id  string

	mu sync.Mutex
	// Guarded by mu.
	closed    bool
	transport string
	value     any
	ws        *poller.Conn // the WebSocket transport; nil while polling
	get       *poller.Conn // the held GET of a polling session
	getCORS   string       // CORS header lines of the held GET's answer
	q         []qentry     // polling: frames for the next GET
	queued    int          // bytes in q
	probe     *poller.Conn // the WebSocket being probed for an upgrade
	probed    bool         // the probe's ping was answered
	upgradeBy int64        // deadline of the upgrade (unix ns)
	pingDue   int64        // when the next ping is sent (0: waiting for a pong)
	pongDue   int64        // when a missing pong closes the session (0: none)
	closeAt   int64        // CloseAfter deadline (0: none)
	closeWhy  string
	posting   bool   // a POST is being processed
	doomed    string // close reason left to the sweeper
}

// ID returns the session id (the sid of the open packet).
func (s *Session) ID() string { return s.id }

// Transport returns the current transport, Polling or WebSocket.
func (s *Session) Transport() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.transport
}

// SetValue stores a value for the layer above.
func (s *Session) SetValue(v any) {
	s.mu.Lock()
	s.value = v
	s.mu.Unlock()
}

// Value returns what SetValue stored.
func (s *Session) Value() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.value
}

// Send queues p, one or more complete WebSocket frames each holding an
// Engine.IO packet (see the package doc), and never blocks. It consumes one
// reference of p in every case. p may be shared by many sessions.
func (s *Session) Send(p *wsframe.Prepared) error {
	return s.send(qentry{p: p})
}

// SendSlot queues p through the conflation slot slot (hub.Subscriber): a
// frame waiting in slot is replaced. Consumes one reference of p.
func (s *Session) SendSlot(slot *poller.Slot, p *wsframe.Prepared) error {
	return s.send(qentry{p: p, slot: slot})
}

// SendMessage queues a text message packet ("4" and data; data is copied).
func (s *Session) SendMessage(data []byte) error {
	p := wsframe.AcquirePrepared()
	p.B = append(p.B, TypeMessage)
	p.B = append(p.B, data...)
	p.Seal(ws.OpText)
	return s.Send(p)
}

// SendBinary queues a binary message packet (data is copied).
func (s *Session) SendBinary(data []byte) error {
	p := wsframe.AcquirePrepared()
	p.B = append(p.B, data...)
	p.Seal(ws.OpBinary)
	return s.Send(p)
}

func (s *Session) send(e qentry) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		e.p.Release()
		return ErrClosed
	}
	if c := s.ws; c != nil {
		s.mu.Unlock()
		if e.slot != nil {
			return c.SendSlot(e.slot, e.p)
		}
		return c.Send(e.p)
	}
	if e.slot != nil && e.slot.Queued {
		old := e.slot.Frame
		e.slot.Frame = e.p
		s.queued += e.p.Len() - old.Len()
		old.Release()
		s.mu.Unlock()
		return nil
	}
	if s.queued+e.p.Len() > s.srv.cfg.MaxQueueBytes || s.doomed != "" {
		// The sweeper closes it: Send runs under the hub's locks, where
		// Handler.OnClose (which unsubscribes) must not be called.
		s.doomed = "transport error"
		s.mu.Unlock()
		e.p.Release()
		return errSlow
	}
	if e.slot != nil {
		e.slot.Frame, e.slot.Queued = e.p, true
		e.p = nil
	}
	s.q = append(s.q, e)
	s.queued += qlen(e)
	c, body, cors := s.takeLocked()
	s.mu.Unlock()
	s.answer(c, body, cors)
	return nil
}

// bodyPool holds the buffers polling answers are built in (Respond copies).
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// maxPooledBody is the largest buffer kept in bodyPool.
const maxPooledBody = 64 << 10

func qlen(e qentry) int {
	if e.slot != nil {
		return e.slot.Frame.Len()
	}
	return e.p.Len()
}

// takeLocked takes the held GET and the queued packets as its body when both
// are there. s.mu must be held. The caller answers with answer, unlocked.
func (s *Session) takeLocked() (*poller.Conn, []byte, string) {
	if s.get == nil || len(s.q) == 0 {
		return nil, nil, ""
	}
	c, cors := s.get, s.getCORS
	s.get, s.getCORS = nil, ""
	bp := bodyPool.Get().(*[]byte)
	return c, s.drainLocked((*bp)[:0]), cors
}

// drainLocked appends the payload of every queued frame to b and empties the
// queue. s.mu must be held.
func (s *Session) drainLocked(b []byte) []byte {
	first := true
	for i, e := range s.q {
		p := e.p
		if e.slot != nil {
			p = e.slot.Frame
			e.slot.Frame, e.slot.Queued = nil, false
		}
		b, first = appendPayload(b, p.Bytes(), first)
		p.Release()
		s.q[i] = qentry{}
	}
	s.q = s.q[:0]
	if cap(s.q) > 64 {
		s.q = nil
	}
	s.queued = 0
	return b
}

// answer answers a held GET with body (the payload, from bodyPool when it
// came from takeLocked), outside s.mu, and returns body to the pool.
func (s *Session) answer(c *poller.Conn, body []byte, cors string) {
	if c == nil {
		return
	}
	_ = c.Respond(200, textHeader(cors), body)
	if cap(body) >= 512 && cap(body) <= maxPooledBody {
		body = body[:0]
		bodyPool.Put(&body)
	}
}

const headerText = "Content-Type: text/plain; charset=UTF-8\r\n"

var headerTextBytes = []byte(headerText)

// textHeader returns the header lines of a polling answer (copied by
// Respond): shared when there are no CORS lines.
func textHeader(cors string) []byte {
	if cors == "" {
		return headerTextBytes
	}
	return []byte(headerText + cors)
}

// releaseLocked drops every queued frame. s.mu must be held.
func (s *Session) releaseLocked() {
	for i, e := range s.q {
		p := e.p
		if e.slot != nil {
			p = e.slot.Frame
			e.slot.Frame, e.slot.Queued = nil, false
		}
		p.Release()
		s.q[i] = qentry{}
	}
	s.q, s.queued = nil, 0
}

// Close closes the session as the server: a held GET gets the close packet,
// a WebSocket is closed. Handler.OnClose follows with "forced close".
func (s *Session) Close() { s.close("forced close", TypeClose) }

// CloseAfter closes the session with reason once d passes, unless
// CancelClose comes first (Socket.IO's connect timeout). Its precision is the
// sweeper's tick.
func (s *Session) CloseAfter(d time.Duration, reason string) {
	s.mu.Lock()
	s.closeAt, s.closeWhy = nowNano()+int64(d), reason
	s.mu.Unlock()
}

// CancelClose cancels CloseAfter.
func (s *Session) CancelClose() {
	s.mu.Lock()
	s.closeAt = 0
	s.mu.Unlock()
}

// close ends the session once: it leaves the server, its queue is released,
// a held GET is answered with the packet answer (the close packet, or noop
// when the client closed), a WebSocket is closed, and Handler.OnClose is
// called.
func (s *Session) close(reason string, answer byte) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	get, cors, wsc, probe := s.get, s.getCORS, s.ws, s.probe
	s.get, s.ws, s.probe = nil, nil, nil
	s.releaseLocked()
	s.mu.Unlock()
	s.srv.remove(s)
	if get != nil {
		_ = get.Respond(200, textHeader(cors), []byte{answer})
	}
	if wsc != nil {
		wsc.Close()
	}
	if probe != nil {
		probe.Close()
	}
	if s.srv.debug() {
		s.srv.log.Debug("engine.io close", "sid", s.id, "reason", reason)
	}
	s.srv.h.OnClose(s, reason)
}

// onTick runs the session's timers (sweeper).
func (s *Session) onTick(now int64) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if s.doomed != "" || s.closeAt != 0 && now >= s.closeAt {
		why := s.closeWhy
		if s.doomed != "" {
			why = s.doomed
		}
		s.mu.Unlock()
		s.close(why, TypeClose)
		return
	}
	if s.pongDue != 0 && now >= s.pongDue {
		s.mu.Unlock()
		s.close("ping timeout", TypeClose)
		return
	}
	var probe *poller.Conn
	if s.probe != nil && now >= s.upgradeBy {
		probe, s.probe, s.probed = s.probe, nil, false
	}
	ping := s.pingDue != 0 && now >= s.pingDue
	if ping {
		// The pong is due PingTimeout after the ping's scheduled time, not
		// after the tick that sent it: the sweeper's lateness does not add up.
		s.pingDue, s.pongDue = 0, s.pingDue+int64(s.srv.cfg.PingTimeout)
	}
	s.mu.Unlock()
	if probe != nil {
		probe.Close()
	}
	if ping {
		s.srv.pingF.Retain(1)
		_ = s.Send(s.srv.pingF)
	}
}

// pongLate closes the session if its pong is overdue, before the sweeper
// gets to it, so that a request arriving after the deadline finds the
// session closed as the reference's timers would have it. It reports
// whether it closed the session.
func (s *Session) pongLate() bool {
	s.mu.Lock()
	late := !s.closed && s.pongDue != 0 && nowNano() >= s.pongDue
	s.mu.Unlock()
	if late {
		s.close("ping timeout", TypeClose)
	}
	return late
}

// onPong records a pong: the next ping is due in PingInterval.
func (s *Session) onPong() {
	s.mu.Lock()
	if s.pongDue != 0 {
		s.pongDue, s.pingDue = 0, nowNano()+int64(s.srv.cfg.PingInterval)
	}
	s.mu.Unlock()
}

// onPacket handles a packet from the session's current transport. It
// reports false when the session closed.
func (s *Session) onPacket(p packet) bool {
	switch p.typ {
	case TypeMessage:
		s.srv.h.OnMessage(s, p.data, p.binary)
	case TypePong:
		s.onPong()
	case TypeClose:
		// The reference answers a held GET with noop when the client
		// closes.
		s.close("transport close", TypeNoop)
		return false
	case TypePing:
		// Engine.IO v4: only the server pings.
		s.close("transport error", TypeClose)
		return false
	}
	// open, upgrade and noop from the client mean nothing here.
	return true
}
