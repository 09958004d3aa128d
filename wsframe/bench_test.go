package wsframe

import (
	"io"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

// countHandler counts callbacks; it is what a handler that does nothing with
// the payload costs.
type countHandler struct{ msgs, bytes, pings int }

func (h *countHandler) OnMessage(_ ws.OpCode, p []byte) { h.msgs++; h.bytes += len(p) }
func (h *countHandler) OnPing([]byte)                   { h.pings++ }
func (h *countHandler) OnPong([]byte)                   {}

func BenchmarkFeed125Text(b *testing.B) {
	frame := cf(ws.OpText, strings.Repeat("quote:AAPL:187.25 ", 7)[:125])
	work := make([]byte, len(frame))
	var p Parser
	p.Init(ParserConfig{})
	defer p.Release()
	h := &countHandler{}
	b.SetBytes(125)
	b.ReportAllocs()
	for b.Loop() {
		copy(work, frame) // Feed unmasks in place
		if err := p.Feed(work, h); err != nil {
			b.Fatal(err)
		}
	}
	if h.msgs == 0 {
		b.Fatal("no message")
	}
}

// BenchmarkFeed16KiBSplit: a 16 KiB message arriving in 1500-byte reads,
// as one frame and as four fragments.
func BenchmarkFeed16KiBSplit(b *testing.B) {
	payload := []byte(strings.Repeat("€uro-ascii-mix ", 16384/17+1)[:16384])
	for len(payload) > 0 && !validUTF8(payload) {
		payload = payload[:len(payload)-1]
	}
	one := encodeClient(frameSpec{fin: true, op: ws.OpText, payload: payload})
	q := len(payload) / 4
	four := cat(
		encodeClient(frameSpec{op: ws.OpText, payload: payload[:q]}),
		encodeClient(frameSpec{op: ws.OpContinuation, payload: payload[q : 2*q]}),
		encodeClient(frameSpec{op: ws.OpContinuation, payload: payload[2*q : 3*q]}),
		encodeClient(frameSpec{fin: true, op: ws.OpContinuation, payload: payload[3*q:]}),
	)
	for _, bc := range []struct {
		name  string
		input []byte
	}{{"frame", one}, {"fragments", four}} {
		b.Run(bc.name, func(b *testing.B) {
			work := make([]byte, len(bc.input))
			var p Parser
			p.Init(ParserConfig{})
			defer p.Release()
			h := &countHandler{}
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			for b.Loop() {
				copy(work, bc.input)
				for off := 0; off < len(work); off += 1500 {
					if err := p.Feed(work[off:min(off+1500, len(work))], h); err != nil {
						b.Fatal(err)
					}
				}
			}
			if h.bytes != h.msgs*len(payload) {
				b.Fatal("wrong payload size")
			}
		})
	}
}

// BenchmarkPrepared is one publish: acquire, encode, seal, share with 4
// holders, release everywhere.
func BenchmarkPrepared(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		p := AcquirePrepared()
		p.B = append(p.B, `{"ch":"AAPL","px":187.25,"sz":100}`...)
		p.Seal(ws.OpText)
		p.Retain(4)
		for range 5 {
			p.Release()
		}
	}
}

func BenchmarkPreparedParallel(b *testing.B) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p := AcquirePrepared()
			p.B = append(p.B, `{"ch":"AAPL","px":187.25,"sz":100}`...)
			p.Seal(ws.OpText)
			p.Release()
		}
	})
}

func BenchmarkUpgrade(b *testing.B) {
	head := request("Origin: https://good.example", "Sec-WebSocket-Protocol: v1, v2", "User-Agent: bench/1.0")
	u := &Upgrader{
		Route:     func(p string) bool { return p == "/ws" },
		Origins:   []string{"https://good.example"},
		Protocols: []string{"v2", "v1"},
		Admit:     func() error { return nil },
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := u.Upgrade(head, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRequestHeadLen(b *testing.B) {
	head := request("User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36", "Cookie: "+strings.Repeat("k=v; ", 40))
	b.ReportAllocs()
	for b.Loop() {
		if n, _ := RequestHeadLen(head, 8192); n != len(head) {
			b.Fatal(n)
		}
	}
}

func BenchmarkUTF8Continue(b *testing.B) {
	p := []byte(strings.Repeat("plain ascii and some ünïcödé € ", 512))
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		if utf8Continue(utf8Accept, p) != utf8Accept {
			b.Fatal("invalid")
		}
	}
}
