package poller

import (
	"errors"
	"sync"
	"unsafe"

	"github.com/valyala/bytebufferpool"
	"golang.org/x/sys/unix"
)

// maxIovec bounds the frames coalesced into one writev (IOV_MAX is 1024).
const maxIovec = 1024

// writeBackBatch bounds the bytes a write-back goroutine copies into netpoll's
// buffer per Flush.
const writeBackBatch = 256 << 10

// flusher owns a ready list of connections with queued frames and writes each
// with one writev. It never blocks on a socket: a connection the kernel does not
// take completely is handed to its own write-back goroutine.
type flusher struct {
	s     *Server
	mu    sync.Mutex
	ready []*Conn // guarded by mu
	spare []*Conn
	wakeC chan struct{}
	iov   []unix.Iovec // scratch for writev, owned by run
}

func newFlusher(s *Server) *flusher {
	return &flusher{s: s, wakeC: make(chan struct{}, 1), iov: make([]unix.Iovec, 0, 64)}
}

func (f *flusher) push(c *Conn) {
	f.mu.Lock()
	f.ready = append(f.ready, c)
	n := len(f.ready)
	f.mu.Unlock()
	if n == 1 {
		f.wake()
	}
}

func (f *flusher) wake() {
	select {
	case f.wakeC <- struct{}{}:
	default:
	}
}

func (f *flusher) run() {
	defer f.s.wg.Done()
	for {
		select {
		case <-f.wakeC:
		case <-f.s.done:
			return
		}
		for {
			// Swap the ready list with the spare one: pushers append to one
			// array while this goroutine walks the other.
			f.mu.Lock()
			batch := f.ready
			f.ready = f.spare[:0]
			f.mu.Unlock()
			for i, c := range batch {
				c.flush(f)
				batch[i] = nil
			}
			f.spare = batch[:0]
			if len(batch) == 0 {
				break
			}
		}
	}
}

// flush writes everything queued on c with one writev per round. Called only
// by c's flusher, or by flushNow.
func (c *Conn) flush(f *flusher) { f.iov = c.flushWith(f, f.iov, maxIovec, 4) }

// flushNow writes what is queued on c from the calling goroutine, which owns
// c's schedule (scheduleLocked returned true to it): one writev round of up
// to 16 frames, without blocking; what is left goes to c's flusher (or to a
// write-back goroutine when the kernel takes only part). Used for the
// answers of reactor HTTP requests, to spare them a flusher hop.
func (c *Conn) flushNow() {
	var scratch [16]unix.Iovec
	c.flushWith(c.flusher(), scratch[:0], len(scratch), 1)
}

// flushWith is flush with iov as writev scratch (returned, perhaps grown),
// at most maxIov frames per writev and maxRounds rounds before c goes back
// to f's ready list.
func (c *Conn) flushWith(f *flusher, iov []unix.Iovec, maxIov, maxRounds int) []unix.Iovec {
	s := c.srv
	c.mu.Lock()
	c.scheduled = false
	for rounds := 0; ; rounds++ {
		if c.state == stClosed || c.backlogged || c.qh == len(c.q) && !c.tlsPendingLocked() {
			break
		}
		if rounds == maxRounds {
			// Fairness: let the other ready connections go first.
			if c.scheduleLocked() {
				c.mu.Unlock()
				f.push(c)
				return iov
			}
			break
		}
		iov = iov[:0]
		want, taken := 0, 0
		for i := c.qh; i < len(c.q) && len(iov) < maxIov && (c.tls == nil || want < tlsRoundBytes); i++ {
			taken++
			p := c.q[i].take()
			c.q[i].p = p
			b := p.Bytes()
			if i == c.qh {
				b = b[c.off:]
			}
			if len(b) == 0 {
				continue
			}
			iov = append(iov, unix.Iovec{Base: &b[0], Len: uint64(len(b))})
			want += len(b)
		}
		c.inflight, c.inflightBytes = taken, want
		c.writing = true
		c.mu.Unlock()

		var n int
		var err error
		if c.tls != nil {
			n, err = c.tls.writev(iov)
		} else {
			n, err = writev(c.fd, iov)
		}
		clear(iov)
		iov = iov[:0]
		s.stats.writes.Add(1)

		c.mu.Lock()
		c.writing = false
		c.inflight, c.inflightBytes = 0, 0
		c.consumedLocked(n)
		if err != nil && !errors.Is(err, unix.EAGAIN) {
			c.mu.Unlock()
			c.hardClose(ReasonWriteError)
			return iov
		}
		if n < want || c.tlsPendingLocked() {
			// The kernel's buffer is full: a write-back goroutine waits for room
			// so that no flusher ever blocks on this socket.
			c.backlogged = true
			c.since = s.now()
			s.stats.backlogged.Add(1)
			s.wg.Add(1)
			go c.writeBack()
			c.mu.Unlock()
			return iov
		}
	}
	closeNow := c.afterQueueLocked()
	c.mu.Unlock()
	if closeNow {
		c.hardClose(ReasonPeerClose)
	}
	return iov
}

// tlsPendingLocked reports whether c is a TLS connection with sealed output
// left to write. c.mu must be held.
func (c *Conn) tlsPendingLocked() bool { return c.tls != nil && c.tls.pending() }

// consumedLocked accounts n written bytes from the head of the queue and
// releases the frames written completely. c.mu must be held.
func (c *Conn) consumedLocked(n int) {
	s := c.srv
	s.stats.queuedBytes.Add(-int64(n))
	c.queued -= n
	frames := 0
	for n > 0 {
		p := c.q[c.qh].p
		rem := p.Len() - c.off
		if n < rem {
			c.off += n
			break
		}
		n -= rem
		p.Release()
		c.q[c.qh] = entry{}
		c.qh++
		c.off = 0
		frames++
	}
	s.stats.framesOut.Add(uint64(frames))
	if c.qh == len(c.q) {
		c.q = c.q[:0]
		c.qh = 0
	} else if c.qh > 64 && c.qh*2 > len(c.q) {
		k := copy(c.q, c.q[c.qh:])
		clear(c.q[k:])
		c.q = c.q[:k]
		c.qh = 0
	}
}

// writeBack drains c's queue through netpoll's blocking Flush, which waits for
// the socket to become writable (or WriteTimeout). It runs only while c is
// backlogged.
func (c *Conn) writeBack() {
	s := c.srv
	defer s.wg.Done()
	c.barrier() // closed meanwhile: the loop below sees it
	w := c.nc.Writer()
	for {
		c.mu.Lock()
		if c.state == stClosed || c.qh == len(c.q) && !c.tlsPendingLocked() {
			c.backlogged = false
			s.stats.backlogged.Add(-1)
			closeNow := c.afterQueueLocked()
			c.mu.Unlock()
			if closeNow {
				c.hardClose(ReasonPeerClose)
			}
			return
		}
		// Copy up to writeBackBatch bytes into netpoll's buffer and release the
		// frames at once: netpoll owns its copy until Flush returns.
		copied := 0
		frames := 0
		var plain *bytebufferpool.ByteBuffer // TLS: the batch to seal
		if c.tls != nil {
			plain = bytebufferpool.Get()
		}
		for c.qh < len(c.q) && copied < writeBackBatch {
			p := c.q[c.qh].take()
			b := p.Bytes()[c.off:]
			if plain != nil {
				plain.B = append(plain.B, b...)
			} else if dst, err := w.Malloc(len(b)); err == nil {
				copy(dst, b)
			}
			copied += len(b)
			p.Release()
			c.q[c.qh] = entry{}
			c.qh++
			c.off = 0
			frames++
		}
		c.queued -= copied
		if c.qh == len(c.q) {
			c.q = c.q[:0]
			c.qh = 0
		}
		c.mu.Unlock()
		s.stats.queuedBytes.Add(-int64(copied))
		s.stats.framesOut.Add(uint64(frames))

		var err error
		if plain != nil {
			// Seal the batch behind what is already sealed and hand all of
			// it to netpoll; wmu keeps the other writers of sealed output
			// (the upgrade's answer, net/http) out until it is written.
			if len(plain.B) > 0 {
				err = c.tls.sealBytes(plain.B)
			}
			bytebufferpool.Put(plain)
			c.tls.wmu.Lock()
			if err == nil {
				c.tls.takeOut(w.Malloc)
				err = w.Flush()
			}
			c.tls.wmu.Unlock()
		} else {
			err = w.Flush()
		}
		s.stats.writes.Add(1)
		if err != nil {
			reason := ReasonWriteError
			if isTimeout(err) {
				reason = ReasonWriteTimeout
			}
			c.mu.Lock()
			c.backlogged = false
			s.stats.backlogged.Add(-1)
			c.mu.Unlock()
			c.hardClose(reason)
			return
		}
		c.mu.Lock()
		c.since = s.now()
		c.mu.Unlock()
	}
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// writev writes iov to the non-blocking fd, retrying on EINTR. It returns the
// bytes written; EAGAIN comes with n == 0 when the kernel took nothing. It
// does not allocate.
func writev(fd int, iov []unix.Iovec) (int, error) {
	if len(iov) == 0 {
		return 0, nil
	}
	for {
		n, _, errno := unix.Syscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return 0, errno
		}
		return int(n), nil
	}
}
