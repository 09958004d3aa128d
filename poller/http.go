package poller

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/valyala/bytebufferpool"

	"github.com/c1mhq/c1m/internal/httplex"
	"github.com/c1mhq/c1m/wsframe"
)

// HTTPHandler serves plain HTTP requests on the reactor (Config.HTTPRoutes):
// on the goroutine that parsed the request, without a goroutine of its own,
// however long the response lasts.
type HTTPHandler interface {
	// ServeHTTP is called for every complete request (head and body). It must
	// not block. It may answer at once or later, from any goroutine, with
	// exactly one of c.Respond or c.StartStream (then c.EndStream), or give up
	// with c.Close. Until the request is answered the connection is "held": it
	// reads no further request. r is valid only until ServeHTTP returns.
	ServeHTTP(c *Conn, r *Request)
	// OnClose is called once, after the connection closed, if it closed while
	// a request of this handler was held (not answered) or its stream was open
	// (StartStream without EndStream). A request answered with Respond, or a
	// stream ended with EndStream, gets no OnClose. It is never concurrent with
	// ServeHTTP for the same connection.
	OnClose(c *Conn, reason CloseReason)
}

// Heartbeater is implemented by an HTTPHandler that wants its streams kept
// alive: the sweeper calls Heartbeat for an open stream on which nothing was
// queued for Config.PingInterval and queues the frame it returns (an SSE
// comment, a protocol's noop), so a dead peer is found by the write timeout
// and proxies do not cut an idle stream. The returned frame carries one
// reference for that Send (Retain a shared frame before returning it); nil
// sends nothing. Heartbeat runs on the sweeper goroutine, possibly while
// another goroutine calls Send on the same connection; it must only build the
// frame.
type Heartbeater interface {
	Heartbeat(c *Conn) *wsframe.Prepared
}

// Request is a plain HTTP/1.x request served on the reactor. It and every
// slice it holds are valid only until ServeHTTP returns: the reactor reuses
// them for the connection's next request. The string fields may be kept.
type Request struct {
	// Method is the request method ("GET", "POST", ...).
	Method string
	// Path is the path of the request target, raw (not percent-decoded).
	Path string
	// RawQuery is the query of the target without '?', "" if none.
	RawQuery string
	// ProtoMinor is 0 for HTTP/1.0 and 1 for HTTP/1.1.
	ProtoMinor int
	// KeepAlive reports that the client lets the connection stay open after
	// the response: HTTP/1.1 without "Connection: close", or HTTP/1.0 with
	// "Connection: keep-alive".
	KeepAlive bool
	// Body is the complete request body (de-chunked), nil if none. Valid only
	// until ServeHTTP returns: copy what you keep.
	Body []byte

	head []byte
}

// Header returns the value of the first header field called name
// (case-insensitive), "" if there is none. The string is a copy: it may be
// kept, and it costs an allocation when the field is present.
func (r *Request) Header(name string) string {
	if v := headerValue(r.head, name); v != nil {
		return string(v)
	}
	return ""
}

// HeaderBytes is Header without the copy: the slice points into the request
// head and is valid only until ServeHTTP returns.
func (r *Request) HeaderBytes(name string) []byte { return headerValue(r.head, name) }

// Errors of the HTTP answer methods.
var (
	// ErrNoRequest: Respond or StartStream on a connection that has no held
	// request (it was answered already, or the connection is a WebSocket).
	ErrNoRequest = errors.New("poller: no HTTP request to answer")
	// ErrNoStream: EndStream on a connection without an open stream.
	ErrNoStream = errors.New("poller: no HTTP stream open")
	// ErrNoBody: StartStream for a HEAD request wrote the head and ended the
	// response at once; there is no stream to send to.
	ErrNoBody = errors.New("poller: HEAD request: the response has no body")
)

type activeKind uint8

const (
	kindNone   activeKind = iota
	kindHeld              // a dispatched request waits for its answer
	kindStream            // a stream is open
)

type httpPhase uint8

const (
	phHead    httpPhase = iota // reading a request head
	phBody                     // reading a Content-Length body
	phChunked                  // decoding a chunked body
)

// httpState is the reactor's HTTP state of a connection that served a
// request for an HTTPRoutes handler; WebSocket connections do not have one.
//
// Input is parsed by one goroutine at a time, the holder of the parse token
// (busy): a netpoll worker with new input, the goroutine that answered a
// held request behind which input was waiting (see answered), or the
// net/http goroutine that gives a connection back (bridge.go). Input that
// arrives while another goroutine holds the token is appended to pend and
// taken over by the holder.
type httpState struct {
	// Guarded by Conn.mu.
	busy        bool        // the parse token is held
	inServe     bool        // the holder is inside ServeHTTP: answers are written inline
	partial     bool        // part of a next request is buffered (sweeper: HandshakeTimeout applies, not IdleTimeout)
	kind        activeKind  // held request, open stream, or neither
	chunked     bool        // the open stream is chunked
	keep        bool        // the connection stays open after the current response
	headReq     bool        // the current request is HEAD: responses have no body
	minor       byte        // HTTP/1.minor of the current request
	closeReason CloseReason // counted when the response ends without keep
	lastSend    int64       // when something was last queued on the stream (sweeper: Heartbeat)
	active      HTTPHandler // the handler that gets OnClose while kind != kindNone
	hb          Heartbeater // active's Heartbeater on an open stream
	closeCall   HTTPHandler // OnClose left by onClosed to the token holder
	pend        *bytebufferpool.ByteBuffer
	idle        chan struct{} // closed when the write queue is empty (handoff waits for it)

	// Owned by the token holder.
	in      *bytebufferpool.ByteBuffer // unparsed input from a request boundary
	phase   httpPhase
	scanned int // bytes of the head already searched for its end
	headLen int
	need    int // phBody: head and body length
	ck      chunkState
	routed  HTTPHandler // set by the first request's routing (onHandshakeData)
	handler HTTPHandler // of the request being read
	req     Request
}

func appendBuf(b *bytebufferpool.ByteBuffer, data []byte) *bytebufferpool.ByteBuffer {
	if b == nil {
		b = bytebufferpool.Get()
	}
	b.B = append(b.B, data...)
	return b
}

func putBuf(b **bytebufferpool.ByteBuffer) {
	if *b != nil {
		bytebufferpool.Put(*b)
		*b = nil
	}
}

// maxBuffered bounds the input buffered for a connection that reads no
// request now (held request, open stream): a pipelined request at most.
func (s *Server) maxBuffered() int { return s.cfg.MaxHeadSize + s.cfg.MaxBodySize }

// atCapacity reports whether WebSocket connections, streams and held requests
// fill MaxConns.
func (s *Server) atCapacity() bool {
	return s.stats.conns.Load()+s.stats.streams.Load()+s.stats.held.Load() >= int64(s.cfg.MaxConns)
}

// httpRoute returns the HTTPRoutes handler for the first request of a
// connection, nil when it goes elsewhere.
func (c *Conn) httpRoute(head []byte, path string) HTTPHandler {
	routes := c.srv.cfg.HTTPRoutes
	if routes == nil {
		return nil
	}
	line, _, _ := httplex.CutLine(head)
	method, _, _, _, ok := httplex.ParseRequestLine(line)
	if !ok {
		return nil
	}
	return routes(methodString(method), path)
}

// startHTTP gives a fresh connection reactor HTTP state and serves its first
// request, routed to hh. buf is the input from the first byte of the request,
// valid only during the call.
func (c *Conn) startHTTP(hh HTTPHandler, path string, buf []byte) {
	h := &httpState{routed: hh}
	h.req.Path = path
	c.mu.Lock()
	c.h = h
	h.busy = true
	c.mu.Unlock()
	c.serveInput(buf)
}

// httpInput takes input for a connection with reactor HTTP state. data is
// valid only during the call.
func (c *Conn) httpInput(data []byte) {
	h := c.h
	c.mu.Lock()
	if h.busy {
		if h.pend != nil && len(h.pend.B)+len(data) > c.srv.maxBuffered() {
			sched := c.httpCloseLocked(ReasonMessageTooBig)
			c.mu.Unlock()
			c.pushIf(sched)
			return
		}
		h.pend = appendBuf(h.pend, data)
		c.mu.Unlock()
		return
	}
	h.busy = true
	if c.state == stHandshake && !h.partial {
		c.since = c.srv.now() // a new request starts: HandshakeTimeout from here
	}
	c.mu.Unlock()
	c.serveInput(data)
}

type stepResult uint8

const (
	stepOn   stepResult = iota // parse on
	stepMore                   // wait for more input
	stepLeft                   // the connection left reactor HTTP (upgrade, handoff); the token is released
)

// serveInput parses and dispatches requests while the caller holds the parse
// token, and releases it. data is new input valid only during the call (nil
// when the input is in h.in); what the connection does not consume now is
// copied.
func (c *Conn) serveInput(data []byte) {
	h := c.h
	for {
		c.mu.Lock()
		if h.pend != nil && len(h.pend.B) > 0 {
			// Input that came while we held the token goes after ours.
			h.in = appendBuf(h.in, data)
			data = nil
			h.in.B = append(h.in.B, h.pend.B...)
			h.pend.B = h.pend.B[:0]
		}
		if c.state != stHandshake {
			c.stopReadingLocked(data)
			return // stopReadingLocked unlocked
		}
		fromIn := h.in != nil && len(h.in.B) > 0
		if fromIn && len(data) > 0 {
			h.in.B = append(h.in.B, data...)
			data = nil
		}
		buf := data
		if fromIn {
			buf = h.in.B
		}
		if len(buf) == 0 {
			c.endTurnLocked()
			return
		}
		c.mu.Unlock()

		n, res := c.parseStep(buf)
		if res == stepLeft {
			return
		}
		if fromIn {
			h.in.B = h.in.B[:copy(h.in.B, h.in.B[n:])]
		} else {
			data = data[n:]
		}
		if res == stepMore {
			c.mu.Lock()
			if len(data) > 0 {
				h.in = appendBuf(h.in, data)
				data = nil
			}
			if h.pend != nil && len(h.pend.B) > 0 {
				c.mu.Unlock()
				continue
			}
			c.endTurnLocked()
			return
		}
	}
}

// stopReadingLocked ends the holder's turn in a state that reads no request:
// input for a held request or an open stream is kept (bounded), otherwise it
// is dropped. c.mu must be held; it is released.
func (c *Conn) stopReadingLocked(data []byte) {
	h := c.h
	switch c.state {
	case stHeld, stStream:
		if len(data) > 0 {
			h.in = appendBuf(h.in, data)
		}
		if h.in != nil && len(h.in.B) > c.srv.maxBuffered() {
			putBuf(&h.in)
			sched := c.httpCloseLocked(ReasonMessageTooBig)
			c.endTurnLocked()
			c.pushIf(sched)
			return
		}
	default:
		putBuf(&h.in)
	}
	c.endTurnLocked()
}

// endTurnLocked releases the parse token: idle buffers go back to the pool,
// and an OnClose that onClosed left to the holder is called. c.mu must be
// held; it is released.
func (c *Conn) endTurnLocked() {
	h := c.h
	h.busy = false
	switch c.state {
	case stHandshake, stHeld, stStream:
		if h.in != nil && len(h.in.B) == 0 {
			putBuf(&h.in)
		}
	default:
		putBuf(&h.in)
		putBuf(&h.pend)
	}
	if h.pend != nil && len(h.pend.B) == 0 {
		putBuf(&h.pend)
	}
	h.partial = c.state == stHandshake && h.in != nil
	cc, reason := h.closeCall, c.reason
	h.closeCall = nil
	c.mu.Unlock()
	if cc != nil {
		cc.OnClose(c, reason)
	}
}

// parseStep parses from buf, the input from a request boundary, and
// dispatches a request when one is complete. It returns how many bytes of
// buf were consumed.
func (c *Conn) parseStep(buf []byte) (int, stepResult) {
	h, s := c.h, c.srv
	switch h.phase {
	case phBody:
		if len(buf) < h.need {
			return 0, stepMore
		}
		h.phase = phHead
		c.dispatch(buf[:h.headLen], buf[h.headLen:h.need])
		return h.need, stepOn
	case phChunked:
		done, status := h.ck.decode(buf, h.headLen, s.cfg.MaxBodySize)
		switch {
		case status == http.StatusRequestEntityTooLarge:
			c.refuse(status, "request body too large", ReasonMessageTooBig)
			return len(buf), stepOn
		case status != 0:
			c.refuse(status, "malformed chunked request body", ReasonProtocolError)
			return len(buf), stepOn
		case !done:
			return 0, stepMore
		}
		h.phase = phHead
		c.dispatch(buf[:h.headLen], buf[h.headLen:h.ck.out])
		return h.ck.scan, stepOn
	}
	if k := leadingNewlines(buf); k > 0 {
		return k, stepOn
	}
	n, ok := headEnd(buf, h.scanned, s.cfg.MaxHeadSize)
	if !ok {
		c.refuse(http.StatusRequestHeaderFieldsTooLarge, "request header fields too large", ReasonHandshakeRejected)
		return len(buf), stepOn
	}
	if n == 0 {
		h.scanned = len(buf)
		return 0, stepMore
	}
	h.scanned = 0
	return c.onHead(buf, n)
}

// onHead routes and checks a complete head (buf[:n]) and starts reading its
// body.
func (c *Conn) onHead(buf []byte, n int) (int, stepResult) {
	h, s := c.h, c.srv
	head := buf[:n]
	var rhv reqHead // on the stack: only the Request outlives this call
	rh := &rhv
	status, reason := parseHead(head, rh)
	hh, path := h.routed, h.req.Path
	h.routed = nil
	if hh == nil {
		if rh.method == nil {
			c.refuse(status, reason, ReasonProtocolError)
			return len(buf), stepOn
		}
		path = string(rh.path)
		// An upgrade goes to the WebSocket routes; a plain request to the
		// HTTP routes first, so one path can serve both (Engine.IO's
		// polling and websocket transports share /socket.io/), and so does
		// an incomplete upgrade request an HTTP route claims (see
		// onHandshakeData).
		complete := status == 0 && rh.upgrade && rh.connUpgrade && string(rh.method) == "GET"
		if !complete && s.cfg.HTTPRoutes != nil {
			hh = s.cfg.HTTPRoutes(methodString(rh.method), path)
		}
		if hh == nil && status == 0 && (rh.upgrade || c.route(path) != nil) {
			c.upgradeFromHTTP(buf, n)
			return len(buf), stepLeft
		}
		if hh == nil {
			c.handoffFromHTTP(buf)
			return len(buf), stepLeft
		}
	}
	switch {
	case status != 0:
		c.refuse(status, reason, ReasonProtocolError)
		return len(buf), stepOn
	case s.closing.Load():
		c.refuse(http.StatusServiceUnavailable, "server shutting down", ReasonShutdown)
		return len(buf), stepOn
	case s.atCapacity():
		c.refuse(http.StatusServiceUnavailable, "connection limit reached", ReasonHandshakeRejected)
		return len(buf), stepOn
	case rh.contentLength > int64(s.cfg.MaxBodySize):
		c.refuse(http.StatusRequestEntityTooLarge, "request body too large", ReasonMessageTooBig)
		return len(buf), stepOn
	}
	r := &h.req
	r.Method = methodString(rh.method)
	r.Path = path
	r.RawQuery = ""
	if len(rh.query) > 0 {
		r.RawQuery = string(rh.query)
	}
	r.ProtoMinor = int(rh.minor)
	r.KeepAlive = rh.keepAlive
	h.handler = hh
	h.headLen = n
	switch {
	case rh.chunked:
		h.phase = phChunked
		h.ck = chunkState{scan: n, out: n}
	case rh.contentLength > 0:
		h.phase = phBody
		h.need = n + int(rh.contentLength)
	default:
		c.dispatch(head, nil)
		return n, stepOn
	}
	if rh.expectContinue && len(buf) == n {
		// curl waits for this before it sends the body.
		c.mu.Lock()
		sched := false
		if c.state == stHandshake {
			s.continue100.Retain(1)
			sched = c.queueLocked(s.continue100)
		}
		c.mu.Unlock()
		if sched {
			c.flushNow()
		}
	}
	return 0, stepOn
}

// dispatch hands a complete request to its handler. head and body are valid
// during the call.
func (c *Conn) dispatch(head, body []byte) {
	h, s := c.h, c.srv
	r := &h.req
	r.head, r.Body = head, body
	c.mu.Lock()
	if c.state != stHandshake {
		c.mu.Unlock()
		r.head, r.Body = nil, nil
		return
	}
	c.state = stHeld
	h.kind, h.active = kindHeld, h.handler
	h.keep = r.KeepAlive
	h.closeReason = ReasonPeerClose // the client did not ask to keep the connection
	h.headReq = r.Method == http.MethodHead
	h.minor = byte(r.ProtoMinor)
	h.inServe = true
	s.stats.held.Add(1)
	c.mu.Unlock()
	s.stats.httpRequests.Add(1)
	h.handler.ServeHTTP(c, r)
	c.mu.Lock()
	h.inServe = false
	c.mu.Unlock()
	r.head, r.Body = nil, nil
	h.handler = nil
}

// refuse answers the request being read with an error status and closes the
// connection once the answer is written. Called by the token holder.
func (c *Conn) refuse(status int, reason string, why CloseReason) {
	s := c.srv
	if status == http.StatusServiceUnavailable {
		s.stats.refused503.Add(1)
	} else {
		s.stats.rejected.Add(1)
	}
	if s.debug() {
		s.log.Debug("http request refused", "remote", c.remote(), "status", status, "reason", reason)
	}
	p := wsframe.AcquirePrepared()
	p.B = appendStatusLine(p.B, 1, status)
	p.B = append(p.B, "Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"...)
	if status == http.StatusServiceUnavailable {
		p.B = append(p.B, "Retry-After: "+retryAfter+"\r\n"...)
	}
	p.B = append(p.B, "Content-Length: "...)
	p.B = strconv.AppendInt(p.B, int64(len(reason)), 10)
	p.B = append(p.B, "\r\n\r\n"...)
	p.B = append(p.B, reason...)
	p.SealRaw()
	c.mu.Lock()
	if c.state != stHandshake {
		c.mu.Unlock()
		p.Release()
		return
	}
	sched := c.queueLocked(p)
	sched = c.httpCloseLocked(why) || sched
	c.mu.Unlock()
	if sched {
		c.flushNow()
	}
}

// retryAfter is the Retry-After of a 503, in seconds.
const retryAfter = "5"

// Respond answers the held request with a complete response: the status line,
// header (preformatted "Key: Value\r\n" lines, nil for none; it must not
// contain Content-Length, Transfer-Encoding or Connection), Content-Length,
// "Connection: close" when the connection closes after it (the client asked,
// or the server is shutting down), and body (omitted for HEAD, 1xx, 204 and
// 304). header and body are copied before Respond returns.
//
// It may be called from ServeHTTP (the response is written to the socket at
// once) or later from any goroutine (it is queued like a frame). The
// connection then reads its next request, or closes when it cannot be kept.
// It returns ErrNoRequest when no request is held, ErrClosed when the
// connection closed first (OnClose is or was called), ErrSlowConsumer when
// responses the client did not read exceed MaxQueueBytes (the connection
// closes).
func (c *Conn) Respond(status int, header, body []byte) error {
	if status < 200 || status > 999 {
		return fmt.Errorf("poller: Respond with status %d", status)
	}
	minor, headReq, keep, err := c.heldRequest(false)
	if err != nil {
		return err
	}
	p := wsframe.AcquirePrepared()
	p.B = appendStatusLine(p.B, minor, status)
	p.B = append(p.B, header...)
	noBody := status == http.StatusNoContent || status == http.StatusNotModified
	if !noBody {
		p.B = append(p.B, "Content-Length: "...)
		p.B = strconv.AppendInt(p.B, int64(len(body)), 10)
		p.B = append(p.B, "\r\n"...)
	}
	p.B = appendConnection(p.B, minor, keep)
	p.B = append(p.B, "\r\n"...)
	if !noBody && !headReq {
		p.B = append(p.B, body...)
	}
	p.SealRaw()
	return c.answer(p, keep, false)
}

// StartStream answers the held request with the head of a response whose
// body is a stream: for HTTP/1.1 with "Transfer-Encoding: chunked" (chunked
// is true), for HTTP/1.0 close-delimited, with "Connection: close" (chunked
// is false). header is as for Respond. After it, Send and SendSlot queue
// frames whose bytes are written as they are: encode them for chunked
// (wsframe.Prepared.SealChunk, else SealRaw). The stream is bounded by
// MaxQueueBytes and WriteTimeout like a WebSocket connection, and is not
// subject to IdleTimeout. End it with EndStream (or Close).
//
// For a HEAD request the head is written and the response ends at once:
// StartStream returns ErrNoBody. Errors are those of Respond.
func (c *Conn) StartStream(status int, header []byte) (chunked bool, err error) {
	if status < 200 || status > 999 || status == http.StatusNoContent || status == http.StatusNotModified {
		return false, fmt.Errorf("poller: StartStream with status %d", status)
	}
	minor, headReq, keep, err := c.heldRequest(true)
	if err != nil {
		return false, err
	}
	chunked = minor == 1
	p := wsframe.AcquirePrepared()
	p.B = appendStatusLine(p.B, minor, status)
	p.B = append(p.B, header...)
	if chunked {
		p.B = append(p.B, "Transfer-Encoding: chunked\r\n"...)
	}
	p.B = appendConnection(p.B, minor, keep)
	p.B = append(p.B, "\r\n"...)
	p.SealRaw()
	if headReq {
		if err := c.answer(p, keep, false); err != nil {
			return chunked, err
		}
		return chunked, ErrNoBody
	}
	return chunked, c.answer(p, keep, true)
}

// EndStream ends the open stream: the last chunk is queued behind the frames
// already queued (chunked), then the connection reads its next request, or
// closes once the queue is written (close-delimited HTTP/1.0, or the client
// did not ask to keep it). It returns ErrNoStream when no stream is open,
// ErrClosed when the connection closed first (OnClose is or was called).
func (c *Conn) EndStream() error {
	h := c.h
	if h == nil {
		return ErrNoStream
	}
	s := c.srv
	c.mu.Lock()
	switch c.state {
	case stStream:
	case stClosing, stClosed:
		c.mu.Unlock()
		return ErrClosed
	default:
		c.mu.Unlock()
		return ErrNoStream
	}
	h.kind, h.active, h.hb = kindNone, nil, nil
	s.stats.streams.Add(-1)
	sched := false
	if h.chunked {
		s.lastChunk.Retain(1)
		sched = c.queueLocked(s.lastChunk)
	}
	spawn := false
	if h.keep && !s.closing.Load() {
		spawn = c.readNextLocked()
	} else {
		sched = c.httpCloseLocked(c.endReasonLocked()) || sched
	}
	inline := h.inServe
	c.mu.Unlock()
	c.afterAnswer(sched, inline, spawn)
	return nil
}

// endReasonLocked is the close reason of a response after which the
// connection closes. c.mu must be held.
func (c *Conn) endReasonLocked() CloseReason {
	if c.srv.closing.Load() {
		return ReasonShutdown
	}
	return c.h.closeReason
}

// heldRequest returns what an answer needs to know about the held request:
// its version, whether it is HEAD, and whether the connection stays open
// after the answer (a stream to an HTTP/1.0 client is close-delimited).
func (c *Conn) heldRequest(stream bool) (minor byte, headReq, keep bool, err error) {
	h := c.h
	if h == nil {
		return 0, false, false, ErrNoRequest
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.state {
	case stHeld:
		keep = h.keep && !c.srv.closing.Load() && !(stream && h.minor == 0 && !h.headReq)
		return h.minor, h.headReq, keep, nil
	case stClosing, stClosed:
		return 0, false, false, ErrClosed
	}
	return 0, false, false, ErrNoRequest
}

// answer queues p, the response (or the head of a stream) to the held
// request. keep: the connection stays open after the response (announced in
// p). stream: the response continues as a stream.
func (c *Conn) answer(p *wsframe.Prepared, keep, stream bool) error {
	h, s := c.h, c.srv
	c.mu.Lock()
	if c.state != stHeld {
		st := c.state
		c.mu.Unlock()
		p.Release()
		if st == stClosing || st == stClosed {
			return ErrClosed
		}
		return ErrNoRequest
	}
	if c.queued > 0 && c.queued+p.Len() > s.cfg.MaxQueueBytes {
		c.mu.Unlock()
		p.Release()
		c.CloseWith(wsframe.StatusPolicyViolation, "slow consumer", ReasonSlowConsumer)
		return ErrSlowConsumer
	}
	s.stats.held.Add(-1)
	sched := c.queueLocked(p)
	spawn := false
	switch {
	case stream:
		c.state = stStream
		h.kind = kindStream
		h.hb, _ = h.active.(Heartbeater)
		h.chunked = h.minor == 1
		if h.keep && !keep && h.minor == 0 {
			h.closeReason = ReasonServer // the client would have kept it: the close delimits the stream
		}
		h.keep = keep
		h.lastSend = s.now()
		s.stats.streams.Add(1)
	case keep:
		h.kind, h.active = kindNone, nil
		spawn = c.readNextLocked()
	default:
		h.kind, h.active = kindNone, nil
		sched = c.httpCloseLocked(c.endReasonLocked()) || sched
	}
	inline := h.inServe
	c.mu.Unlock()
	c.afterAnswer(sched, inline, spawn)
	return nil
}

// readNextLocked puts an answered connection back to reading requests and
// reports whether the caller must start a goroutine to parse input that is
// already buffered (pipelined behind the answered request). c.mu must be held.
func (c *Conn) readNextLocked() (spawn bool) {
	h := c.h
	c.state = stHandshake
	c.since = c.srv.now()
	if h.busy || h.in == nil || len(h.in.B) == 0 {
		return false
	}
	h.busy = true
	return true
}

// afterAnswer writes an answer: inline when the token holder answers from
// ServeHTTP, else through the flusher, never blocking the caller; then it
// parses pipelined input on a goroutine of its own if there is any.
func (c *Conn) afterAnswer(sched, inline, spawn bool) {
	if sched {
		if inline {
			c.flushNow()
		} else {
			c.flusher().push(c)
		}
	}
	if spawn {
		c.srv.wg.Add(1)
		go func() {
			defer c.srv.wg.Done()
			c.serveInput(nil)
		}()
	}
}

// queueLocked appends p (consuming its reference) to the queue in any state
// but closed (the caller checks the state it needs), and reports whether the
// caller must schedule a flush. c.mu must be held.
func (c *Conn) queueLocked(p *wsframe.Prepared) bool {
	n := p.Len()
	if n == 0 || c.state == stClosed {
		p.Release()
		return false
	}
	c.q = append(c.q, entry{p: p})
	c.queued += n
	c.srv.stats.queuedBytes.Add(int64(n))
	return c.scheduleLocked()
}

// httpCloseLocked closes a reactor HTTP connection without a WebSocket close
// frame: once the queue is written it shuts down writing and discards input
// until the peer closes (or CloseTimeout), so that the peer reads the whole
// response. It reports whether the caller must schedule a flush. c.mu must be
// held.
func (c *Conn) httpCloseLocked(reason CloseReason) bool {
	switch c.state {
	case stHandshake, stHeld, stStream:
	default:
		return false
	}
	c.state = stClosing
	c.reason = reason
	c.since = c.srv.now()
	c.peerClosed = true
	c.linger = true
	if reason == ReasonSlowConsumer {
		c.dropAllLocked()
	}
	return c.scheduleLocked()
}

func (c *Conn) pushIf(sched bool) {
	if sched {
		c.flusher().push(c)
	}
}

// shutdownHTTPLocked ends a reactor HTTP connection for Shutdown: an open
// stream gets its last chunk, a held request 503, and the connection closes
// once that is written. OnClose sees ReasonShutdown. It reports whether the
// caller must schedule a flush. c.mu must be held.
func (c *Conn) shutdownHTTPLocked() bool {
	h, s := c.h, c.srv
	sched := false
	switch c.state {
	case stStream:
		if h.chunked {
			s.lastChunk.Retain(1)
			sched = c.queueLocked(s.lastChunk)
		}
	case stHeld:
		s.shutdown503.Retain(1)
		sched = c.queueLocked(s.shutdown503)
	}
	return c.httpCloseLocked(ReasonShutdown) || sched
}

// upgradeFromHTTP upgrades a connection that served reactor HTTP requests
// (buf[:n] is the upgrade head, buf the input from it on). Called by the
// token holder; the connection leaves reactor HTTP.
func (c *Conn) upgradeFromHTTP(buf []byte, n int) {
	rest := append([]byte(nil), buf[n:]...)
	head := append([]byte(nil), buf[:n]...)
	c.mu.Lock()
	putBuf(&c.h.in)
	c.mu.Unlock()
	c.upgrade(head, rest)
}

// handoffFromHTTP hands a connection that served reactor HTTP requests to
// net/http at a request boundary, with buf, the input from the request on.
// Called by the token holder.
func (c *Conn) handoffFromHTTP(buf []byte) {
	h := c.h
	c.mu.Lock()
	if c.state != stHandshake {
		c.stopReadingLocked(nil)
		return
	}
	in := append([]byte(nil), buf...)
	if h.pend != nil {
		in = append(in, h.pend.B...)
	}
	putBuf(&h.in)
	hc := c.srv.http.newConn(c, in)
	c.hc = hc
	c.state = stHTTP
	c.endTurnLocked()
	c.srv.http.deliver(hc)
}

// endHTTPTurnWS ends the parse token of a connection that upgraded to
// WebSocket at a request boundary: input that arrived meanwhile is fed to the
// frame parser in order.
func (c *Conn) endHTTPTurnWS() {
	h := c.h
	for {
		c.mu.Lock()
		if h.pend == nil || len(h.pend.B) == 0 || c.state != stOpen {
			h.busy = false
			putBuf(&h.pend)
			putBuf(&h.in)
			c.mu.Unlock()
			return
		}
		data := append([]byte(nil), h.pend.B...)
		h.pend.B = h.pend.B[:0]
		c.mu.Unlock()
		c.feed(data)
	}
}

// wsInputWhileBusy queues WebSocket input that arrives while the goroutine
// that upgraded the connection at a request boundary still feeds the input
// before it. It reports whether data was queued.
func (c *Conn) wsInputWhileBusy(data []byte) bool {
	h := c.h
	c.mu.Lock()
	defer c.mu.Unlock()
	if !h.busy {
		return false
	}
	h.pend = appendBuf(h.pend, data)
	return true
}

// statusLine caches "HTTP/1.1 200 OK\r\n" for the common statuses.
var statusLines = func() map[int][2]string {
	m := map[int][2]string{}
	for _, st := range []int{200, 204, 304, 400, 404, 413, 417, 431, 501, 503, 505} {
		m[st] = [2]string{
			"HTTP/1.0 " + strconv.Itoa(st) + " " + http.StatusText(st) + "\r\n",
			"HTTP/1.1 " + strconv.Itoa(st) + " " + http.StatusText(st) + "\r\n",
		}
	}
	return m
}()

// appendStatusLine appends the status line, in the request's version.
func appendStatusLine(b []byte, minor byte, status int) []byte {
	if l, ok := statusLines[status]; ok {
		return append(b, l[min(minor, 1)]...)
	}
	if minor == 0 {
		b = append(b, "HTTP/1.0 "...)
	} else {
		b = append(b, "HTTP/1.1 "...)
	}
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	text := http.StatusText(status)
	if text == "" {
		text = "Status"
	}
	b = append(b, text...)
	return append(b, "\r\n"...)
}

// appendConnection appends the Connection header the response needs: close
// when the connection ends after it, keep-alive for an HTTP/1.0 client that
// keeps it.
func appendConnection(b []byte, minor byte, keep bool) []byte {
	switch {
	case !keep:
		return append(b, "Connection: close\r\n"...)
	case minor == 0:
		return append(b, "Connection: keep-alive\r\n"...)
	}
	return b
}
