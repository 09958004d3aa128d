package hub

import (
	"sync"

	"github.com/c1mhq/c1m/wsframe"
	"github.com/gobwas/ws"
)

// Msg is one published message as a Format encodes it.
type Msg struct {
	Topic  string
	Seq    uint64
	TS     int64  // publish time, unix ns
	Data   []byte // one JSON value, or raw bytes when Binary; valid only during Encode
	Binary bool
	Snap   bool // the last value, sent on subscribe
}

// Format encodes messages for one wire format other than the native
// WebSocket frames (docs/PROTOCOL.md), e.g. Server-Sent Events or STOMP
// MESSAGE frames. A subscription names its Format (SubOptions.Format); a
// publish is encoded once per Format and variant that the topic's current
// subscribers use, and that one encoding is shared by reference by every
// subscriber of that format and variant.
//
// Encode appends the encoding of m for variant (SubOptions.Variant, e.g.
// a STOMP subscription id; "" for formats without variants) to p.B and seals
// p (Seal, SealRaw or SealChunk). It must not keep m.Data or p. It is called
// with a topic lock held, concurrently for different topics: it must be safe
// for concurrent use, must not block and must not call the Hub.
type Format interface {
	Encode(p *wsframe.Prepared, m *Msg, variant string)
}

// NativeFormat is the native WebSocket delivery frame as a Format, for
// wrapping (Wrapper); a subscription with no Format gets it without any.
var NativeFormat Format = nativeFormat{}

type nativeFormat struct{}

func (nativeFormat) Encode(p *wsframe.Prepared, m *Msg, _ string) { encodeNative(p, m) }

// Wrapper is implemented by connections that carry a protocol's frames
// inside a framing of their own (a SockJS session wraps each frame in
// a["..."]): its deliveries must be encoded by Wrap(f) instead of f, so
// that the wrapped frame too is encoded once per publish for all such
// connections. Wrap must return the same Format (a comparable value) every
// time for the same f: formats are map keys.
type Wrapper interface {
	Wrap(f Format) Format
}

// FormatFor returns the Format for a subscription of conn's protocol, whose
// own format is f (nil: native): f itself, or, when conn is a Wrapper, its
// wrapping of f.
func FormatFor(conn any, f Format) Format {
	w, ok := conn.(Wrapper)
	if !ok {
		return f
	}
	if f == nil {
		f = NativeFormat
	}
	return w.Wrap(f)
}

// encoding is one (format, variant) encoding of a publish.
type encoding struct {
	key  uint32 // formatKey of (format, variant)
	p    *wsframe.Prepared
	used int32 // references handed to subscribers
}

// fkey identifies a (Format, variant) pair.
type fkey struct {
	f       Format
	variant string
}

// formatKeys numbers the (Format, variant) pairs subscriptions use, so that
// a publish tells its encodings apart by comparing integers. Numbers are
// never reused; 0 is the native format.
type formatKeys struct {
	mu   sync.Mutex
	keys map[fkey]uint32
}

func (k *formatKeys) key(f Format, variant string) uint32 {
	if f == nil {
		return 0
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys == nil {
		k.keys = make(map[fkey]uint32)
	}
	n, ok := k.keys[fkey{f, variant}]
	if !ok {
		n = uint32(len(k.keys) + 1)
		k.keys[fkey{f, variant}] = n
	}
	return n
}

// pubEnc holds the encodings of one publish: the native frame, made by the
// publisher, and the others, made on first need. Every encoding is retained
// up front for all targets (one atomic add), and what was not handed out is
// dropped at the end (one more), so fan-out costs no atomic operation per
// subscriber.
type pubEnc struct {
	native  *wsframe.Prepared
	nused   int32
	m       Msg
	targets int32
	encs    []encoding // the topic's scratch slice, reused (topic lock)
}

// frameFor returns sub's encoding, with one reference for sub.
func (e *pubEnc) frameFor(sub *subscription) *wsframe.Prepared {
	if sub.fkey == 0 {
		e.nused++
		return e.native
	}
	for i := range e.encs {
		if enc := &e.encs[i]; enc.key == sub.fkey {
			enc.used++
			return enc.p
		}
	}
	p := wsframe.AcquirePrepared()
	sub.format.Encode(p, &e.m, sub.variant)
	p.Topic, p.Seq = e.m.Topic, e.m.Seq
	p.Retain(e.targets) // the creator's reference is dropped in finish
	e.encs = append(e.encs, encoding{key: sub.fkey, p: p, used: 1})
	return p
}

// finish drops the references of each encoding that were not handed out,
// and the creators' references of the non-native encodings. It returns the
// scratch slice, cleared, for reuse.
func (e *pubEnc) finish() []encoding {
	for i := range e.encs {
		enc := &e.encs[i]
		enc.p.ReleaseN(e.targets - enc.used + 1)
		e.encs[i] = encoding{}
	}
	return e.encs[:0]
}

// encodeFor returns m encoded for sub's format (native when sub has none),
// with one reference for the caller: snapshots and recovered messages, which
// are per subscriber anyway.
func encodeFor(sub *subscription, m *Msg) *wsframe.Prepared {
	p := wsframe.AcquirePrepared()
	if sub.format != nil {
		sub.format.Encode(p, m, sub.variant)
	} else {
		encodeNative(p, m)
	}
	p.Topic, p.Seq = m.Topic, m.Seq
	return p
}

// encodeNative encodes m as the native WebSocket delivery frame.
func encodeNative(p *wsframe.Prepared, m *Msg) {
	if m.Binary {
		kind := binaryKindMsg
		if m.Snap {
			kind = binaryKindSnap
		}
		p.B = appendBinaryMsg(p.B, kind, m.Topic, m.Seq, m.TS, m.Data)
		p.Seal(ws.OpBinary)
		return
	}
	p.B = appendJSONMsg(p.B, m.Topic, m.Seq, m.TS, m.Snap, m.Data)
	p.Seal(ws.OpText)
}

// nativeData returns the data of a native delivery frame b whose data is
// dlen bytes long: it ends the payload (binary) or precedes the final '}'.
func nativeData(b []byte, dlen int, binary bool) []byte {
	if binary {
		return b[len(b)-dlen:]
	}
	return b[len(b)-1-dlen : len(b)-1]
}
