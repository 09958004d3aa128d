package cluster_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/c1mhq/c1m/internal/testutil"
	"github.com/c1mhq/c1m/server"
)

// follower is a client that follows one topic through one pattern and,
// when its connection ends, resumes on the next address with its position,
// as c1m's clients do.
type follower struct {
	t       testing.TB
	pattern string
	topic   string
	epoch   string
	seqs    []uint64
	closes  []int // close codes seen (-1: no close frame)
	c       *wsClient
}

func follow(t testing.TB, addr, pattern, topic string) *follower {
	f := &follower{t: t, pattern: pattern, topic: topic}
	f.c = dialWS(t, addr)
	_, ok := f.c.sub(1, []string{pattern}, "")
	f.epoch = ok.Topics[topic].Epoch
	return f
}

func (f *follower) last() uint64 {
	if len(f.seqs) == 0 {
		return 0
	}
	return f.seqs[len(f.seqs)-1]
}

// run reads until it holds seq final (stored once known: the test then
// publishes one more message, so that a follower blocked in a read wakes
// up), resuming on next after its connection ends. It reports what went
// wrong.
func (f *follower) run(next []string, final *atomic.Uint64) error {
	for {
		if fin := final.Load(); fin != 0 && f.last() >= fin {
			return nil
		}
		m, err := f.c.read(20 * time.Second)
		if err == nil {
			if m.Op == "msg" && m.Topic == f.topic {
				f.seqs = append(f.seqs, m.Seq)
			}
			continue
		}
		if fin := final.Load(); fin != 0 && f.last() >= fin {
			return nil
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			f.closes = append(f.closes, ce.Code)
		} else {
			f.closes = append(f.closes, -1)
		}
		if len(next) == 0 {
			return fmt.Errorf("%s: connection ended with nowhere to go at seq %d (final %d, %d received): %v",
				f.pattern, f.last(), final.Load(), len(f.seqs), err)
		}
		f.c.ws.Close()
		addr := next[0]
		next = next[1:]
		f.c = dialWS(f.t, addr)
		if f.epoch == "" { // subscribed before the topic had data
			f.c.send(fmt.Sprintf(`{"op":"sub","id":2,"topics":[%q]}`, f.pattern))
		} else {
			f.c.send(fmt.Sprintf(`{"op":"sub","id":2,"topics":[%q],"since":{%q:{"epoch":%q,"seq":%d}}}`,
				f.pattern, f.topic, f.epoch, f.last()))
		}
		for {
			m, err := f.c.read(20 * time.Second)
			if err != nil {
				return fmt.Errorf("resubscribing on %s: %v", addr, err)
			}
			if m.Op == "msg" {
				if m.Topic == f.topic {
					f.seqs = append(f.seqs, m.Seq)
				}
				continue
			}
			if m.Op != "ok" {
				return fmt.Errorf("resubscribing on %s: %+v", addr, m)
			}
			st := m.Topics[f.topic]
			if f.epoch != "" && (st.Recovered == nil || !*st.Recovered || st.Epoch != f.epoch) {
				return fmt.Errorf("resubscribing on %s from seq %d: not recovered: %+v", addr, f.last(), st)
			}
			break
		}
	}
}

// check reports a lost or duplicated message between first and final.
func (f *follower) check(first, final uint64) error {
	want := first
	for i, s := range f.seqs {
		if s > final && want == final+1 {
			break // the wake-up message
		}
		if s != want {
			return fmt.Errorf("%s: message %d has seq %d, want %d (lost or duplicated)", f.pattern, i, s, want)
		}
		want++
	}
	if want != final+1 {
		return fmt.Errorf("%s: ended at seq %d, want %d", f.pattern, want-1, final)
	}
	return nil
}

// publishN publishes n messages to topic on the nodes given, from workers
// concurrent goroutines, and returns the lowest and highest seq. It calls
// progress after each publish with the count so far.
func publishN(t testing.TB, nodes []*node, topic string, n, workers int, progress func(int)) (lo, hi uint64, all []uint64) {
	var mu sync.Mutex
	var done atomic.Int64
	var wg sync.WaitGroup
	per := n / workers
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nd := nodes[w%len(nodes)]
			for i := range per {
				st, seq := nd.publish(t, topic, fmt.Sprintf(`{"w":%d,"i":%d}`, w, i))
				if st != 202 {
					t.Errorf("publish on %s: status %d", nd.addr, st)
					return
				}
				mu.Lock()
				all = append(all, seq)
				mu.Unlock()
				if progress != nil {
					progress(int(done.Add(1)))
				}
			}
		}()
	}
	wg.Wait()
	for _, s := range all {
		if lo == 0 || s < lo {
			lo = s
		}
		hi = max(hi, s)
	}
	return lo, hi, all
}

// Two nodes publish 5,000 messages each to one topic at the same moment:
// the seqs they are given are exactly lo..lo+9999, and every node's
// subscribers see that same sequence.
func TestConcurrentPublishersShareOneSeq(t *testing.T) {
	ns := startNATS(t)
	a, b, c := startNode(t, ns, "a"), startNode(t, ns, "b"), startNode(t, ns, "c")
	var fs []*follower
	for _, nd := range []*node{a, b, c} {
		fs = append(fs, follow(t, nd.addr, "cp.T", "cp.T"), follow(t, nd.addr, "cp.*", "cp.T"))
	}
	const n = 10000
	var final atomic.Uint64
	errs := make(chan error, len(fs))
	for _, f := range fs {
		go func() { errs <- f.run(nil, &final) }()
	}
	lo, hi, all := publishN(t, []*node{a, b}, "cp.T", n, 8, nil)
	final.Store(hi)
	a.publish(t, "cp.T", `{"end":1}`)
	seen := make(map[uint64]bool, n)
	for _, s := range all {
		if seen[s] {
			t.Fatalf("seq %d given to two publishes", s)
		}
		seen[s] = true
	}
	if len(all) != n || hi-lo != n-1 {
		t.Fatalf("%d publishes got seqs %d..%d: not contiguous", len(all), lo, hi)
	}
	for range fs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range fs {
		if err := f.check(lo, hi); err != nil {
			t.Error(err)
		}
	}
	retries := a.stats(t).NATS.PublishRetries + b.stats(t).NATS.PublishRetries
	t.Logf("10,000 publishes from two nodes: seqs %d..%d, %d compare-and-set retries", lo, hi, retries)
}

// Node B dies (SIGKILL) in the middle of a 10,000-message stream: its
// clients resume on C with their positions and end with every message
// exactly once.
func TestKilledNodeClientsResumeElsewhere(t *testing.T) {
	ns := startNATS(t)
	a, c := startNode(t, ns, "a"), startNode(t, ns, "c")
	b := startChild(t, ns, "b")
	a.publish(t, "kx.T", `{"warm":1}`) // the topic has an epoch before clients come
	var fs []*follower
	for range 3 {
		fs = append(fs, follow(t, b.addr, "kx.T", "kx.T"), follow(t, b.addr, "kx.>", "kx.T"))
	}
	var final atomic.Uint64
	errs := make(chan error, len(fs))
	for _, f := range fs {
		go func() { errs <- f.run([]string{c.addr}, &final) }()
	}
	const n = 10000
	var once sync.Once
	lo, hi, _ := publishN(t, []*node{a}, "kx.T", n, 4, func(done int) {
		if done >= 3000 {
			once.Do(b.kill)
		}
	})
	final.Store(hi)
	a.publish(t, "kx.T", `{"end":1}`)
	for range fs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range fs {
		if err := f.check(lo, hi); err != nil {
			t.Error(err)
		}
		if len(f.closes) != 1 || (f.closes[0] != -1 && f.closes[0] != websocket.CloseAbnormalClosure) {
			t.Errorf("closes %v: want one end without a close frame (killed)", f.closes)
		}
	}
}

// A draining node (SIGTERM: Shutdown) fails /readyz, closes its clients
// with 1001 and they resume on another node with nothing lost.
func TestDrainMovesClientsAway(t *testing.T) {
	ns := startNATS(t)
	a, c := startNode(t, ns, "a"), startNode(t, ns, "c")
	b := startChild(t, ns, "b")
	a.publish(t, "dr.T", `{"warm":1}`)
	var fs []*follower
	for range 4 {
		fs = append(fs, follow(t, b.addr, "dr.T", "dr.T"))
	}
	var final atomic.Uint64
	errs := make(chan error, len(fs))
	for _, f := range fs {
		go func() { errs <- f.run([]string{c.addr}, &final) }()
	}
	var once sync.Once
	drained := make(chan struct{})
	lo, hi, _ := publishN(t, []*node{a}, "dr.T", 3000, 2, func(done int) {
		if done >= 1000 {
			once.Do(func() {
				go func() {
					b.term()
					close(drained)
				}()
			})
		}
	})
	final.Store(hi)
	a.publish(t, "dr.T", `{"end":1}`)
	<-drained
	for range fs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range fs {
		if err := f.check(lo, hi); err != nil {
			t.Error(err)
		}
		if len(f.closes) != 1 || f.closes[0] != websocket.CloseGoingAway {
			t.Errorf("closes %v: want one close 1001", f.closes)
		}
	}
}

// Every c1m node restarts: the history is the stream's, so a client that
// comes back on a new node with its old position recovers exactly.
func TestRecoveryAfterAllNodesRestart(t *testing.T) {
	ns := startNATS(t)
	a, b := startNode(t, ns, "a"), startNode(t, ns, "b")
	f := follow(t, b.addr, "ra.T", "ra.T")
	var seqs []uint64
	for i := range 100 {
		_, s := a.publish(t, "ra.T", fmt.Sprintf(`{"i":%d}`, i))
		seqs = append(seqs, s)
	}
	for len(f.seqs) < 50 {
		m, err := f.c.read(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if m.Op == "msg" {
			f.seqs = append(f.seqs, m.Seq)
			if f.epoch == "" {
				f.epoch = epochOf(t, b)
			}
		}
	}
	a.stop()
	b.stop()
	d := startNode(t, ns, "d")
	c := dialWS(t, d.addr)
	before, ok := c.sub(1, []string{"ra.T"}, fmt.Sprintf(`,"since":{"ra.T":{"epoch":%q,"seq":%d}}`, f.epoch, f.last()))
	st := ok.Topics["ra.T"]
	if st.Recovered == nil || !*st.Recovered || st.Epoch != f.epoch {
		t.Fatalf("after every node restarted: %+v, want recovered in epoch %s", st, f.epoch)
	}
	if len(before) != 50 {
		t.Fatalf("recovered %d messages, want 50", len(before))
	}
	for i, m := range before {
		if m.Seq != seqs[50+i] || m.Snap {
			t.Fatalf("recovered message %d: %+v, want seq %d", i, m, seqs[50+i])
		}
	}
}

// NATS stops and comes back: meanwhile nodes are not ready, refuse
// publishes and new subscriptions with 503 and keep their clients; then
// every subscription works again and clients get what was published
// after, with no gap, on the connections they had.
func TestNATSOutage(t *testing.T) {
	ns := startNATS(t)
	a := startNode(t, ns, "a", func(c *server.Config) { c.Demo, c.DemoRate = true, 100 })
	b := startNode(t, ns, "b")
	a.publish(t, "no.T", `{"warm":1}`)
	x := follow(t, b.addr, "no.T", "no.T")
	y := follow(t, b.addr, "no.>", "no.T")
	pub := func(k int) (seqs []uint64) {
		for i := range k {
			st, s := a.publish(t, "no.T", fmt.Sprintf(`{"i":%d}`, i))
			if st != 202 {
				t.Fatalf("publish: %d", st)
			}
			seqs = append(seqs, s)
		}
		return seqs
	}
	first := pub(10)
	ns.stop()
	testutil.WaitFor(t, 10*time.Second, "nodes not ready", func() bool { return a.ready() == 503 && b.ready() == 503 })
	if st, _ := a.publish(t, "no.T", `{"x":1}`); st != 503 {
		t.Fatalf("publish without NATS: %d, want 503", st)
	}
	z := dialWS(t, b.addr)
	z.send(`{"op":"sub","id":7,"topics":["no.T"]}`)
	if m, err := z.read(10 * time.Second); err != nil || m.Op != "err" || m.Code != 503 {
		t.Fatalf("subscribe without NATS: %+v %v, want err 503", m, err)
	}
	ns.start()
	testutil.WaitFor(t, 15*time.Second, "nodes ready again", func() bool { return a.ready() == 200 && b.ready() == 200 })
	second := pub(10)
	var final atomic.Uint64
	final.Store(second[len(second)-1])
	for _, f := range []*follower{x, y} {
		if err := f.run(nil, &final); err != nil {
			t.Fatal(err)
		}
		if err := f.check(first[0], final.Load()); err != nil {
			t.Error(err)
		}
		if len(f.closes) != 0 {
			t.Errorf("client closed during the outage: %v", f.closes)
		}
	}
	if _, ok := z.sub(8, []string{"no.T"}, ""); ok.Op != "ok" {
		t.Fatal("subscribe after NATS came back failed")
	}
	// The demo feed on a outlived the outage: live ticks reach b.
	d := dialWS(t, b.addr)
	d.sub(1, []string{"md.>"}, "")
	for {
		m, err := d.read(10 * time.Second)
		if err != nil {
			t.Fatalf("no demo tick after the outage: %v", err)
		}
		if m.Op == "msg" && !m.Snap {
			break
		}
	}
	if st := b.stats(t).NATS; !st.Connected || st.Subscriptions < 1 || st.Reconnects < 1 {
		t.Fatalf("after the outage: %+v", st)
	}
}

// A node misses live messages (its subscription lost them): it fills the
// gap from the stream before delivering, so its clients never see it; also
// when it missed a topic's very first messages.
func TestGapFilledBeforeDelivery(t *testing.T) {
	ns := startNATS(t)
	a, b := startNode(t, ns, "a"), startNode(t, ns, "b")
	a.publish(t, "gp.T", `{"warm":1}`)
	x := follow(t, b.addr, "gp.T", "gp.T")
	y := follow(t, b.addr, "gp.>", "gp.N") // gp.N has no message yet
	b.srv.Node().DropLive(5)
	var seqs, fresh []uint64
	for i := range 20 {
		_, s := a.publish(t, "gp.T", fmt.Sprintf(`{"i":%d}`, i))
		seqs = append(seqs, s)
	}
	// gp.T's last message must have reached b before b drops the next
	// three: a dropped last message has no successor to reveal its gap.
	testutil.WaitFor(t, 10*time.Second, "b has gp.T's last message", func() bool {
		seq, _, ok := b.srv.Hub().Latest("gp.T")
		return ok && seq == seqs[19]
	})
	b.srv.Node().DropLive(3)
	for i := range 10 {
		_, s := a.publish(t, "gp.N", fmt.Sprintf(`{"i":%d}`, i))
		fresh = append(fresh, s)
	}
	var final atomic.Uint64
	final.Store(seqs[19])
	if err := x.run(nil, &final); err != nil {
		t.Fatal(err)
	}
	if err := x.check(seqs[0], seqs[19]); err != nil {
		t.Error(err)
	}
	var finalN atomic.Uint64
	finalN.Store(fresh[9])
	if err := y.run(nil, &finalN); err != nil {
		t.Fatal(err)
	}
	if err := y.check(fresh[0], fresh[9]); err != nil {
		t.Error(err)
	}
	st := b.stats(t).NATS
	if st.GapFills < 2 || st.GapsFilled < 8 || st.Unrecoverable != 0 {
		t.Fatalf("gap counters %+v: want 2 fills of 8 messages", st)
	}
}
