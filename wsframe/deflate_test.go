package wsframe

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

// clientDeflate compresses msg as a client without context takeover does
// (RFC 7692 7.2.1), at the given compress/flate level.
func clientDeflate(t testing.TB, msg []byte, level int) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := flate.NewWriter(&b, level)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(msg); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	out := b.Bytes()
	if !bytes.HasSuffix(out, []byte(syncTail)) {
		t.Fatalf("flush does not end with %q", syncTail)
	}
	return out[:len(out)-4]
}

// compressedFrames encodes msg compressed as client frames of at most frag
// payload bytes each (0: one frame): RSV1 on the first only.
func compressedFrames(t testing.TB, op ws.OpCode, msg []byte, frag, level int) []byte {
	t.Helper()
	c := clientDeflate(t, msg, level)
	if frag <= 0 || frag >= len(c) {
		return encodeClient(frameSpec{fin: true, rsv: 4, op: op, payload: c})
	}
	var out []byte
	for i := 0; i < len(c); i += frag {
		end := min(i+frag, len(c))
		f := frameSpec{fin: end == len(c), op: ws.OpContinuation, payload: c[i:end]}
		if i == 0 {
			f.op, f.rsv = op, 4
		}
		out = append(out, encodeClient(f)...)
	}
	return out
}

// inflateClient decodes a compressed server payload as a client does.
func inflateClient(t testing.TB, payload []byte) []byte {
	t.Helper()
	r := flate.NewReader(io.MultiReader(bytes.NewReader(payload), strings.NewReader(inflateTail)))
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("server payload does not inflate: %v", err)
	}
	return out
}

// testCorpus is text like the compression cases of Autobahn|Testsuite use
// (JSON and prose) and random bytes.
func testCorpus(n int, kind string) []byte {
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	var b bytes.Buffer
	switch kind {
	case "json":
		for b.Len() < n {
			fmt.Fprintf(&b, `{"op":"msg","topic":"md.SYM%d","seq":%d,"ts":%d,"data":{"bid":%.2f,"ask":%.2f,"last":%.2f,"vol":%d,"note":"h\u00e9llo \u20ac"}},`,
				rng.IntN(500), rng.IntN(1e6), 1700000000000000000+rng.Int64N(1e12), 100+rng.Float64()*50, 100+rng.Float64()*50, 100+rng.Float64()*50, rng.IntN(1e7))
		}
	case "text":
		words := strings.Fields("Habe nun ach Philosophie Juristerei und Medizin und leider auch Theologie durchaus studiert mit heißem Bemühn Da steh ich nun ich armer Tor")
		for b.Len() < n {
			b.WriteString(words[rng.IntN(len(words))])
			b.WriteByte(' ')
		}
	default:
		for b.Len() < n {
			b.WriteByte(byte(rng.Uint32()))
		}
	}
	out := b.Bytes()[:n]
	if kind != "binary" {
		// Cut on a rune boundary so that text stays valid UTF-8.
		for len(out) > 0 && out[len(out)-1]&0xc0 == 0x80 {
			out = out[:len(out)-1]
		}
		for len(out) > 0 && out[len(out)-1] >= 0xc0 {
			out = out[:len(out)-1]
		}
		out = append(out, strings.Repeat(" ", n-len(out))...)
	}
	return out
}

// TestParserInflatesLikeAutobahn12 follows Autobahn|Testsuite's cases
// 12.x.x: messages of 16 B to 128 KiB, text and binary, compressed whole or
// auto-fragmented to 256 B .. 32 KiB frames, each fed whole, cut at random
// places and (for small ones) byte by byte.
func TestParserInflatesLikeAutobahn12(t *testing.T) {
	type size struct{ n, frag int }
	sizes := []size{{16, 0}, {64, 0}, {256, 0}, {1024, 0}, {4096, 0}, {8192, 0}, {16384, 0}, {32768, 0}, {65536, 0}, {131072, 0},
		{8192, 256}, {16384, 256}, {32768, 256}, {65536, 256}, {131072, 256}, {131072, 1024}, {131072, 4096}, {131072, 32768}}
	cfg := ParserConfig{Deflate: true}
	for _, kind := range []string{"json", "text", "binary"} {
		op := ws.OpText
		if kind == "binary" {
			op = ws.OpBinary
		}
		for _, level := range []int{flate.BestSpeed, flate.DefaultCompression, flate.HuffmanOnly, flate.NoCompression} {
			for _, sz := range sizes {
				msg := testCorpus(sz.n, kind)
				// Two messages back to back: no state may leak between them.
				in := cat(compressedFrames(t, op, msg, sz.frag, level), cf(ws.OpPing, "p"), compressedFrames(t, op, msg, sz.frag, level))
				want := outcome{events: []event{{"msg", op, string(msg)}, {"ping", ws.OpPing, "p"}, {"msg", op, string(msg)}}}
				got := feedWhole(t, cfg, in)
				if !got.equal(want) {
					t.Fatalf("%s level %d size %d frag %d: got %v", kind, level, sz.n, sz.frag, got)
				}
				rng := rand.New(rand.NewPCG(uint64(sz.n), uint64(sz.frag)))
				var cuts []int
				for at := rng.IntN(300) + 1; at < len(in); at += rng.IntN(3000) + 1 {
					cuts = append(cuts, at)
				}
				if got := feedChunks(t, cfg, in, cuts); !got.equal(want) {
					t.Fatalf("%s level %d size %d frag %d, cut: got %v", kind, level, sz.n, sz.frag, got)
				}
				if sz.n <= 256 && level == flate.BestSpeed {
					if got := feedBytewise(t, cfg, in); !got.equal(want) {
						t.Fatalf("%s size %d bytewise: got %v", kind, sz.n, got)
					}
				}
			}
		}
	}
}

// TestParserDeflateViolations: what a deflate connection refuses, and that
// RSV1 without deflate stays 1002.
func TestParserDeflateViolations(t *testing.T) {
	msg := []byte(strings.Repeat("hello deflate ", 20))
	comp := clientDeflate(t, msg, flate.BestSpeed)
	on, off := ParserConfig{Deflate: true}, ParserConfig{}
	bomb := clientDeflate(t, make([]byte, 4<<20), flate.BestCompression) // 4 MiB of zeros in ~4 KB
	badUTF8 := clientDeflate(t, []byte("ok \xff\xfe not utf-8"), flate.BestSpeed)
	cases := []struct {
		name  string
		cfg   ParserConfig
		input []byte
		code  StatusCode
	}{
		{"RSV1 without deflate", off, encodeClient(frameSpec{fin: true, rsv: 4, op: ws.OpText, payload: comp}), StatusProtocolError},
		{"RSV2 with deflate", on, encodeClient(frameSpec{fin: true, rsv: 2, op: ws.OpText, payload: comp}), StatusProtocolError},
		{"RSV3 with deflate", on, encodeClient(frameSpec{fin: true, rsv: 1, op: ws.OpText, payload: comp}), StatusProtocolError},
		{"RSV1+RSV2", on, encodeClient(frameSpec{fin: true, rsv: 6, op: ws.OpText, payload: comp}), StatusProtocolError},
		{"RSV1 on ping", on, encodeClient(frameSpec{fin: true, rsv: 4, op: ws.OpPing, payload: []byte("x")}), StatusProtocolError},
		{"RSV1 on close", on, encodeClient(frameSpec{fin: true, rsv: 4, op: ws.OpClose, payload: []byte{3, 232}}), StatusProtocolError},
		{"RSV1 on continuation", on, cat(
			encodeClient(frameSpec{fin: false, rsv: 4, op: ws.OpText, payload: comp[:5]}),
			encodeClient(frameSpec{fin: true, rsv: 4, op: ws.OpContinuation, payload: comp[5:]})), StatusProtocolError},
		{"invalid deflate stream", on, encodeClient(frameSpec{fin: true, rsv: 4, op: ws.OpBinary, payload: []byte{0xff, 0xff, 0xff, 0xff, 0x00}}), StatusInvalidPayload},
		{"truncated deflate stream", on, encodeClient(frameSpec{fin: true, rsv: 4, op: ws.OpBinary, payload: comp[:len(comp)/2]}), StatusInvalidPayload},
		{"compression bomb", ParserConfig{Deflate: true, MaxMessageSize: 1 << 20}, encodeClient(frameSpec{fin: true, rsv: 4, op: ws.OpBinary, payload: bomb}), StatusMessageTooBig},
		{"compression bomb, fragmented", ParserConfig{Deflate: true, MaxMessageSize: 1 << 20}, compressedFrames(t, ws.OpBinary, make([]byte, 4<<20), 300, flate.BestCompression), StatusMessageTooBig},
		{"invalid UTF-8 once inflated", on, encodeClient(frameSpec{fin: true, rsv: 4, op: ws.OpText, payload: badUTF8}), StatusInvalidPayload},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := feedEveryWay(t, tc.cfg, tc.input)
			if got.err == nil || got.err.Code != tc.code || got.err.Remote {
				t.Fatalf("got %v, want close %d", got, tc.code)
			}
		})
	}
	// The limit is exactly the message size: a message of MaxMessageSize
	// bytes inflates, one more is 1009.
	limit := int64(64 << 10)
	for _, n := range []int64{limit, limit + 1} {
		in := compressedFrames(t, ws.OpBinary, make([]byte, n), 0, flate.BestSpeed)
		got := feedWhole(t, ParserConfig{Deflate: true, MaxMessageSize: limit}, in)
		if n <= limit && (got.err != nil || len(got.events) != 1 || len(got.events[0].payload) != int(n)) {
			t.Fatalf("%d bytes at limit %d: %v", n, limit, got)
		}
		if n > limit && (got.err == nil || got.err.Code != StatusMessageTooBig) {
			t.Fatalf("%d bytes over limit %d: %v", n, limit, got)
		}
	}
	// An uncompressed message on a deflate connection is fine, and so is
	// an empty compressed one (0x00, or no payload at all).
	got := feedWhole(t, on, cat(cf(ws.OpText, "plain"), encodeClient(frameSpec{fin: true, rsv: 4, op: ws.OpText, payload: []byte{0}}),
		encodeClient(frameSpec{fin: true, rsv: 4, op: ws.OpBinary})))
	want := outcome{events: []event{{"msg", ws.OpText, "plain"}, {"msg", ws.OpText, ""}, {"msg", ws.OpBinary, ""}}}
	if !got.equal(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// TestNegotiateDeflate covers the offers of Autobahn|Testsuite's cases
// 13.1 to 13.7, the browsers' and Node ws's, and the ones RFC 7692 says to
// decline.
func TestNegotiateDeflate(t *testing.T) {
	const (
		base = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
	)
	cases := []struct {
		offer string
		mode  DeflateMode
		bits  uint8
	}{
		{"permessage-deflate", DeflateOn, 0},
		{"permessage-deflate; client_max_window_bits", DeflateOn, 0},                                                            // 13.1, Chromium, Node ws
		{"permessage-deflate; client_no_context_takeover; client_max_window_bits", DeflateOn, 0},                                // 13.2
		{"permessage-deflate; client_max_window_bits; server_max_window_bits=8", DeflateHuffman, 8},                             // 13.3
		{"permessage-deflate; client_max_window_bits; server_max_window_bits=15", DeflateOn, 15},                                // 13.4
		{"permessage-deflate; client_no_context_takeover; client_max_window_bits; server_max_window_bits=8", DeflateHuffman, 8}, // 13.5
		{"permessage-deflate; client_no_context_takeover; client_max_window_bits; server_max_window_bits=15", DeflateOn, 15},    // 13.6
		{"permessage-deflate; client_no_context_takeover; client_max_window_bits; server_max_window_bits=8, permessage-deflate; client_no_context_takeover; client_max_window_bits, permessage-deflate; client_max_window_bits", DeflateHuffman, 8}, // 13.7
		{"permessage-deflate; server_no_context_takeover; client_no_context_takeover", DeflateOn, 0}, // gorilla
		{"permessage-deflate; server_max_window_bits=10", DeflateHuffman, 10},
		{`permessage-deflate; server_max_window_bits="12"`, DeflateHuffman, 12},
		{`permessage-deflate; client_max_window_bits="9"`, DeflateOn, 0},
		{"Permessage-Deflate ;  Client_Max_Window_Bits = 10 ", DeflateOn, 0},
		{"x-webkit-deflate-frame, permessage-deflate", DeflateOn, 0},
		{"foo; bar=\"a,b\", permessage-deflate", DeflateOn, 0},
		{", ,permessage-deflate", DeflateOn, 0},
		// Declined: the next offer, if any, is taken.
		{"permessage-deflate; server_max_window_bits", DeflateOff, 0},
		{"permessage-deflate; server_max_window_bits, permessage-deflate", DeflateOn, 0},
		{"permessage-deflate; server_max_window_bits=7, permessage-deflate; server_max_window_bits=9", DeflateHuffman, 9},
		{"permessage-deflate; server_max_window_bits=16", DeflateOff, 0},
		{"permessage-deflate; server_max_window_bits=010", DeflateOff, 0},
		{"permessage-deflate; server_max_window_bits=abc", DeflateOff, 0},
		{"permessage-deflate; client_max_window_bits=20", DeflateOff, 0},
		{"permessage-deflate; client_max_window_bits=", DeflateOff, 0},
		{"permessage-deflate; server_no_context_takeover=1", DeflateOff, 0},
		{"permessage-deflate; client_no_context_takeover=true", DeflateOff, 0},
		{"permessage-deflate; server_no_context_takeover; server_no_context_takeover", DeflateOff, 0},
		{"permessage-deflate; client_max_window_bits; client_max_window_bits", DeflateOff, 0},
		{"permessage-deflate; server_max_window_bits=10; server_max_window_bits=10", DeflateOff, 0},
		{"permessage-deflate; mux", DeflateOff, 0},
		{"permessage-deflate; mux, permessage-deflate; client_no_context_takeover", DeflateOn, 0},
		{"x-webkit-deflate-frame", DeflateOff, 0},
		{"", DeflateOff, 0},
		// Malformed lists: declined from where parsing stops.
		{"permessage-deflate;", DeflateOff, 0},
		{`permessage-deflate; server_max_window_bits="10`, DeflateOff, 0},
		{"permessage-deflate server_no_context_takeover", DeflateOff, 0},
		{"@, permessage-deflate", DeflateOff, 0},
	}
	for _, tc := range cases {
		o, ok := negotiateDeflate([]byte(tc.offer))
		if ok != (tc.mode != DeflateOff) || o.mode != tc.mode || o.bits != tc.bits {
			t.Errorf("%q: got %+v %v, want mode %v bits %d", tc.offer, o, ok, tc.mode, tc.bits)
		}
		if !ok {
			continue
		}
		var b bytes.Buffer
		if _, err := writeDeflateResponse(&b, o); err != nil {
			t.Fatal(err)
		}
		want := "Sec-WebSocket-Extensions: " + base
		if tc.bits != 0 {
			want += fmt.Sprintf("; server_max_window_bits=%d", tc.bits)
		}
		if b.String() != want+"\r\n" {
			t.Errorf("%q: response %q, want %q", tc.offer, b.String(), want)
		}
	}
	if n := testing.AllocsPerRun(100, func() {
		negotiateDeflate([]byte("permessage-deflate; client_no_context_takeover; client_max_window_bits; server_max_window_bits=8, permessage-deflate"))
	}); n != 0 {
		t.Errorf("negotiateDeflate: %v allocs", n)
	}
}

// TestUpgradeDeflate checks the 101 response and Handshake.Deflate, with
// offers over several header lines.
func TestUpgradeDeflate(t *testing.T) {
	on := &Upgrader{Deflate: true}
	off := &Upgrader{}
	ext := "Sec-WebSocket-Extensions: "
	cases := []struct {
		u      *Upgrader
		head   []byte
		mode   DeflateMode
		header string
	}{
		{on, request(ext + "permessage-deflate; client_max_window_bits"), DeflateOn,
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
		{off, request(ext + "permessage-deflate; client_max_window_bits"), DeflateOff, ""},
		{on, request(), DeflateOff, ""},
		{on, request(ext + "permessage-deflate; server_max_window_bits=9"), DeflateHuffman,
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9"},
		// The first line's offer is declined, the second line's accepted.
		{on, bytes.Replace(request(ext+"permessage-deflate; bogus"), []byte("\r\n\r\n"),
			[]byte("\r\n"+ext+"permessage-deflate; server_max_window_bits=15\r\n\r\n"), 1), DeflateOn,
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=15"},
		// Only the first acceptable offer counts.
		{on, bytes.Replace(request(ext+"permessage-deflate"), []byte("\r\n\r\n"),
			[]byte("\r\n"+ext+"permessage-deflate; server_max_window_bits=8\r\n\r\n"), 1), DeflateOn,
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
	}
	for i, tc := range cases {
		hs, err, resp, raw := upgrade(t, tc.u, tc.head)
		if err != nil || resp.StatusCode != 101 {
			t.Fatalf("%d: %v %s", i, err, raw)
		}
		if hs.Deflate != tc.mode {
			t.Errorf("%d: mode %v, want %v", i, hs.Deflate, tc.mode)
		}
		if got := resp.Header.Values("Sec-WebSocket-Extensions"); len(got) > 1 || strings.Join(got, "") != tc.header {
			t.Errorf("%d: extensions %q, want %q", i, got, tc.header)
		}
	}
	// With a subprotocol too.
	u := &Upgrader{Deflate: true, Protocols: []string{"v12.stomp"}}
	hs, err, resp, _ := upgrade(t, u, request(ext+"permessage-deflate", "Sec-WebSocket-Protocol: v12.stomp"))
	if err != nil || hs.Protocol != "v12.stomp" || hs.Deflate != DeflateOn || resp.Header.Get("Sec-WebSocket-Protocol") != "v12.stomp" ||
		resp.Header.Get("Sec-WebSocket-Extensions") == "" {
		t.Fatalf("%v %+v %v", err, hs, resp.Header)
	}
}

// TestPreparedDeflated: the compressed variant is made once per mode,
// shared, correct, and released with the frame.
func TestPreparedDeflated(t *testing.T) {
	before, pool0 := ReadDeflateStats(), ReadPoolStats()
	msg := testCorpus(2000, "json")
	p := NewPrepared(ws.OpText, msg)
	q := p.Deflated(DeflateOn, 64)
	if q == p || !q.Compressed() || p.Compressed() {
		t.Fatal("no compressed variant")
	}
	if q2 := p.Deflated(DeflateOn, 64); q2 != q {
		t.Fatal("second call compressed again")
	}
	h := p.Deflated(DeflateHuffman, 64)
	if h == p || h == q || !h.Compressed() {
		t.Fatal("no Huffman variant")
	}
	if p.Deflated(DeflateHuffman, 0) != h || q.Deflated(DeflateOn, 0) != q {
		t.Fatal("variants not stable / compressed twice")
	}
	for _, v := range []*Prepared{q, h} {
		f, err := ws.ReadFrame(bytes.NewReader(v.Bytes()))
		if err != nil || !f.Header.Fin || f.Header.OpCode != ws.OpText || f.Header.Rsv != 4 {
			t.Fatalf("frame %v %+v", err, f.Header)
		}
		if got := inflateClient(t, f.Payload); !bytes.Equal(got, msg) {
			t.Fatal("variant does not inflate to the payload")
		}
		if len(f.Payload) >= len(msg) {
			t.Fatalf("no saving: %d >= %d", len(f.Payload), len(msg))
		}
	}
	t.Logf("2000 B of JSON: %d B deflated, %d B Huffman only", len(q.Payload()), len(h.Payload()))
	after := ReadDeflateStats()
	if after.Compressed-before.Compressed != 2 {
		t.Fatalf("compressed %d times, want 2", after.Compressed-before.Compressed)
	}
	// Below the threshold, not data, off, incompressible: p itself.
	small := NewPrepared(ws.OpText, []byte("tiny"))
	ctl := NewPrepared(ws.OpPing, msg[:100])
	raw := AcquirePrepared()
	raw.B = append(raw.B, msg...)
	raw.SealRaw()
	noise := NewPrepared(ws.OpBinary, testCorpus(500, "binary"))
	for _, x := range []*Prepared{small, ctl, raw, noise} {
		if x.Deflated(DeflateOn, 64) != x || x.Deflated(DeflateOn, 1<<20) != x {
			t.Fatal("frame compressed that should not be")
		}
		if x == noise && x.Deflated(DeflateOn, 0) != x {
			t.Fatal("incompressible frame compressed")
		}
	}
	if p.Deflated(DeflateOff, 0) != p || p.Deflated(DeflateOn, len(msg)+1) != p {
		t.Fatal("off or under threshold compressed")
	}
	for _, x := range []*Prepared{small, ctl, raw, noise, p} {
		x.Release()
	}
	if s := ReadPoolStats(); s.Overreleased != pool0.Overreleased {
		t.Fatalf("over-released: %+v", s)
	}
}

// TestDeflatedConcurrent: many goroutines asking for the variant of one
// frame get one of them, and every reference is returned (TestMain checks).
func TestDeflatedConcurrent(t *testing.T) {
	for range 50 {
		p := NewPrepared(ws.OpBinary, testCorpus(3000, "text"))
		const n = 8
		p.Retain(n)
		got := make(chan *Prepared, n)
		for range n {
			go func() {
				q := p.Deflated(DeflateOn, 0)
				q.Retain(1)
				p.Release()
				got <- q
			}()
		}
		var first *Prepared
		for range n {
			q := <-got
			if first == nil {
				first = q
			} else if q != first {
				t.Fatal("two variants handed out")
			}
			q.Release()
		}
		p.Release()
	}
}

// BenchmarkDeflatedShared is the send path of a deflate connection once
// the broadcast's variant exists: a load, two atomic operations.
func BenchmarkDeflatedShared(b *testing.B) {
	p := NewPrepared(ws.OpText, testCorpus(200, "json"))
	defer p.Release()
	b.ReportAllocs()
	for b.Loop() {
		q := p.Deflated(DeflateOn, 64)
		q.Retain(1)
		q.Release()
	}
}

// BenchmarkInflate is a compressed 2 KB JSON message through the parser.
func BenchmarkInflate(b *testing.B) {
	msg := testCorpus(2048, "json")
	frame := compressedFrames(b, ws.OpText, msg, 0, flate.BestSpeed)
	work := make([]byte, len(frame))
	var p Parser
	p.Init(ParserConfig{Deflate: true})
	defer p.Release()
	h := &countHandler{}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		copy(work, frame)
		if err := p.Feed(work, h); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompressBroadcast compresses a 200-byte JSON delivery, as the
// first deflate subscriber of a publish does.
func BenchmarkCompressBroadcast(b *testing.B) {
	msg := testCorpus(200, "json")
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		p := NewPrepared(ws.OpText, msg)
		p.Deflated(DeflateOn, 0)
		p.Release()
	}
}

// TestParserCompressedIncompressible: a compressed message of random bytes
// is a little larger on the wire than MaxMessageSize and still inflates
// when it fits once inflated.
func TestParserCompressedIncompressible(t *testing.T) {
	limit := 256 << 10
	msg := testCorpus(limit, "binary")
	in := compressedFrames(t, ws.OpBinary, msg, 0, flate.DefaultCompression)
	if len(in) <= limit {
		t.Fatalf("compressed random bytes are not larger: %d", len(in))
	}
	got := feedWhole(t, ParserConfig{Deflate: true, MaxMessageSize: int64(limit)}, in)
	if got.err != nil || len(got.events) != 1 || got.events[0].payload != string(msg) {
		t.Fatalf("got %v", got)
	}
	in = compressedFrames(t, ws.OpBinary, msg, 1000, flate.DefaultCompression)
	if got := feedWhole(t, ParserConfig{Deflate: true, MaxMessageSize: int64(limit)}, in); got.err != nil {
		t.Fatalf("fragmented: %v", got)
	}
	// Uncompressed, the same limit is exact.
	if got := feedWhole(t, ParserConfig{Deflate: true, MaxMessageSize: int64(limit) - 1}, cf(ws.OpBinary, string(msg))); got.err == nil || got.err.Code != StatusMessageTooBig {
		t.Fatalf("uncompressed over the limit: %v", got)
	}
}

// TestHuffmanVariantHasNoBackReferences: DeflateHuffman output honours any
// server_max_window_bits because it has no LZ77 matches at all: 4000
// equal bytes still cost at least a bit each (a match would cover 258).
func TestHuffmanVariantHasNoBackReferences(t *testing.T) {
	msg := bytes.Repeat([]byte("x"), 4000)
	p := NewPrepared(ws.OpBinary, msg)
	defer p.Release()
	h, full := p.Deflated(DeflateHuffman, 0), p.Deflated(DeflateOn, 0)
	if len(h.Payload()) < len(msg)/8 {
		t.Fatalf("Huffman-only output of %d bytes for %d literals: it has matches", len(h.Payload()), len(msg))
	}
	if len(full.Payload()) > 64 {
		t.Fatalf("LZ77 output %d bytes", len(full.Payload()))
	}
	if !bytes.Equal(inflateClient(t, h.Payload()), msg) {
		t.Fatal("Huffman variant does not inflate")
	}
}

// TestInflateWindowCost measures what a connection would hold if a client
// kept its compression context (client_no_context_takeover not agreed): a
// flate reader with its 32 KiB window and tables, for the connection's
// life. c1m always agrees client_no_context_takeover, so readers are
// pooled and only held while a message inflates.
func TestInflateWindowCost(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates a few MB")
	}
	msg := testCorpus(8192, "json")
	comp := clientDeflate(t, msg, flate.DefaultCompression)
	const n = 200
	readers := make([]io.ReadCloser, n)
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	for i := range readers {
		r := flate.NewReader(io.MultiReader(bytes.NewReader(comp), strings.NewReader(inflateTail)))
		if _, err := io.Copy(io.Discard, r); err != nil {
			t.Fatal(err)
		}
		readers[i] = r
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	per := (m1.HeapAlloc - m0.HeapAlloc) / n
	t.Logf("an inflate context kept per connection: %d bytes of heap", per)
	if per < 32<<10 || per > 128<<10 {
		t.Errorf("inflate context %d bytes, expected 32-128 KB", per)
	}
	runtime.KeepAlive(readers)

	// And what a compressor per connection (server context takeover, which
	// c1m never agrees) would hold, at the level c1m uses.
	writers := make([]*flate.Writer, 20)
	runtime.GC()
	runtime.ReadMemStats(&m0)
	for i := range writers {
		writers[i], _ = flate.NewWriter(io.Discard, flate.BestSpeed)
		writers[i].Write(msg)
		writers[i].Flush()
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	t.Logf("a deflate context kept per connection (level %d): %d bytes of heap", flate.BestSpeed, (m1.HeapAlloc-m0.HeapAlloc)/uint64(len(writers)))
	runtime.KeepAlive(writers)
}
