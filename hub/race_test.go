package hub

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// checkStream verifies what one connection received: per topic, an optional
// first snapshot (or, without one, seq 1: the topic had no value when the
// subscription started), then every seq exactly once, in order.
func checkStream(t *testing.T, name string, ds []delivery) {
	t.Helper()
	last := make(map[string]uint64)
	for i, d := range ds {
		prev, seen := last[d.Topic]
		switch {
		case !seen && d.Snap:
		case !seen && d.Seq != 1:
			t.Errorf("%s: first delivery of %s is seq %d without a snapshot (delivery %d)", name, d.Topic, d.Seq, i)
			return
		case seen && d.Snap:
			t.Errorf("%s: second snapshot of %s at seq %d after %d", name, d.Topic, d.Seq, prev)
			return
		case seen && d.Seq != prev+1:
			t.Errorf("%s: %s seq %d after %d", name, d.Topic, d.Seq, prev)
			return
		}
		if d.Data != fmt.Sprintf(`"%s"`, d.Topic) && d.Data != d.Topic {
			t.Errorf("%s: %s carries %q", name, d.Topic, d.Data)
		}
		last[d.Topic] = d.Seq
	}
}

// Publishers, subscribers and unsubscribers race on overlapping topics and
// patterns; every connection must still see each topic without gap,
// duplicate or reordering after its snapshot, and every frame must go back
// to the pool exactly once.
func TestConcurrentPublishSubscribe(t *testing.T) {
	pool := startPool()
	h := New(Config{HistorySize: 16})
	topics := []string{"md.A", "md.B", "md.C.x", "fx.E", "fx.F.y", "md.D"}
	patternSets := [][]string{
		{"md.A"}, {"md.*"}, {"md.>"}, {">"}, {"md.A", "md.*"}, {"md.*", "md.A"},
		{"*.*.x", "md.>"}, {"fx.>", "fx.E"}, {"*.E", "*.*", ">"}, {"md.C.x", "md.C.*", "*.C.>"},
	}
	const publishers, perPublisher, subscribers, rounds = 4, 1500, 6, 60
	var pubDone atomic.Bool
	var wg sync.WaitGroup
	var pubs sync.WaitGroup
	for p := 0; p < publishers; p++ {
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			r := rand.New(rand.NewPCG(uint64(p), 1))
			for i := 0; i < perPublisher; i++ {
				topic := topics[r.IntN(len(topics))]
				var err error
				if r.IntN(4) == 0 {
					_, err = h.PublishBinary(topic, []byte(topic), 0)
				} else {
					_, err = h.Publish(topic, []byte(`"`+topic+`"`), 0)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	var mu sync.Mutex
	var all []*fakeSub
	for s := 0; s < subscribers; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(s), 2))
			for round := 0; round < rounds && !pubDone.Load(); round++ {
				f := newFake(true)
				mu.Lock()
				all = append(all, f)
				mu.Unlock()
				set := patternSets[r.IntN(len(patternSets))]
				for _, p := range set {
					if _, err := h.Subscribe(f, p, SubOptions{}); err != nil {
						t.Error(err)
						return
					}
				}
				// Let some traffic through, then drop one pattern (another
				// may take its topics over) and finally everything.
				for i := 0; i < 20 && !pubDone.Load(); i++ {
					f.mu.Lock()
					n := len(f.got)
					f.mu.Unlock()
					if n > 10 {
						break
					}
					runtime.Gosched()
				}
				if err := h.Unsubscribe(f, set[r.IntN(len(set))]); err != nil {
					t.Error(err)
				}
				runtime.Gosched()
				h.UnsubscribeAll(f)
			}
		}()
	}
	pubs.Wait()
	pubDone.Store(true)
	wg.Wait()
	total := 0
	for i, f := range all {
		ds := f.deliveries(t)
		total += len(ds)
		checkStream(t, fmt.Sprintf("conn %d", i), ds)
	}
	if total == 0 {
		t.Fatal("no deliveries at all")
	}
	t.Logf("%d connections, %d deliveries checked", len(all), total)
	st := h.Stats()
	if st.Subscriptions != 0 {
		t.Errorf("Subscriptions = %d after every UnsubscribeAll", st.Subscriptions)
	}
	if st.Published != publishers*perPublisher {
		t.Errorf("Published = %d", st.Published)
	}
	h.Close()
	pool.check(t)
}

// Subscribes racing publishes on one topic: the snapshot a subscriber gets
// is the seq its result reports, and live updates continue right after it.
func TestSnapshotRace(t *testing.T) {
	pool := startPool()
	h := New(Config{})
	var stop atomic.Bool
	var pubs sync.WaitGroup
	for p := 0; p < 2; p++ {
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			for i := 0; i < 3000 && !stop.Load(); i++ {
				if _, err := h.Publish("md.A", []byte(`"md.A"`), 0); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	var fakes []*fakeSub
	var states []map[string]TopicState
	for i := 0; i < 100; i++ {
		f := newFake(true)
		pattern := []string{"md.A", "md.*", "md.>", ">"}[i%4]
		st, err := h.Subscribe(f, pattern, SubOptions{})
		if err != nil {
			t.Fatal(err)
		}
		fakes, states = append(fakes, f), append(states, st)
		runtime.Gosched()
	}
	stop.Store(true)
	pubs.Wait()
	snaps := 0
	for i, f := range fakes {
		ds := f.deliveries(t)
		checkStream(t, fmt.Sprintf("subscriber %d", i), ds)
		st, ok := states[i]["md.A"]
		switch {
		case len(ds) == 0:
			t.Errorf("subscriber %d got nothing", i)
		case ds[0].Snap:
			snaps++
			if !ok || st.Seq != ds[0].Seq {
				t.Errorf("subscriber %d: snapshot seq %d, result %+v", i, ds[0].Seq, states[i])
			}
		case ok && st.Seq != 0:
			t.Errorf("subscriber %d: no snapshot but result %+v", i, states[i])
		}
		h.UnsubscribeAll(f)
	}
	if snaps == 0 {
		t.Errorf("no subscriber got a snapshot: the race was not exercised")
	}
	h.Close()
	pool.check(t)
}
