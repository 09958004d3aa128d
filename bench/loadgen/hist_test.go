package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// naiveQuantile is the oracle: the ceil(q*n)-th smallest value.
func naiveQuantile(sorted []int64, q float64) int64 {
	rank := int(math.Ceil(q * float64(len(sorted))))
	rank = max(rank, 1)
	return sorted[rank-1]
}

func TestHistIndexBoundsRoundTrip(t *testing.T) {
	prevHi := int64(-1)
	for i := 0; i < histBuckets; i++ {
		lo, hi := histBounds(i)
		if lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", i, lo, prevHi)
		}
		if histIndex(lo) != i || histIndex(hi) != i {
			t.Fatalf("bucket %d: index(lo=%d)=%d index(hi=%d)=%d", i, lo, histIndex(lo), hi, histIndex(hi))
		}
		if lo >= histLinear && float64(hi-lo+1)/float64(lo) > 1.0/histSub+1e-12 {
			t.Fatalf("bucket %d [%d,%d] wider than 1/%d", i, lo, hi, histSub)
		}
		prevHi = hi
	}
	if prevHi != math.MaxInt64 {
		t.Fatalf("last bucket ends at %d, want MaxInt64", prevHi)
	}
}

func TestHistQuantilesMatchOracle(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	dists := map[string]func() int64{
		"uniform-small": func() int64 { return r.Int64N(300) },
		"uniform-us":    func() int64 { return r.Int64N(10_000_000) },
		"lognormal":     func() int64 { return int64(math.Exp(r.NormFloat64()*2 + 12)) },
		"bimodal": func() int64 {
			if r.IntN(100) == 0 {
				return 5_000_000_000 + r.Int64N(1e9)
			}
			return 50_000 + r.Int64N(1000)
		},
	}
	for name, gen := range dists {
		t.Run(name, func(t *testing.T) {
			var h Histogram
			vals := make([]int64, 20000)
			for i := range vals {
				vals[i] = gen()
				h.Record(vals[i])
			}
			slices.Sort(vals)
			if h.Count() != uint64(len(vals)) || h.Min() != vals[0] || h.Max() != vals[len(vals)-1] {
				t.Fatalf("count/min/max = %d/%d/%d, want %d/%d/%d", h.Count(), h.Min(), h.Max(), len(vals), vals[0], vals[len(vals)-1])
			}
			for _, q := range []float64{0, 0.01, 0.5, 0.9, 0.99, 0.999, 1} {
				want := float64(naiveQuantile(vals, q))
				got := h.Quantile(q)
				if got < want || got > want*(1+1.0/histSub)+1 {
					t.Errorf("q=%v got %v want %v (+%.2f%%)", q, got, want, 100.0/histSub)
				}
			}
		})
	}
}

func TestHistMergeSparseEqualsDirect(t *testing.T) {
	var a, b, all Histogram
	for i := int64(0); i < 5000; i++ {
		v := i * i * 37
		all.Record(v)
		if i%3 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
	}
	var merged Histogram
	merged.MergeSparse(a.Sparse())
	merged.MergeSparse(b.Sparse())
	if merged != all {
		t.Fatalf("merged histogram differs: count %d vs %d, p99 %v vs %v", merged.Count(), all.Count(), merged.Quantile(.99), all.Quantile(.99))
	}
}

func TestHistEmpty(t *testing.T) {
	var h Histogram
	if !math.IsNaN(h.Quantile(0.5)) || !math.IsNaN(h.Mean()) {
		t.Fatal("empty histogram must report NaN")
	}
	h.Record(-5)
	if h.Quantile(1) != 0 || h.Min() != 0 {
		t.Fatalf("negative value not clamped to 0: %v", h.Quantile(1))
	}
}

func BenchmarkHistRecord(b *testing.B) {
	var h Histogram
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Record(int64(i) * 7919)
	}
}
