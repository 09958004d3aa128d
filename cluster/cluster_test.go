package cluster_test

import (
	"fmt"
	"sync"
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
