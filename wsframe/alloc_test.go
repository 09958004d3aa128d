//go:build !race

// The race detector makes sync.Pool drop items at random, so allocation
// counts are only meaningful without it.

package wsframe

import (
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

func TestHotPathsDoNotAllocate(t *testing.T) {
	frame := cf(ws.OpText, strings.Repeat("x", 125))
	work := make([]byte, len(frame))
	var p Parser
	p.Init(ParserConfig{})
	defer p.Release()
	h := &countHandler{}
	if n := testing.AllocsPerRun(200, func() {
		copy(work, frame)
		if err := p.Feed(work, h); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Feed of a whole frame: %v allocs", n)
	}

	big := cat(frag(false, ws.OpBinary, strings.Repeat("a", 3000)), cf(ws.OpPing, "p"), frag(true, ws.OpContinuation, strings.Repeat("b", 3000)))
	work = make([]byte, len(big))
	if n := testing.AllocsPerRun(5000, func() {
		copy(work, big)
		for off := 0; off < len(work); off += 700 {
			if err := p.Feed(work[off:min(off+700, len(work))], h); err != nil {
				t.Fatal(err)
			}
		}
	}); n != 0 {
		t.Errorf("Feed of split fragments: %v allocs", n)
	}

	publish := func() {
		pr := AcquirePrepared()
		pr.B = append(pr.B, "payload"...)
		pr.Seal(ws.OpText)
		pr.Retain(1)
		pr.Release()
		pr.Release()
	}
	// Past bytebufferpool's calibration threshold (42000 Puts of one size):
	// the pool must keep our buffers after it calibrates. AllocsPerRun
	// rounds down, so measure after the warm-up.
	for range 50000 {
		publish()
	}
	if n := testing.AllocsPerRun(1000, publish); n != 0 {
		t.Errorf("Prepared acquire/seal/release: %v allocs", n)
	}

	var dst []byte
	if n := testing.AllocsPerRun(200, func() {
		dst = AppendPong(dst[:0], []byte("ping"))
	}); n != 0 {
		t.Errorf("AppendPong: %v allocs", n)
	}

	head := request()
	if n := testing.AllocsPerRun(200, func() {
		if path, up := IsUpgradeRequest(head); path != "/ws" || !up {
			t.Fatal(path, up)
		}
	}); n > 1 {
		t.Errorf("IsUpgradeRequest: %v allocs, want only the path", n)
	}
	if n := testing.AllocsPerRun(200, func() {
		if n, _ := RequestHeadLen(head, 4096); n == 0 {
			t.Fatal("incomplete")
		}
	}); n != 0 {
		t.Errorf("RequestHeadLen: %v allocs", n)
	}
}
