package hub

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// recBroker is a Broker that records what the hub asks of it and sequences
// publishes itself (like a one-node cluster), handing them back through
// Apply as the cluster would.
type recBroker struct {
	mu    sync.Mutex
	h     *Hub
	seq   map[string]uint64
	subs  []string
	unsub []string
	fail  error
}

func (b *recBroker) Publish(topic string, data []byte, ts int64, binary bool) (uint64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fail != nil {
		return 0, b.fail
	}
	b.seq[topic]++
	s := b.seq[topic]
	_, err := b.h.Apply(&Remote{Topic: topic, Seq: s, TS: ts, Data: data, Binary: binary, Ref: s * 10}, false)
	return s, err
}

func (b *recBroker) Subscribe(pattern string, since map[string]Position) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.subs = append(b.subs, pattern)
	return b.fail
}

func (b *recBroker) Unsubscribe(pattern string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.unsub = append(b.unsub, pattern)
}

func newBrokerHub(t *testing.T) (*Hub, *recBroker) {
	b := &recBroker{seq: map[string]uint64{}}
	h := New(Config{Broker: b, Epoch: "E"})
	b.h = h
	t.Cleanup(h.Close)
	return h, b
}

func remote(topic string, seq uint64) *Remote {
	return &Remote{Topic: topic, Seq: seq, TS: time.Now().UnixNano(), Data: fmt.Appendf(nil, `{"n":%d}`, seq), Ref: seq * 10}
}

// With a Broker, publishes go through it and subscriptions tell it, in
// pairs: every Subscribe one call, every removal one Unsubscribe.
func TestBrokerSeesPublishesAndInterest(t *testing.T) {
	h, b := newBrokerHub(t)
	f := newFake(true)
	if _, err := h.Subscribe(f, "b.*", SubOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Subscribe(f, "b.*", SubOptions{}); err != nil { // replaces: one more, one less
		t.Fatal(err)
	}
	for i := range 3 {
		if s, err := h.Publish("b.X", []byte(`1`), 0); err != nil || s != uint64(i+1) {
			t.Fatalf("publish: %d %v", s, err)
		}
	}
	if got := seqsOf(f.deliveries(t), "b.X"); !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Fatalf("deliveries %v", got)
	}
	h.UnsubscribeAll(f)
	if !slices.Equal(b.subs, []string{"b.*", "b.*"}) || !slices.Equal(b.unsub, []string{"b.*", "b.*"}) {
		t.Fatalf("broker saw subscribe %v, unsubscribe %v", b.subs, b.unsub)
	}
	b.fail = ErrUnavailable
	if _, err := h.Publish("b.X", []byte(`1`), 0); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("publish with the cluster down: %v", err)
	}
	if _, err := h.Subscribe(f, "b.X", SubOptions{}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("subscribe with the cluster down: %v", err)
	}
	if st := h.Stats(); st.Subscriptions != 0 {
		t.Fatalf("a refused subscription was kept: %+v", st)
	}
}

// Apply delivers in seq order, drops duplicates, reports a gap with the
// position to fill from, and jumps only when told to.
func TestApplyOrderGapsAndJumps(t *testing.T) {
	h, _ := newBrokerHub(t)
	f := newFake(true)
	if _, err := h.Subscribe(f, "a.T", SubOptions{}); err != nil {
		t.Fatal(err)
	}
	apply := func(seq uint64, jump bool) (bool, error) { return h.Apply(remote("a.T", seq), jump) }
	if ok, err := apply(7, false); !ok || err != nil { // a topic without data takes any seq
		t.Fatalf("first: %v %v", ok, err)
	}
	if ok, err := apply(8, false); !ok || err != nil {
		t.Fatalf("next: %v %v", ok, err)
	}
	if ok, err := apply(8, false); ok || err != nil {
		t.Fatalf("duplicate: %v %v", ok, err)
	}
	var gap *GapError
	if _, err := apply(11, false); !errors.As(err, &gap) || gap.Seq != 8 || gap.Ref != 80 {
		t.Fatalf("gap: %v", err)
	}
	for s := uint64(9); s <= 11; s++ {
		if ok, err := apply(s, false); !ok || err != nil {
			t.Fatalf("fill %d: %v %v", s, ok, err)
		}
	}
	if ok, err := apply(20, true); !ok || err != nil {
		t.Fatalf("jump: %v %v", ok, err)
	}
	if got := seqsOf(f.deliveries(t), "a.T"); !slices.Equal(got, []uint64{7, 8, 9, 10, 11, 20}) {
		t.Fatalf("deliveries %v", got)
	}
	if seq, ref, ok := h.Latest("a.T"); !ok || seq != 20 || ref != 200 {
		t.Fatalf("latest %d %d %v", seq, ref, ok)
	}
	// A topic without data whose message says it had earlier ones: a gap
	// from the start.
	m := remote("a.U", 5)
	m.Prev = 40
	if _, err := h.Apply(m, false); !errors.As(err, &gap) || gap.Seq != 0 || gap.Ref != 0 {
		t.Fatalf("missed start: %v", err)
	}
}

// Backfill puts older messages in front of the history so that recovery
// from further back is served here, and applies newer ones.
func TestBackfillExtendsHistory(t *testing.T) {
	h, _ := newBrokerHub(t)
	pool := startPool()
	for s := uint64(50); s <= 52; s++ { // the node joined late: it holds 50..52
		if _, err := h.Apply(remote("k.T", s), false); err != nil {
			t.Fatal(err)
		}
	}
	if h.Covers("k.T", 45) || !h.Covers("k.T", 49) || !h.Covers("k.T", 52) || h.Covers("k.T", 53) {
		t.Fatal("Covers before the backfill")
	}
	var msgs []Remote
	for s := uint64(40); s <= 54; s++ {
		msgs = append(msgs, *remote("k.T", s))
	}
	n, err := h.Backfill(msgs)
	if err != nil || n != 10+2 { // 40..49 in front, 53..54 applied
		t.Fatalf("backfill: %d %v", n, err)
	}
	f := newFake(true)
	st, err := h.Subscribe(f, "k.T", SubOptions{Since: map[string]Position{"k.T": {Epoch: "E", Seq: 41}}})
	if err != nil || st["k.T"].Recovered == nil || !*st["k.T"].Recovered {
		t.Fatalf("recover from 41: %+v %v", st, err)
	}
	want := []uint64{}
	for s := uint64(42); s <= 54; s++ {
		want = append(want, s)
	}
	if got := seqsOf(f.deliveries(t), "k.T"); !slices.Equal(got, want) {
		t.Fatalf("recovered %v, want %v", got, want)
	}
	h.UnsubscribeAll(f)
	h.Close()
	pool.check(t)
}

// BenchmarkApply is the per-message cost of a cluster delivery on a node:
// one Apply to a topic with 100 subscribers (encode once, enqueue 100).
func BenchmarkApply(b *testing.B) {
	br := &recBroker{seq: map[string]uint64{}}
	h := New(Config{Broker: br, Epoch: "E", HistorySize: 64})
	br.h = h
	defer h.Close()
	for range 100 {
		if _, err := h.Subscribe(&releaser{}, "bench.T", SubOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	m := &Remote{Topic: "bench.T", TS: time.Now().UnixNano(), Data: []byte(`{"bid":101.25,"ask":101.27}`)}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		m.Seq, m.Ref = uint64(i+1), uint64(i+1)
		if _, err := h.Apply(m, false); err != nil {
			b.Fatal(err)
		}
	}
}
