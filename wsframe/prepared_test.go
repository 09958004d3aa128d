package wsframe

import (
	"bytes"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
	"unsafe"

	"github.com/gobwas/ws"
)

// statsDelta returns what happened to the pool counters during f.
func statsDelta(f func()) PoolStats {
	before := ReadPoolStats()
	f()
	after := ReadPoolStats()
	return PoolStats{
		Acquired:     after.Acquired - before.Acquired,
		Returned:     after.Returned - before.Returned,
		Overreleased: after.Overreleased - before.Overreleased,
	}
}

func TestPreparedSealInPlace(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 400, 0xffff, 0x10000, 100000} {
		d := statsDelta(func() {
			p := AcquirePrepared()
			p.B = append(p.B, bytes.Repeat([]byte{'x'}, n)...)
			var before *byte
			if n > 0 {
				before = &p.B[0]
			}
			fits := cap(p.buf.B) >= MaxHeaderSize+n
			p.Seal(ws.OpText)
			got := p.Bytes()
			hs := serverHeaderSize(n)
			if len(got) != hs+n || p.Len() != hs+n {
				t.Fatalf("n=%d: %d bytes, want %d", n, len(got), hs+n)
			}
			if n > 0 && fits && &got[hs] != before {
				t.Fatalf("n=%d: payload moved by Seal although it fit", n)
			}
			want, _ := ws.CompileFrame(ws.NewTextFrame(bytes.Repeat([]byte{'x'}, n)))
			if !bytes.Equal(got, want) {
				t.Fatalf("n=%d: frame differs from gobwas", n)
			}
			if p.B != nil {
				t.Fatal("B still set after Seal")
			}
			p.Seal(ws.OpBinary) // no-op
			if !bytes.Equal(p.Bytes(), want) {
				t.Fatal("second Seal changed the frame")
			}
			p.Release()
		})
		if d.Acquired != 1 || d.Returned != 1 || d.Overreleased != 0 {
			t.Fatalf("n=%d: stats delta %+v", n, d)
		}
	}
}

func TestPreparedAppendStyles(t *testing.T) {
	p := AcquirePrepared()
	defer p.Release()
	if p.Bytes() != nil {
		t.Fatal("Bytes before Seal")
	}
	p.B = append(p.B, `{"px":`...)
	p.B = strconv.AppendFloat(p.B, 101.25, 'f', -1, 64)
	p.B = append(p.B, '}')
	p.Seal(ws.OpText)
	f, err := ws.ReadFrame(bytes.NewReader(p.Bytes()))
	if err != nil || string(f.Payload) != `{"px":101.25}` || f.Header.OpCode != ws.OpText {
		t.Fatalf("%v %q", err, f.Payload)
	}
	// B replaced by a foreign slice is copied.
	q := AcquirePrepared()
	q.B = []byte("foreign")
	q.Seal(ws.OpBinary)
	if !bytes.Equal(q.Bytes(), []byte("\x82\x07foreign")) {
		t.Fatalf("% x", q.Bytes())
	}
	q.Release()
}

func TestPreparedRefcount(t *testing.T) {
	const holders = 64
	d := statsDelta(func() {
		p := NewPrepared(ws.OpBinary, []byte("shared"))
		want := append([]byte(nil), p.Bytes()...)
		p.Retain(holders)
		var wg sync.WaitGroup
		var bad sync.Map
		for i := 0; i < holders; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if !bytes.Equal(p.Bytes(), want) {
					bad.Store(i, true)
				}
				p.Release()
			}()
		}
		wg.Wait()
		bad.Range(func(k, _ any) bool { t.Errorf("holder %v saw other bytes", k); return true })
		if got := ReadPoolStats(); got.Acquired < got.Returned {
			t.Fatalf("stats %+v", got)
		}
		p.Release() // the creator's reference: the last one
		p.Release() // one too many: counted, not returned again
		p.Release()
	})
	if d.Acquired != 1 || d.Returned != 1 || d.Overreleased != 2 {
		t.Fatalf("stats delta %+v, want 1 acquired, 1 returned, 2 overreleased", d)
	}
}

// TestPreparedPoolDrains: many frames from many goroutines, every one
// returned exactly once.
func TestPreparedPoolDrains(t *testing.T) {
	d := statsDelta(func() {
		var wg sync.WaitGroup
		ch := make(chan *Prepared, 128)
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for p := range ch {
					p.Release()
				}
			}()
		}
		for i := 0; i < 2000; i++ {
			p := AcquirePrepared()
			p.B = strconv.AppendInt(p.B, int64(i), 10)
			p.Seal(ws.OpText)
			p.Retain(2)
			ch <- p
			ch <- p
			p.Release()
		}
		close(ch)
		wg.Wait()
	})
	if d.Acquired != 2000 || d.Returned != 2000 || d.Overreleased != 0 {
		t.Fatalf("stats delta %+v", d)
	}
}

func TestClosePrepared(t *testing.T) {
	cases := []struct {
		code    StatusCode
		reason  string
		payload string
	}{
		{StatusNormalClosure, "", "\x03\xe8"},
		{StatusGoingAway, "shutting down", "\x03\xe9shutting down"},
		{StatusNoStatusReceived, "ignored", ""},
		{StatusAbnormalClosure, "ignored", ""},
		{0, "", ""},
		{StatusPolicyViolation, strings.Repeat("a", 123), "\x03\xf0" + strings.Repeat("a", 123)},
		{StatusPolicyViolation, strings.Repeat("a", 200), "\x03\xf0" + strings.Repeat("a", 123)},
		// "€" is 3 bytes: 121 a's + € = 124 bytes, cut before the €.
		{StatusPolicyViolation, strings.Repeat("a", 121) + "€", "\x03\xf0" + strings.Repeat("a", 121)},
		{StatusPolicyViolation, strings.Repeat("a", 120) + "€x", "\x03\xf0" + strings.Repeat("a", 120) + "€"},
		{StatusPolicyViolation, strings.Repeat("€", 50), "\x03\xf0" + strings.Repeat("€", 41)},
	}
	for _, tc := range cases {
		p := ClosePrepared(tc.code, tc.reason)
		f, err := ws.ReadFrame(bytes.NewReader(p.Bytes()))
		if err != nil || f.Header.OpCode != ws.OpClose || !f.Header.Fin || string(f.Payload) != tc.payload {
			t.Errorf("ClosePrepared(%d, %d bytes): %v payload %q", tc.code, len(tc.reason), err, f.Payload)
		}
		if len(f.Payload) > 125 || !utf8.Valid(f.Payload[min(2, len(f.Payload)):]) {
			t.Errorf("invalid close payload %q", f.Payload)
		}
		// Our own parser accepts what we send (after masking).
		if len(f.Payload) > 0 {
			out := feedWhole(t, ParserConfig{}, encodeClient(frameSpec{fin: true, op: ws.OpClose, payload: f.Payload}))
			if out.err == nil || !out.err.Remote || out.err.Code != tc.code {
				t.Errorf("parser reads back %v", out)
			}
		}
		p.Release()
	}
}

func TestAppendPingPong(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 300} {
		payload := allBytes(n)
		want := payload[:min(n, 125)]
		for _, tc := range []struct {
			op ws.OpCode
			fn func(dst, p []byte) []byte
		}{{ws.OpPing, AppendPing}, {ws.OpPong, AppendPong}} {
			b := tc.fn([]byte("prefix"), payload)
			if string(b[:6]) != "prefix" {
				t.Fatal("dst not kept")
			}
			f, err := ws.ReadFrame(bytes.NewReader(b[6:]))
			if err != nil || f.Header.OpCode != tc.op || !f.Header.Fin || !bytes.Equal(f.Payload, want) || len(b) != 6+2+len(want) {
				t.Fatalf("op %d n %d: %v %+v", tc.op, n, err, f.Header)
			}
		}
	}
}

// TestSizes documents and bounds the memory a connection pays for.
func TestSizes(t *testing.T) {
	ps, pr := unsafe.Sizeof(Parser{}), unsafe.Sizeof(Prepared{})
	t.Logf("sizeof(Parser)=%d sizeof(Prepared)=%d", ps, pr)
	if ps > 64 {
		t.Errorf("sizeof(Parser) = %d, want <= 64", ps)
	}
	// A Prepared is per published message, not per connection; Topic and Seq
	// (for SSE event ids) took it from 40 to 64 bytes, one size class; the
	// opcode and the pointer to its compressed variants (permessage-deflate)
	// to 80, the next.
	if pr > 80 {
		t.Errorf("sizeof(Prepared) = %d, want <= 80", pr)
	}
}

// chunkNaive is the oracle for SealChunk: RFC 9112 chunk framing spelled out.
func chunkNaive(payload []byte) []byte {
	if len(payload) == 0 {
		return nil
	}
	return []byte(strconv.FormatInt(int64(len(payload)), 16) + "\r\n" + string(payload) + "\r\n")
}

func TestPreparedSealRawAndChunk(t *testing.T) {
	for _, n := range []int{0, 1, 15, 16, 54, 255, 256, 4095, 4096, 0xffff, 0x10000, 100000} {
		payload := bytes.Repeat([]byte{'d'}, n)
		for _, tc := range []struct {
			name string
			seal func(p *Prepared)
			want []byte
		}{
			{"raw", (*Prepared).SealRaw, payload},
			{"chunk", (*Prepared).SealChunk, chunkNaive(payload)},
		} {
			d := statsDelta(func() {
				p := AcquirePrepared()
				p.B = append(p.B, payload...)
				var before *byte
				if n > 0 {
					before = &p.B[0]
				}
				// In place when the payload (and, for a chunk, the CRLF
				// after it) fits the buffer it was appended to.
				fits := cap(p.buf.B) >= MaxHeaderSize+n+2
				tc.seal(p)
				got := p.Bytes()
				if !bytes.Equal(got, tc.want) || p.Len() != len(tc.want) {
					t.Fatalf("%s n=%d: got %q..., want %q...", tc.name, n, got[:min(len(got), 12)], tc.want[:min(len(tc.want), 12)])
				}
				start := 0 // where the payload is in got
				if tc.name == "chunk" && n > 0 {
					start = len(got) - 2 - n
				}
				if n > 0 && fits && &got[start] != before {
					t.Fatalf("%s n=%d: payload moved although it fit", tc.name, n)
				}
				if p.B != nil {
					t.Fatalf("%s: B still set after sealing", tc.name)
				}
				p.SealChunk() // no-op
				p.Seal(ws.OpText)
				if !bytes.Equal(p.Bytes(), tc.want) {
					t.Fatalf("%s: sealing again changed the bytes", tc.name)
				}
				p.Retain(1)
				p.Release()
				p.Release()
			})
			if d.Acquired != 1 || d.Returned != 1 || d.Overreleased != 0 {
				t.Fatalf("%s n=%d: stats delta %+v", tc.name, n, d)
			}
		}
	}
}

// A B replaced by a foreign slice, or grown by append, is copied behind the
// reserved room and framed the same.
func TestPreparedSealChunkForeignB(t *testing.T) {
	p := AcquirePrepared()
	p.B = []byte("data: hi\n\n")
	p.SealChunk()
	if got := string(p.Bytes()); got != "a\r\ndata: hi\n\n\r\n" {
		t.Fatalf("%q", got)
	}
	p.Release()
	q := AcquirePrepared()
	q.B = []byte("raw bytes")
	q.SealRaw()
	if got := string(q.Bytes()); got != "raw bytes" {
		t.Fatalf("%q", got)
	}
	q.Release()
}

// BenchmarkSealChunk is one SSE event encoded as a chunk: acquire, append,
// seal, share with 4 holders, release. allocs/op must be 0.
func BenchmarkSealChunk(b *testing.B) {
	benchSeal(b, (*Prepared).SealChunk)
}

// BenchmarkSealRaw is the same for a close-delimited stream.
func BenchmarkSealRaw(b *testing.B) {
	benchSeal(b, (*Prepared).SealRaw)
}

func benchSeal(b *testing.B, seal func(*Prepared)) {
	payload := []byte(`data: {"t":"BTC-USD","seq":123456,"px":101.25}` + "\n\n")
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		p := AcquirePrepared()
		p.B = append(p.B, payload...)
		seal(p)
		p.Retain(4)
		for range 5 {
			p.Release()
		}
	}
}

func TestReleaseN(t *testing.T) {
	before := ReadPoolStats()
	p := AcquirePrepared()
	p.B = append(p.B, "x"...)
	p.Seal(ws.OpText)
	p.Retain(9) // 10 references
	p.ReleaseN(4)
	if got := ReadPoolStats(); got.Returned != before.Returned {
		t.Fatal("returned to the pool with references left")
	}
	p.ReleaseN(6)
	got := ReadPoolStats()
	if got.Returned != before.Returned+1 || got.Overreleased != before.Overreleased {
		t.Fatalf("after the last references: %+v (before %+v)", got, before)
	}
}
