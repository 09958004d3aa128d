package wsframe

import (
	"compress/flate"
	"io"
	"sync"
	"sync/atomic"

	"github.com/gobwas/ws"
)

// DeflateMode is what a connection negotiated of permessage-deflate
// (RFC 7692), and so which compressed variant of a shared frame it sends.
type DeflateMode uint8

const (
	// DeflateOff: no compression negotiated (RSV1 is a protocol error).
	DeflateOff DeflateMode = iota
	// DeflateOn: LZ77 with a 32 KiB window (server_max_window_bits 15, the
	// default) and Huffman coding, no context takeover.
	DeflateOn
	// DeflateHuffman: the client limited server_max_window_bits below 15.
	// compress/flate cannot bound its LZ77 window, so these connections get
	// Huffman coding only: a stream without back-references, valid for any
	// window size (about half the saving of DeflateOn on JSON).
	DeflateHuffman

	numDeflateModes = 3
)

// String names the mode for logs.
func (m DeflateMode) String() string {
	switch m {
	case DeflateOn:
		return "deflate"
	case DeflateHuffman:
		return "deflate-huffman"
	}
	return "off"
}

// deflateLevel is the compress/flate level of each mode. BestSpeed: a
// broadcast is compressed on the publisher's goroutine, and level 1 resets
// in constant time (the default level clears 256 KiB of hash tables per
// message) for a few percent less saving on small JSON messages.
var deflateLevel = [numDeflateModes]int{DeflateOn: flate.BestSpeed, DeflateHuffman: flate.HuffmanOnly}

// syncTail is the empty stored block a sync flush ends with; RFC 7692 7.2.1
// removes it from every compressed message and 7.2.2 appends it back.
const syncTail = "\x00\x00\xff\xff"

// inflateTail is syncTail followed by an empty final stored block, so that
// the decompressor ends with io.EOF instead of waiting for more input.
const inflateTail = syncTail + "\x01\x00\x00\xff\xff"

// Process-wide compression counters (DeflateStats).
var (
	deflateFrames         atomic.Uint64
	deflateIn, deflateOut atomic.Uint64
	deflateSkipped        atomic.Uint64
	inflateMsgs           atomic.Uint64
	inflateIn, inflateOut atomic.Uint64
	inflateErrors         atomic.Uint64
)

// DeflateStats counts permessage-deflate work in this process, for tests
// and the stats endpoint.
type DeflateStats struct {
	// Compressed counts frames compressed: once per shared frame and mode
	// that a deflate connection sent, not once per connection.
	Compressed uint64 `json:"compressed"`
	// CompressedIn and CompressedOut are the payload bytes before and after
	// (CompressedIn-CompressedOut is the saving per copy of each frame).
	CompressedIn  uint64 `json:"compressed_in_bytes"`
	CompressedOut uint64 `json:"compressed_out_bytes"`
	// Incompressible counts frames whose compressed form saved less than
	// a sixteenth: they go out uncompressed, and are not compressed again.
	Incompressible uint64 `json:"incompressible"`
	// Inflated counts compressed client messages, with their bytes before
	// and after; InflateErrors the ones refused (1007 or 1009).
	Inflated      uint64 `json:"inflated"`
	InflatedIn    uint64 `json:"inflated_in_bytes"`
	InflatedOut   uint64 `json:"inflated_out_bytes"`
	InflateErrors uint64 `json:"inflate_errors"`
}

// ReadDeflateStats returns the process-wide compression counters.
func ReadDeflateStats() DeflateStats {
	return DeflateStats{
		Compressed:     deflateFrames.Load(),
		CompressedIn:   deflateIn.Load(),
		CompressedOut:  deflateOut.Load(),
		Incompressible: deflateSkipped.Load(),
		Inflated:       inflateMsgs.Load(),
		InflatedIn:     inflateIn.Load(),
		InflatedOut:    inflateOut.Load(),
		InflateErrors:  inflateErrors.Load(),
	}
}

// appendWriter is an io.Writer that appends to b.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// compressor is a pooled flate.Writer with its output.
type compressor struct {
	fw  *flate.Writer
	out appendWriter
}

var compressors [numDeflateModes]sync.Pool

// AppendDeflate appends payload compressed as one permessage-deflate
// message without context takeover (RFC 7692 7.2.1: a sync flush with its
// final 00 00 ff ff removed) to dst, with mode's settings (DeflateOn or
// DeflateHuffman). It uses pooled compressors and allocates only when dst
// must grow.
func AppendDeflate(dst, payload []byte, mode DeflateMode) []byte {
	if mode != DeflateHuffman {
		mode = DeflateOn
	}
	c, _ := compressors[mode].Get().(*compressor)
	if c == nil {
		c = new(compressor)
		c.fw, _ = flate.NewWriter(&c.out, deflateLevel[mode]) // the level is valid
	}
	c.out.b = dst
	c.fw.Reset(&c.out)
	_, _ = c.fw.Write(payload) // appendWriter never fails
	_ = c.fw.Flush()
	dst = c.out.b
	c.out.b = nil
	compressors[mode].Put(c)
	if n := len(dst); n >= len(syncTail) && string(dst[n-len(syncTail):]) == syncTail {
		dst = dst[:n-len(syncTail)]
	}
	return dst
}

// tailReader reads b and then inflateTail; it is an io.ByteReader so that
// flate reads it without a bufio.Reader of its own.
type tailReader struct {
	b    []byte
	tail int // bytes of inflateTail read
}

func (r *tailReader) Read(p []byte) (int, error) {
	if len(r.b) > 0 {
		n := copy(p, r.b)
		r.b = r.b[n:]
		return n, nil
	}
	if r.tail == len(inflateTail) {
		return 0, io.EOF
	}
	n := copy(p, inflateTail[r.tail:])
	r.tail += n
	return n, nil
}

func (r *tailReader) ReadByte() (byte, error) {
	if len(r.b) > 0 {
		c := r.b[0]
		r.b = r.b[1:]
		return c, nil
	}
	if r.tail == len(inflateTail) {
		return 0, io.EOF
	}
	c := inflateTail[r.tail]
	r.tail++
	return c, nil
}

// inflater is a pooled flate reader (about 43 KB: the 32 KiB window and the
// Huffman tables). A connection holds one only while Feed inflates a
// message: no context takeover is ever agreed for client messages.
type inflater struct {
	fr  io.ReadCloser
	src tailReader
}

var inflaters sync.Pool

// minInflateRoom is the least free capacity inflate reads into.
const minInflateRoom = 512

// inflate appends the decompressed form of the permessage-deflate payload
// to dst. More than limitBytes bytes is 1009, a payload that is not a valid
// DEFLATE stream 1007. Trailing bytes after a final block are ignored.
func inflate(dst, payload []byte, limitBytes int64) ([]byte, *CloseError) {
	start := len(dst)
	if len(payload) == 0 {
		// Not a DEFLATE stream at all, but what an empty message would be
		// if the sender skipped the single 0x00 byte: take it as empty.
		inflateMsgs.Add(1)
		return dst, nil
	}
	f, _ := inflaters.Get().(*inflater)
	if f == nil {
		f = new(inflater)
		f.src = tailReader{b: payload}
		f.fr = flate.NewReader(&f.src)
	} else {
		f.src = tailReader{b: payload}
		_ = f.fr.(flate.Resetter).Reset(&f.src, nil) // never fails for flate's reader
	}
	limit := int64(start) + limitBytes + 1 // one byte over the limit tells too big
	var err *CloseError
	for {
		if cap(dst)-len(dst) < minInflateRoom && int64(cap(dst)) < limit {
			want := max(cap(dst)*2, len(dst)+3*len(payload), len(dst)+4096)
			want = int(min(int64(want), limit))
			nb := make([]byte, len(dst), want)
			copy(nb, dst)
			dst = nb
		}
		room := dst[len(dst):cap(dst)]
		if int64(cap(dst)) > limit {
			room = room[:limit-int64(len(dst))]
		}
		n, rerr := f.fr.Read(room)
		dst = dst[:len(dst)+n]
		if int64(len(dst)-start) > limitBytes {
			err = &CloseError{Code: StatusMessageTooBig, Reason: reasonTooBig}
			break
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			err = &CloseError{Code: StatusInvalidPayload, Reason: reasonInflate}
			break
		}
	}
	f.src = tailReader{}
	inflaters.Put(f)
	if err != nil {
		inflateErrors.Add(1)
		return dst[:start], err
	}
	inflateMsgs.Add(1)
	inflateIn.Add(uint64(len(payload)))
	inflateOut.Add(uint64(len(dst) - start))
	return dst, nil
}

// incompressible marks a frame whose compressed form was not worth it.
var incompressible = new(Prepared)

// minSavingDiv: a compressed variant must save at least 1/minSavingDiv of
// the payload (and a byte), or the frame goes uncompressed: a client pays
// an inflate per message (Node's ws about 0.4 ms on a loaded machine), which a
// saving of a few percent does not buy back.
const minSavingDiv = 16

// deflatedSet holds the compressed variants of a Prepared, per
// DeflateMode-1 (incompressible when not worth it), each with one
// reference. It is pooled: only frames sent on a deflate connection have
// one.
type deflatedSet struct {
	p [numDeflateModes - 1]atomic.Pointer[Prepared]
}

var deflatedSets = sync.Pool{New: func() any { return new(deflatedSet) }}

// release drops the variants' references and returns v to the pool; the
// frame that held v is being recycled, so nobody else uses v.
func (v *deflatedSet) release() {
	for i := range v.p {
		if q := v.p[i].Swap(nil); q != nil && q != incompressible {
			q.Release()
		}
	}
	deflatedSets.Put(v)
}

// Deflated returns the frame to send on a connection that negotiated mode:
// the compressed variant of p (RSV1 set), made on first need and shared by
// every connection of that mode until p's last Release, or p itself when
// mode is DeflateOff, p is not a text or binary frame sealed by Seal, its
// payload is shorter than threshold bytes, or compression would save less
// than a sixteenth of it. The result carries no reference of its own: it is valid while
// the caller holds its reference of p (Retain it to keep it longer).
//
// Safe for concurrent use; two goroutines that compress the same frame at
// once both do the work and one result is kept.
func (p *Prepared) Deflated(mode DeflateMode, threshold int) *Prepared {
	if mode == DeflateOff || mode >= numDeflateModes || !p.isFrame || p.rsv1 || (p.op != ws.OpText && p.op != ws.OpBinary) || p.buf == nil {
		return p
	}
	payload := p.buf.B[MaxHeaderSize:]
	if len(payload) < threshold {
		return p
	}
	v := p.variants.Load()
	if v == nil {
		v = deflatedSets.Get().(*deflatedSet)
		if !p.variants.CompareAndSwap(nil, v) {
			deflatedSets.Put(v)
			v = p.variants.Load()
		}
	}
	slot := &v.p[mode-1]
	if q := slot.Load(); q != nil {
		if q == incompressible {
			return p
		}
		return q
	}
	q := incompressible
	c := AcquirePrepared()
	c.B = AppendDeflate(c.B, payload, mode)
	if len(c.B) <= len(payload)-len(payload)/minSavingDiv-1 {
		c.seal(p.op, true)
		c.Topic, c.Seq = p.Topic, p.Seq
		q = c
		deflateFrames.Add(1)
		deflateIn.Add(uint64(len(payload)))
		deflateOut.Add(uint64(len(c.Payload())))
	} else {
		c.Release()
		deflateSkipped.Add(1)
	}
	if !slot.CompareAndSwap(nil, q) {
		if q != incompressible {
			q.Release()
		}
		q = slot.Load()
	}
	if q == incompressible {
		return p
	}
	return q
}

// Compressed reports whether p is a compressed frame (RSV1 set).
func (p *Prepared) Compressed() bool { return p.rsv1 }

// Payload returns the payload of a frame sealed by Seal (without its
// header); nil for other Prepareds. Valid like Bytes.
func (p *Prepared) Payload() []byte {
	if !p.isFrame || p.buf == nil {
		return nil
	}
	return p.buf.B[MaxHeaderSize:]
}
