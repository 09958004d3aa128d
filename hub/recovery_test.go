package hub

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func publishN(t *testing.T, h *Hub, topic string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, err := h.Publish(topic, []byte(fmt.Sprint(i)), 0); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRecovery(t *testing.T) {
	pool := startPool()
	h := New(Config{HistorySize: 4, Epoch: "e1"})
	for i, tc := range []struct {
		name      string
		since     Position
		recovered bool
		want      []uint64 // seqs delivered
		snap      bool
	}{
		{"exact", Position{"e1", 3}, true, []uint64{4, 5, 6}, false},
		{"oldest kept", Position{"e1", 2}, true, []uint64{3, 4, 5, 6}, false},
		{"too old", Position{"e1", 1}, false, []uint64{6}, true},
		{"up to date", Position{"e1", 6}, true, nil, false},
		{"ahead", Position{"e1", 7}, false, []uint64{6}, true},
		{"wrong epoch", Position{"e0", 5}, false, []uint64{6}, true},
	} {
		topic := fmt.Sprintf("md.R%d", i)
		publishN(t, h, topic, 6) // history holds 3..6
		f := newFake(true)
		states, err := h.Subscribe(f, topic, SubOptions{Since: map[string]Position{topic: tc.since}})
		if err != nil {
			t.Fatal(err)
		}
		st := states[topic]
		if st.Recovered == nil || *st.Recovered != tc.recovered || st.Seq != 6 || st.Epoch != "e1" {
			t.Errorf("%s: state %+v, want recovered %v", tc.name, st, tc.recovered)
		}
		got := f.deliveries(t)
		if !slices.Equal(seqsOf(got, topic), tc.want) {
			t.Errorf("%s: seqs %v, want %v", tc.name, seqsOf(got, topic), tc.want)
		}
		for i, d := range got {
			if d.Snap != tc.snap {
				t.Errorf("%s: delivery %d snap=%v", tc.name, i, d.Snap)
			}
			if d.Data != fmt.Sprint(d.Seq-1) {
				t.Errorf("%s: %+v carries the wrong data", tc.name, d)
			}
		}
		// Live updates follow without a gap.
		publishN(t, h, topic, 1)
		got = f.deliveries(t)
		if last := got[len(got)-1]; last.Seq != 7 || last.Snap {
			t.Errorf("%s: live after recovery %+v", tc.name, last)
		}
	}
	if st := h.Stats(); st.HistoryFrames != 6*4 {
		t.Errorf("HistoryFrames = %d, want %d", st.HistoryFrames, 6*4)
	}

	// Wildcard recovery: named topics recover, the others get a snapshot.
	w := newFake(true)
	states, err := h.Subscribe(w, "md.*", SubOptions{Since: map[string]Position{"md.R0": {"e1", 5}, "md.R1": {"e1", 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 6 {
		t.Errorf("states for %d topics, want 6: %+v", len(states), states)
	}
	if st := states["md.R0"]; st.Recovered == nil || !*st.Recovered || st.Seq != 7 {
		t.Errorf("md.R0 state %+v", st)
	}
	if st := states["md.R1"]; st.Recovered == nil || *st.Recovered {
		t.Errorf("md.R1 state %+v", st)
	}
	if st := states["md.R2"]; st.Recovered != nil || st.Seq != 7 {
		t.Errorf("md.R2 state %+v", st)
	}
	got := w.deliveries(t)
	if a := seqsOf(got, "md.R0"); !slices.Equal(a, []uint64{6, 7}) {
		t.Errorf("md.R0 recovered %v", a)
	}
	for _, topic := range []string{"md.R1", "md.R2"} {
		if b := seqsOf(got, topic); !slices.Equal(b, []uint64{7}) {
			t.Errorf("%s snapshot %v", topic, b)
		}
	}
	h.Close()
	pool.check(t)
}

func TestRecoveryWithoutHistory(t *testing.T) {
	pool := startPool()
	h := New(Config{HistorySize: -1, Epoch: "e"})
	publishN(t, h, "md.A", 3)
	if st := h.Stats(); st.HistoryFrames != 0 || st.HistoryBytes != 0 {
		t.Errorf("history disabled but %+v", st)
	}
	for _, tc := range []struct {
		seq uint64
		rec bool
	}{{3, true}, {2, false}} {
		f := newFake(true)
		states, err := h.Subscribe(f, "md.A", SubOptions{Since: map[string]Position{"md.A": {"e", tc.seq}}})
		if err != nil {
			t.Fatal(err)
		}
		if r := states["md.A"].Recovered; r == nil || *r != tc.rec {
			t.Errorf("since %d: recovered %v", tc.seq, r)
		}
		got := f.deliveries(t)
		if tc.rec && len(got) != 0 || !tc.rec && (len(got) != 1 || !got[0].Snap || got[0].Seq != 3) {
			t.Errorf("since %d: got %+v", tc.seq, got)
		}
	}
	h.Close()
	pool.check(t)
}

func TestHistoryTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pool := startPool()
		h := New(Config{HistoryTTL: time.Minute, Epoch: "e"})
		defer h.Close()
		publishN(t, h, "md.A", 3)
		time.Sleep(30 * time.Second)
		publishN(t, h, "md.A", 1) // seq 4
		time.Sleep(40 * time.Second)
		// seqs 1..3 are 70s old: expired; 4 is 40s old.
		rec := func(seq uint64) bool {
			f := newFake(true)
			states, err := h.Subscribe(f, "md.A", SubOptions{Since: map[string]Position{"md.A": {"e", seq}}})
			if err != nil {
				t.Fatal(err)
			}
			return *states["md.A"].Recovered
		}
		if rec(2) {
			t.Errorf("recovered from seq 2 although 3 expired")
		}
		if !rec(3) {
			t.Errorf("could not recover from seq 3: 4 is within the TTL")
		}
		// The hub goroutine expires idle topics' history on its own.
		time.Sleep(time.Minute)
		synctest.Wait()
		if st := h.Stats(); st.HistoryFrames != 0 || st.HistoryBytes != 0 {
			t.Errorf("history not expired by the sweeper: %+v", st)
		}
		h.Close()
		pool.check(t)
	})
}

// TestHistoryMaxBytes: the global history bound holds, each topic keeps at
// least its newest entry, and early evictions are counted.
func TestHistoryMaxBytes(t *testing.T) {
	const limit = 64 << 10
	h := New(Config{HistorySize: 1000, HistoryMaxBytes: limit})
	defer h.Close()
	data := []byte(`"` + strings.Repeat("x", 1000) + `"`)
	for i := 0; i < 500; i++ {
		topic := "t." + strconv.Itoa(i%20)
		if _, err := h.Publish(topic, data, 0); err != nil {
			t.Fatal(err)
		}
		if st := h.Stats(); st.HistoryBytes > limit+1100 {
			t.Fatalf("history bytes %d over the bound %d", st.HistoryBytes, limit)
		}
	}
	st := h.Stats()
	if st.HistoryCapped == 0 {
		t.Fatal("no early evictions counted")
	}
	if st.HistoryFrames < 20 {
		t.Fatalf("%d history frames: every topic must keep its newest", st.HistoryFrames)
	}
}
