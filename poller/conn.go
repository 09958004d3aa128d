package poller

import (
	"context"
	"errors"
	"net"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/cloudwego/netpoll"
	"github.com/gobwas/ws"
	"github.com/valyala/bytebufferpool"
	"golang.org/x/sys/unix"

	"github.com/c1mhq/c1m/internal/oprate"
	"github.com/c1mhq/c1m/wsframe"
)

type connState uint8

const (
	stHandshake connState = iota // waiting for a complete request (the first, or the next on a kept-alive reactor HTTP connection)
	stHTTP                       // handed off to net/http
	stOpen                       // upgraded
	stClosing                    // close frame queued (or, for HTTP, the last response); TCP closes after flush, echo or CloseTimeout
	stClosed                     // netpoll closed the socket
	stHeld                       // a reactor HTTP request waits for its answer
	stStream                     // a reactor HTTP response streams
)

const reasonUnset = numReasons

// entry is one queued frame: either a Prepared reference or a conflation slot
// whose Frame is taken when the writer reaches it.
type entry struct {
	p    *wsframe.Prepared
	slot *Slot
}

// Conn is one connection of the Server. Its methods are safe for concurrent
// use; see the package doc for the write path.
type Conn struct {
	srv     *Server
	nc      netpoll.Connection
	fd      int
	handler Handler
	parser  wsframe.Parser
	hs      wsframe.Handshake
	value   atomic.Value
	head    *bytebufferpool.ByteBuffer // partial request head, nil when none
	hc      *httpConn                  // set in stHTTP
	tls     *tlsLayer                  // set on the TLS listener's connections
	h       *httpState                 // set once the reactor served an HTTP request (HTTPRoutes)

	lastRead atomic.Int64 // coarse unix ns of the last bytes from the peer
	lastPing int64        // sweeper only
	// ipe is the connection's client address in Config.MaxConnsPerIP and
	// ConnectRatePerIP accounting (nil when those are off); ipRefused says
	// whether it came past them, answered 429 at its first request head.
	ipe       *ipEntry
	ipRefused uint8
	// ops is the client-operation bucket of the protocol handler
	// (OpBucket), made on first use.
	ops *oprate.Bucket
	// deflate is the permessage-deflate mode of an upgraded connection
	// (wsframe.DeflateMode): Send and SendSlot swap frames for their shared
	// compressed variant. Atomic: a subscriber of an earlier reactor HTTP
	// stream may still call Send while the connection upgrades.
	deflate atomic.Uint32

	mu sync.Mutex
	// Fields below are guarded by mu.
	state         connState
	reason        CloseReason
	scheduled     bool // on a flusher's ready list
	writing       bool // a writev on fd is in flight; close waits for it
	backlogged    bool // a write-back goroutine owns the writing
	peerClosed    bool // nothing more is expected from the peer: close TCP once the queue is empty
	linger        bool // after the close frame, shut down writing and drain input until EOF (error closes)
	shutWr        bool // linger's shutdown(SHUT_WR) is done
	upgrading     bool // the 101 is being written; the connection opens next
	shutdownAsked bool // Shutdown reached the connection while upgrading: close it with 1001 once open
	q             []entry
	qh            int   // index of the first queued entry
	off           int   // bytes of q[qh] already written
	inflight      int   // entries from qh handed to the kernel
	inflightBytes int   // their bytes
	queued        int   // bytes in q[qh:], minus off
	since         int64 // accept time, close start, or last write progress when backlogged
	regIdx        int32
}

// connCtx carries the Conn through netpoll callbacks without a map lookup.
type connCtx struct {
	context.Context
	c *Conn
}

// Path returns the request path of the upgrade.
func (c *Conn) Path() string { return c.hs.Path }

// Query returns the raw query of the upgrade request.
func (c *Conn) Query() string { return c.hs.Query }

// Protocol returns the negotiated subprotocol, "" if none.
func (c *Conn) Protocol() string { return c.hs.Protocol }

// Authorization returns the Authorization header of the upgrade request, ""
// if it had none.
func (c *Conn) Authorization() string { return c.hs.Authorization }

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// SetValue stores an application value on the connection.
func (c *Conn) SetValue(v any) { c.value.Store(&v) }

// Value returns what SetValue stored, or nil.
func (c *Conn) Value() any {
	if p, ok := c.value.Load().(*any); ok {
		return *p
	}
	return nil
}

// Send queues p for writing and never blocks. It consumes one reference of p
// in every case. On a reactor HTTP connection it is valid while a stream is
// open (StartStream); the bytes of p are written as they are.
func (c *Conn) Send(p *wsframe.Prepared) error {
	if m := c.deflate.Load(); m != 0 {
		p = c.deflated(p, wsframe.DeflateMode(m))
	}
	return c.enqueue(entry{p: p}, p.Len())
}

// deflated returns the frame to queue for p on a connection that
// negotiated mode: p's shared compressed variant (made by the first
// connection that needs it, see wsframe.Prepared.Deflated) with p's
// reference moved to it, or p when it stays uncompressed (not a data
// frame, under Config.DeflateThreshold, or incompressible).
func (c *Conn) deflated(p *wsframe.Prepared, mode wsframe.DeflateMode) *wsframe.Prepared {
	q := p.Deflated(mode, c.srv.cfg.DeflateThreshold)
	if q == p {
		return p
	}
	q.Retain(1)
	c.srv.stats.deflateSent.Add(1)
	c.srv.stats.deflateSaved.Add(uint64(p.Len() - q.Len()))
	p.Release()
	return q
}

// SendSlot queues p through the conflation slot s, which must belong to this
// connection: a frame already waiting in s is replaced in place (and released);
// otherwise p goes to the tail. It consumes one reference of p in every case.
func (c *Conn) SendSlot(s *Slot, p *wsframe.Prepared) error {
	if m := c.deflate.Load(); m != 0 {
		p = c.deflated(p, wsframe.DeflateMode(m))
	}
	c.mu.Lock()
	if s.Queued && (c.state == stOpen || c.state == stStream) {
		old := s.Frame
		s.Frame = p
		delta := p.Len() - old.Len()
		c.queued += delta
		c.mu.Unlock()
		c.srv.stats.queuedBytes.Add(int64(delta))
		old.Release()
		return nil
	}
	c.mu.Unlock()
	return c.enqueue(entry{slot: s, p: p}, p.Len())
}

func (c *Conn) enqueue(e entry, n int) error {
	s := c.srv
	c.mu.Lock()
	if c.state != stOpen && c.state != stStream {
		c.mu.Unlock()
		e.p.Release()
		return ErrClosed
	}
	if n == 0 { // an empty chunk: nothing to write
		c.mu.Unlock()
		e.p.Release()
		return nil
	}
	// The bound is on backlog: a single frame into an empty queue always fits.
	if c.queued > 0 && c.queued+n > s.cfg.MaxQueueBytes {
		if s.cfg.SlowPolicy == SlowDisconnect || !c.dropOldestLocked(n) {
			c.mu.Unlock()
			e.p.Release()
			c.CloseWith(wsframe.StatusPolicyViolation, "slow consumer", ReasonSlowConsumer)
			return ErrSlowConsumer
		}
	}
	if e.slot != nil {
		e.slot.Frame, e.slot.Queued = e.p, true
		e.p = nil
	}
	c.q = append(c.q, e)
	c.queued += n
	if c.h != nil {
		c.h.lastSend = s.now()
	}
	sched := c.scheduleLocked()
	c.mu.Unlock()
	s.stats.queuedBytes.Add(int64(n))
	if sched {
		c.flusher().push(c)
	}
	return nil
}

// scheduleLocked marks c scheduled and reports whether the caller must push it
// to its flusher. c.mu must be held.
func (c *Conn) scheduleLocked() bool {
	if c.scheduled || c.writing || c.backlogged {
		return false
	}
	c.scheduled = true
	return true
}

func (c *Conn) flusher() *flusher {
	f := c.srv.flushers
	return f[uint(c.fd)%uint(len(f))]
}

// dropOldestLocked drops queued frames that are not being written, oldest
// first, until n more bytes fit. Frames in flight cannot be dropped, so they
// do not count against the bound here (they were queued under it): the queue
// holds at most twice MaxQueueBytes. It reports whether n fits. c.mu must be
// held.
func (c *Conn) dropOldestLocked(n int) bool {
	max := c.srv.cfg.MaxQueueBytes
	first := c.qh + c.inflight
	pinned := c.inflightBytes
	if c.inflight == 0 && c.off > 0 {
		first++ // a partly written frame must finish
		pinned = c.q[c.qh].p.Len() - c.off
	}
	i := first
	var freed, dropped int
	for ; i < len(c.q) && c.queued-pinned-freed+n > max; i++ {
		p := c.q[i].take()
		freed += p.Len()
		p.Release()
		dropped++
	}
	c.compactDropped(first, i)
	c.queued -= freed
	c.srv.stats.queuedBytes.Add(-int64(freed))
	c.srv.stats.dropped.Add(uint64(dropped))
	return c.queued-pinned+n <= max || c.queued == pinned
}

// compactDropped removes q[from:to] (already released).
func (c *Conn) compactDropped(from, to int) {
	if from == to {
		return
	}
	k := copy(c.q[from:], c.q[to:])
	clear(c.q[from+k:])
	c.q = c.q[:from+k]
}

// take detaches the frame of e (from its slot if any) and returns it.
func (e *entry) take() *wsframe.Prepared {
	if e.slot != nil {
		p := e.slot.Frame
		e.slot.Frame, e.slot.Queued = nil, false
		e.slot = nil
		e.p = p
	}
	p := e.p
	e.p = nil
	return p
}

// Close starts the close handshake with 1000 and no reason. On a reactor
// HTTP connection it closes TCP once the queue is written.
func (c *Conn) Close() { c.CloseWith(wsframe.StatusNormalClosure, "", ReasonServer) }

// CloseWith queues a close frame with code and reason after the frames already
// queued (under SlowDisconnect the queue is dropped first) and closes the TCP
// connection once the peer answers or CloseTimeout passes. reason is counted.
// A reactor HTTP connection (held request, stream, or between requests) gets
// no close frame: code and text are ignored, TCP closes once the queue is
// written (dropped first for ReasonSlowConsumer).
func (c *Conn) CloseWith(code wsframe.StatusCode, text string, reason CloseReason) {
	c.closeWith(code, text, reason, false, false)
}

// closeWith queues the close frame. peerDone: the peer will send nothing more
// we need (its close arrived, or our parser stopped). linger: after the close
// frame is written, shut down our side and drain the peer's input until it
// closes (or CloseTimeout), so that a peer still sending does not get a reset
// that would destroy our close frame in its receive buffer.
func (c *Conn) closeWith(code wsframe.StatusCode, text string, reason CloseReason, peerDone, linger bool) {
	c.mu.Lock()
	if c.state != stOpen {
		st := c.state
		if c.h != nil && (st == stHandshake || st == stHeld || st == stStream) {
			sched := c.httpCloseLocked(reason)
			c.mu.Unlock()
			c.pushIf(sched)
			return
		}
		c.mu.Unlock()
		if st == stHandshake || st == stHTTP {
			c.hardClose(reason)
		}
		return
	}
	c.state = stClosing
	c.reason = reason
	c.since = c.srv.now()
	c.peerClosed = peerDone
	c.linger = linger
	if reason == ReasonSlowConsumer {
		c.dropAllLocked()
	}
	var cf *wsframe.Prepared
	if code == wsframe.StatusNoStatusReceived {
		cf = wsframe.NewPrepared(ws.OpClose, nil)
	} else {
		cf = wsframe.ClosePrepared(code, text)
	}
	c.q = append(c.q, entry{p: cf})
	c.queued += cf.Len()
	c.srv.stats.queuedBytes.Add(int64(cf.Len()))
	sched := c.scheduleLocked()
	c.mu.Unlock()
	if sched {
		c.flusher().push(c)
	}
}

// dropAllLocked releases every queued frame that is not being written.
func (c *Conn) dropAllLocked() {
	first := c.qh + c.inflight
	if c.inflight == 0 && c.off > 0 {
		first++
	}
	var freed int
	for i := first; i < len(c.q); i++ {
		p := c.q[i].take()
		freed += p.Len()
		p.Release()
	}
	clear(c.q[first:])
	c.q = c.q[:first]
	c.queued -= freed
	c.srv.stats.queuedBytes.Add(-int64(freed))
}

// afterQueueLocked finishes a close once the queue of a closing connection is
// empty: it ends TLS, shuts down writing for a lingering close (under mu, so
// the fd cannot be closed under it) and reports whether the socket should be closed
// now. c.mu must be held.
func (c *Conn) afterQueueLocked() (closeNow bool) {
	if h := c.h; h != nil && h.idle != nil && c.qh == len(c.q) && !c.backlogged {
		close(h.idle) // a net/http hand-off waits for the reactor's responses
		h.idle = nil
	}
	if c.state != stClosing || c.qh != len(c.q) || c.backlogged || !c.peerClosed {
		return false
	}
	if !c.linger {
		c.closeNotifyLocked()
		return true
	}
	if !c.shutWr {
		c.shutWr = true
		c.closeNotifyLocked()
		_ = unix.Shutdown(c.fd, unix.SHUT_WR)
	}
	return false
}

// closeNotifyLocked ends TLS before a graceful close: a close_notify alert
// after the last response or close frame tells the peer the data ended
// there and was not cut (RFC 8446 6.1). c.mu must be held.
func (c *Conn) closeNotifyLocked() {
	if c.tls != nil {
		c.tls.closeNotify()
	}
}

// hardClose closes the socket now. c.mu must not be held.
func (c *Conn) hardClose(reason CloseReason) {
	c.mu.Lock()
	if c.reason == reasonUnset {
		c.reason = reason
	}
	c.mu.Unlock()
	_ = c.nc.Close()
}

// onClosed is netpoll's close callback: the fd is closed right after it
// returns, so it waits for an in-flight writev and releases everything queued.
func (c *Conn) onClosed(netpoll.Connection) error {
	s := c.srv
	if c.ipe != nil {
		s.ipl.close(c.ipe)
	}
	if c.tls != nil {
		c.tls.onClosed()
	}
	c.mu.Lock()
	prev := c.state
	c.state = stClosed
	for c.writing {
		c.mu.Unlock()
		runtime.Gosched()
		c.mu.Lock()
	}
	reason := c.reason
	if reason == reasonUnset {
		reason = ReasonPeerGone
	}
	// No writev is in flight now (writing is false), so every entry from qh on
	// is ours to release.
	freed := c.queued
	for i := c.qh; i < len(c.q); i++ {
		if p := c.q[i].take(); p != nil {
			p.Release()
		}
	}
	c.q = nil
	c.queued = 0
	head := c.head
	c.head = nil
	var httpClose HTTPHandler
	isHTTP := c.h != nil
	if isHTTP {
		httpClose = c.httpClosedLocked()
	}
	c.mu.Unlock()
	s.stats.queuedBytes.Add(-int64(freed))
	if head != nil {
		bytebufferpool.Put(head)
	}
	s.reg.remove(c)
	s.stats.tcpConns.Add(-1)
	if c.tls != nil {
		s.stats.tlsConns.Add(-1)
		if reason == ReasonHandshakeTimeout && !c.tls.open.Load() {
			s.stats.tlsHandshakeTimeouts.Add(1)
		}
	}
	upgraded := c.handler != nil
	switch {
	case prev == stHTTP:
		c.hc.closed()
	case (prev == stOpen || prev == stClosing) && upgraded:
		c.parser.Release()
		s.stats.conns.Add(-1)
		s.stats.closes[reason].Add(1)
		if s.debug() {
			c.logClose(reason, true)
		}
		c.handler.OnClose(c, reason)
	case isHTTP:
		s.stats.closes[reason].Add(1)
		if s.debug() {
			s.log.Debug("http close", "remote", c.remote(), "reason", reason.String())
		}
		if httpClose != nil {
			httpClose.OnClose(c, reason)
		}
	default: // closed before the first request was complete
		s.stats.closes[reason].Add(1)
		if reason != ReasonHandshakeRejected && s.debug() { // refusals are logged where they happen
			c.logClose(reason, false)
		}
	}
	return nil
}

// httpClosedLocked settles the reactor HTTP state of a closed connection and
// returns the handler to call OnClose on now (nil when none, or when the
// token holder will call it). c.mu must be held.
func (c *Conn) httpClosedLocked() HTTPHandler {
	h, s := c.h, c.srv
	var cc HTTPHandler
	switch h.kind {
	case kindHeld:
		s.stats.held.Add(-1)
		cc = h.active
	case kindStream:
		s.stats.streams.Add(-1)
		cc = h.active
	}
	h.kind, h.active, h.hb = kindNone, nil, nil
	if h.idle != nil {
		close(h.idle)
		h.idle = nil
	}
	if h.busy {
		// The holder may be in ServeHTTP or using the buffers: it calls
		// OnClose and returns them when its turn ends.
		h.closeCall = cc
		return nil
	}
	putBuf(&h.in)
	putBuf(&h.pend)
	return cc
}

// ---------------------------------------------------------------------------
// Read path

func (s *Server) onPrepare(nc netpoll.Connection) context.Context {
	return s.prepare(nc, false)
}

// onPrepareTLS is onPrepare for the TLS listener.
func (s *Server) onPrepareTLS(nc netpoll.Connection) context.Context {
	return s.prepare(nc, true)
}

func (s *Server) prepare(nc netpoll.Connection, secure bool) context.Context {
	c := &Conn{srv: s, nc: nc, reason: reasonUnset}
	if secure {
		c.tls = newTLSLayer(c, s.tlsCfg)
		s.stats.tlsConns.Add(1)
	}
	if fc, ok := nc.(interface{ Fd() int }); ok {
		c.fd = fc.Fd()
	}
	now := s.now()
	c.since = now
	c.lastRead.Store(now)
	s.stats.accepted.Add(1)
	s.stats.tcpConns.Add(1)
	if s.ipl.enabled() {
		if a := clientAddr(nc.RemoteAddr()); a.IsValid() {
			c.ipe, c.ipRefused = s.ipl.open(a, now)
		}
	}
	_ = nc.SetWriteTimeout(s.cfg.WriteTimeout)
	_ = nc.AddCloseCallback(c.onClosed)
	if !s.cfg.KeepNetpollBarrier {
		trimBarrier(nc)
	}
	s.reg.add(c)
	if s.closing.Load() {
		_ = nc.Close()
	}
	return &connCtx{Context: context.Background(), c: c}
}

func (s *Server) onRequest(ctx context.Context, nc netpoll.Connection) error {
	c := ctx.(*connCtx).c
	r := nc.Reader()
	n := r.Len()
	if n == 0 {
		return nil
	}
	data, err := r.Next(n)
	if err != nil {
		return err
	}
	c.lastRead.Store(s.now())
	if c.tls != nil {
		c.tls.input(data)
	} else {
		c.onData(data)
	}
	return r.Release()
}

// onData handles bytes from the peer. data is only valid during the call.
func (c *Conn) onData(data []byte) {
	c.mu.Lock()
	st := c.state
	c.mu.Unlock()
	switch st {
	case stHandshake:
		if c.h != nil {
			c.httpInput(data)
			return
		}
		c.onHandshakeData(data)
	case stHeld, stStream:
		c.httpInput(data)
	case stOpen:
		if c.h != nil && c.wsInputWhileBusy(data) {
			return
		}
		c.feed(data)
	case stClosing:
		c.mu.Lock()
		done := c.peerClosed
		c.mu.Unlock()
		if done {
			return // the parser already ended; discard
		}
		c.feed(data)
	case stHTTP:
		c.hc.feed(data)
	}
}

func (c *Conn) onHandshakeData(data []byte) {
	s := c.srv
	buf := data
	if c.head != nil {
		_, _ = c.head.Write(data)
		buf = c.head.B
	}
	n, err := wsframe.RequestHeadLen(buf, s.cfg.MaxHeadSize)
	if err != nil {
		s.stats.rejected.Add(1)
		if s.debug() {
			c.logRefused(wsframe.Reject(431, "request head too large"))
		}
		c.writeRaw(responseHeadTooLarge)
		c.hardClose(ReasonHandshakeRejected)
		return
	}
	if n == 0 {
		if c.head == nil {
			c.head = bytebufferpool.Get()
			_, _ = c.head.Write(data)
		}
		return
	}
	head, rest := buf[:n], buf[n:]
	if c.ipRefused != ipOK {
		// Past the per-address limits: refused before any upgrade or
		// stream, and only this connection.
		if c.ipRefused == ipTooMany {
			s.stats.refusedIPConns.Add(1)
		} else {
			s.stats.refusedIPRate.Add(1)
		}
		c.writeRaw(s.ipl.response(c.ipRefused))
		c.hardClose(ReasonHandshakeRejected)
		c.releaseHead()
		return
	}
	path, upgrade, complete := wsframe.UpgradeRequest(head)
	// An upgrade goes to the WebSocket routes; a plain request to the HTTP
	// routes first, so one path can serve both (Engine.IO's polling and
	// websocket transports share /socket.io/), and so does an incomplete
	// upgrade request (not a GET, or no "Connection: upgrade") that an HTTP
	// route claims: the protocol answers it as its reference server does.
	if !complete {
		if hh := c.httpRoute(head, path); hh != nil {
			c.startHTTP(hh, path, buf)
			c.releaseHead()
			return
		}
	}
	if !upgrade && c.route(path) == nil {
		hc := s.http.newConn(c, buf)
		c.mu.Lock()
		c.hc = hc
		c.state = stHTTP
		c.mu.Unlock()
		s.http.deliver(hc)
		c.releaseHead()
		return
	}
	c.upgrade(head, rest)
	c.releaseHead()
}

// upgrade answers an upgrade request (head) and, when it succeeds, opens the
// WebSocket connection and feeds it rest, the bytes after the head. Both are
// valid only during the call.
func (c *Conn) upgrade(head, rest []byte) {
	s := c.srv
	resp := bytebufferpool.Get()
	hs, err := s.upgrader.Upgrade(head, resp)
	if err == nil {
		c.mu.Lock()
		c.upgrading = true
		c.mu.Unlock()
	}
	c.writeHead(resp.B)
	bytebufferpool.Put(resp)
	if err != nil {
		s.stats.rejected.Add(1)
		if s.debug() {
			c.logRefused(err)
		}
		if c.h != nil {
			// After earlier responses: close once the refusal is written.
			c.mu.Lock()
			sched := c.httpCloseLocked(ReasonHandshakeRejected)
			c.mu.Unlock()
			c.pushIf(sched)
			c.endHTTPTurnWS()
			return
		}
		c.hardClose(ReasonHandshakeRejected)
		return
	}
	if hs.Auth != nil {
		// Upgrader.Authorize's value (e.g. the connection's authenticated
		// session) is the connection's first Value.
		c.SetValue(hs.Auth)
		hs.Auth = nil
	}
	c.hs = hs
	handler := c.route(hs.Path)
	pc := s.cfg.Parser
	pc.Deflate = hs.Deflate != wsframe.DeflateOff
	c.parser.Init(pc)
	c.deflate.Store(uint32(hs.Deflate))
	c.mu.Lock()
	opened := c.state == stHandshake
	if opened {
		c.handler = handler // set only when opened: onClosed tells WebSocket connections by it
		c.state = stOpen
	}
	c.upgrading = false
	bye := opened && c.shutdownAsked
	c.mu.Unlock()
	if opened {
		s.stats.upgraded.Add(1)
		if hs.Deflate != wsframe.DeflateOff {
			s.stats.deflateConns.Add(1)
		}
		s.stats.conns.Add(1)
		if s.debug() {
			c.logOpen()
		}
		c.handler.OnOpen(c)
		if bye {
			c.CloseWith(wsframe.StatusGoingAway, "server shutting down", ReasonShutdown)
		} else if len(rest) > 0 {
			c.feed(rest)
		}
	}
	if c.h != nil {
		c.endHTTPTurnWS()
	}
}

// writeHead writes a handshake response: straight to the socket on a fresh
// connection, through the queue after reactor HTTP responses, which it must
// not overtake.
func (c *Conn) writeHead(b []byte) {
	if c.h == nil {
		c.writeRaw(b)
		return
	}
	p := wsframe.AcquirePrepared()
	p.B = append(p.B, b...)
	p.SealRaw()
	c.mu.Lock()
	sched := c.queueLocked(p)
	c.mu.Unlock()
	if sched {
		c.flushNow()
	}
}

func (c *Conn) route(path string) Handler {
	if c.srv.cfg.Routes != nil {
		return c.srv.cfg.Routes(path)
	}
	if r := c.srv.upgrader.Route; r != nil && !r(path) {
		return nil
	}
	return c.srv.cfg.Handler
}

func (c *Conn) releaseHead() {
	if c.head != nil {
		bytebufferpool.Put(c.head)
		c.head = nil
	}
}

// writeRaw writes a handshake response straight to the socket: it is fresh,
// so the kernel takes a few hundred bytes at once, and netpoll's output buffer
// never gets allocated for a connection that only receives frames through the
// queue. A short write (never seen) falls back to netpoll's blocking Write.
func (c *Conn) writeRaw(b []byte) {
	if c.tls != nil {
		// Sealed first; the socket of a fresh TLS connection takes it at
		// once as well.
		if err := c.tls.writeBlocking(b); err != nil && c.srv.debug() {
			c.srv.log.Debug("tls write failed", "remote", c.remote(), "err", err)
		}
		return
	}
	c.writeFd(b)
}

// writeFd writes b to the socket as it is: at once when the kernel takes
// it, else through netpoll's blocking Write.
func (c *Conn) writeFd(b []byte) {
	for len(b) > 0 {
		n, err := unix.Write(c.fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			if c.barrier() {
				_, _ = c.nc.Write(b)
			}
			return
		}
		b = b[n:]
	}
}

var responseHeadTooLarge = []byte("HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 30\r\n\r\nrequest header fields too large")

func (c *Conn) feed(data []byte) {
	err := c.parser.Feed(data, c)
	if err == nil {
		return
	}
	var ce *wsframe.CloseError
	if !errors.As(err, &ce) {
		c.closeWith(wsframe.StatusProtocolError, "protocol error", ReasonProtocolError, true, true)
		return
	}
	if ce.Remote {
		c.mu.Lock()
		st := c.state
		empty := c.qh == len(c.q)
		if st == stClosing {
			c.peerClosed = true
			if empty {
				c.closeNotifyLocked()
			}
		}
		c.mu.Unlock()
		if st == stClosing {
			if empty {
				c.hardClose(ReasonPeerClose)
			}
			return
		}
		code := ce.Code
		c.closeWith(code, "", ReasonPeerClose, true, false)
		return
	}
	reason := ReasonProtocolError
	switch ce.Code {
	case wsframe.StatusInvalidPayload:
		reason = ReasonInvalidPayload
	case wsframe.StatusMessageTooBig:
		reason = ReasonMessageTooBig
	}
	c.closeWith(ce.Code, ce.Reason, reason, true, true)
}

// OnMessage implements wsframe.FrameHandler.
func (c *Conn) OnMessage(op ws.OpCode, payload []byte) {
	c.srv.stats.messagesIn.Add(1)
	c.mu.Lock()
	open := c.state == stOpen
	c.mu.Unlock()
	if open {
		c.handler.OnMessage(c, op, payload)
	}
}

// OnPing implements wsframe.FrameHandler: answer with the same payload.
func (c *Conn) OnPing(payload []byte) {
	_ = c.Send(wsframe.NewPrepared(ws.OpPong, payload))
}

// OnPong implements wsframe.FrameHandler. Any input already counts as life.
func (c *Conn) OnPong([]byte) {}

// PeerClosed reports whether the peer has already closed its side of the
// connection (its FIN or a reset is waiting in the socket), also before the
// reactor has processed that. It peeks without blocking and consumes
// nothing. A protocol that refuses a second request while a first is held
// (SockJS's "Another connection still open") asks it, so that a client that
// drops one request and at once sends the next is not refused for a
// connection that is already gone.
func (c *Conn) PeerClosed() bool {
	c.mu.Lock()
	closed := c.state == stClosed
	c.mu.Unlock()
	if closed {
		return true
	}
	fc, ok := c.nc.(interface{ Fd() int })
	if !ok {
		return false
	}
	var b [1]byte
	for {
		n, _, err := unix.Recvfrom(fc.Fd(), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return err != unix.EAGAIN // ECONNRESET and the like: gone
		case n > 0 && c.tls != nil:
			// A TLS client that goes says so first with an alert record
			// (close_notify): waiting alert means closing.
			return b[0] == tlsRecordAlert
		default:
			return n == 0 // 0 bytes: end of file
		}
	}
}
