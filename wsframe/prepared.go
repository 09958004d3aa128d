package wsframe

import (
	"strconv"
	"sync"
	"sync/atomic"
	"unicode/utf8"
	"unsafe"

	"github.com/gobwas/ws"
	"github.com/valyala/bytebufferpool"
)

// Prepared is an encoded server frame in a pooled buffer, shared by reference by
// every connection that sends it. It is reference counted: the creator holds one
// reference; each additional holder calls Retain before taking it; every holder
// calls Release exactly once when done. The buffer returns to the pool when the
// last reference is released. Bytes is valid until then and must not be modified.
//
// The Prepared itself is pooled too: after the last Release the pointer must
// not be used. A Release beyond the last is detected and counted as long as
// the Prepared has not been handed out again; after that it would release
// someone else's reference, so over-releasing is a bug to fix, not a
// tolerated pattern.
type Prepared struct {
	// B is the payload under construction between AcquirePrepared and Seal
	// (or SealRaw, SealChunk); append to it (B = append(B, ...),
	// strconv.AppendInt(B, ...)). Do not touch it after sealing.
	B []byte

	// Topic and Seq say which published message the frame carries, for
	// subscribers that track positions (an SSE stream's event ids). The hub
	// sets them on every delivery; they are zero for other frames.
	Topic string
	Seq   uint64

	buf     *bytebufferpool.ByteBuffer // MaxHeaderSize reserved bytes, then the payload
	off     int32                      // start of the frame in buf.B; -1 until Seal
	refs    atomic.Int32
	op      ws.OpCode // the opcode given to Seal
	isFrame bool      // sealed by Seal: a WebSocket frame whose payload starts at MaxHeaderSize
	rsv1    bool      // a permessage-deflate compressed frame (Deflated)
	// variants holds the compressed variants made by Deflated, from the
	// first until p's last Release (nil until then).
	variants atomic.Pointer[deflatedSet]
}

var (
	preparedBufs bytebufferpool.Pool
	preparedPool = sync.Pool{New: func() any { return new(Prepared) }}

	poolAcquired     atomic.Uint64
	poolReturned     atomic.Uint64
	poolOverreleased atomic.Uint64
)

// minPreparedCap is the capacity given to a buffer too small to hold the
// header room. It is bytebufferpool's smallest size class: the pool calibrates
// itself on the sizes actually used and drops buffers larger than most, so a
// larger minimum would be thrown away on every Put.
const minPreparedCap = 64

// AcquirePrepared returns an empty Prepared with one reference, ready for the
// payload to be appended to B.
func AcquirePrepared() *Prepared {
	p := preparedPool.Get().(*Prepared)
	buf := preparedBufs.Get()
	if cap(buf.B) < minPreparedCap {
		buf.B = make([]byte, 0, minPreparedCap)
	}
	buf.B = buf.B[:MaxHeaderSize]
	p.buf = buf
	p.B = buf.B[MaxHeaderSize:MaxHeaderSize]
	p.off = -1
	p.refs.Store(1)
	poolAcquired.Add(1)
	return p
}

// Seal writes the frame header for opcode op (FIN set, unmasked) in front of the
// payload in B. After Seal, Bytes returns the complete frame. The payload is
// not moved unless appending to B outgrew the pooled buffer. Sealing twice
// does nothing.
func (p *Prepared) Seal(op ws.OpCode) { p.seal(op, false) }

// seal is Seal, with RSV1 set when rsv1 (a compressed message).
func (p *Prepared) seal(op ws.OpCode, rsv1 bool) {
	if p.off >= 0 || p.buf == nil {
		return
	}
	n := len(p.B)
	// B may have been reallocated by append (or replaced): settle copies it
	// behind the reserved header room then.
	p.settle()
	hs := serverHeaderSize(n)
	off := MaxHeaderSize - hs
	putServerHeader(p.buf.B[off:MaxHeaderSize], op, n)
	if rsv1 {
		p.buf.B[off] |= bitRsv1
	}
	p.off = int32(off)
	p.B = nil
	p.op, p.isFrame, p.rsv1 = op, true, rsv1
}

// SealRaw seals the bytes appended to B as they are, with no framing: Bytes
// returns exactly them. It is for byte streams that are not WebSocket frames
// (an HTTP response, a close-delimited HTTP/1.0 event stream). Like Seal it
// does not move the bytes unless appending outgrew the pooled buffer, and
// sealing again does nothing.
func (p *Prepared) SealRaw() {
	if p.off >= 0 || p.buf == nil {
		return
	}
	p.settle()
	p.off = MaxHeaderSize
	p.B = nil
}

// maxChunkSize is the largest payload SealChunk frames in place: eight hex
// digits and CRLF fill the MaxHeaderSize bytes reserved in front of it.
const maxChunkSize = 1<<32 - 1

// SealChunk seals the bytes appended to B as one HTTP/1.1 chunk (RFC 9112
// 7.1): the size in hex and CRLF are written into the room reserved in front
// of the payload and CRLF is appended after it, so the payload is not copied
// unless appending outgrew the pooled buffer. An empty payload seals to no
// bytes at all, never to "0\r\n\r\n", which would end the stream. Sealing
// again does nothing.
func (p *Prepared) SealChunk() {
	if p.off >= 0 || p.buf == nil {
		return
	}
	n := len(p.B)
	if n == 0 {
		p.buf.B = p.buf.B[:MaxHeaderSize]
		p.off = MaxHeaderSize
		p.B = nil
		return
	}
	p.settle()
	if uint64(n) > maxChunkSize {
		// Larger than the reserved room can announce (4 GiB): build it again
		// with a longer size line. Never happens for a message.
		line := strconv.AppendUint(make([]byte, 0, 20), uint64(n), 16)
		line = append(line, "\r\n"...)
		payload := append([]byte(nil), p.buf.B[MaxHeaderSize:]...)
		p.buf.B = append(append(append(p.buf.B[:0], line...), payload...), "\r\n"...)
		p.off = 0
		p.B = nil
		return
	}
	digits := 1
	for v := n >> 4; v > 0; v >>= 4 {
		digits++
	}
	off := MaxHeaderSize - digits - 2
	b := p.buf.B[off:MaxHeaderSize]
	for i, v := digits-1, n; i >= 0; i, v = i-1, v>>4 {
		b[i] = hexDigits[v&0xf]
	}
	b[digits], b[digits+1] = '\r', '\n'
	p.buf.B = append(p.buf.B, '\r', '\n')
	p.off = int32(off)
	p.B = nil
}

const hexDigits = "0123456789abcdef"

// settle makes buf.B end with the payload appended to B, right behind the
// reserved header room: in place when B still points there, else copied (the
// pool keeps the larger buffer).
func (p *Prepared) settle() {
	n := len(p.B)
	base := p.buf.B[:cap(p.buf.B)]
	if n > 0 && unsafe.SliceData(p.B) != unsafe.SliceData(base[MaxHeaderSize:]) {
		p.buf.B = append(p.buf.B[:MaxHeaderSize], p.B...)
	} else {
		p.buf.B = base[:MaxHeaderSize+n]
	}
}

// NewPrepared encodes a complete frame with the given payload (copied).
func NewPrepared(op ws.OpCode, payload []byte) *Prepared {
	p := AcquirePrepared()
	p.B = append(p.B, payload...)
	p.Seal(op)
	return p
}

// Bytes returns the encoded frame (or the raw bytes or chunk after SealRaw or
// SealChunk). Valid until the last Release. Nil before a Seal.
func (p *Prepared) Bytes() []byte {
	if p.off < 0 || p.buf == nil {
		return nil
	}
	return p.buf.B[p.off:]
}

// Len returns len(p.Bytes()).
func (p *Prepared) Len() int { return len(p.Bytes()) }

// Retain adds n references. n <= 0 does nothing.
func (p *Prepared) Retain(n int32) {
	if n > 0 {
		p.refs.Add(n)
	}
}

// ReleaseN drops n references at once (n >= 1), as n calls of Release
// would, with one atomic operation.
func (p *Prepared) ReleaseN(n int32) {
	if n <= 0 {
		return
	}
	for {
		c := p.refs.Load()
		if c <= 0 {
			poolOverreleased.Add(uint64(n))
			return
		}
		left := max(c-n, 0)
		if !p.refs.CompareAndSwap(c, left) {
			continue
		}
		if n > c {
			poolOverreleased.Add(uint64(n - c))
		}
		if left == 0 {
			p.recycle()
		}
		return
	}
}

// Release drops one reference and returns the buffer to the pool after the last
// one. A Release beyond the last is counted (PoolStats.Overreleased), never
// returned to the pool twice.
func (p *Prepared) Release() {
	for {
		n := p.refs.Load()
		if n <= 0 {
			poolOverreleased.Add(1)
			return
		}
		if p.refs.CompareAndSwap(n, n-1) {
			if n == 1 {
				p.recycle()
			}
			return
		}
	}
}

// recycle runs once per acquisition, by the goroutine that dropped the last
// reference.
func (p *Prepared) recycle() {
	buf := p.buf
	p.buf = nil
	p.B = nil
	p.off = -1
	p.Topic, p.Seq = "", 0
	p.op, p.isFrame, p.rsv1 = 0, false, false
	if v := p.variants.Swap(nil); v != nil {
		v.release()
	}
	preparedBufs.Put(buf)
	poolReturned.Add(1)
	preparedPool.Put(p)
}

// PoolStats counts Prepared buffers, for tests and the stats endpoint.
type PoolStats struct {
	Acquired     uint64 `json:"acquired"`     // AcquirePrepared/NewPrepared calls
	Returned     uint64 `json:"returned"`     // buffers given back to the pool
	Overreleased uint64 `json:"overreleased"` // Release calls after the count reached zero
}

// ReadPoolStats returns the process-wide counters. Acquired - Returned is the
// number of Prepared frames alive.
func ReadPoolStats() PoolStats {
	// Returned before Acquired: a concurrent reader never sees more returned
	// than acquired.
	r := poolReturned.Load()
	return PoolStats{
		Acquired:     poolAcquired.Load(),
		Returned:     r,
		Overreleased: poolOverreleased.Load(),
	}
}

// maxCloseReason is the longest close reason: 125 bytes of control payload
// minus the 2-byte code.
const maxCloseReason = maxControlPayload - 2

// ClosePrepared returns a sealed close frame with code and reason (reason is
// truncated to fit 123 bytes on a UTF-8 boundary). The caller owns one reference.
// Codes that must not be sent on the wire (0, 1005, 1006) give a close frame
// without payload.
func ClosePrepared(code StatusCode, reason string) *Prepared {
	p := AcquirePrepared()
	if code != 0 && code != StatusNoStatusReceived && code != StatusAbnormalClosure {
		if len(reason) > maxCloseReason {
			cut := maxCloseReason
			for cut > 0 && !utf8.RuneStart(reason[cut]) {
				cut--
			}
			reason = reason[:cut]
		}
		p.B = append(p.B, byte(code>>8), byte(code))
		p.B = append(p.B, reason...)
	}
	p.Seal(ws.OpClose)
	return p
}
