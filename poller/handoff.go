package poller

import (
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
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

func (h *handoff) close() {
	h.closer.Do(func() { close(h.done) })
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

// Close implements net.Listener; the server closes it through close.
func (h *handoff) Close() error { return nil }

// Addr implements net.Listener.
func (h *handoff) Addr() net.Addr { return h.s.Addr() }

// accept hands c to net/http with the bytes read so far (copied).
func (h *handoff) accept(c *Conn, first []byte) *httpConn {
	ensureBarrier(c.nc) // before net/http's goroutine writes
	hc := &httpConn{c: c, notify: make(chan struct{}, 1)}
	hc.buf = append(hc.buf, first...)
	go func() {
		select {
		case h.ch <- hc:
		case <-h.done:
			_ = c.nc.Close()
		}
	}()
	return hc
}

// httpConn is a net.Conn over a netpoll connection whose input is delivered by
// the reactor.
type httpConn struct {
	c      *Conn
	notify chan struct{}

	mu       sync.Mutex
	buf      []byte // guarded by mu
	eof      bool
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
func (hc *httpConn) Write(p []byte) (int, error) { return hc.c.nc.Write(p) }

// Close implements net.Conn.
func (hc *httpConn) Close() error { return hc.c.nc.Close() }

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
