package server_test

// Topic lifetime over real sockets (issue 8, item 1): anonymous subscribers
// can neither fill the topic table, which publishers need, nor keep memory
// after they leave.

import (
	"encoding/json"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/c1mhq/c1m/server"
)

// liveHeap returns the bytes of live heap after full collections (two: the
// first moves sync.Pool contents to the victim cache, the second frees them).
func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestSubscribersCannotExhaustTopics is the attack of the issue at a smaller
// scale: with --max-topics 1000, 20 connections each subscribe to 1,000
// made-up topics (20 times the table). A publish to a new topic keeps
// succeeding throughout, and once the connections close the topics they
// created and the memory they held are gone.
func TestSubscribersCannotExhaustTopics(t *testing.T) {
	const conns, perConn, perRequest, maxTopics = 20, 1000, 250, 1000
	cfg := server.Config{}
	cfg.Hub.MaxTopics = maxTopics
	s, addr := start(t, cfg)
	h := s.Hub()
	legit := 0
	publishNew := func() {
		t.Helper()
		legit++
		publish(t, addr, fmt.Sprintf("md.NEWCO%d.quote", legit), `{"bid":1.5}`) // fails unless 202
	}
	publishNew()
	base := h.Stats()
	baseLegit := legit
	heap0 := liveHeap()

	clients := make([]*client, conns)
	for i := range clients {
		c := dial(t, addr)
		for j := 0; j < perConn; j += perRequest {
			topics := make([]string, perRequest)
			for k := range topics {
				topics[k] = fmt.Sprintf("junk.c%d.t%d", i, j+k)
			}
			b, _ := json.Marshal(topics)
			c.send(fmt.Sprintf(`{"op":"sub","id":%d,"topics":%s}`, j+1, b))
			c.expectOK(j + 1)
		}
		clients[i] = c
		publishNew()
	}
	peak := h.Stats()
	if peak.EmptyTopics != base.EmptyTopics+conns*perConn || peak.Topics != base.Topics+legit-baseLegit {
		t.Fatalf("while subscribed: %+v, want %d empty topics and %d data topics", peak, conns*perConn, base.Topics+legit-baseLegit)
	}
	heapPeak := liveHeap()

	for _, c := range clients {
		c.ws.Close()
	}
	waitFor(t, 30*time.Second, "the closed connections' topics to go", func() bool {
		st := h.Stats()
		return st.EmptyTopics == base.EmptyTopics && st.Subscriptions == base.Subscriptions
	})
	publishNew()
	after := h.Stats()
	if after.Topics != base.Topics+legit-baseLegit || after.EmptyTopics != base.EmptyTopics {
		t.Errorf("after the connections closed: %+v, want the baseline %+v plus %d published topics", after, base, legit-baseLegit)
	}
	// Generous: a tenth of what the subscriptions took, and at least 1 MiB
	// (the server keeps some buffers).
	heap1 := liveHeap()
	grown := int64(heapPeak) - int64(heap0)
	t.Logf("live heap: baseline %d KiB, %d subscriptions %d KiB, after close %d KiB", heap0>>10, conns*perConn, heapPeak>>10, heap1>>10)
	if grown < 4<<20 {
		t.Fatalf("the subscriptions took only %d bytes of heap: the test measures nothing", grown)
	}
	if slack := max(grown/10, 1<<20); int64(heap1)-int64(heap0) > slack {
		t.Errorf("live heap %d bytes above the baseline after the connections closed (allowed %d)", int64(heap1)-int64(heap0), slack)
	}
}
