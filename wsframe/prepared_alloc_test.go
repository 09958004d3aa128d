//go:build !race

// The race detector makes sync.Pool drop items at random, so allocation
// counts are only meaningful without it.

package wsframe

import "testing"

// SealRaw and SealChunk write into the room Prepared already reserves: the
// acquire/append/seal/release cycle allocates nothing once the pools are warm.
func TestSealRawAndChunkDoNotAllocate(t *testing.T) {
	payload := []byte("data: {\"px\":101.25}\n\n")
	for _, tc := range []struct {
		name string
		seal func(*Prepared)
	}{{"raw", (*Prepared).SealRaw}, {"chunk", (*Prepared).SealChunk}} {
		cycle := func() {
			p := AcquirePrepared()
			p.B = append(p.B, payload...)
			tc.seal(p)
			p.Retain(1)
			p.Release()
			p.Release()
		}
		// Past bytebufferpool's calibration (see TestHotPathsDoNotAllocate).
		for range 50000 {
			cycle()
		}
		if n := testing.AllocsPerRun(1000, cycle); n != 0 {
			t.Errorf("%s: %v allocs per acquire/seal/release", tc.name, n)
		}
	}
}
