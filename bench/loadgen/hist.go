package loadgen

import (
	"math"
	"math/bits"
)

// Histogram is a log-linear histogram of non-negative int64 values (for
// example nanoseconds), in the spirit of HdrHistogram: values below 256 are
// exact, larger values fall into one of 128 linear sub-buckets per power of
// two, so any reported value is within 1/128 (0.8%) of a recorded one.
//
// The zero value is an empty histogram ready to use. A Histogram is not safe
// for concurrent use; merge per-goroutine or per-process histograms with Merge.
type Histogram struct {
	counts [histBuckets]uint64
	total  uint64
	sum    float64
	min    int64
	max    int64
}

const (
	histSubBits = 7
	histSub     = 1 << histSubBits                        // sub-buckets per power of two
	histLinear  = 2 * histSub                             // values below this are exact
	histBuckets = histLinear + (63-histSubBits-1)*histSub // covers every int64 >= 0
)

func histIndex(v int64) int {
	if v < 0 {
		v = 0
	}
	if v < histLinear {
		return int(v)
	}
	e := bits.Len64(uint64(v)) - histSubBits - 1 // v>>e is in [histSub, 2*histSub)
	return histLinear + (e-1)*histSub + int(uint64(v)>>e) - histSub
}

// histBounds returns the smallest and largest value that map to bucket i.
func histBounds(i int) (lo, hi int64) {
	if i < histLinear {
		return int64(i), int64(i)
	}
	e := (i-histLinear)/histSub + 1
	m := int64((i-histLinear)%histSub + histSub)
	return m << e, (m+1)<<e - 1
}

// Record adds one value. Negative values are recorded as 0.
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	h.counts[histIndex(v)]++
	if h.total == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.total++
	h.sum += float64(v)
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.total }

// Max is the largest recorded value (exact), 0 when empty.
func (h *Histogram) Max() int64 { return h.max }

// Min is the smallest recorded value (exact), 0 when empty.
func (h *Histogram) Min() int64 { return h.min }

// Mean is the exact arithmetic mean, NaN when empty.
func (h *Histogram) Mean() float64 {
	if h.total == 0 {
		return math.NaN()
	}
	return h.sum / float64(h.total)
}

// Quantile returns the value at quantile q in [0,1]: the upper bound of the
// bucket holding the ceil(q*Count())-th smallest value, clamped to the exact
// min and max. It returns NaN when the histogram is empty.
func (h *Histogram) Quantile(q float64) float64 {
	if h.total == 0 {
		return math.NaN()
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i]
		if seen >= rank {
			_, hi := histBounds(i)
			return float64(min(max(hi, h.min), h.max))
		}
	}
	return float64(h.max)
}

// Reset empties the histogram.
func (h *Histogram) Reset() { *h = Histogram{} }

// Merge adds every value recorded in o.
func (h *Histogram) Merge(o *Histogram) {
	if o.total == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.total == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.total += o.total
	h.sum += o.sum
}

// SparseHist is the wire form of a Histogram (non-empty buckets only), used
// between the load generator's worker processes and its coordinator.
type SparseHist struct {
	Idx   []int32  `json:"i,omitempty"`
	Count []uint64 `json:"c,omitempty"`
	Sum   float64  `json:"s,omitempty"`
	Min   int64    `json:"lo,omitempty"`
	Max   int64    `json:"hi,omitempty"`
}

// Sparse encodes h.
func (h *Histogram) Sparse() SparseHist {
	s := SparseHist{Sum: h.sum, Min: h.min, Max: h.max}
	for i, c := range h.counts {
		if c != 0 {
			s.Idx = append(s.Idx, int32(i))
			s.Count = append(s.Count, c)
		}
	}
	return s
}

// MergeSparse adds the values encoded in s. Out-of-range indexes are ignored.
func (h *Histogram) MergeSparse(s SparseHist) {
	var o Histogram
	for k, i := range s.Idx {
		if i < 0 || int(i) >= histBuckets || k >= len(s.Count) {
			continue
		}
		o.counts[i] += s.Count[k]
		o.total += s.Count[k]
	}
	o.sum, o.min, o.max = s.Sum, s.Min, s.Max
	h.Merge(&o)
}
