package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/c1mhq/c1m/client"
	"github.com/c1mhq/c1m/internal/testutil"
	"github.com/c1mhq/c1m/server"
)

func TestSubscribeSnapshotThenLive(t *testing.T) {
	_, addr, _ := startServer(t, "127.0.0.1:0", nil)
	httpPub(t, addr, "md.A.quote", `{"bid":1}`)
	seq := httpPub(t, addr, "md.A.quote", `{"bid":2}`)
	var r rec
	c := dial(t, addr, &r, nil)
	if _, err := c.Subscribe(ctx5(t), []string{"md.A.quote"}, client.SubOptions{Handler: r.handle}); err != nil {
		t.Fatal(err)
	}
	// the snapshot comes before Subscribe returns
	msgs, _ := r.snapshot()
	if len(msgs) != 1 || !msgs[0].Snapshot || msgs[0].Seq != seq || string(msgs[0].Data) != `{"bid":2}` || msgs[0].Topic != "md.A.quote" {
		t.Fatalf("after Subscribe: %+v", msgs)
	}
	if msgs[0].TS == 0 || time.Since(msgs[0].Time()) > time.Minute {
		t.Errorf("ts %d", msgs[0].TS)
	}
	httpPub(t, addr, "md.A.quote", `{"bid":3}`)
	testutil.WaitFor(t, 5*time.Second, "live message", func() bool { return r.count() == 2 })
	msgs, _ = r.snapshot()
	if m := msgs[1]; m.Snapshot || m.Seq != seq+1 || string(m.Data) != `{"bid":3}` {
		t.Fatalf("live: %+v", m)
	}
	if p := c.Positions()["md.A.quote"]; p.Seq != seq+1 || p.Epoch == "" || p.Epoch != c.Epoch() {
		t.Fatalf("position %+v, epoch %q", p, c.Epoch())
	}
}

func TestWildcardAndChannel(t *testing.T) {
	_, addr, _ := startServer(t, "127.0.0.1:0", nil)
	var r rec
	c := dial(t, addr, &r, nil)
	ch := make(chan client.Message, 16)
	if _, err := c.Subscribe(ctx5(t), []string{"md.*.quote", "fx.>"}, client.SubOptions{Chan: ch}); err != nil {
		t.Fatal(err)
	}
	httpPub(t, addr, "md.A.trade", `1`)
	httpPub(t, addr, "md.A.quote", `2`)
	httpPub(t, addr, "fx.EUR.USD", `3`)
	httpPub(t, addr, "md.B.quote", `4`)
	want := []string{"md.A.quote 2", "fx.EUR.USD 3", "md.B.quote 4"}
	for _, w := range want {
		select {
		case m := <-ch:
			if got := m.Topic + " " + string(m.Data); got != w || m.Snapshot {
				t.Fatalf("got %q (snap %v), want %q", got, m.Snapshot, w)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("timed out waiting for %q", w)
		}
	}
	select {
	case m := <-ch:
		t.Fatalf("unexpected %+v", m)
	default:
	}
}

func TestOverlappingSubscriptionsDeliverOnce(t *testing.T) {
	_, addr, _ := startServer(t, "127.0.0.1:0", nil)
	var wild, exact rec
	c := dial(t, addr, &wild, nil)
	if _, err := c.Subscribe(ctx5(t), []string{"md.>"}, client.SubOptions{Handler: wild.handle}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Subscribe(ctx5(t), []string{"md.X"}, client.SubOptions{Handler: exact.handle}); err != nil {
		t.Fatal(err)
	}
	httpPub(t, addr, "md.X", `1`)
	httpPub(t, addr, "md.Y", `2`)
	testutil.WaitFor(t, 5*time.Second, "both", func() bool { return wild.count()+exact.count() == 2 })
	w, _ := wild.snapshot()
	e, _ := exact.snapshot()
	if len(w) != 1 || w[0].Topic != "md.Y" || len(e) != 1 || e[0].Topic != "md.X" {
		t.Fatalf("wildcard got %+v, exact got %+v", w, e)
	}
}

func TestPublishWithAck(t *testing.T) {
	_, addr, _ := startServer(t, "127.0.0.1:0", nil)
	var r rec
	c := dial(t, addr, &r, nil)
	if _, err := c.Subscribe(ctx5(t), []string{"p.>"}, client.SubOptions{Handler: r.handle}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 100; i++ {
		if err := c.Publish(ctx5(t), "p.json", []byte(strconv.Itoa(i))); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	if err := c.PublishBinary(ctx5(t), "p.bin", []byte{0, 1, 2, 255}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "101 deliveries", func() bool { return r.count() == 101 })
	msgs, _ := r.snapshot()
	for i, m := range msgs[:100] {
		if m.Topic != "p.json" || m.Seq != uint64(i+1) || string(m.Data) != strconv.Itoa(i+1) || m.Binary {
			t.Fatalf("delivery %d: %+v", i, m)
		}
	}
	if m := msgs[100]; m.Topic != "p.bin" || !m.Binary || string(m.Data) != "\x00\x01\x02\xff" {
		t.Fatalf("binary: %+v", m)
	}
	// the ack means published: a fresh subscriber's snapshot has it
	var r2 rec
	c2 := dial(t, addr, &r2, nil)
	if _, err := c2.Subscribe(ctx5(t), []string{"p.json"}, client.SubOptions{Handler: r2.handle}); err != nil {
		t.Fatal(err)
	}
	if m, _ := r2.snapshot(); len(m) != 1 || m[0].Seq != 100 || !m[0].Snapshot {
		t.Fatalf("snapshot %+v", m)
	}
}

// seqCheck verifies per-topic streams: every seq follows the previous one
// by exactly one, except right where an event reported a break.
func TestConcurrentPublishersAndSubscribers(t *testing.T) {
	_, addr, _ := startServer(t, "127.0.0.1:0", nil)
	var r rec
	c := dial(t, addr, &r, nil)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			topic := fmt.Sprintf("c.%d", g)
			if _, err := c.Subscribe(ctx5(t), []string{topic}, client.SubOptions{Handler: r.handle}); err != nil {
				t.Error(err)
				return
			}
			for i := 0; i < 50; i++ {
				if err := c.Publish(ctx5(t), topic, []byte(`{}`)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	testutil.WaitFor(t, 5*time.Second, "200 deliveries", func() bool { return r.count() == 200 })
	if s := c.Stats(); s.Delivered != 200 || s.Duplicates != 0 || s.Missed != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestServerRestartMidStream: a publisher sends 10,000 messages while the
// server is replaced by a new one on the same address. The client reports
// the restart (recovered:false, the new epoch), every message it did not
// get lies inside that reported break, and none comes twice.
func TestServerRestartMidStream(t *testing.T) {
	const total = 10000
	_, addr, stop1 := startServer(t, "127.0.0.1:0", nil)
	var r rec
	c := dial(t, addr, &r, nil)
	if _, err := c.Subscribe(ctx5(t), []string{"rs.x"}, client.SubOptions{Handler: r.handle}); err != nil {
		t.Fatal(err)
	}
	epoch1 := c.Epoch()
	var published sync.WaitGroup
	published.Add(1)
	pubErr := make(chan error, 1)
	go func() {
		defer published.Done()
		for i := 1; i <= total; {
			_, err := client.PublishHTTP(context.Background(), nil, "http://"+addr, "", "rs.x", []byte(strconv.Itoa(i)), false)
			if err != nil {
				var he *client.HTTPError
				if errors.As(err, &he) && he.Status != 503 {
					pubErr <- err
					return
				}
				// the server is restarting (refused, reset or 503 while
				// shutting down): nothing was published, try again
				time.Sleep(time.Millisecond)
				continue
			}
			i++
		}
	}()
	testutil.WaitFor(t, 10*time.Second, "3000 deliveries", func() bool { return r.count() >= 3000 })
	stop1()
	_, addr2, _ := startServer(t, addr, nil)
	if addr2 != addr {
		t.Fatalf("restarted on %s, want %s", addr2, addr)
	}
	published.Wait()
	select {
	case err := <-pubErr:
		t.Fatal(err)
	default:
	}
	testutil.WaitFor(t, 20*time.Second, "the last message", func() bool {
		m, _ := r.snapshot()
		return len(m) > 0 && string(m[len(m)-1].Data) == strconv.Itoa(total)
	})
	msgs, _ := r.snapshot()
	// exactly one resume failed, into the new epoch (a reconnection to the
	// old server while it drained would resume exactly, in the old epoch)
	var failed []client.Event
	for _, e := range r.eventsOf(client.EventResumed) {
		if !e.Recovered {
			failed = append(failed, e)
		} else if e.Epoch != epoch1 {
			t.Fatalf("recovered into another epoch: %+v", e)
		}
	}
	if len(failed) != 1 || failed[0].Epoch == epoch1 || failed[0].Epoch == "" || failed[0].PrevEpoch != epoch1 || failed[0].Topic != "rs.x" {
		t.Fatalf("failed resumes %+v (old epoch %s)", failed, epoch1)
	}
	if c.Epoch() != failed[0].Epoch {
		t.Fatalf("client epoch %s, event %s", c.Epoch(), failed[0].Epoch)
	}
	if g := r.eventsOf(client.EventGap); len(g) != 0 {
		t.Fatalf("gaps %+v", g)
	}
	if d := r.eventsOf(client.EventDisconnected); len(d) == 0 || !errors.Is(d[0].Err, client.ErrGoingAway) {
		t.Fatalf("disconnected %+v", d)
	}
	// One break, where the epoch changed: before it the stream is 1, 2, ...
	// of the old server, after it the new server's stream from its first
	// delivery on, each contiguous; the data never repeats.
	brk := -1
	prevData := 0
	for i, m := range msgs {
		d, _ := strconv.Atoi(string(m.Data))
		if d <= prevData {
			t.Fatalf("delivery %d: data %d after %d (duplicate or reorder)", i, d, prevData)
		}
		prevData = d
		if i == 0 {
			continue
		}
		if m.Seq == msgs[i-1].Seq+1 && !m.Snapshot && d == prevDataOf(msgs[i-1])+1 {
			continue
		}
		if brk >= 0 {
			t.Fatalf("second break at %d: %+v after %+v", i, m, msgs[i-1])
		}
		brk = i
	}
	if brk < 0 {
		t.Fatal("no break in the stream")
	}
	// the old server's part starts at seq 1; the new one's part ends with total
	if msgs[0].Seq != 1 || string(msgs[0].Data) != "1" {
		t.Fatalf("first %+v", msgs[0])
	}
	t.Logf("break after data %s (seq %d), resumed at data %s (seq %d, snapshot %v); epochs %s -> %s",
		msgs[brk-1].Data, msgs[brk-1].Seq, msgs[brk].Data, msgs[brk].Seq, msgs[brk].Snapshot, epoch1, failed[0].Epoch)
}

func prevDataOf(m client.Message) int {
	d, _ := strconv.Atoi(string(m.Data))
	return d
}

// TestCutConnectionExactRecovery cuts the TCP connection (no close frame)
// several times during a 10,000-message stream: the client resumes every
// time with recovered:true and receives every message exactly once.
func TestCutConnectionExactRecovery(t *testing.T) {
	const total = 10000
	_, addr, _ := startServer(t, "127.0.0.1:0", func(c *server.Config) { c.Hub.HistorySize = total })
	p := newProxy(t, addr)
	var r rec
	c := dial(t, p.addr(), &r, nil)
	if _, err := c.Subscribe(ctx5(t), []string{"cut.>"}, client.SubOptions{Handler: r.handle}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		batch := make([]map[string]any, 0, 100)
		for i := 1; i <= total; i++ {
			batch = append(batch, map[string]any{"topic": "cut." + strconv.Itoa(i%2), "data": i})
			if len(batch) == cap(batch) {
				b, _ := json.Marshal(batch)
				postBatch(t, addr, b)
				batch = batch[:0]
			}
		}
	}()
	for _, at := range []int{1000, 3000, 6000} {
		testutil.WaitFor(t, 10*time.Second, fmt.Sprintf("%d deliveries", at), func() bool { return r.count() >= at })
		p.cut()
	}
	<-done
	testutil.WaitFor(t, 20*time.Second, "every message", func() bool { return r.count() >= total })
	msgs, _ := r.snapshot()
	if len(msgs) != total {
		t.Fatalf("%d deliveries, want %d", len(msgs), total)
	}
	last := map[string]uint64{}
	seen := make([]bool, total+1)
	for i, m := range msgs {
		d := prevDataOf(m)
		if seen[d] {
			t.Fatalf("duplicate %d", d)
		}
		seen[d] = true
		if m.Seq != last[m.Topic]+1 || m.Snapshot {
			t.Fatalf("delivery %d: %s seq %d after %d", i, m.Topic, m.Seq, last[m.Topic])
		}
		last[m.Topic] = m.Seq
	}
	disc := r.eventsOf(client.EventDisconnected)
	if len(disc) != 3 {
		t.Fatalf("%d disconnects: %+v", len(disc), disc)
	}
	for _, e := range disc {
		if !errors.Is(e.Err, client.ErrAbnormalClosure) {
			t.Errorf("disconnect error %v, want 1006", e.Err)
		}
	}
	for _, e := range r.eventsOf(client.EventResumed) {
		if !e.Recovered || e.Epoch != e.PrevEpoch {
			t.Errorf("resume %+v", e)
		}
	}
	if n := len(r.eventsOf(client.EventResumed)); n < 3 {
		t.Errorf("%d resumed events, want at least 3", n)
	}
	if g := r.eventsOf(client.EventGap); len(g) != 0 {
		t.Fatalf("gaps %+v", g)
	}
	if s := c.Stats(); s.Duplicates != 0 || s.Missed != 0 || s.Reconnects != 3 || s.Delivered != total {
		t.Fatalf("stats %+v", s)
	}
}

func postBatch(t testing.TB, addr string, body []byte) {
	resp, err := http.Post("http://"+addr+"/publish", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Errorf("batch: %v", err)
		return
	}
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Errorf("batch: %s", resp.Status)
	}
}

// TestPublishBufferedWhileOffline: publishes made while the client cannot
// connect wait (up to the bound) and are published, in order, once it is
// back; past the bound Publish fails at once.
func TestPublishBufferedWhileOffline(t *testing.T) {
	_, addr, _ := startServer(t, "127.0.0.1:0", nil)
	p := newProxy(t, addr)
	var r rec
	c := dial(t, p.addr(), &r, func(o *client.Options) { o.PublishBuffer = 3 })
	if _, err := c.Subscribe(ctx5(t), []string{"buf.x"}, client.SubOptions{Handler: r.handle}); err != nil {
		t.Fatal(err)
	}
	p.setDown(true)
	p.cut()
	testutil.WaitFor(t, 5*time.Second, "disconnect", func() bool { return len(r.eventsOf(client.EventDisconnected)) == 1 })
	errs := make(chan error, 3)
	for i := 1; i <= 3; i++ {
		go func() { errs <- c.Publish(context.Background(), "buf.x", []byte(strconv.Itoa(i))) }()
		// in order: wait until this one is buffered
		testutil.WaitFor(t, 5*time.Second, "buffered", func() bool { return c.Stats().Buffered == i })
	}
	if err := c.Publish(context.Background(), "buf.x", []byte(`4`)); !errors.Is(err, client.ErrBufferFull) {
		t.Fatalf("past the bound: %v", err)
	}
	// a buffered publish whose context ends leaves the buffer unsent
	if err := c.Publish(expired(), "buf.x", []byte(`5`)); !errors.Is(err, client.ErrBufferFull) {
		t.Fatalf("full: %v", err)
	}
	if r.count() != 0 {
		t.Fatal("delivered while offline")
	}
	p.setDown(false)
	for i := 0; i < 3; i++ {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("buffered publishes not acknowledged")
		}
	}
	testutil.WaitFor(t, 5*time.Second, "3 deliveries", func() bool { return r.count() == 3 })
	msgs, _ := r.snapshot()
	got := ""
	for _, m := range msgs {
		got += string(m.Data)
	}
	if got != "123" || msgs[0].Seq != 1 || msgs[2].Seq != 3 {
		t.Fatalf("delivered %q %+v", got, msgs)
	}
}

// expired returns a context that has already ended.
func expired() context.Context {
	ctx, cancel := context.WithDeadline(context.Background(), time.Unix(1, 0))
	cancel()
	return ctx
}
