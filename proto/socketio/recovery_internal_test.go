package socketio

import (
	"strconv"
	"testing"

	"github.com/c1mhq/c1m/hub"
)

// TestTrackerResolve: the positions a client holds, from its last offset,
// over a ring that wrapped.
func TestTrackerResolve(t *testing.T) {
	tr := &tracker{max: 8}
	tr.note("q", 7) // subscribed, never delivered
	// a:1..6 and b:1..6 interleaved: 12 entries, the first 4 overwritten.
	for i := uint64(1); i <= 6; i++ {
		tr.push("a", i)
		tr.push("b", i)
	}
	tr.push("c", 10) // c's only entry
	// The ring holds b3 a4 b4 a5 | b5 a6 b6 c10: the client got up to a=5,
	// so it has a=5, b=4, c before its first entry, q as subscribed.
	since, ok := tr.resolve("E/a=5", "E")
	if !ok {
		t.Fatal("offset not found")
	}
	want := map[string]uint64{"a": 5, "b": 4, "c": 9, "q": 7}
	if len(since) != len(want) {
		t.Fatalf("since %v, want %v", since, want)
	}
	for tp, seq := range want {
		if since[tp] != (hub.Position{Epoch: "E", Seq: seq}) {
			t.Fatalf("since[%s] = %v, want %d (all: %v)", tp, since[tp], seq, since)
		}
	}
	if tr.n != 4 {
		t.Fatalf("%d entries kept, want 4 (the suffix is forgotten)", tr.n)
	}
	// Overwritten offsets, foreign epochs and garbage are refused.
	for _, off := range []string{"E/a=1", "F/a=5", "E/zz=1", "E/a", "x", ""} {
		if _, ok := tr.resolve(off, "E"); ok {
			t.Errorf("resolve(%q) accepted", off)
		}
	}
	// Without an offset the client got nothing: fine until the ring wraps.
	fresh := &tracker{max: 4}
	fresh.push("a", 3)
	if since, ok := fresh.resolve("", "E"); !ok || since["a"].Seq != 2 {
		t.Fatalf("no offset: %v %v", since, ok)
	}
}

// BenchmarkTrack is what recovery adds to a delivery on one socket: the
// socket's lock and the ring entry, in steady state (the ring full).
func BenchmarkTrack(b *testing.B) {
	so := &Socket{rec: true, tr: &tracker{max: 1024}}
	topics := make([]string, 8)
	for i := range topics {
		topics[i] = "md.SYM" + strconv.Itoa(i)
	}
	for i := 0; i < 2048; i++ {
		so.tr.push(topics[i%len(topics)], uint64(i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		so.mu.Lock()
		so.tr.push(topics[i&7], uint64(i))
		so.mu.Unlock()
	}
}

// TestTrackerManyTopics: past smallTopics the tracker indexes its topics;
// positions stay exact.
func TestTrackerManyTopics(t *testing.T) {
	tr := &tracker{max: 1024}
	for round := uint64(1); round <= 3; round++ {
		for i := 0; i < 20; i++ {
			tr.push("t"+strconv.Itoa(i), round)
		}
	}
	since, ok := tr.resolve("E/t9=3", "E")
	if !ok || len(since) != 20 {
		t.Fatalf("since %v, ok %v", since, ok)
	}
	for i := 0; i < 20; i++ {
		want := uint64(3)
		if i > 9 {
			want = 2
		}
		if got := since["t"+strconv.Itoa(i)].Seq; got != want {
			t.Fatalf("t%d: %d, want %d", i, got, want)
		}
	}
}

// TestTrackerStaleOffset: a socket made afresh after a refused recovery
// gets the client's old offset again if no delivery replaced it; when that
// offset also names one of the new socket's deliveries (the same message,
// e.g. a snapshot), it is ambiguous and recovers nothing.
func TestTrackerStaleOffset(t *testing.T) {
	tr := &tracker{max: 16, stale: "E/b=9"}
	tr.push("a", 5) // snapshots of the new subscriptions
	tr.push("b", 9)
	if _, ok := tr.resolve("E/b=9", "E"); ok {
		t.Fatal("the stale offset was resolved")
	}
	tr.push("a", 6)
	if since, ok := tr.resolve("E/a=6", "E"); !ok || since["a"].Seq != 6 || since["b"].Seq != 9 || tr.stale != "" {
		t.Fatalf("a fresh offset: %v %v (stale %q)", since, ok, tr.stale)
	}
}
