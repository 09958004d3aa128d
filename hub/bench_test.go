package hub

import (
	"fmt"
	"strconv"
	"testing"
	"time"
)

var benchData = []byte(`{"bid":189.52,"ask":189.54,"bsz":300,"asz":200}`)

func reportDeliveries(b *testing.B, perOp int) {
	b.ReportMetric(float64(perOp)*float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
}

// Publish to N exact subscribers whose transport releases at once: the cost
// of one encode plus N enqueues, and no allocation that grows with N.
func BenchmarkPublish(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) {
			h := New(Config{})
			defer h.Close()
			for i := 0; i < n; i++ {
				if _, err := h.Subscribe(&releaser{}, "md.AAPL", SubOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(benchData)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.Publish("md.AAPL", benchData, 1); err != nil {
					b.Fatal(err)
				}
			}
			reportDeliveries(b, n)
		})
	}
}

// The same through wildcard subscriptions and conflation slots.
func BenchmarkPublishWildcardConflated(b *testing.B) {
	yes := true
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) {
			h := New(Config{})
			defer h.Close()
			for i := 0; i < n; i++ {
				if _, err := h.Subscribe(&releaser{}, "md.*", SubOptions{Conflate: &yes}); err != nil {
					b.Fatal(err)
				}
			}
			// First publish allocates each subscription's slot.
			if _, err := h.Publish("md.AAPL", benchData, 1); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.Publish("md.AAPL", benchData, 1); err != nil {
					b.Fatal(err)
				}
			}
			reportDeliveries(b, n)
		})
	}
}

// Binary publishes share the path; only the header differs.
func BenchmarkPublishBinary(b *testing.B) {
	h := New(Config{})
	defer h.Close()
	for i := 0; i < 1000; i++ {
		if _, err := h.Subscribe(&releaser{}, "md.AAPL", SubOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.PublishBinary("md.AAPL", benchData, 1); err != nil {
			b.Fatal(err)
		}
	}
	reportDeliveries(b, 1000)
}

// setupUnrelated adds n unrelated topics (each with a last value) and n
// unrelated wildcard subscriptions.
func setupUnrelated(b *testing.B, h *Hub, n int) {
	for i := 0; i < n; i++ {
		s := strconv.Itoa(i)
		if _, err := h.Publish("other."+s+".q", []byte(`1`), 1); err != nil {
			b.Fatal(err)
		}
		if _, err := h.Subscribe(&releaser{}, "other."+s+".*", SubOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// Publish to 1000 wildcard subscribers among 0 or 100k unrelated topics and
// unrelated wildcard patterns. steady: the topic's cached match is valid;
// rematch: the sublist changes before every publish, so each publish walks
// the trie again (the worst case for matching).
func BenchmarkPublishWildcardUnrelated(b *testing.B) {
	for _, unrelated := range []int{0, 100000} {
		h := New(Config{HistorySize: -1})
		setupUnrelated(b, h, unrelated)
		for i := 0; i < 1000; i++ {
			if _, err := h.Subscribe(&releaser{}, []string{"md.*", "md.>", "*.AAPL"}[i%3], SubOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(fmt.Sprintf("unrelated=%d/steady", unrelated), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.Publish("md.AAPL", benchData, 1); err != nil {
					b.Fatal(err)
				}
			}
			reportDeliveries(b, 1000)
		})
		b.Run(fmt.Sprintf("unrelated=%d/rematch", unrelated), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				h.sl.gen.Add(1) // as if a subscription came or went
				if _, err := h.Publish("md.AAPL", benchData, 1); err != nil {
					b.Fatal(err)
				}
			}
			reportDeliveries(b, 1000)
		})
		h.Close()
	}
}

// Trie matching alone, among 0 or 100k unrelated wildcard patterns.
func BenchmarkSublistMatch(b *testing.B) {
	for _, unrelated := range []int{0, 100000} {
		b.Run(fmt.Sprintf("unrelated=%d", unrelated), func(b *testing.B) {
			sl := newSublist()
			for i := 0; i < unrelated; i++ {
				sl.insert(&subscription{c: &conn{id: uint64(i)}, pattern: "other." + strconv.Itoa(i) + ".*"})
			}
			for i, p := range []string{"md.*", "md.>", "*.AAPL", ">"} {
				sl.insert(&subscription{c: &conn{id: uint64(unrelated + i)}, pattern: p})
			}
			var out []*subscription
			b.ReportAllocs()
			for b.Loop() {
				out, _ = sl.match("md.AAPL", out[:0])
			}
			if len(out) != 4 {
				b.Fatalf("matched %d", len(out))
			}
		})
	}
}

// Publishes to many topics from all Ps at once: shards let them proceed in
// parallel.
func BenchmarkPublishParallel(b *testing.B) {
	h := New(Config{})
	defer h.Close()
	const topics = 256
	names := make([]string, topics)
	for i := range names {
		names[i] = "md.T" + strconv.Itoa(i)
		for j := 0; j < 10; j++ {
			if _, err := h.Subscribe(&releaser{}, names[i], SubOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(time.Now().UnixNano())
		for pb.Next() {
			i++
			if _, err := h.Publish(names[i%topics], benchData, 1); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportDeliveries(b, 10)
}

// Publish to 10k subscribers split evenly over 1, 2 or 4 wire formats (the
// native frames plus test formats): one encode per format per publish, and
// still no allocation.
func BenchmarkPublishFormats(b *testing.B) {
	formats := []Format{nil, &tagFormat{name: "B"}, &tagFormat{name: "C"}, &tagFormat{name: "D"}}
	const n = 10000
	for _, nf := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("subs=%d/formats=%d", n, nf), func(b *testing.B) {
			h := New(Config{})
			defer h.Close()
			for i := 0; i < n; i++ {
				if _, err := h.Subscribe(&releaser{}, "md.AAPL", SubOptions{Format: formats[i%nf]}); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := h.Publish("md.AAPL", benchData, 1); err != nil { // sizes the scratch
				b.Fatal(err)
			}
			b.SetBytes(int64(len(benchData)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.Publish("md.AAPL", benchData, 1); err != nil {
					b.Fatal(err)
				}
			}
			reportDeliveries(b, n)
		})
	}
}
