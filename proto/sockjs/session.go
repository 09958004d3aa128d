package sockjs

import (
	"net"
	"sync"

	"github.com/gobwas/ws"

	"github.com/c1mhq/c1m/hub"
	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/wsframe"
)

// qentry is a frame waiting for a receiving request: a Prepared reference,
// or a conflation slot whose frame is taken when the queue is written.
type qentry struct {
	p    *wsframe.Prepared
	slot *poller.Slot
}

func (e *qentry) take() *wsframe.Prepared {
	if e.slot != nil {
		p := e.slot.Frame
		e.slot.Frame, e.slot.Queued = nil, false
		return p
	}
	return e.p
}

// Session is one SockJS session: it outlives its receiving requests (an
// xhr_streaming response rotated after ResponseLimit bytes, the next poll)
// and lives DisconnectDelay after the last one ended. It is a poller.Peer
// and a hub.Wrapper: the protocol it carries sends it WebSocket frames and
// subscribes it to the hub with the formats it wraps. It has no goroutine
// and no timer; the Server's sweeper runs its heart-beats and timeouts.
// Safe for concurrent use.
type Session struct {
	srv    *Server
	id     string
	enc    enc // the encoding of its hub deliveries (Wrap)
	auth   string
	query  string
	remote net.Addr

	// inMu serialises the Protocol calls: Open, each Message, Closed.
	inMu sync.Mutex

	mu sync.Mutex
	// Guarded by mu.
	value      any
	opened     bool         // "o" was sent
	recv       *poller.Conn // the receiving request, nil when none
	fr         framer       // how recv frames
	sent       int          // bytes of frames written on recv's response
	hdr        string       // polling: the header lines of recv's answer
	q          []qentry     // frames waiting for a receiving request
	queued     int          // bytes in q
	idleSince  int64        // when the last receiving request ended (unix ns); 0 while one is attached
	lastSend   int64        // when a frame was last written to recv
	closeF     []byte       // the close frame once closed, nil while open
	closedAt   int64        //
	doomed     bool         // the queue overflowed: the sweeper closes it
	closedDue  bool         // Protocol.Closed is owed
	closedDone bool         // Protocol.Closed was called
}

func newSession(s *Server, id string, auth, query string, remote net.Addr, e enc) *Session {
	return &Session{srv: s, id: id, enc: e, auth: auth, query: query, remote: remote, idleSince: nowNano()}
}

// ID returns the session id (the client's).
func (s *Session) ID() string { return s.id }

// Authorization implements poller.Peer: the Authorization header of the
// request that opened the session.
func (s *Session) Authorization() string { return s.auth }

// Query implements poller.Peer: the query of the request that opened the
// session.
func (s *Session) Query() string { return s.query }

// RemoteAddr implements poller.Peer: the address of the client that opened
// the session.
func (s *Session) RemoteAddr() net.Addr { return s.remote }

// SetValue implements poller.Peer.
func (s *Session) SetValue(v any) {
	s.mu.Lock()
	s.value = v
	s.mu.Unlock()
}

// Value implements poller.Peer.
func (s *Session) Value() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.value
}

// Wrap implements hub.Wrapper: f's deliveries wrapped in a SockJS message
// frame, framed for this session's transport; one Format per (f,
// transport framing) for the whole Server, so a publish is encoded once for
// all the sessions that share both.
func (s *Session) Wrap(f hub.Format) hub.Format { return s.srv.wrap(f, s.enc) }

// Send implements poller.Peer. p is one or more WebSocket frames (Seal) of
// the protocol; each data frame's payload becomes one SockJS message. A hub
// delivery (p.Topic set) was encoded by a Format this session's Wrap
// returned, already a SockJS frame in the session's encoding: it is queued
// by reference on the receiving request's connection when that request
// writes the encoding as it is. Send never blocks and consumes one
// reference of p in every case.
func (s *Session) Send(p *wsframe.Prepared) error { return s.send(p, nil) }

// SendSlot implements poller.Peer: while the frame waits in the session's
// queue (no receiving request), a newer frame of the same slot replaces it;
// a frame that goes straight to a receiving request's connection is queued
// there without conflation.
func (s *Session) SendSlot(slot *poller.Slot, p *wsframe.Prepared) error { return s.send(p, slot) }

func (s *Session) send(p *wsframe.Prepared, slot *poller.Slot) error {
	if p.Topic == "" {
		// The protocol's own frame (a reply, a heart-beat): wrapped here.
		if p = s.wrapFrames(p); p == nil {
			return nil
		}
		slot = nil
	}
	s.mu.Lock()
	if s.closeF != nil || s.doomed {
		s.mu.Unlock()
		p.Release()
		return ErrClosed
	}
	if s.recv != nil && s.direct() {
		s.writeLocked(p)
		s.mu.Unlock()
		return nil
	}
	if slot != nil && slot.Queued {
		old := slot.Frame
		slot.Frame = p
		s.queued += p.Len() - old.Len()
		old.Release()
		s.mu.Unlock()
		return nil
	}
	if s.queued+p.Len() > s.srv.cfg.MaxQueueBytes {
		// The sweeper closes it: Send runs under the hub's locks, where
		// Protocol.Closed (which unsubscribes) must not be called.
		s.doomed = true
		s.mu.Unlock()
		p.Release()
		return ErrSlowConsumer
	}
	e := qentry{p: p}
	if slot != nil {
		slot.Frame, slot.Queued = p, true
		e = qentry{slot: slot}
	}
	s.q = append(s.q, e)
	s.queued += p.Len()
	var pa pollAnswer
	if s.recv != nil {
		pa = s.flushLocked()
	}
	s.mu.Unlock()
	pa.answer()
	return nil
}

// wrapFrames returns the data frames in p as one SockJS message frame in
// the session's encoding, nil when p has none. It consumes p's reference.
func (s *Session) wrapFrames(p *wsframe.Prepared) *wsframe.Prepared {
	out := wsframe.AcquirePrepared()
	out.B = append(out.B, s.enc.head()...)
	out.B = append(out.B, "a["...)
	n := 0
	forEachMessage(p.Bytes(), func(_ ws.OpCode, payload []byte) {
		if n > 0 {
			out.B = append(out.B, ',')
		}
		out.B = appendJSONString(out.B, payload)
		n++
	})
	p.Release()
	if n == 0 {
		out.SealRaw()
		out.Release()
		return nil
	}
	out.B = append(out.B, ']')
	out.B = append(out.B, s.enc.tail()...)
	s.enc.seal(out)
	return out
}

// direct reports whether the receiving request writes frames of the
// session's encoding as they are. s.mu must be held.
func (s *Session) direct() bool {
	return s.enc != encPlain && s.fr.enc() == s.enc && !s.fr.k.polling()
}

// writeLocked queues p (the session's encoding) on the streaming receiving
// request and ends its response past ResponseLimit. s.mu must be held.
func (s *Session) writeLocked(p *wsframe.Prepared) {
	n := p.Len()
	if s.fr.chunked {
		n = chunkBodyLen(p.Bytes()) // the response limit counts SockJS bytes, not HTTP framing
	}
	_ = s.recv.Send(p) // a closed connection: OnClose ends the session
	s.sentLocked(n)
}

// chunkBodyLen returns the length of the data of b, one HTTP chunk
// ("<hex size>\r\n<data>\r\n"), or len(b) if b is not one.
func chunkBodyLen(b []byte) int {
	n := 0
	for i, c := range b {
		switch {
		case c >= '0' && c <= '9':
			n = n<<4 | int(c-'0')
		case c >= 'a' && c <= 'f':
			n = n<<4 | int(c-'a'+10)
		case c >= 'A' && c <= 'F':
			n = n<<4 | int(c-'A'+10)
		case c == '\r' && i > 0 && n <= len(b):
			return n
		default:
			return len(b)
		}
	}
	return len(b)
}

// sentLocked counts n bytes written on the streaming receiving request.
// s.mu must be held.
func (s *Session) sentLocked(n int) {
	s.sent += n
	s.lastSend = nowNano()
	if s.fr.k != kindWebSocket && s.sent >= s.srv.cfg.ResponseLimit {
		s.endRecvLocked()
	}
}

// endRecvLocked ends the streaming response of the receiving request; the
// session waits for the next one. s.mu must be held.
func (s *Session) endRecvLocked() {
	c := s.recv
	s.recv, s.idleSince = nil, nowNano()
	_ = c.EndStream()
}

// writeFrameLocked writes SockJS frame f to the streaming receiving
// request, framed for it. s.mu must be held.
func (s *Session) writeFrameLocked(f []byte) {
	p := s.fr.frame(f)
	s.writeLocked(p)
}

// pollAnswer is the answer to a polling request, given after s.mu is
// released.
type pollAnswer struct {
	c    *poller.Conn
	hdr  string
	body []byte
}

func (a *pollAnswer) answer() {
	if a.c == nil {
		return
	}
	_ = a.c.Respond(200, []byte(a.hdr), a.body)
	if cap(a.body) <= maxPooledBody {
		b := a.body[:0]
		bodyPool.Put(&b)
	}
}

// bodyPool holds the buffers polling answers are built in (Respond copies).
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

const maxPooledBody = 64 << 10

// flushLocked writes the queue to the receiving request: by reference, or
// re-framed for it; a polling request takes it all as one message frame
// and is answered (by the caller, with the returned pollAnswer, unlocked).
// s.mu must be held.
func (s *Session) flushLocked() pollAnswer {
	if len(s.q) == 0 || s.recv == nil {
		return pollAnswer{}
	}
	if s.fr.k.polling() {
		bp := bodyPool.Get().(*[]byte)
		f := append((*bp)[:0], "a["...)
		first := true
		for i := range s.q {
			p := s.q[i].take()
			if m := messages(s.enc.frame(p.Bytes())); len(m) > 0 {
				if !first {
					f = append(f, ',')
				}
				f = append(f, m...)
				first = false
			}
			p.Release()
			s.q[i] = qentry{}
		}
		f = append(f, ']')
		s.resetQueueLocked()
		body := s.fr.appendFrame(make([]byte, 0, len(f)+32), f)
		*bp = f[:0]
		bodyPool.Put(bp)
		return s.detachPollLocked(body)
	}
	direct := s.direct()
	i := 0
	for ; i < len(s.q) && s.recv != nil; i++ {
		p := s.q[i].take()
		s.q[i] = qentry{}
		s.queued -= p.Len()
		if direct {
			s.writeLocked(p)
			continue
		}
		out := s.fr.frame(s.enc.frame(p.Bytes()))
		p.Release()
		s.writeLocked(out)
	}
	if i < len(s.q) {
		// The response ended past ResponseLimit: the rest waits for the
		// next receiving request.
		n := copy(s.q, s.q[i:])
		clear(s.q[n:])
		s.q = s.q[:n]
		return pollAnswer{}
	}
	s.resetQueueLocked()
	return pollAnswer{}
}

func (s *Session) resetQueueLocked() {
	clear(s.q)
	s.q = s.q[:0]
	if cap(s.q) > 64 {
		s.q = nil
	}
	s.queued = 0
}

// detachPollLocked ends the polling receiving request with body. s.mu must
// be held.
func (s *Session) detachPollLocked(body []byte) pollAnswer {
	pa := pollAnswer{c: s.recv, hdr: s.hdr, body: body}
	s.recv, s.hdr, s.idleSince = nil, "", nowNano()
	return pa
}

// releaseLocked drops every queued frame. s.mu must be held.
func (s *Session) releaseLocked() {
	for i := range s.q {
		if p := s.q[i].take(); p != nil {
			p.Release()
		}
		s.q[i] = qentry{}
	}
	s.q, s.queued = nil, 0
}

// CloseWith implements poller.Peer: the session closes with the frame
// c[code,"text"] (the receiving request gets it and ends; later ones get
// it too until the session is forgotten). reason is mapped to a
// CloseReason and counted. Protocol.Closed follows from the sweeper (or
// when the Message being delivered returns), never inside CloseWith, which
// may be called under the hub's locks.
func (s *Session) CloseWith(code wsframe.StatusCode, text string, reason poller.CloseReason) {
	why := ReasonServer
	if reason == poller.ReasonSlowConsumer {
		why = ReasonSlowConsumer
	}
	s.close(int(code), text, why)
}

// Close closes the session with c[3000,"Go away!"].
func (s *Session) Close() { s.close(int(CodeGoAway), textGoAway, ReasonServer) }

// close ends the session once: the queue is dropped, the receiving request
// gets the close frame and ends, and Protocol.Closed is owed (runClosed).
// It reports whether this call closed it.
func (s *Session) close(code int, text string, why CloseReason) bool {
	s.mu.Lock()
	if s.closeF != nil {
		s.mu.Unlock()
		return false
	}
	s.closeF = appendCloseFrame(make([]byte, 0, 16+len(text)), code, text)
	s.closedAt, s.closedDue = nowNano(), true
	s.releaseLocked()
	var pa pollAnswer
	if s.recv != nil {
		pa = s.finishRecvLocked(s.closeF)
	}
	s.mu.Unlock()
	pa.answer()
	s.srv.sessions.Add(-1)
	s.srv.closes[why].Add(1)
	if s.srv.debug() {
		s.srv.log.Debug("sockjs close", "prefix", s.srv.cfg.Prefix, "session", s.id, "reason", why.String())
	}
	return true
}

// finishRecvLocked writes the last frame f to the receiving request and
// ends it. s.mu must be held.
func (s *Session) finishRecvLocked(f []byte) pollAnswer {
	if s.fr.k.polling() {
		return s.detachPollLocked(s.fr.appendFrame(nil, f))
	}
	c, fr := s.recv, s.fr
	s.recv, s.idleSince = nil, nowNano()
	endWith(c, &fr, f)
	return pollAnswer{}
}

// endWith writes frame f to a streaming receiving request (or WebSocket)
// and ends it.
func endWith(c *poller.Conn, fr *framer, f []byte) {
	_ = c.Send(fr.frame(f))
	if fr.k == kindWebSocket {
		c.CloseWith(wsframe.StatusNormalClosure, "", poller.ReasonServer)
		return
	}
	_ = c.EndStream()
}

// runClosed calls Protocol.Closed if it is owed and no Message is being
// delivered (that delivery calls it when it returns). Never call it under
// the hub's locks.
func (s *Session) runClosed() {
	if !s.inMu.TryLock() {
		return
	}
	s.mu.Lock()
	due := s.closedDue && !s.closedDone
	s.closedDone = s.closedDone || due
	s.mu.Unlock()
	if due {
		s.srv.proto.Closed(s)
	}
	s.inMu.Unlock()
}

// deliver hands the decoded messages to the Protocol, in order. It
// reports false when the session is closed.
func (s *Session) deliver(d *Decoded) bool {
	s.inMu.Lock()
	open := true
	for i := 0; i < d.Len(); i++ {
		s.mu.Lock()
		open = s.closeF == nil
		s.mu.Unlock()
		if !open {
			break
		}
		s.srv.proto.Message(s, d.Msg(i))
	}
	s.inMu.Unlock()
	s.mu.Lock()
	due := s.closedDue && !s.closedDone
	s.mu.Unlock()
	if due {
		s.runClosed()
	}
	return open
}

// attach serves a receiving request c (framed by fr; hdr: a polling
// answer's header lines) for the session: a closed session answers its
// close frame, a session that has a receiving request answers
// c[2010,...] to this one only; otherwise c becomes the receiving request,
// gets "o" if the session is new and what is queued.
func (s *Session) attach(c *poller.Conn, fr framer, hdr string) {
	s.mu.Lock()
	var f []byte
	switch {
	case s.closeF != nil && !s.opened:
		// Closed before its first receiving request (the /close service):
		// "o" first, as the reference does.
		s.opened = true
		if fr.k.polling() {
			f = frameOpen
			break
		}
		s.mu.Unlock()
		_ = c.Send(fr.frame(frameOpen))
		endWith(c, &fr, s.closeF)
		return
	case s.closeF != nil:
		f = s.closeF
	case s.recv != nil && s.recv != c && s.recv.PeerClosed():
		// The client dropped its receiving request and sent this one at
		// once, before the reactor saw the first go: the session was
		// interrupted, as it would have been a moment later.
		old := s.recv
		s.mu.Unlock()
		s.receiverGone(old)
		s.attach(c, fr, hdr)
		return
	case s.recv != nil:
		f = anotherConnection
	}
	if f != nil {
		s.mu.Unlock()
		if fr.k.polling() {
			_ = c.Respond(200, []byte(hdr), fr.appendFrame(nil, f))
		} else {
			endWith(c, &fr, f)
		}
		return
	}
	s.recv, s.fr, s.hdr, s.sent, s.idleSince = c, fr, hdr, 0, 0
	s.lastSend = nowNano()
	c.SetValue(s)
	var pa pollAnswer
	switch {
	case !s.opened:
		s.opened = true
		if fr.k.polling() {
			pa = s.detachPollLocked(fr.appendFrame(nil, frameOpen))
			break
		}
		s.writeFrameLocked(frameOpen)
		pa = s.flushLocked()
	default:
		pa = s.flushLocked()
	}
	s.mu.Unlock()
	pa.answer()
}

var anotherConnection = appendCloseFrame(nil, int(CodeAnotherConnection), textAnotherConnection)

// receiverGone is called when the connection of receiving request c closed
// before its response ended: the client aborted it, which closes the
// session (the reference's c[1002,"Connection interrupted"]); a WebSocket
// closed by its client closes it with c[1000,...] counted as
// ReasonInterrupted too.
func (s *Session) receiverGone(c *poller.Conn) {
	s.mu.Lock()
	if s.recv != c {
		s.mu.Unlock()
		return
	}
	s.recv, s.idleSince = nil, nowNano()
	s.mu.Unlock()
	s.close(int(CodeInterrupted), textInterrupted, ReasonInterrupted)
	s.runClosed()
}

// onTick runs the session's timers (sweeper).
func (s *Session) onTick(now int64) {
	cfg := &s.srv.cfg
	s.mu.Lock()
	if s.closeF != nil {
		due := s.closedDue && !s.closedDone
		forget := now-s.closedAt >= int64(cfg.DisconnectDelay)
		s.mu.Unlock()
		if due {
			s.runClosed()
		}
		if forget && !due {
			s.srv.remove(s)
		}
		return
	}
	if s.doomed {
		s.mu.Unlock()
		s.close(int(wsframe.StatusPolicyViolation), "slow consumer", ReasonSlowConsumer)
		s.runClosed()
		return
	}
	if s.recv == nil {
		idle := now-s.idleSince >= int64(cfg.DisconnectDelay)
		s.mu.Unlock()
		if idle && s.close(int(CodeGoAway), textGoAway, ReasonTimeout) {
			s.runClosed()
			s.srv.remove(s) // the reference forgets a timed-out session at once
		}
		return
	}
	var pa pollAnswer
	if now-s.lastSend >= int64(cfg.Heartbeat) {
		switch {
		case s.fr.k.polling():
			pa = s.detachPollLocked(s.fr.appendFrame(nil, frameHeartbeat))
		case s.direct():
			s.writeLocked(s.srv.heartbeat(s.enc))
		default:
			s.writeFrameLocked(frameHeartbeat)
		}
	}
	s.mu.Unlock()
	pa.answer()
}
