package poller

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/c1mhq/c1m/internal/httplex"
)

// maxHTTPBuffered bounds input buffered for a plain HTTP connection that
// net/http has not read yet.
const maxHTTPBuffered = 16 << 20

// handoff serves plain HTTP requests with net/http. It is the net.Listener of
// an http.Server: connections whose first request is not a WebSocket upgrade
// are handed to it with the bytes already read. Input keeps arriving through
// the reactor (httpConn.feed); net/http's goroutine for the connection reads
// it from there and writes with netpoll's blocking Write.
type handoff struct {
	s      *Server
	srv    *http.Server
	ch     chan net.Conn
	done   chan struct{}
	closer sync.Once
}

func newHandoff(s *Server) *handoff {
	h := &handoff{s: s, ch: make(chan net.Conn), done: make(chan struct{})}
	handler := s.cfg.HTTP
	if handler == nil {
		handler = http.NotFoundHandler()
	}
	handler = &bridge{s: s, next: handler}
	h.srv = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: s.cfg.HandshakeTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    s.cfg.MaxHeadSize,
		ErrorLog:          nil,
	}
	return h
}

func (h *handoff) serve() {
	defer h.s.wg.Done()
	_ = h.srv.Serve(h)
}

// shutdown lets net/http finish the requests it is serving and closes its
// connections as they go idle (http.Server.Shutdown), until every one is
// closed or ctx ends; close ends the rest.
func (h *handoff) shutdown(ctx context.Context) { _ = h.srv.Shutdown(ctx) }

func (h *handoff) close() {
	_ = h.Close()
	_ = h.srv.Close()
}

// Accept implements net.Listener.
func (h *handoff) Accept() (net.Conn, error) {
	select {
	case c := <-h.ch:
		return c, nil
	case <-h.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener (http.Server's Shutdown and Close call it):
// Accept answers net.ErrClosed from then on, and a connection handed off
// later is closed.
func (h *handoff) Close() error {
	h.closer.Do(func() { close(h.done) })
	return nil
}

// Addr implements net.Listener.
func (h *handoff) Addr() net.Addr { return h.s.Addr() }

// newConn makes the net.Conn that net/http will serve c with, holding the
// bytes read so far (copied). Set it as c.hc and the state to stHTTP, then
// deliver it.
func (h *handoff) newConn(c *Conn, first []byte) *httpConn {
	hc := &httpConn{c: c, notify: make(chan struct{}, 1)}
	hc.buf = append(hc.buf, first...)
	return hc
}

// deliver hands hc to net/http's accept loop.
func (h *handoff) deliver(hc *httpConn) {
	go func() {
		select {
		case h.ch <- hc:
		case <-h.done:
			_ = hc.c.nc.Close()
		}
	}()
}

// httpConn is a net.Conn over a netpoll connection whose input is delivered by
// the reactor.
type httpConn struct {
	c      *Conn
	notify chan struct{}
	ready  atomic.Bool // the first Write waited for the reactor's queue

	mu       sync.Mutex
	buf      []byte // guarded by mu
	eof      bool
	back     bool // the connection went back to the reactor (bridge): input goes there
	deadline time.Time
}

func (hc *httpConn) signal() {
	select {
	case hc.notify <- struct{}{}:
	default:
	}
}

// feed appends input from the reactor. data is copied.
func (hc *httpConn) feed(data []byte) {
	hc.mu.Lock()
	if hc.back {
		// Taken back by the reactor since the worker saw stHTTP.
		hc.mu.Unlock()
		hc.c.onData(data)
		return
	}
	if len(hc.buf)+len(data) > maxHTTPBuffered {
		hc.mu.Unlock()
		_ = hc.c.nc.Close()
		return
	}
	hc.buf = append(hc.buf, data...)
	hc.mu.Unlock()
	hc.signal()
}

// closed is called from the connection's close callback.
func (hc *httpConn) closed() {
	hc.mu.Lock()
	hc.eof = true
	hc.mu.Unlock()
	hc.signal()
}

// Read implements net.Conn.
func (hc *httpConn) Read(p []byte) (int, error) {
	for {
		hc.mu.Lock()
		if len(hc.buf) > 0 {
			n := copy(p, hc.buf)
			hc.buf = hc.buf[:copy(hc.buf, hc.buf[n:])]
			hc.mu.Unlock()
			return n, nil
		}
		if hc.eof {
			hc.mu.Unlock()
			return 0, io.EOF
		}
		dl := hc.deadline
		hc.mu.Unlock()
		if dl.IsZero() {
			<-hc.notify
			continue
		}
		wait := time.Until(dl)
		if wait <= 0 {
			return 0, os.ErrDeadlineExceeded
		}
		t := time.NewTimer(wait)
		select {
		case <-hc.notify:
		case <-t.C:
		}
		t.Stop()
	}
}

// Write implements net.Conn with netpoll's Write, which waits for the kernel.
// The first Write waits until responses the reactor queued on the connection
// before the hand-off are written, so that net/http's bytes never overtake
// them (nor share netpoll's output buffer with a write-back goroutine).
func (hc *httpConn) Write(p []byte) (int, error) {
	if !hc.ready.Load() {
		hc.c.waitQueueIdle()
		hc.c.barrier()
		hc.ready.Store(true)
	}
	if tl := hc.c.tls; tl != nil {
		if err := tl.writeBlocking(p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return hc.c.nc.Write(p)
}

// waitQueueIdle waits until nothing is queued on c nor being written, or c
// closed.
func (c *Conn) waitQueueIdle() {
	c.mu.Lock()
	if c.state == stClosed || c.h == nil || (c.qh == len(c.q) && !c.backlogged && !c.writing && !c.scheduled) {
		c.mu.Unlock()
		return
	}
	ch := c.h.idle
	if ch == nil {
		ch = make(chan struct{})
		c.h.idle = ch
	}
	c.mu.Unlock()
	<-ch
}

// Close implements net.Conn. A TLS connection gets its close_notify first,
// as crypto/tls's Close sends it, so that the client can tell the end of a
// close-delimited response from a cut.
func (hc *httpConn) Close() error {
	if tl := hc.c.tls; tl != nil {
		tl.closeNotify()
	}
	return hc.c.nc.Close()
}

// LocalAddr implements net.Conn.
func (hc *httpConn) LocalAddr() net.Addr { return hc.c.nc.LocalAddr() }

// RemoteAddr implements net.Conn.
func (hc *httpConn) RemoteAddr() net.Addr { return hc.c.nc.RemoteAddr() }

// SetDeadline implements net.Conn.
func (hc *httpConn) SetDeadline(t time.Time) error {
	_ = hc.SetWriteDeadline(t)
	return hc.SetReadDeadline(t)
}

// SetReadDeadline implements net.Conn; a deadline in the past wakes a blocked
// Read (net/http uses that to abort its background read).
func (hc *httpConn) SetReadDeadline(t time.Time) error {
	hc.mu.Lock()
	hc.deadline = t
	hc.mu.Unlock()
	hc.signal()
	return nil
}

// SetWriteDeadline implements net.Conn; writes are bounded by WriteTimeout.
func (hc *httpConn) SetWriteDeadline(time.Time) error { return nil }

// bridge sits in front of Config.HTTP. Clients reuse their connections: a
// request for a reactor route can arrive on a connection net/http serves
// (a browser after a GET of the page), and so can a WebSocket upgrade (Java's
// HttpClient, Node's ws with a keep-alive agent). The bridge reads its body,
// hijacks the connection and gives it back to the reactor with the request
// rebuilt in front of the bytes net/http had buffered; the reactor routes and
// serves it as on a fresh connection and the connection's net/http goroutine
// ends.
type bridge struct {
	s    *Server
	next http.Handler
}

func (b *bridge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path, _ := httplex.SplitTarget([]byte(r.RequestURI))
	var hh HTTPHandler // nil for an upgrade: the reactor routes it
	if !wantsWebSocket(r.Header) {
		if b.s.cfg.HTTPRoutes != nil {
			hh = b.s.cfg.HTTPRoutes(r.Method, string(path))
		}
		if hh == nil {
			b.next.ServeHTTP(w, r)
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(b.s.cfg.MaxBodySize)))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		}
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "cannot serve this request here", http.StatusInternalServerError)
		return
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		return
	}
	hc, ok := nc.(*httpConn)
	if !ok {
		_ = nc.Close()
		return
	}
	in := rebuildRequest(r, body)
	if n := brw.Reader.Buffered(); n > 0 {
		more, _ := brw.Reader.Peek(n)
		in = append(in, more...)
	}
	hc.c.resumeHTTP(hc, hh, string(path), in)
}

// wantsWebSocket reports whether a request asks for a WebSocket upgrade
// (an Upgrade header with the websocket token).
func wantsWebSocket(h http.Header) bool {
	for _, v := range h.Values("Upgrade") {
		for tok := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "websocket") {
				return true
			}
		}
	}
	return false
}

// rebuildRequest writes r back as HTTP/1.x bytes with body framed by
// Content-Length: net/http has consumed the original (and answered any
// Expect: 100-continue when the body was read).
func rebuildRequest(r *http.Request, body []byte) []byte {
	var b bytes.Buffer
	b.WriteString(r.Method)
	b.WriteByte(' ')
	b.WriteString(r.RequestURI)
	b.WriteByte(' ')
	b.WriteString(r.Proto)
	b.WriteString("\r\n")
	if r.Host != "" {
		b.WriteString("Host: ")
		b.WriteString(r.Host)
		b.WriteString("\r\n")
	}
	for k, vs := range r.Header {
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Expect":
			continue
		}
		for _, v := range vs {
			b.WriteString(k)
			b.WriteString(": ")
			b.WriteString(v)
			b.WriteString("\r\n")
		}
	}
	if len(body) > 0 {
		b.WriteString("Content-Length: ")
		b.WriteString(strconv.Itoa(len(body)))
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}

// resumeHTTP takes a connection back from net/http (hc was hijacked) and
// serves in, the rebuilt request and what net/http had buffered, then
// whatever the reactor delivered to hc since, on the calling goroutine. hh
// is the route of the first request (path).
func (c *Conn) resumeHTTP(hc *httpConn, hh HTTPHandler, path string, in []byte) {
	c.mu.Lock()
	if c.state != stHTTP || c.hc != hc {
		c.mu.Unlock()
		_ = c.nc.Close()
		return
	}
	if c.h == nil {
		c.h = &httpState{}
	}
	h := c.h
	hc.mu.Lock()
	h.in = appendBuf(h.in, in)
	h.in.B = append(h.in.B, hc.buf...)
	hc.buf = nil
	hc.back = true
	hc.mu.Unlock()
	h.busy = true
	h.routed = hh
	h.req.Path = path
	h.phase = phHead
	h.scanned = 0
	c.state = stHandshake
	c.since = c.srv.now()
	c.mu.Unlock()
	c.serveInput(nil)
}
