package wsframe

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

// TestMain fails the run if any test or benchmark leaked a Prepared: every
// acquisition must have been returned once everything is done.
func TestMain(m *testing.M) {
	code := m.Run()
	if s := ReadPoolStats(); s.Acquired != s.Returned {
		fmt.Fprintf(os.Stderr, "Prepared leak: %+v\n", s)
		code = 1
	}
	os.Exit(code)
}

// event is one FrameHandler callback, with the payload copied.
type event struct {
	kind    string // "msg", "ping", "pong"
	op      ws.OpCode
	payload string
}

func (e event) String() string {
	p := e.payload
	if len(p) > 40 {
		p = fmt.Sprintf("%.40q...(%d bytes)", p, len(e.payload))
	} else {
		p = fmt.Sprintf("%q", p)
	}
	return fmt.Sprintf("%s(op=%d,%s)", e.kind, e.op, p)
}

// recorder is a FrameHandler that records every callback.
type recorder struct{ events []event }

func (r *recorder) OnMessage(op ws.OpCode, p []byte) {
	r.events = append(r.events, event{"msg", op, string(p)})
}
func (r *recorder) OnPing(p []byte) { r.events = append(r.events, event{"ping", ws.OpPing, string(p)}) }
func (r *recorder) OnPong(p []byte) { r.events = append(r.events, event{"pong", ws.OpPong, string(p)}) }

// outcome is what feeding an input produced: the callbacks and the error.
type outcome struct {
	events []event
	err    *CloseError // nil when Feed never failed
}

func (o outcome) String() string {
	var b strings.Builder
	for _, e := range o.events {
		b.WriteString(e.String())
		b.WriteByte(' ')
	}
	if o.err != nil {
		fmt.Fprintf(&b, "err={%d %q remote=%v}", o.err.Code, o.err.Reason, o.err.Remote)
	} else {
		b.WriteString("err=nil")
	}
	return b.String()
}

func (o outcome) equal(p outcome) bool {
	if len(o.events) != len(p.events) {
		return false
	}
	for i := range o.events {
		if o.events[i] != p.events[i] {
			return false
		}
	}
	if (o.err == nil) != (p.err == nil) {
		return false
	}
	return o.err == nil || *o.err == *p.err
}

// feedChunks feeds input cut at the given increasing offsets, each piece from
// a fresh copy (Feed unmasks in place), and stops at the first error.
func feedChunks(t testing.TB, cfg ParserConfig, input []byte, cuts []int) outcome {
	t.Helper()
	var p Parser
	p.Init(cfg)
	defer p.Release()
	var rec recorder
	data := append([]byte(nil), input...)
	prev := 0
	cuts = append(cuts, len(data))
	for _, c := range cuts {
		if err := p.Feed(data[prev:c], &rec); err != nil {
			var ce *CloseError
			if !errors.As(err, &ce) {
				t.Fatalf("Feed returned %T %v, want *CloseError", err, err)
			}
			return outcome{rec.events, ce}
		}
		prev = c
	}
	return outcome{events: rec.events}
}

func feedWhole(t testing.TB, cfg ParserConfig, input []byte) outcome {
	return feedChunks(t, cfg, input, nil)
}

func feedBytewise(t testing.TB, cfg ParserConfig, input []byte) outcome {
	cuts := make([]int, 0, len(input))
	for i := 1; i < len(input); i++ {
		cuts = append(cuts, i)
	}
	return feedChunks(t, cfg, input, cuts)
}

// feedEveryWay feeds input whole, split in two at every byte boundary (at a
// sample of boundaries for long inputs) and byte by byte, fails the test on
// any disagreement and returns the outcome.
func feedEveryWay(t testing.TB, cfg ParserConfig, input []byte) outcome {
	t.Helper()
	want := feedWhole(t, cfg, input)
	step := 1
	if len(input) > 2048 {
		step = 97 // every boundary near the ends below, a sample in between
	}
	for k := 1; k < len(input); k++ {
		if step > 1 && k > 32 && k < len(input)-32 && k%step != 0 {
			continue
		}
		if got := feedChunks(t, cfg, input, []int{k}); !got.equal(want) {
			t.Fatalf("split at %d/%d:\n got %v\nwant %v", k, len(input), got, want)
		}
	}
	if got := feedBytewise(t, cfg, input); !got.equal(want) {
		t.Fatalf("byte by byte:\n got %v\nwant %v", got, want)
	}
	return want
}

// cipherNaive is the oracle for masking: byte by byte, as RFC 6455 5.3 says.
func cipherNaive(p []byte, mask [4]byte, offset int) {
	for i := range p {
		p[i] ^= mask[(offset+i)%4]
	}
}

var testMask = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// frameSpec describes a client frame to encode, including invalid ones.
type frameSpec struct {
	fin      bool
	rsv      byte // the three RSV bits, as 0..7
	op       ws.OpCode
	payload  []byte
	unmasked bool
	lenForm  int    // 0: minimal; 126 or 127: force that length encoding
	rawLen   uint64 // with lenForm 127 and rawLen != 0: declared length, payload untouched
}

// encodeClient encodes f the naive way (no gobwas code) so that it can test
// the parser independently.
func encodeClient(f frameSpec) []byte {
	b0 := byte(f.op) | f.rsv<<4
	if f.fin {
		b0 |= 0x80
	}
	n := uint64(len(f.payload))
	if f.rawLen != 0 {
		n = f.rawLen
	}
	form := f.lenForm
	if form == 0 {
		switch {
		case n <= 125:
			form = 0
		case n <= 0xffff:
			form = 126
		default:
			form = 127
		}
	}
	var b1 byte
	if !f.unmasked {
		b1 = 0x80
	}
	out := []byte{b0}
	switch form {
	case 0:
		out = append(out, b1|byte(n))
	case 126:
		out = append(out, b1|126, byte(n>>8), byte(n))
	case 127:
		out = append(out, b1|127)
		for s := 56; s >= 0; s -= 8 {
			out = append(out, byte(n>>s))
		}
	}
	p := append([]byte(nil), f.payload...)
	if !f.unmasked {
		out = append(out, testMask[:]...)
		cipherNaive(p, testMask, 0)
	}
	return append(out, p...)
}

// cf is shorthand for a final masked client frame.
func cf(op ws.OpCode, payload string) []byte {
	return encodeClient(frameSpec{fin: true, op: op, payload: []byte(payload)})
}

// frag is a masked client frame with FIN as given.
func frag(fin bool, op ws.OpCode, payload string) []byte {
	return encodeClient(frameSpec{fin: fin, op: op, payload: []byte(payload)})
}

func closePayload(code uint16, reason string) string {
	return string([]byte{byte(code >> 8), byte(code)}) + reason
}

func cat(frames ...[]byte) []byte {
	var out []byte
	for _, f := range frames {
		out = append(out, f...)
	}
	return out
}
