package wsframe

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

func msg(op ws.OpCode, p string) event { return event{"msg", op, p} }

// hello is a valid message sent before each violation: it must be delivered
// before the error in every way of feeding.
var hello = cf(ws.OpText, "hello")

func TestParserViolations(t *testing.T) {
	type tcase struct {
		name   string
		max    int64
		input  []byte
		code   StatusCode
		reason string
		events []event // after hello
	}
	cases := []tcase{
		{name: "unmasked text", input: encodeClient(frameSpec{fin: true, op: ws.OpText, payload: []byte("x"), unmasked: true}), code: 1002, reason: reasonUnmasked},
		{name: "unmasked ping", input: encodeClient(frameSpec{fin: true, op: ws.OpPing, unmasked: true}), code: 1002, reason: reasonUnmasked},
		{name: "fragmented ping", input: frag(false, ws.OpPing, "p"), code: 1002, reason: reasonControlFragmented},
		{name: "fragmented close", input: frag(false, ws.OpClose, ""), code: 1002, reason: reasonControlFragmented},
		{name: "ping 126 bytes", input: cf(ws.OpPing, strings.Repeat("p", 126)), code: 1002, reason: reasonControlTooLong},
		{name: "pong 126 bytes", input: cf(ws.OpPong, strings.Repeat("p", 126)), code: 1002, reason: reasonControlTooLong},
		{name: "close 127 form", input: encodeClient(frameSpec{fin: true, op: ws.OpClose, payload: []byte("ab"), lenForm: 127}), code: 1002, reason: reasonControlTooLong},
		{name: "continuation without start", input: frag(true, ws.OpContinuation, "x"), code: 1002, reason: reasonContinuation},
		{name: "continuation after complete message", input: cat(cf(ws.OpText, "a"), frag(true, ws.OpContinuation, "x")), code: 1002, reason: reasonContinuation, events: []event{msg(ws.OpText, "a")}},
		{name: "text inside fragmented text", input: cat(frag(false, ws.OpText, "a"), cf(ws.OpText, "b")), code: 1002, reason: reasonExpectedCont},
		{name: "binary inside fragmented text", input: cat(frag(false, ws.OpText, "a"), cf(ws.OpBinary, "b")), code: 1002, reason: reasonExpectedCont},
		{name: "text inside fragmented binary", input: cat(frag(false, ws.OpBinary, "a"), frag(false, ws.OpText, "b")), code: 1002, reason: reasonExpectedCont},
		{name: "non-minimal 16-bit length", input: encodeClient(frameSpec{fin: true, op: ws.OpBinary, payload: []byte("abc"), lenForm: 126}), code: 1002, reason: reasonNonMinimalLength},
		{name: "non-minimal 64-bit length", input: encodeClient(frameSpec{fin: true, op: ws.OpBinary, payload: make([]byte, 300), lenForm: 127}), code: 1002, reason: reasonNonMinimalLength},
		{name: "64-bit length MSB", input: encodeClient(frameSpec{fin: true, op: ws.OpBinary, lenForm: 127, rawLen: 1 << 63}), code: 1002, reason: reasonLengthMSB},
		{name: "close 1-byte payload", input: cf(ws.OpClose, "\x03"), code: 1002, reason: reasonCloseOneByte},
		{name: "close reason invalid utf8", input: cf(ws.OpClose, closePayload(1000, "ok\xff")), code: 1007, reason: reasonCloseUTF8},
		{name: "close reason truncated code point", input: cf(ws.OpClose, closePayload(1000, "\xe2\x82")), code: 1007, reason: reasonCloseUTF8},
		{name: "text invalid byte", input: cf(ws.OpText, "ab\xffcd"), code: 1007, reason: reasonTextUTF8},
		{name: "text overlong", input: cf(ws.OpText, "\xc0\xaf"), code: 1007, reason: reasonTextUTF8},
		{name: "text surrogate", input: cf(ws.OpText, "\xed\xa0\x80"), code: 1007, reason: reasonTextUTF8},
		{name: "text above U+10FFFF", input: cf(ws.OpText, "\xf4\x90\x80\x80"), code: 1007, reason: reasonTextUTF8},
		{name: "text truncated at end", input: cf(ws.OpText, "ok\xe2\x82"), code: 1007, reason: reasonTextUTF8},
		{name: "long text invalid", input: cf(ws.OpText, strings.Repeat("é", 200)+"\x80"), code: 1007, reason: reasonTextUTF8},
		{name: "text invalid across fragments", input: cat(frag(false, ws.OpText, "\xe2\x82"), frag(true, ws.OpContinuation, "(")), code: 1007, reason: reasonTextUTF8},
		{name: "text invalid in second fragment", input: cat(frag(false, ws.OpText, "fine"), frag(true, ws.OpContinuation, "\xff")), code: 1007, reason: reasonTextUTF8},
		{name: "text incomplete at last fragment", input: cat(frag(false, ws.OpText, "a"), frag(true, ws.OpContinuation, "\xf0\x9d")), code: 1007, reason: reasonTextUTF8},
		{name: "too big single frame", max: 10, input: cf(ws.OpBinary, "12345678901"), code: 1009, reason: reasonTooBig},
		{name: "too big 64-bit declared", max: 10, input: encodeClient(frameSpec{fin: true, op: ws.OpBinary, lenForm: 127, rawLen: 1 << 40}), code: 1009, reason: reasonTooBig},
		{name: "too big cumulative fragments", max: 10, input: cat(frag(false, ws.OpBinary, "123456"), frag(true, ws.OpContinuation, "78901")), code: 1009, reason: reasonTooBig},
		{name: "too big after empty fragments", max: 10, input: cat(frag(false, ws.OpText, ""), frag(false, ws.OpContinuation, "1234567890"), frag(true, ws.OpContinuation, "1")), code: 1009, reason: reasonTooBig},
	}
	for rsv := byte(1); rsv <= 7; rsv++ {
		cases = append(cases, tcase{
			name:  fmt.Sprintf("rsv %03b", rsv),
			input: encodeClient(frameSpec{fin: true, rsv: rsv, op: ws.OpText, payload: []byte("x")}),
			code:  1002, reason: reasonRSV,
		})
	}
	for _, op := range []ws.OpCode{3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf} {
		cases = append(cases, tcase{
			name:  fmt.Sprintf("reserved opcode %#x", byte(op)),
			input: encodeClient(frameSpec{fin: true, op: op}),
			code:  1002, reason: reasonReservedOp,
		})
	}
	for _, code := range []uint16{0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		cases = append(cases, tcase{
			name:  fmt.Sprintf("close code %d", code),
			input: cf(ws.OpClose, closePayload(code, "")),
			code:  1002, reason: reasonCloseCode,
		})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Bytes after the violation must be ignored.
			in := cat(hello, tc.input, cf(ws.OpText, "after"))
			got := feedEveryWay(t, ParserConfig{MaxMessageSize: tc.max}, in)
			want := outcome{
				events: append([]event{msg(ws.OpText, "hello")}, tc.events...),
				err:    &CloseError{Code: tc.code, Reason: tc.reason},
			}
			if !got.equal(want) {
				t.Fatalf("got  %v\nwant %v", got, want)
			}
		})
	}
}

func TestParserValidSequences(t *testing.T) {
	cases := []struct {
		name   string
		max    int64
		input  []byte
		events []event
		err    *CloseError
	}{
		{name: "fragmented text joined", input: cat(frag(false, ws.OpText, "hel"), frag(false, ws.OpContinuation, "lo "), frag(true, ws.OpContinuation, "world")),
			events: []event{msg(ws.OpText, "hello world")}},
		{name: "code point split over three fragments", input: cat(frag(false, ws.OpText, "\xe2"), frag(false, ws.OpContinuation, "\x82"), frag(true, ws.OpContinuation, "\xac!")),
			events: []event{msg(ws.OpText, "€!")}},
		{name: "4-byte code point split", input: cat(frag(false, ws.OpText, "a\xf0\x9d"), frag(true, ws.OpContinuation, "\x84\x9e")),
			events: []event{msg(ws.OpText, "a𝄞")}},
		{name: "fragmented binary with empty fragments", input: cat(frag(false, ws.OpBinary, ""), frag(false, ws.OpContinuation, "\xff\x00"), frag(true, ws.OpContinuation, "")),
			events: []event{msg(ws.OpBinary, "\xff\x00")}},
		{name: "all fragments empty", input: cat(frag(false, ws.OpText, ""), frag(true, ws.OpContinuation, "")),
			events: []event{msg(ws.OpText, "")}},
		{name: "ping and pong between fragments", input: cat(frag(false, ws.OpText, "a"), cf(ws.OpPing, "p1"), frag(false, ws.OpContinuation, "b"), cf(ws.OpPong, "q"), cf(ws.OpPing, ""), frag(true, ws.OpContinuation, "c")),
			events: []event{{"ping", ws.OpPing, "p1"}, {"pong", ws.OpPong, "q"}, {"ping", ws.OpPing, ""}, msg(ws.OpText, "abc")}},
		{name: "close between fragments", input: cat(frag(false, ws.OpBinary, "a"), cf(ws.OpClose, closePayload(1001, "away"))),
			err: &CloseError{Code: 1001, Reason: "away", Remote: true}},
		{name: "exactly max size", max: 10, input: cat(frag(false, ws.OpBinary, "12345"), frag(true, ws.OpContinuation, "67890")),
			events: []event{msg(ws.OpBinary, "1234567890")}},
		{name: "max size applies per message", max: 4, input: cat(cf(ws.OpText, "1234"), cf(ws.OpText, "5678")),
			events: []event{msg(ws.OpText, "1234"), msg(ws.OpText, "5678")}},
		{name: "control frames do not count to max", max: 1, input: cat(cf(ws.OpPing, "long ping payload")),
			events: []event{{"ping", ws.OpPing, "long ping payload"}}},
		{name: "many messages", input: cat(cf(ws.OpText, "1"), cf(ws.OpBinary, "2"), cf(ws.OpPong, ""), cf(ws.OpText, "3")),
			events: []event{msg(ws.OpText, "1"), msg(ws.OpBinary, "2"), {"pong", ws.OpPong, ""}, msg(ws.OpText, "3")}},
	}
	for code := uint16(1000); code < 5000; code++ {
		if !StatusCode(code).validOnWire() {
			continue
		}
		if code > 1014 && code != 3000 && code != 3999 && code != 4000 && code != 4999 {
			continue
		}
		cases = append(cases, struct {
			name   string
			max    int64
			input  []byte
			events []event
			err    *CloseError
		}{name: fmt.Sprintf("close code %d", code), input: cf(ws.OpClose, closePayload(code, "r")), err: &CloseError{Code: StatusCode(code), Reason: "r", Remote: true}})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := feedEveryWay(t, ParserConfig{MaxMessageSize: tc.max}, tc.input)
			want := outcome{events: tc.events, err: tc.err}
			if !got.equal(want) {
				t.Fatalf("got  %v\nwant %v", got, want)
			}
		})
	}
}

func TestValidCloseCodes(t *testing.T) {
	for c := 0; c < 65536; c++ {
		want := (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999)
		if got := StatusCode(c).validOnWire(); got != want {
			t.Fatalf("code %d: valid=%v, want %v", c, got, want)
		}
	}
}

// TestParserFailsAtHeader checks that 1009 comes from the header alone, before
// any payload arrives.
func TestParserFailsAtHeader(t *testing.T) {
	var p Parser
	p.Init(ParserConfig{MaxMessageSize: 1024})
	defer p.Release()
	hdr := encodeClient(frameSpec{fin: true, op: ws.OpBinary, lenForm: 127, rawLen: 1 << 20})
	err := p.Feed(hdr, &recorder{})
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != StatusMessageTooBig || ce.Remote {
		t.Fatalf("Feed(header only) = %v, want 1009", err)
	}
	if err := p.Feed(cf(ws.OpText, "x"), &recorder{}); err == nil {
		t.Fatal("Feed after an error succeeded")
	}
}

// TestParserFailsEarlyOnUTF8 checks that invalid UTF-8 fails as soon as the
// offending byte arrives, not when the frame or message completes.
func TestParserFailsEarlyOnUTF8(t *testing.T) {
	frame := cf(ws.OpText, "abc\xe0\x80"+strings.Repeat("x", 100))
	at := len(frame) - 100 // after \x80: E0 80 can never be valid
	var p Parser
	p.Init(ParserConfig{})
	defer p.Release()
	data := append([]byte(nil), frame...)
	if err := p.Feed(data[:at-1], &recorder{}); err != nil {
		t.Fatalf("Feed before the bad byte: %v", err)
	}
	err := p.Feed(data[at-1:at], &recorder{})
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != StatusInvalidPayload {
		t.Fatalf("Feed of the bad byte = %v, want 1007", err)
	}

	// Same across fragments: the second fragment's first byte decides.
	p.Init(ParserConfig{})
	data = cat(frag(false, ws.OpText, "\xf0\x9f"), frag(true, ws.OpContinuation, "\x41zzzz"))
	cut := len(frag(false, ws.OpText, "\xf0\x9f")) + 6 + 1 // header of the continuation + 1 byte
	if err := p.Feed(data[:cut], &recorder{}); err == nil {
		t.Fatal("want 1007 at the first byte of the continuation")
	}
}

// TestParserZeroCopy checks that a whole unfragmented frame is delivered as
// a slice of the fed data, unmasked in place.
func TestParserZeroCopy(t *testing.T) {
	data := cat(cf(ws.OpBinary, "payload-1"), cf(ws.OpPing, "ping"))
	var p Parser
	p.Init(ParserConfig{})
	defer p.Release()
	h := &pointerHandler{data: data}
	if err := p.Feed(data, h); err != nil {
		t.Fatal(err)
	}
	if h.calls != 2 || h.outside != 0 {
		t.Fatalf("calls=%d, payloads outside data=%d", h.calls, h.outside)
	}
	if p.msg != nil || p.ctl != nil {
		t.Fatal("parser holds a buffer after complete frames")
	}
}

type pointerHandler struct {
	data           []byte
	calls, outside int
}

func (h *pointerHandler) check(p []byte) {
	h.calls++
	if len(p) == 0 {
		return
	}
	if !inside(h.data, p) {
		h.outside++
	}
}

func inside(outer, inner []byte) bool {
	for i := 0; i+len(inner) <= len(outer); i++ {
		if &outer[i] == &inner[0] {
			return true
		}
	}
	return false
}

func (h *pointerHandler) OnMessage(_ ws.OpCode, p []byte) { h.check(p) }
func (h *pointerHandler) OnPing(p []byte)                 { h.check(p) }
func (h *pointerHandler) OnPong(p []byte)                 { h.check(p) }

// TestParserHoldsNoBufferWhenIdle: buffers are taken for split frames and
// given back as soon as the message completes.
func TestParserHoldsNoBufferWhenIdle(t *testing.T) {
	var p Parser
	p.Init(ParserConfig{})
	defer p.Release()
	data := cat(frag(false, ws.OpText, "abc"), cf(ws.OpPing, "pp"), frag(true, ws.OpContinuation, "def"))
	rec := &recorder{}
	if err := p.Feed(data[:len(data)-2], rec); err != nil {
		t.Fatal(err)
	}
	if p.msg == nil {
		t.Fatal("fragmented message not buffered")
	}
	if err := p.Feed(data[len(data)-2:], rec); err != nil {
		t.Fatal(err)
	}
	if p.msg != nil || p.ctl != nil || p.hdrLen != 0 {
		t.Fatalf("parser holds state after the message: %+v", p)
	}
	if want := []event{{"ping", ws.OpPing, "pp"}, msg(ws.OpText, "abcdef")}; !(outcome{events: rec.events}).equal(outcome{events: want}) {
		t.Fatalf("events %v", rec.events)
	}
	// A split control frame goes through the control buffer.
	ping := cf(ws.OpPing, "split-ping")
	if err := p.Feed(ping[:8], rec); err != nil {
		t.Fatal(err)
	}
	if p.ctl == nil {
		t.Fatal("split control frame not buffered")
	}
	if err := p.Feed(ping[8:], rec); err != nil || p.ctl != nil {
		t.Fatalf("err=%v ctl=%v", err, p.ctl)
	}
	p.Release()
	if err := p.Feed(cf(ws.OpText, "x"), rec); err == nil {
		t.Fatal("Feed after Release succeeded")
	}
}

// TestParserRandomStreams feeds random valid streams (random fragmentation,
// control frames between fragments) in random pieces and compares with what
// was sent. The unmasking is checked against cipherNaive through encodeClient.
func TestParserRandomStreams(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 300; iter++ {
		var in []byte
		var want []event
		for m := 0; m < 1+rng.IntN(6); m++ {
			op := ws.OpBinary
			var payload []byte
			if rng.IntN(2) == 0 {
				op = ws.OpText
				payload = randomUTF8(rng, rng.IntN(400))
			} else {
				payload = randomBytes(rng, rng.IntN(400))
			}
			want = append(want, msg(op, string(payload)))
			// Fragment at random points; sometimes insert a ping.
			rest := payload
			first := true
			for {
				n := len(rest)
				if n > 0 && rng.IntN(3) > 0 {
					n = rng.IntN(n + 1)
				}
				fop := op
				if !first {
					fop = ws.OpContinuation
				}
				fin := n == len(rest)
				in = append(in, encodeClient(frameSpec{fin: fin, op: fop, payload: rest[:n]})...)
				rest = rest[n:]
				first = false
				if fin {
					break
				}
				if rng.IntN(4) == 0 {
					pp := randomBytes(rng, rng.IntN(126))
					in = append(in, encodeClient(frameSpec{fin: true, op: ws.OpPing, payload: pp})...)
					want = append(want[:len(want)-1], event{"ping", ws.OpPing, string(pp)}, want[len(want)-1])
				}
			}
		}
		var cuts []int
		for c := rng.IntN(50) + 1; c < len(in); c += rng.IntN(300) + 1 {
			cuts = append(cuts, c)
		}
		got := feedChunks(t, ParserConfig{}, in, cuts)
		if !got.equal(outcome{events: want}) {
			t.Fatalf("iteration %d:\n got %v\nwant %v", iter, got, outcome{events: want})
		}
	}
}

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func randomUTF8(rng *rand.Rand, n int) []byte {
	var b []byte
	for len(b) < n {
		var r rune
		switch rng.IntN(4) {
		case 0:
			r = rune(rng.IntN(0x80))
		case 1:
			r = rune(0x80 + rng.IntN(0x800-0x80))
		case 2:
			r = rune(0x800 + rng.IntN(0x10000-0x800))
		default:
			r = rune(0x10000 + rng.IntN(0x110000-0x10000))
		}
		if !utf8.ValidRune(r) {
			continue
		}
		b = utf8.AppendRune(b, r)
	}
	return b
}

func TestCipherMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for n := 0; n < 300; n++ {
		for off := 0; off < 4; off++ {
			p := randomBytes(rng, n)
			a := append([]byte(nil), p...)
			b := append([]byte(nil), p...)
			ws.Cipher(a, testMask, off)
			cipherNaive(b, testMask, off)
			if !bytes.Equal(a, b) {
				t.Fatalf("n=%d off=%d: ws.Cipher differs from naive", n, off)
			}
		}
	}
}
