package poller

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/valyala/bytebufferpool"
	"golang.org/x/sys/unix"
)

// TLS on the reactor.
//
// A connection accepted on a ListenTLS listener gets a tlsLayer: crypto/tls's
// Conn runs over the layer itself as its net.Conn, an in-memory transport
// that the reactor fills and the writers empty, so that no goroutine waits
// on an idle encrypted connection.
//
//   - Handshake. The ciphertext of the client's first flight is buffered
//     (no goroutine) until its first record is complete, then a handshake
//     worker runs tls.Conn.Handshake, reading what the reactor buffers for it
//     and writing its flights straight to the socket. Workers are bounded by
//     Config.TLSHandshakeWorkers; connections past that wait in a queue.
//     The sweeper's HandshakeTimeout (from accept to a complete request
//     head) bounds a handshake that never completes: it closes the
//     connection, which ends the worker's wait.
//   - Reads. Once the handshake is done, the reactor hands each read's
//     ciphertext to tls.Conn.Read, which decrypts every complete record and
//     keeps a partial one; the layer's Read answers a temporary error when the
//     read's bytes are used up, which crypto/tls treats as "no more input
//     now", not as a failure. The plaintext goes to the connection's usual
//     input path (HTTP head, frames).
//   - Writes. The writers (flusher, write-back goroutine, handshake answer,
//     net/http hand-off) seal the queued frames with tls.Conn.Write, coalesced
//     into records of up to 16 KB; the sealed records collect in a pooled
//     buffer that is written to the socket and returned to the pool once
//     empty. Frames are still encoded once per broadcast; only the
//     encryption is per connection.
//   - Close. Once the last response or close frame is written, a close_notify
//     alert goes out before the FIN (RFC 8446 6.1), written without blocking;
//     a connection dropped (a timeout, a write error) gets none.
//
// An idle TLS connection holds crypto/tls's Conn (its keys and the input
// buffer crypto/tls keeps) and this layer, no goroutine, no output buffer.

// Defaults and bounds of the TLS layer.
const (
	defaultTLSHandshakeWorkers = 1024
	// tlsHandshakeSlack is the ciphertext allowed before and during the
	// handshake besides the client's first request (Config.MaxHeadSize +
	// MaxBodySize): a client hello is at most a few KB, and a TLS 1.3
	// client sends its first request right behind its Finished, before
	// the handshake worker has handed the connection to the reactor.
	tlsHandshakeSlack = 64 << 10
	// tlsRoundBytes bounds the plaintext a flusher seals per write round, so
	// that a connection whose kernel buffer is full holds at most this much
	// sealed output besides its queue.
	tlsRoundBytes = 256 << 10
	// tlsReadChunk is the plaintext scratch of one decryption (a record is at
	// most 16 KB).
	tlsReadChunk = 16 << 10
)

// tlsRecordAlert is the content type of a TLS alert record.
const tlsRecordAlert = 0x15

// httpOnHTTPS answers a plain HTTP request sent to the TLS listener, as
// net/http does.
var httpOnHTTPS = []byte("HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")

// errNoInput is what the layer's Read answers crypto/tls when the bytes of
// the current read are used up: a temporary net.Error, which crypto/tls
// returns without poisoning the connection.
var errNoInput net.Error = noInputError{}

type noInputError struct{}

func (noInputError) Error() string   { return "poller: no more TLS input for now" }
func (noInputError) Timeout() bool   { return true }
func (noInputError) Temporary() bool { return true }

// errClosedTLS is the layer's Read and Write error once the connection has
// closed.
var errClosedTLS = net.ErrClosed

var tlsReadPool = sync.Pool{New: func() any { return new([tlsReadChunk]byte) }}

// tlsLayer is the TLS state of one connection. Its methods are safe for
// concurrent use as described on each.
type tlsLayer struct {
	c   *Conn
	cfg *tls.Config
	tc  *tls.Conn // made by the handshake worker; used by the reactor once open

	// open is set, with rmu and hmu held, once the handshake is done: from
	// then on the reactor decrypts input itself. trimmed says crypto/tls's
	// input buffers were dropped (tlstrim.go) and no input came since.
	open    atomic.Bool
	trimmed atomic.Bool

	// rmu serializes input: the reactor's reads and the hand-over at the end
	// of the handshake. cur is the ciphertext of the read being decrypted
	// (rmu held); Read takes from it.
	rmu sync.Mutex
	cur []byte

	// Handshake-time input, guarded by hmu.
	hmu     sync.Mutex
	hin     *bytebufferpool.ByteBuffer // ciphertext buffered for the handshake
	hoff    int                        // bytes of hin already read
	started bool                       // a handshake worker was asked for
	closed  bool                       // the connection closed: Read and Write fail
	wake    chan struct{}              // signals the handshake worker (input or close)

	// Sealed output, guarded by omu; nil when none. wmu is held by the one
	// goroutine writing it to the socket.
	omu       sync.Mutex
	out       *bytebufferpool.ByteBuffer
	ooff      int
	outClosed bool // (omu) the connection closed: Write fails
	wmu       sync.Mutex
}

func newTLSLayer(c *Conn, cfg *tls.Config) *tlsLayer {
	return &tlsLayer{c: c, cfg: cfg}
}

// ---------------------------------------------------------------------------
// Input

// input takes ciphertext from the reactor (valid only during the call).
func (l *tlsLayer) input(data []byte) {
	l.rmu.Lock()
	defer l.rmu.Unlock()
	if l.open.Load() {
		l.decrypt(data)
		return
	}
	c := l.c
	s := c.srv
	if c.ipRefused != ipOK {
		// Past the per-address limits: refused before any handshake work,
		// so that a flood costs no key exchange.
		if c.ipRefused == ipTooMany {
			s.stats.refusedIPConns.Add(1)
		} else {
			s.stats.refusedIPRate.Add(1)
		}
		c.hardClose(ReasonHandshakeRejected)
		return
	}
	l.hmu.Lock()
	if l.closed {
		l.hmu.Unlock()
		return
	}
	if l.hin == nil {
		l.hin = bytebufferpool.Get()
	}
	if len(l.hin.B)-l.hoff+len(data) > tlsHandshakeSlack+s.cfg.MaxHeadSize+s.cfg.MaxBodySize {
		l.hmu.Unlock()
		s.stats.tlsHandshakeErrors.Add(1)
		if s.debug() {
			s.log.Debug("tls handshake input too large", "remote", c.remote())
		}
		c.hardClose(ReasonTLSHandshake)
		return
	}
	l.hin.B = append(l.hin.B, data...)
	start := !l.started && firstRecordReady(l.hin.B)
	if start {
		l.started = true
		l.wake = make(chan struct{}, 1)
	}
	wake := l.wake
	l.hmu.Unlock()
	if start {
		s.tlsHS.start(l)
		return
	}
	if wake != nil {
		signal(wake)
	}
}

// firstRecordReady reports whether b holds the client's first TLS record
// complete, or enough to tell it is not TLS at all.
func firstRecordReady(b []byte) bool {
	if len(b) < 5 {
		return false
	}
	if b[0] != 0x16 { // not a handshake record: let crypto/tls say what it is
		return true
	}
	return len(b) >= 5+int(b[3])<<8|int(b[4])
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// decrypt feeds data to crypto/tls and the plaintext to the connection. rmu
// must be held and the handshake done.
func (l *tlsLayer) decrypt(data []byte) {
	c := l.c
	if len(data) > 0 {
		l.trimmed.Store(false)
	}
	buf := tlsReadPool.Get().(*[tlsReadChunk]byte)
	l.cur = data
	var err error
	for {
		var n int
		n, err = l.tc.Read(buf[:])
		if n > 0 {
			c.onData(buf[:n])
		}
		if err != nil {
			break
		}
	}
	l.cur = nil
	tlsReadPool.Put(buf)
	if err != errNoInput {
		// close_notify (io.EOF), or a record that failed: crypto/tls has
		// queued its alert; send it if the socket takes it and close.
		reason := ReasonPeerGone
		if !errors.Is(err, io.EOF) {
			reason = ReasonProtocolError
			if c.srv.debug() {
				c.srv.log.Debug("tls read failed", "remote", c.remote(), "err", err)
			}
		}
		_ = l.drain()
		c.hardClose(reason)
		return
	}
	if l.pending() {
		// crypto/tls answered something on its own (a KeyUpdate): a
		// flusher writes it.
		c.mu.Lock()
		sched := c.scheduleLocked()
		c.mu.Unlock()
		c.pushIf(sched)
	}
}

// Read implements net.Conn for crypto/tls: the current read's ciphertext
// once open (errNoInput when used up), otherwise the handshake's buffered
// input, waiting for more.
func (l *tlsLayer) Read(p []byte) (int, error) {
	if l.open.Load() {
		if len(l.cur) == 0 {
			return 0, errNoInput
		}
		n := copy(p, l.cur)
		l.cur = l.cur[n:]
		return n, nil
	}
	for {
		l.hmu.Lock()
		// Input that arrived before the connection closed is still read: a
		// client may send its Finished and hang up at once.
		if l.hin != nil && l.hoff < len(l.hin.B) {
			n := copy(p, l.hin.B[l.hoff:])
			l.hoff += n
			if l.hoff == len(l.hin.B) {
				l.hin.B, l.hoff = l.hin.B[:0], 0
			}
			l.hmu.Unlock()
			return n, nil
		}
		if l.closed {
			l.hmu.Unlock()
			return 0, errClosedTLS
		}
		wake := l.wake
		l.hmu.Unlock()
		<-wake
	}
}

// ---------------------------------------------------------------------------
// Handshake

// handshake runs on a handshake worker: the TLS handshake, then the
// hand-over of the connection's input to the reactor.
func (l *tlsLayer) handshake() {
	c := l.c
	s := c.srv
	l.hmu.Lock()
	closed := l.closed && (l.hin == nil || l.hoff == len(l.hin.B))
	l.hmu.Unlock()
	if closed {
		l.putHandshakeInput()
		return // closed while queued with nothing to read (timeout, shutdown): counted on close
	}
	l.tc = tls.Server(l, l.cfg)
	if err := l.tc.Handshake(); err != nil {
		l.handshakeFailed(err)
		l.putHandshakeInput()
		return
	}
	st := l.tc.ConnectionState()
	s.stats.tlsHandshakes.Add(1)
	if st.DidResume {
		s.stats.tlsResumed.Add(1)
	}
	switch st.Version {
	case tls.VersionTLS13:
		s.stats.tls13.Add(1)
	case tls.VersionTLS12:
		s.stats.tls12.Add(1)
	}
	// Hand the input over to the reactor: what was buffered beyond the
	// handshake (the client's first request often rides with its Finished)
	// is decrypted here, and from now on the reactor decrypts.
	l.rmu.Lock()
	l.hmu.Lock()
	var rest []byte
	hin := l.hin
	if hin != nil {
		rest = hin.B[l.hoff:]
	}
	l.hin, l.hoff, l.wake = nil, 0, nil
	closed = l.closed
	if !closed {
		l.open.Store(true)
	}
	l.hmu.Unlock()
	if !closed {
		l.decrypt(rest)
	}
	l.rmu.Unlock()
	if hin != nil {
		bytebufferpool.Put(hin)
	}
}

// putHandshakeInput returns the handshake's input buffer to its pool once
// the worker is done with it.
func (l *tlsLayer) putHandshakeInput() {
	l.hmu.Lock()
	hin := l.hin
	l.hin, l.hoff = nil, 0
	l.hmu.Unlock()
	if hin != nil {
		bytebufferpool.Put(hin)
	}
}

// handshakeFailed counts and ends a failed handshake.
func (l *tlsLayer) handshakeFailed(err error) {
	c := l.c
	s := c.srv
	l.hmu.Lock()
	closed := l.closed
	l.hmu.Unlock()
	if closed {
		c.mu.Lock()
		reason := c.reason
		c.mu.Unlock()
		if reason != ReasonHandshakeTimeout && reason != ReasonShutdown {
			s.stats.tlsHandshakeErrors.Add(1) // the peer left mid-handshake
		}
		return
	}
	s.stats.tlsHandshakeErrors.Add(1)
	if s.debug() {
		s.log.Debug("tls handshake failed", "remote", c.remote(), "err", err)
	}
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) && rh.Conn != nil && looksLikeHTTP(rh.RecordHeader[:]) {
		_, _ = l.writeHandshake(httpOnHTTPS)
	}
	c.hardClose(ReasonTLSHandshake)
}

// looksLikeHTTP reports whether the first bytes of a connection look like a
// plain HTTP request (as net/http's check).
func looksLikeHTTP(hdr []byte) bool {
	switch string(hdr) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO", "DELET", "PATCH", "CONNE":
		return true
	}
	return false
}

// tlsHandshakers runs handshakes on at most max goroutines; connections
// past that wait in a FIFO queue.
type tlsHandshakers struct {
	mu      sync.Mutex
	queue   []*tlsLayer
	running int
	max     int
}

func (h *tlsHandshakers) start(l *tlsLayer) {
	s := l.c.srv
	s.stats.tlsHandshaking.Add(1)
	h.mu.Lock()
	if h.running >= h.max {
		h.queue = append(h.queue, l)
		h.mu.Unlock()
		return
	}
	h.running++
	h.mu.Unlock()
	s.wg.Add(1)
	go h.run(s, l)
}

// run handshakes l, then the queued connections, until the queue is empty.
func (h *tlsHandshakers) run(s *Server, l *tlsLayer) {
	defer s.wg.Done()
	for l != nil {
		l.handshake()
		s.stats.tlsHandshaking.Add(-1)
		h.mu.Lock()
		if len(h.queue) > 0 {
			l = h.queue[0]
			h.queue[0] = nil
			h.queue = h.queue[1:]
		} else {
			h.running--
			l = nil
		}
		h.mu.Unlock()
	}
}

func (h *tlsHandshakers) workers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.running
}

// ---------------------------------------------------------------------------
// Output

// Write implements net.Conn for crypto/tls. During the handshake it writes
// the flight to the socket at once (the worker may block); once open it
// appends the sealed records to the output buffer, which the caller of
// seal writes.
func (l *tlsLayer) Write(p []byte) (int, error) {
	if !l.open.Load() {
		return l.writeHandshake(p)
	}
	l.omu.Lock()
	defer l.omu.Unlock()
	if l.outClosed {
		return 0, errClosedTLS
	}
	if l.out == nil {
		l.out = bytebufferpool.Get()
	}
	l.out.B = append(l.out.B, p...)
	return len(p), nil
}

// writeHandshake writes p to the socket for the handshake worker: what
// the kernel takes at once under hmu, so that the connection cannot close
// (and its descriptor be reused) meanwhile, the rest through netpoll's
// blocking Write, which knows when the connection is closed.
func (l *tlsLayer) writeHandshake(p []byte) (int, error) {
	c := l.c
	l.hmu.Lock()
	if l.closed {
		l.hmu.Unlock()
		return 0, errClosedTLS
	}
	rest := p
	for len(rest) > 0 {
		n, err := unix.Write(c.fd, rest)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			break
		}
		rest = rest[n:]
	}
	l.hmu.Unlock()
	if len(rest) > 0 {
		if !c.barrier() {
			return len(p) - len(rest), errClosedTLS
		}
		if _, err := c.nc.Write(rest); err != nil {
			return len(p) - len(rest), err
		}
	}
	return len(p), nil
}

// pending reports whether sealed output waits to be written.
func (l *tlsLayer) pending() bool {
	l.omu.Lock()
	defer l.omu.Unlock()
	return l.out != nil
}

// writev seals the bytes of iov and writes what the kernel takes without
// blocking. It reports the plaintext bytes consumed (all of them unless
// sealing failed); pending says whether sealed output is left to write.
// Called by the goroutine that owns c's writing.
func (l *tlsLayer) writev(iov []unix.Iovec) (int, error) {
	want := 0
	for _, v := range iov {
		want += int(v.Len)
	}
	if want > 0 {
		if err := l.seal(iov, want); err != nil {
			return 0, err
		}
	}
	return want, l.drain()
}

// seal encrypts the bytes of iov (want in all) as few records as possible.
func (l *tlsLayer) seal(iov []unix.Iovec, want int) error {
	if len(iov) == 1 {
		_, err := l.tc.Write(unsafe.Slice(iov[0].Base, iov[0].Len))
		return err
	}
	b := bytebufferpool.Get()
	if cap(b.B) < want {
		b.B = make([]byte, 0, want)
	}
	for _, v := range iov {
		b.B = append(b.B, unsafe.Slice(v.Base, v.Len)...)
	}
	_, err := l.tc.Write(b.B)
	b.B = b.B[:0]
	bytebufferpool.Put(b)
	return err
}

// sealBytes seals one buffer (the write-back goroutine's batches).
func (l *tlsLayer) sealBytes(p []byte) error {
	_, err := l.tc.Write(p)
	return err
}

// drain writes sealed output to the socket without blocking, as much as
// the kernel takes. When another goroutine is writing it blocking (wmu),
// that one drains everything and drain does nothing.
func (l *tlsLayer) drain() error {
	if !l.wmu.TryLock() {
		return nil
	}
	defer l.wmu.Unlock()
	l.omu.Lock()
	defer l.omu.Unlock()
	for l.out != nil {
		b := l.out.B[l.ooff:]
		n, err := unix.Write(l.c.fd, b)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return nil
		}
		if err != nil {
			return err
		}
		l.c.srv.stats.writes.Add(1)
		l.ooff += n
		if l.ooff == len(l.out.B) {
			l.putOutLocked()
		}
	}
	return nil
}

// putOutLocked returns the output buffer to the pool. omu must be held.
func (l *tlsLayer) putOutLocked() {
	if l.out != nil {
		bytebufferpool.Put(l.out)
		l.out, l.ooff = nil, 0
	}
}

// takeOut moves the sealed output into dst (netpoll's writer) and empties
// it. wmu must be held.
func (l *tlsLayer) takeOut(malloc func(int) ([]byte, error)) int {
	l.omu.Lock()
	defer l.omu.Unlock()
	if l.out == nil {
		return 0
	}
	b := l.out.B[l.ooff:]
	if dst, err := malloc(len(b)); err == nil {
		copy(dst, b)
	}
	l.putOutLocked()
	return len(b)
}

// writeBlocking seals p and writes everything sealed, waiting for the
// kernel when it must (netpoll's Flush, bounded by WriteTimeout). Used for
// answers written outside the queue: the upgrade's response and net/http's
// writes.
func (l *tlsLayer) writeBlocking(p []byte) error {
	if _, err := l.tc.Write(p); err != nil {
		return err
	}
	l.wmu.Lock()
	err := l.flushBlockingLocked()
	l.wmu.Unlock()
	if err == nil && l.pending() {
		// Sealed by another goroutine while this one held wmu: its drain
		// left it to us.
		return l.drain()
	}
	return err
}

// flushBlockingLocked writes the sealed output, first without blocking,
// then through netpoll's Flush. wmu must be held.
func (l *tlsLayer) flushBlockingLocked() error {
	c := l.c
	l.omu.Lock()
	for l.out != nil {
		n, err := unix.Write(c.fd, l.out.B[l.ooff:])
		if err == unix.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			break
		}
		l.ooff += n
		if l.ooff == len(l.out.B) {
			l.putOutLocked()
		}
	}
	done := l.out == nil
	l.omu.Unlock()
	if done {
		return nil // the usual case: netpoll's writer (and barrier) untouched
	}
	for {
		if !c.barrier() {
			return errClosedTLS
		}
		w := c.nc.Writer()
		if l.takeOut(w.Malloc) == 0 {
			return nil
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
}

// closeNotify seals a close_notify alert behind everything sealed so far and
// writes it without blocking. Best effort: the connection closes next, and
// an alert the kernel has no room for is lost (the peer then sees a bare
// FIN). Called by the goroutine that finished the queue, under c.mu.
func (l *tlsLayer) closeNotify() {
	if !l.open.Load() {
		return // no keys yet: crypto/tls sent an alert if the handshake failed
	}
	if l.tc.CloseWrite() == nil {
		_ = l.drain()
	}
}

// onClosed is called when the connection closes: the handshake worker reads
// what is left and stops waiting, buffers go back to their pools (the
// handshake input by the worker when one was asked for).
func (l *tlsLayer) onClosed() {
	l.hmu.Lock()
	l.closed = true
	var hin *bytebufferpool.ByteBuffer
	if !l.started {
		hin = l.hin
		l.hin, l.hoff = nil, 0
	}
	wake := l.wake
	l.hmu.Unlock()
	if wake != nil {
		signal(wake)
	}
	if hin != nil {
		bytebufferpool.Put(hin)
	}
	l.omu.Lock()
	l.outClosed = true
	l.putOutLocked()
	l.omu.Unlock()
}

// net.Conn's remaining methods; crypto/tls only calls Close (on a failed
// handshake context, which the layer does not use) and the addresses.

func (l *tlsLayer) Close() error                     { return l.c.nc.Close() }
func (l *tlsLayer) LocalAddr() net.Addr              { return l.c.nc.LocalAddr() }
func (l *tlsLayer) RemoteAddr() net.Addr             { return l.c.nc.RemoteAddr() }
func (l *tlsLayer) SetDeadline(time.Time) error      { return nil }
func (l *tlsLayer) SetReadDeadline(time.Time) error  { return nil }
func (l *tlsLayer) SetWriteDeadline(time.Time) error { return nil }

var _ net.Conn = (*tlsLayer)(nil)
