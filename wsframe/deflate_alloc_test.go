//go:build !race

package wsframe

import (
	"compress/flate"
	"testing"

	"github.com/gobwas/ws"
)

// TestDeflateHotPathsDoNotAllocate: a shared variant costs nothing per
// connection, compressing a broadcast needs only its frame, and a
// compressed client message inflates with pooled state (compress/flate's
// Huffman decoder still makes its long-code link tables for every dynamic
// block: two small allocations, about 65 bytes, per message).
func TestDeflateHotPathsDoNotAllocate(t *testing.T) {
	msg := testCorpus(2048, "json")
	frame := compressedFrames(t, ws.OpText, msg, 0, flate.BestSpeed)
	frag := compressedFrames(t, ws.OpText, msg, 300, flate.BestSpeed)
	var p Parser
	p.Init(ParserConfig{Deflate: true})
	defer p.Release()
	h := &countHandler{}
	for _, in := range [][]byte{frame, frag} {
		work := make([]byte, len(in))
		feed := func() {
			copy(work, in)
			if err := p.Feed(work, h); err != nil {
				t.Fatal(err)
			}
		}
		for range 100 {
			feed()
		}
		if n := testing.AllocsPerRun(500, feed); n > 2 {
			t.Errorf("Feed of a compressed message (%d bytes): %v allocs", len(in), n)
		}
	}

	shared := NewPrepared(ws.OpText, msg)
	defer shared.Release()
	shared.Deflated(DeflateOn, 0)
	if n := testing.AllocsPerRun(1000, func() {
		q := shared.Deflated(DeflateOn, 0)
		q.Retain(1)
		q.Release()
	}); n != 0 {
		t.Errorf("Deflated, variant made: %v allocs", n)
	}

	publish := func() {
		pr := NewPrepared(ws.OpText, msg[:200])
		pr.Deflated(DeflateOn, 0)
		pr.Release()
	}
	for range 50000 {
		publish()
	}
	if n := testing.AllocsPerRun(1000, publish); n != 0 {
		t.Errorf("compress a broadcast: %v allocs", n)
	}
}
