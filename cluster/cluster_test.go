package cluster_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A publish on node A reaches subscribers on B and C, exact and wildcard,
// once each, in seq order, with the same seqs everywhere.
func TestPublishReachesEveryNode(t *testing.T) {
	ns := startNATS(t)
	a, b, c := startNode(t, ns, "a"), startNode(t, ns, "b"), startNode(t, ns, "c")
	subs := []*wsClient{dialWS(t, b.addr), dialWS(t, c.addr), dialWS(t, b.addr), dialWS(t, c.addr)}
	pats := []string{"px.AAPL", "px.AAPL", "px.>", "px.*"}
	for i, s := range subs {
		s.sub(1, []string{pats[i]}, "")
	}
	const n = 500
	seqs := make([]uint64, n)
	for i := range n {
		st, seq := a.publish(t, "px.AAPL", fmt.Sprintf(`{"i":%d}`, i))
		if st != 202 {
			t.Fatalf("publish %d: status %d", i, st)
		}
		seqs[i] = seq
		if i > 0 && seq != seqs[i-1]+1 {
			t.Fatalf("publish %d: seq %d after %d", i, seq, seqs[i-1])
		}
	}
	var wg sync.WaitGroup
	for k, s := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				f, err := s.read(10 * time.Second)
				if err != nil {
					t.Errorf("sub %d (%s): after %d messages: %v", k, pats[k], i, err)
					return
				}
				if f.Op != "msg" || f.Topic != "px.AAPL" || f.Seq != seqs[i] || string(f.Data) != fmt.Sprintf(`{"i":%d}`, i) {
					t.Errorf("sub %d (%s): message %d: want seq %d, got %+v", k, pats[k], i, seqs[i], f)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// BenchmarkPublish is the cost of one clustered publish (one JetStream
// round trip with the compare-and-set) from one node, on one topic
// (serialised per topic) and on 1,000 topics from parallel publishers.
func BenchmarkPublish(b *testing.B) {
	ns := startNATS(b)
	a := startNode(b, ns, "a")
	h := a.srv.Hub()
	data := []byte(`{"bid":101.25,"ask":101.27}`)
	b.Run("one-topic", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := h.Publish("bench.one", data, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("1000-topics", func(b *testing.B) {
		topics := make([]string, 1000)
		for i := range topics {
			topics[i] = fmt.Sprintf("bench.t%d", i)
		}
		var next atomic.Int64
		b.ReportAllocs()
		b.SetParallelism(64)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := h.Publish(topics[next.Add(1)%1000], data, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// BenchmarkPublishContended is two nodes publishing one topic at the same
// time: every publish that loses the compare-and-set reloads and retries.
func BenchmarkPublishContended(b *testing.B) {
	ns := startNATS(b)
	hs := [2]*node{startNode(b, ns, "a"), startNode(b, ns, "b")}
	data := []byte(`{"bid":101.25,"ask":101.27}`)
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		h := hs[next.Add(1)%2].srv.Hub()
		for pb.Next() {
			if _, err := h.Publish("bench.hot", data, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(hs[0].stats(b).NATS.PublishRetries+hs[1].stats(b).NATS.PublishRetries)/float64(b.N), "retries/op")
}
