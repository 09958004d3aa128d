package hub

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestCheckTopic(t *testing.T) {
	long := strings.Repeat("a", maxTopicLen)
	for _, tc := range []struct {
		s           string
		topicOK     bool
		patternOK   bool
		patternWild bool
	}{
		{"md.AAPL", true, true, false},
		{"a", true, true, false},
		{"A-Z_0:9.x", true, true, false},
		{long, true, true, false},
		{long + "a", false, false, false},
		{"", false, false, false},
		{".", false, false, false},
		{"md.", false, false, false},
		{".md", false, false, false},
		{"md..AAPL", false, false, false},
		{"md.AA PL", false, false, false},
		{"md.AAPL/x", false, false, false},
		{"md.é", false, false, false},
		{"md.*", false, true, true},
		{"*", false, true, true},
		{">", false, true, true},
		{"md.>", false, true, true},
		{"*.*.>", false, true, true},
		{"md.>.x", false, false, false},
		{"md.a*", false, false, false},
		{"md.a>", false, false, false},
		{"md.**", false, false, false},
	} {
		_, err := checkTopic(tc.s, false)
		if (err == nil) != tc.topicOK {
			t.Errorf("checkTopic(%q, topic) = %v, want ok=%v", tc.s, err, tc.topicOK)
		}
		if err != nil && !errors.Is(err, ErrBadTopic) {
			t.Errorf("checkTopic(%q) error %v is not ErrBadTopic", tc.s, err)
		}
		wild, err := checkTopic(tc.s, true)
		if (err == nil) != tc.patternOK || wild != tc.patternWild {
			t.Errorf("checkTopic(%q, pattern) = %v, %v; want ok=%v wild=%v", tc.s, wild, err, tc.patternOK, tc.patternWild)
		}
	}
}

// matchNaive is the oracle for pattern matching: token by token.
func matchNaive(pattern, topic string) bool {
	p, tt := strings.Split(pattern, "."), strings.Split(topic, ".")
	for i, tok := range p {
		if tok == ">" {
			return len(tt) > i
		}
		if i >= len(tt) || (tok != "*" && tok != tt[i]) {
			return false
		}
	}
	return len(p) == len(tt)
}

func TestMatchAgainstOracle(t *testing.T) {
	toks := []string{"a", "b", "*", ">"}
	var patterns []string
	var gen func(prefix string, depth int)
	gen = func(prefix string, depth int) {
		if depth == 0 {
			return
		}
		for _, tok := range toks {
			p := tok
			if prefix != "" {
				p = prefix + "." + tok
			}
			if _, err := checkTopic(p, true); err == nil {
				patterns = append(patterns, p)
			}
			if tok != ">" {
				gen(p, depth-1)
			}
		}
	}
	gen("", 4)
	topics := []string{"a", "b", "c", "a.a", "a.b", "b.a", "a.b.c", "a.a.a", "b.b.b.b", "a.b.a.b", "c.c.c.c.c"}

	h := New(Config{})
	defer h.Close()
	subs := make(map[*subscription]string)
	for i, p := range patterns {
		if !strings.ContainsAny(p, "*>") {
			continue
		}
		s := &subscription{c: &conn{id: uint64(i)}, pattern: p, wild: true}
		h.sl.insert(s)
		subs[s] = p
	}
	for _, topic := range topics {
		tp, err := h.topic(topic, true)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := h.sl.match(topic, nil)
		var gotP, want []string
		for _, s := range got {
			gotP = append(gotP, s.pattern)
		}
		for _, p := range patterns {
			if matchPattern(p, topic) != matchNaive(p, topic) {
				t.Errorf("matchPattern(%q, %q) = %v, oracle says otherwise", p, topic, matchPattern(p, topic))
			}
			if strings.ContainsAny(p, "*>") && matchNaive(p, topic) {
				want = append(want, p)
			}
		}
		slices.Sort(gotP)
		slices.Sort(want)
		if !slices.Equal(gotP, want) {
			t.Errorf("sublist match %q:\n got %v\nwant %v", topic, gotP, want)
		}
		_ = tp
	}
	// The topic trie against the oracle.
	for _, p := range patterns {
		var got, want []string
		for _, tp := range h.tt.match(p, nil) {
			got = append(got, tp.name)
		}
		for _, topic := range topics {
			if matchNaive(p, topic) {
				want = append(want, topic)
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("topic tree match %q: got %v want %v", p, got, want)
		}
	}
	// Removal prunes the trie completely.
	for s := range subs {
		h.sl.remove(s)
	}
	if !h.sl.root.empty() || h.sl.count != 0 {
		t.Errorf("sublist not empty after removing everything: %+v", h.sl.root)
	}
}

func TestPublishFanout(t *testing.T) {
	pool := startPool()
	h := New(Config{})
	fakes := make([]*fakeSub, 100)
	for i := range fakes {
		fakes[i] = newFake(true)
		if _, err := h.Subscribe(fakes[i], "md.AAPL", SubOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	other := newFake(true)
	if _, err := h.Subscribe(other, "md.MSFT", SubOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 10; i++ {
		data := fmt.Sprintf(`{"px":%d.5,"s":"a\"b"}`, i)
		seq, err := h.Publish("md.AAPL", []byte(data), int64(1000+i))
		if err != nil || seq != uint64(i) {
			t.Fatalf("Publish = %d, %v; want %d", seq, err, i)
		}
	}
	for _, f := range fakes {
		got := f.deliveries(t)
		if len(got) != 10 {
			t.Fatalf("got %d deliveries, want 10: %+v", len(got), got)
		}
		for i, d := range got {
			want := delivery{Topic: "md.AAPL", Seq: uint64(i + 1), TS: int64(1001 + i),
				Data: fmt.Sprintf(`{"px":%d.5,"s":"a\"b"}`, i+1)}
			if d != want {
				t.Fatalf("delivery %d = %+v, want %+v", i, d, want)
			}
		}
	}
	if got := other.deliveries(t); len(got) != 0 {
		t.Errorf("md.MSFT subscriber got %+v", got)
	}
	st := h.Stats()
	if st.Published != 10 || st.Deliveries != 1000 || st.Topics != 1 || st.EmptyTopics != 1 || st.Subscriptions != 101 {
		t.Errorf("Stats = %+v", st)
	}
	if st.HistoryFrames != 10 || st.HistoryBytes <= 0 {
		t.Errorf("history stats = %+v", st)
	}
	h.Close()
	if st := h.Stats(); st.HistoryFrames != 0 || st.HistoryBytes != 0 {
		t.Errorf("history after Close: %+v", st)
	}
	pool.check(t)
}

func TestPublishErrors(t *testing.T) {
	h := New(Config{MaxTopics: 2})
	defer h.Close()
	for _, topic := range []string{"", "md.*", "md.>", "md..x", "md x"} {
		if _, err := h.Publish(topic, []byte(`1`), 0); !errors.Is(err, ErrBadTopic) {
			t.Errorf("Publish(%q) = %v, want ErrBadTopic", topic, err)
		}
	}
	for _, data := range []string{``, `{`, `1 2`, `{"a":1}x`} {
		if _, err := h.Publish("md.a", []byte(data), 0); !errors.Is(err, ErrBadData) {
			t.Errorf("Publish(%q) = %v, want ErrBadData", data, err)
		}
	}
	if _, err := h.Publish("md.a", []byte(`1`), 0); err != nil {
		t.Fatal(err)
	}
	// Subscriptions create empty topics, which MaxTopics does not count.
	if _, err := h.Subscribe(newFake(true), "md.b", SubOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Publish("md.c", []byte(`1`), 0); err != nil {
		t.Fatalf("second data topic: %v", err)
	}
	if _, err := h.Publish("md.d", []byte(`1`), 0); !errors.Is(err, ErrTooManyTopics) {
		t.Errorf("third data topic: %v, want ErrTooManyTopics", err)
	}
	if _, err := h.Publish("md.b", []byte(`1`), 0); !errors.Is(err, ErrTooManyTopics) {
		t.Errorf("first publish to a subscribed topic: %v, want ErrTooManyTopics", err)
	}
	if _, err := h.Subscribe(newFake(true), "md.e", SubOptions{}); err != nil {
		t.Errorf("subscribe with a full table: %v", err)
	}
	if _, err := h.Subscribe(newFake(true), "md.*", SubOptions{}); err != nil {
		t.Errorf("wildcard subscribe: %v", err)
	}
	if seq, err := h.Publish("md.c", []byte(`1`), 0); err != nil || seq != 2 {
		t.Errorf("existing topic: %d, %v", seq, err)
	}
	// The refused publish to md.d left nothing behind.
	if st := h.Stats(); st.Topics != 2 || st.EmptyTopics != 2 {
		t.Errorf("Stats = %+v, want 2 data topics and 2 empty ones (md.b, md.e)", st)
	}
	h.Close()
	if _, err := h.Publish("md.a", []byte(`1`), 0); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
	if _, err := h.Subscribe(newFake(true), "md.a", SubOptions{}); !errors.Is(err, ErrClosed) {
		t.Errorf("subscribe after Close: %v", err)
	}
}

func TestMaxSubsPerConn(t *testing.T) {
	h := New(Config{MaxSubsPerConn: 2})
	defer h.Close()
	f := newFake(true)
	for _, p := range []string{"a", "b"} {
		if _, err := h.Subscribe(f, p, SubOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.Subscribe(f, "c", SubOptions{}); !errors.Is(err, ErrTooManySubs) {
		t.Errorf("third pattern: %v", err)
	}
	if _, err := h.Subscribe(f, "a", SubOptions{}); err != nil {
		t.Errorf("re-subscribing an existing pattern is not a new one: %v", err)
	}
	if _, err := h.Subscribe(newFake(true), "c", SubOptions{}); err != nil {
		t.Errorf("the limit is per subscriber: %v", err)
	}
	if err := h.Unsubscribe(f, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Subscribe(f, "c", SubOptions{}); err != nil {
		t.Errorf("after Unsubscribe: %v", err)
	}
	if _, err := h.Subscribe(f, "bad..", SubOptions{}); !errors.Is(err, ErrBadTopic) {
		t.Errorf("bad pattern: %v", err)
	}
}

func TestWildcards(t *testing.T) {
	pool := startPool()
	h := New(Config{})
	patterns := []string{"md.AAPL", "md.*", "md.>", ">", "*.AAPL", "*", "md.*.trades", "md.AAPL.>"}
	fakes := make(map[string]*fakeSub)
	for _, p := range patterns {
		fakes[p] = newFake(true)
		if _, err := h.Subscribe(fakes[p], p, SubOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	topics := []string{"md.AAPL", "md.MSFT", "md.AAPL.trades", "fx.AAPL", "md", "x.y.z"}
	for _, topic := range topics {
		if _, err := h.Publish(topic, []byte(`0`), 0); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range patterns {
		var want []string
		for _, topic := range topics {
			if matchNaive(p, topic) {
				want = append(want, topic)
			}
		}
		var got []string
		for _, d := range fakes[p].deliveries(t) {
			if d.Seq != 1 || d.Snap {
				t.Errorf("%s: unexpected %+v", p, d)
			}
			got = append(got, d.Topic)
		}
		if !slices.Equal(got, want) {
			t.Errorf("pattern %q got %v, want %v", p, got, want)
		}
	}
	h.Close()
	pool.check(t)
}

// A connection gets each message once however many of its patterns match.
func TestOverlapDeliversOncePerConn(t *testing.T) {
	pool := startPool()
	h := New(Config{})
	f := newFake(true)
	pub := func(want int) {
		t.Helper()
		before := len(f.deliveries(t))
		seq, err := h.Publish("md.AAPL", []byte(`1`), 0)
		if err != nil {
			t.Fatal(err)
		}
		got := f.deliveries(t)[before:]
		if len(got) != want {
			t.Fatalf("publish %d: got %d deliveries %+v, want %d", seq, len(got), got, want)
		}
		if want == 1 && got[0].Seq != seq {
			t.Fatalf("publish %d: got %+v", seq, got[0])
		}
	}
	sub := func(p string, wantSnaps int) {
		t.Helper()
		before := len(f.deliveries(t))
		if _, err := h.Subscribe(f, p, SubOptions{}); err != nil {
			t.Fatal(err)
		}
		if got := f.deliveries(t)[before:]; len(got) != wantSnaps {
			t.Fatalf("Subscribe(%q): got %+v, want %d snapshots", p, got, wantSnaps)
		}
	}
	pub(0)
	sub("md.AAPL", 1) // snapshot of seq 1
	pub(1)
	sub("md.*", 0) // already streaming md.AAPL: no second snapshot
	pub(1)
	sub("md.>", 0)
	sub(">", 0)
	pub(1)
	if err := h.Unsubscribe(f, "md.AAPL"); err != nil {
		t.Fatal(err)
	}
	pub(1) // a wildcard takes over
	if err := h.Unsubscribe(f, "md.*"); err != nil {
		t.Fatal(err)
	}
	pub(1)
	if err := h.Unsubscribe(f, ">"); err != nil {
		t.Fatal(err)
	}
	pub(1)
	if err := h.Unsubscribe(f, "md.>"); err != nil {
		t.Fatal(err)
	}
	pub(0)
	if err := h.Unsubscribe(f, "nothing"); err != nil {
		t.Errorf("unknown pattern: %v", err)
	}
	// The stream seen by the connection: snapshot 1, then 2.. without a gap.
	var seqs []uint64
	for _, d := range f.deliveries(t) {
		seqs = append(seqs, d.Seq)
	}
	if want := []uint64{1, 2, 3, 4, 5, 6, 7}; !slices.Equal(seqs, want) {
		t.Errorf("seqs %v, want %v", seqs, want)
	}
	h.Close()
	pool.check(t)
}

func TestUnsubscribeAll(t *testing.T) {
	pool := startPool()
	h := New(Config{})
	a, b := newFake(true), newFake(true)
	for _, p := range []string{"md.AAPL", "md.*", "fx.>"} {
		for _, f := range []*fakeSub{a, b} {
			if _, err := h.Subscribe(f, p, SubOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := h.Stats().Subscriptions; n != 6 {
		t.Fatalf("Subscriptions = %d", n)
	}
	h.UnsubscribeAll(a)
	h.UnsubscribeAll(a) // twice is harmless
	if n := h.Stats().Subscriptions; n != 3 {
		t.Fatalf("Subscriptions after UnsubscribeAll = %d", n)
	}
	for _, topic := range []string{"md.AAPL", "md.X", "fx.EUR.USD"} {
		if _, err := h.Publish(topic, []byte(`true`), 0); err != nil {
			t.Fatal(err)
		}
	}
	if got := a.deliveries(t); len(got) != 0 {
		t.Errorf("unsubscribed conn got %+v", got)
	}
	if got := b.deliveries(t); len(got) != 3 {
		t.Errorf("other conn got %+v", got)
	}
	// The same Subscriber may subscribe again after UnsubscribeAll.
	if _, err := h.Subscribe(a, "md.X", SubOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := a.deliveries(t); len(got) != 1 || !got[0].Snap || got[0].Topic != "md.X" {
		t.Errorf("resubscribed conn got %+v", got)
	}
	h.Close()
	pool.check(t)
}

func TestSnapshotThenLive(t *testing.T) {
	pool := startPool()
	h := New(Config{})
	for i := 1; i <= 3; i++ {
		if _, err := h.Publish("md.AAPL", []byte(fmt.Sprintf(`{"v":%d}`, i)), int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	f := newFake(true)
	states, err := h.Subscribe(f, "md.AAPL", SubOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st := states["md.AAPL"]; st.Seq != 3 || st.Epoch != h.Epoch() || st.Recovered != nil || len(states) != 1 {
		t.Errorf("states = %+v", states)
	}
	if _, err := h.Publish("md.AAPL", []byte(`{"v":4}`), 4); err != nil {
		t.Fatal(err)
	}
	got := f.deliveries(t)
	want := []delivery{
		{Topic: "md.AAPL", Seq: 3, TS: 3, Snap: true, Data: `{"v":3}`},
		{Topic: "md.AAPL", Seq: 4, TS: 4, Data: `{"v":4}`},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	// A subscribe to a topic without a value reports seq 0 and sends nothing.
	g := newFake(true)
	states, err = h.Subscribe(g, "md.NEW", SubOptions{})
	if err != nil || states["md.NEW"].Seq != 0 || len(g.deliveries(t)) != 0 {
		t.Errorf("new topic: %+v, %v, %+v", states, err, g.deliveries(t))
	}
	// Wildcard subscribe: a snapshot of every existing matching topic.
	if _, err := h.Publish("md.MSFT", []byte(`"m"`), 9); err != nil {
		t.Fatal(err)
	}
	w := newFake(true)
	states, err = h.Subscribe(w, "md.*", SubOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 2 || states["md.AAPL"].Seq != 4 || states["md.MSFT"].Seq != 1 {
		t.Errorf("wildcard states %+v", states)
	}
	got = w.deliveries(t)
	slices.SortFunc(got, func(a, b delivery) int { return strings.Compare(a.Topic, b.Topic) })
	want = []delivery{
		{Topic: "md.AAPL", Seq: 4, TS: 4, Snap: true, Data: `{"v":4}`},
		{Topic: "md.MSFT", Seq: 1, TS: 9, Snap: true, Data: `"m"`},
	}
	if !slices.Equal(got, want) {
		t.Errorf("wildcard snapshots %+v\nwant %+v", got, want)
	}
	h.Close()
	pool.check(t)
}

func TestBinaryRoundTrip(t *testing.T) {
	pool := startPool()
	h := New(Config{})
	f := newFake(true)
	if _, err := h.Subscribe(f, "md.AAPL", SubOptions{}); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 70000) // 64-bit frame length
	payloads := []string{"", "\x00\x01\xff", long, `{"json":true}`}
	for i, p := range payloads {
		seq, err := h.PublishBinary("md.AAPL", []byte(p), int64(-1-i))
		if err != nil || seq != uint64(i+1) {
			t.Fatalf("PublishBinary = %d, %v", seq, err)
		}
	}
	// JSON and binary share the seq.
	if seq, err := h.Publish("md.AAPL", []byte(`7`), 5); err != nil || seq != 5 {
		t.Fatalf("Publish after binary = %d, %v", seq, err)
	}
	if _, err := h.PublishBinary("md.AAPL", []byte("last"), 6); err != nil {
		t.Fatal(err)
	}
	got := f.deliveries(t)
	if len(got) != 6 {
		t.Fatalf("got %d deliveries", len(got))
	}
	for i, p := range payloads {
		want := delivery{Binary: true, Topic: "md.AAPL", Seq: uint64(i + 1), TS: int64(-1 - i), Data: p}
		if got[i] != want {
			t.Errorf("binary %d: got %+v", i, got[i])
		}
	}
	if want := (delivery{Topic: "md.AAPL", Seq: 5, TS: 5, Data: `7`}); got[4] != want {
		t.Errorf("json after binary: %+v", got[4])
	}
	// The snapshot of a binary last value is binary, kind 2.
	g := newFake(true)
	if _, err := h.Subscribe(g, "md.AAPL", SubOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := g.deliveries(t); len(got) != 1 || got[0] != (delivery{Binary: true, Snap: true, Topic: "md.AAPL", Seq: 6, TS: 6, Data: "last"}) {
		t.Errorf("binary snapshot %+v", got)
	}
	// The example of docs/PROTOCOL.md.
	doc := appendBinaryMsg(nil, binaryKindMsg, "md.X", 258, 1, []byte("hi"))
	if got := fmt.Sprintf("% x", doc); got != "01 04 6d 64 2e 58 00 00 00 00 00 00 01 02 00 00 00 00 00 00 00 01 68 69" {
		t.Errorf("documented example encodes as %s", got)
	}
	// A topic of 200 bytes takes a two-byte varint.
	long200 := strings.Repeat("t", 200)
	if d, err := decodeBinary(appendBinaryMsg(nil, binaryKindSnap, long200, 1, 2, []byte("p"))); err != nil ||
		d != (delivery{Binary: true, Snap: true, Topic: long200, Seq: 1, TS: 2, Data: "p"}) {
		t.Errorf("long topic round trip: %+v, %v", d, err)
	}
	// Exact header bytes for a small message.
	b := appendBinaryMsg(nil, binaryKindMsg, "md.X", 0x0102030405060708, -2, []byte("hi"))
	want := []byte{1, 4, 'm', 'd', '.', 'X', 1, 2, 3, 4, 5, 6, 7, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 'h', 'i'}
	if !slices.Equal(b, want) {
		t.Errorf("binary encoding % x\nwant % x", b, want)
	}
	h.Close()
	pool.check(t)
}

// One conn with several matching wildcards gets one entry: the earliest.
func TestSublistDedupePerConn(t *testing.T) {
	sl := newSublist()
	a, b := &conn{id: 1}, &conn{id: 2}
	subs := []*subscription{
		{c: a, id: 5, pattern: "md.>"},
		{c: b, id: 3, pattern: "md.*"},
		{c: a, id: 4, pattern: "*.AAPL"},
		{c: a, id: 6, pattern: ">"},
		{c: b, id: 7, pattern: ">"},
	}
	for _, s := range subs {
		sl.insert(s)
	}
	got, _ := sl.match("md.AAPL", nil)
	slices.SortFunc(got, func(x, y *subscription) int { return int(x.id) - int(y.id) })
	if len(got) != 2 || got[0].id != 3 || got[1].id != 4 {
		t.Errorf("got %d subscriptions %v", len(got), got)
	}
	sl.remove(subs[2])
	got, _ = sl.match("md.AAPL", nil)
	slices.SortFunc(got, func(x, y *subscription) int { return int(x.id) - int(y.id) })
	if len(got) != 2 || got[0].id != 3 || got[1].id != 5 {
		t.Errorf("after removing id 4: %v", got)
	}
	if a.nwild != 2 || b.nwild != 2 {
		t.Errorf("nwild %d %d", a.nwild, b.nwild)
	}
}

// subSet keeps a conn's subscriptions by pattern in a slice, and indexes
// them once it holds more than smallSubs.
func TestSubSet(t *testing.T) {
	var ss subSet
	const n = 3 * smallSubs
	for i := 0; i < n; i++ {
		ss.add(&subscription{pattern: fmt.Sprintf("p.%d", i)})
		if (ss.idx != nil) != (ss.len() > smallSubs) {
			t.Fatalf("%d subscriptions, index %v", ss.len(), ss.idx != nil)
		}
	}
	// Remove every other one, then check every lookup.
	for i := 0; i < n; i += 2 {
		if sub := ss.remove(fmt.Sprintf("p.%d", i)); sub == nil || sub.pattern != fmt.Sprintf("p.%d", i) {
			t.Fatalf("remove p.%d: %v", i, sub)
		}
	}
	if ss.remove("p.0") != nil || ss.remove("nope") != nil {
		t.Fatal("removed a pattern twice or one never added")
	}
	for i := 0; i < n; i++ {
		got := ss.get(fmt.Sprintf("p.%d", i))
		if (got != nil) != (i%2 == 1) || (got != nil && got.pattern != fmt.Sprintf("p.%d", i)) {
			t.Fatalf("get p.%d: %v", i, got)
		}
	}
	for i := 1; i < n; i += 2 {
		ss.remove(fmt.Sprintf("p.%d", i))
	}
	if ss.len() != 0 || ss.list != nil || ss.idx != nil {
		t.Fatalf("emptied set: %+v", ss)
	}
}
