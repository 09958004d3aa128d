package hub

import (
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

func TestConflationKeepsNewestInPlace(t *testing.T) {
	pool := startPool()
	h := New(Config{})
	yes := true
	f := newFake(false) // a lagging connection: nothing is written until drain
	if _, err := h.Subscribe(f, "md.*", SubOptions{Conflate: &yes}); err != nil {
		t.Fatal(err)
	}
	full := newFake(false) // the same stream without conflation
	if _, err := h.Subscribe(full, "md.*", SubOptions{}); err != nil {
		t.Fatal(err)
	}
	pub := func(topic string) {
		t.Helper()
		if _, err := h.Publish(topic, []byte(`1`), 0); err != nil {
			t.Fatal(err)
		}
	}
	for _, topic := range []string{"md.A", "md.B", "md.A", "md.A", "md.B", "md.C"} {
		pub(topic)
	}
	f.drain()
	type ts struct {
		topic string
		seq   uint64
	}
	var got []ts
	for _, d := range f.deliveries(t) {
		got = append(got, ts{d.Topic, d.Seq})
	}
	// Each topic keeps the queue position of its first pending update.
	if want := []ts{{"md.A", 3}, {"md.B", 2}, {"md.C", 1}}; !slices.Equal(got, want) {
		t.Errorf("conflated: %v, want %v", got, want)
	}
	full.drain()
	if n := len(full.deliveries(t)); n != 6 {
		t.Errorf("non-conflated subscriber got %d, want 6", n)
	}
	// After the writer took the slot, the next update queues at the tail.
	pub("md.B")
	pub("md.A")
	f.drain()
	got = got[:0]
	for _, d := range f.deliveries(t)[3:] {
		got = append(got, ts{d.Topic, d.Seq})
	}
	if want := []ts{{"md.B", 3}, {"md.A", 4}}; !slices.Equal(got, want) {
		t.Errorf("after drain: %v, want %v", got, want)
	}
	h.Close()
	full.drain()
	pool.check(t)
}

func TestConflateDefault(t *testing.T) {
	pool := startPool()
	h := New(Config{ConflateDefault: []string{"md.>", "bad..pattern"}})
	no := false
	def, off, other := newFake(false), newFake(false), newFake(false)
	for _, s := range []struct {
		f *fakeSub
		p string
		o SubOptions
	}{{def, "md.A", SubOptions{}}, {off, "md.A", SubOptions{Conflate: &no}}, {other, "fx.A", SubOptions{}}} {
		if _, err := h.Subscribe(s.f, s.p, s.o); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 5; i++ {
		for _, topic := range []string{"md.A", "fx.A"} {
			if _, err := h.Publish(topic, []byte(fmt.Sprint(i)), 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, c := range []struct {
		f    *fakeSub
		want []uint64
	}{{def, []uint64{5}}, {off, []uint64{1, 2, 3, 4, 5}}, {other, []uint64{1, 2, 3, 4, 5}}} {
		c.f.drain()
		var seqs []uint64
		for _, d := range c.f.deliveries(t) {
			seqs = append(seqs, d.Seq)
		}
		if !slices.Equal(seqs, c.want) {
			t.Errorf("got %v, want %v", seqs, c.want)
		}
	}
	h.Close()
	pool.check(t)
}

func TestRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pool := startPool()
		h := New(Config{})
		f := newFake(true)
		if _, err := h.Subscribe(f, "md.*", SubOptions{MaxRate: 10}); err != nil { // 100ms apart
			t.Fatal(err)
		}
		start := time.Now()
		pub := func(topic string) uint64 {
			seq, err := h.Publish(topic, []byte(`1`), 0)
			if err != nil {
				t.Fatal(err)
			}
			return seq
		}
		seqs := func() []uint64 {
			synctest.Wait()
			return seqsOf(f.deliveries(t), "md.A")
		}
		pub("md.A") // first update goes at once
		for i := 0; i < 4; i++ {
			pub("md.A") // held back; the latest (5) wins
		}
		if got := seqs(); !slices.Equal(got, []uint64{1}) {
			t.Fatalf("at once: %v", got)
		}
		pub("md.B") // topics are limited independently
		if got := seqsOf(f.deliveries(t), "md.B"); !slices.Equal(got, []uint64{1}) {
			t.Fatalf("md.B: %v", got)
		}
		time.Sleep(99 * time.Millisecond)
		if got := seqs(); !slices.Equal(got, []uint64{1}) {
			t.Fatalf("before 100ms: %v", got)
		}
		time.Sleep(time.Millisecond)
		if got := seqs(); !slices.Equal(got, []uint64{1, 5}) {
			t.Fatalf("at 100ms: %v", got)
		}

		// A steady 1 kHz feed for 2s: at most 10 deliveries a second, each
		// >= 100ms after the previous, the newest value each time, the last
		// one delivered in the end.
		var last uint64
		for i := 0; i < 2000; i++ {
			last = pub("md.A")
			time.Sleep(time.Millisecond)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		f.mu.Lock()
		var at []time.Time
		var got []uint64
		for i, d := range f.got {
			if d.Topic == "md.A" {
				got = append(got, d.Seq)
				at = append(at, f.times[i])
			}
		}
		f.mu.Unlock()
		if got[len(got)-1] != last {
			t.Errorf("last delivered %d, last published %d", got[len(got)-1], last)
		}
		if n := len(got); n < 19 || n > 23 {
			t.Errorf("%d deliveries in 2.1s at 10/s: %v", n, got)
		}
		for i := 1; i < len(got); i++ {
			if got[i] <= got[i-1] {
				t.Errorf("out of order: %v", got)
			}
			if d := at[i].Sub(at[i-1]); d < 100*time.Millisecond {
				t.Errorf("deliveries %d and %d only %v apart (at %v)", i-1, i, d, at[i].Sub(start))
			}
		}
		// Unsubscribing releases a pending frame.
		pub("md.A")
		pub("md.A")
		if err := h.Unsubscribe(f, "md.*"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if n := len(seqsOf(f.deliveries(t), "md.A")); n != len(got)+1 {
			t.Errorf("after unsubscribe: %d deliveries, want %d", n, len(got)+1)
		}
		h.Close()
		pool.check(t)
	})
}

// Close releases frames still pending in the rate limiter.
func TestRateLimitClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pool := startPool()
		h := New(Config{})
		f := newFake(true)
		if _, err := h.Subscribe(f, "md.A", SubOptions{MaxRate: 0.001}); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			if _, err := h.Publish("md.A", []byte(`1`), 0); err != nil {
				t.Fatal(err)
			}
		}
		if n := len(f.deliveries(t)); n != 1 {
			t.Errorf("%d deliveries, want 1", n)
		}
		h.Close()
		pool.check(t)
	})
}
