package server_test

// Market-data semantics end to end (issue #5): last value on subscribe,
// recovery with since/epoch, conflation under a slow reader, maxRate and
// binary deliveries. Every test runs a real server on 127.0.0.1:0 and drives
// it with independent gorilla/websocket clients and HTTP publishers; waits are
// conditions polled with deadlines, never sleeps.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/c1mhq/c1m/hub"
	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/server"
)

// mdMsg is any server → client text frame: a reply or a delivery.
type mdMsg struct {
	Op     string                    `json:"op"`
	ID     json.RawMessage           `json:"id"`
	Code   int                       `json:"code"`
	Msg    string                    `json:"msg"`
	Epoch  string                    `json:"epoch"`
	Topics map[string]hub.TopicState `json:"topics"`
	Topic  string                    `json:"topic"`
	Seq    uint64                    `json:"seq"`
	TS     int64                     `json:"ts"`
	Snap   bool                      `json:"snap"`
	Data   json.RawMessage           `json:"data"`
}

// mdRead reads one text frame within d and decodes it.
func mdRead(ws *websocket.Conn, d time.Duration) (mdMsg, error) {
	ws.SetReadDeadline(time.Now().Add(d))
	typ, b, err := ws.ReadMessage()
	if err != nil {
		return mdMsg{}, err
	}
	if typ != websocket.TextMessage {
		return mdMsg{}, fmt.Errorf("frame type %d, want text: % x", typ, b)
	}
	var m mdMsg
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("invalid JSON %q: %w", b, err)
	}
	return m, nil
}

// mdSub sends a sub request and returns the deliveries queued before its ok,
// and the ok. since is a JSON object or "".
func mdSub(t *testing.T, c *client, id int, topics []string, extra string) ([]mdMsg, mdMsg) {
	t.Helper()
	tj, _ := json.Marshal(topics)
	c.send(fmt.Sprintf(`{"op":"sub","id":%d,"topics":%s%s}`, id, tj, extra))
	var before []mdMsg
	for {
		m, err := mdRead(c.ws, 10*time.Second)
		if err != nil {
			t.Fatalf("sub %d: %v", id, err)
		}
		switch m.Op {
		case "msg":
			before = append(before, m)
		case "ok":
			if string(m.ID) != strconv.Itoa(id) {
				t.Fatalf("sub %d: ok for id %s", id, m.ID)
			}
			return before, m
		default:
			t.Fatalf("sub %d: %+v", id, m)
		}
	}
}

func mdSince(topic, epoch string, seq uint64) string {
	return fmt.Sprintf(`,"since":{%q:{"epoch":%q,"seq":%d}}`, topic, epoch, seq)
}

// mdData returns the "i" field of a delivery's data.
func mdData(m mdMsg) int {
	var d struct{ I int }
	if err := json.Unmarshal(m.Data, &d); err != nil {
		return -1
	}
	return d.I
}

func mdPublish(t *testing.T, addr, topic string, i int) uint64 {
	t.Helper()
	return publish(t, addr, topic, `{"i":`+strconv.Itoa(i)+`}`)
}

// mdStart starts a server at addr that the test may stop before its end;
// stop is idempotent and also runs at cleanup. It returns New's error (for a
// port that cannot be bound again).
func mdStart(t testing.TB, addr string, cfg server.Config) (*server.Server, string, func(), error) {
	t.Helper()
	cfg.Addr = addr
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s, err := server.New(cfg)
	if err != nil {
		return nil, "", nil, err
	}
	s.Start()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := s.Shutdown(ctx); err != nil {
				t.Errorf("shutdown: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	a := s.Addr().String()
	waitFor(t, 5*time.Second, "healthz", func() bool {
		r, err := http.Get("http://" + a + "/healthz")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == 200
	})
	return s, a, stop, nil
}

// lvCheck follows one subscriber's stream: per topic a snapshot first, then
// seq+1, seq+2, ... with no gap, no duplicate and no second snapshot; the ok
// comes after every snapshot and names each topic's seq at subscribe time.
type lvCheck struct {
	topics  []string
	exactOK bool // no overlapping patterns: ok seq == snapshot seq
	snap    map[string]uint64
	last    map[string]uint64
	live    map[string]int
	gotOK   bool
}

func (v *lvCheck) add(m mdMsg, epoch string) error {
	switch m.Op {
	case "msg":
		if !slices.Contains(v.topics, m.Topic) {
			return fmt.Errorf("delivery of unsubscribed topic %s", m.Topic)
		}
		last, started := v.last[m.Topic]
		switch {
		case !started && !m.Snap:
			return fmt.Errorf("%s: first delivery seq %d is not a snapshot", m.Topic, m.Seq)
		case !started:
			if v.gotOK {
				return fmt.Errorf("%s: snapshot seq %d after the ok", m.Topic, m.Seq)
			}
			v.snap[m.Topic] = m.Seq
		case m.Snap:
			return fmt.Errorf("%s: second snapshot seq %d after seq %d", m.Topic, m.Seq, last)
		case m.Seq != last+1:
			return fmt.Errorf("%s: seq %d after %d (snapshot %d)", m.Topic, m.Seq, last, v.snap[m.Topic])
		default:
			v.live[m.Topic]++
		}
		v.last[m.Topic] = m.Seq
	case "ok":
		if v.gotOK {
			return fmt.Errorf("second ok %+v", m)
		}
		v.gotOK = true
		if m.Epoch != epoch {
			return fmt.Errorf("ok epoch %q, want %q", m.Epoch, epoch)
		}
		for _, tp := range v.topics {
			st, ok := m.Topics[tp]
			last, started := v.last[tp]
			switch {
			case !ok || !started:
				return fmt.Errorf("%s: ok %+v, snapshot seen %v", tp, m.Topics, started)
			case st.Epoch != epoch || st.Recovered != nil:
				return fmt.Errorf("%s: ok state %+v", tp, st)
			case v.exactOK && st.Seq != v.snap[tp]:
				return fmt.Errorf("%s: ok seq %d, snapshot seq %d", tp, st.Seq, v.snap[tp])
			case st.Seq < v.snap[tp] || st.Seq > last:
				return fmt.Errorf("%s: ok seq %d outside [snapshot %d, received %d]", tp, st.Seq, v.snap[tp], last)
			}
		}
	default:
		return fmt.Errorf("unexpected %+v", m)
	}
	return nil
}

func (v *lvCheck) done(want int) bool {
	if !v.gotOK {
		return false
	}
	for _, tp := range v.topics {
		if v.live[tp] < want {
			return false
		}
	}
	return true
}

// TestMarketdataLastValueRacesPublish: subscribers join while two publishers
// (in-process and HTTP) keep publishing; each gets, per topic, the last value
// with snap:true at once and then every live update from seq+1 on, with no
// gap and no duplicate, for exact, wildcard and overlapping patterns.
func TestMarketdataLastValueRacesPublish(t *testing.T) {
	rounds, live := 30, 150
	if raceEnabled || testing.Short() {
		rounds, live = 8, 60
	}
	s, addr := start(t, server.Config{})
	h := s.Hub()
	topics := []string{"md.LV.a", "md.LV.b"}
	for _, tp := range topics {
		if _, err := h.Publish(tp, []byte(`{"i":0}`), 0); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	pubErr := make(chan error, 2)
	var pwg sync.WaitGroup
	var stopOnce sync.Once
	halt := func() { stopOnce.Do(func() { close(stop); pwg.Wait() }) }
	t.Cleanup(halt) // before the server's shutdown (cleanups run last-in first-out)
	pwg.Add(2)
	go func() { // in-process: 2 updates per topic per millisecond tick
		defer pwg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for k := 0; k < 2; k++ {
				for _, tp := range topics {
					if _, err := h.Publish(tp, []byte(`{"i":`+strconv.Itoa(i)+`}`), 0); err != nil {
						pubErr <- err
						return
					}
				}
			}
		}
	}()
	go func() { // HTTP, back to back, on one topic: a second publisher of md.LV.a
		defer pwg.Done()
		cl := &http.Client{Timeout: 10 * time.Second}
		for {
			select {
			case <-stop:
				return
			default:
			}
			r, err := cl.Post("http://"+addr+"/publish?topic=md.LV.a", "application/json", strings.NewReader(`{"http":1}`))
			if err != nil {
				pubErr <- err
				return
			}
			io.Copy(io.Discard, r.Body)
			r.Body.Close()
			if r.StatusCode != http.StatusAccepted {
				pubErr <- fmt.Errorf("HTTP publish: %d", r.StatusCode)
				return
			}
		}
	}()
	both := topics
	patterns := []struct {
		pats    []string
		want    []string
		exactOK bool
	}{
		{[]string{"md.LV.a"}, []string{"md.LV.a"}, true},
		{[]string{"md.LV.*"}, both, true},
		{[]string{"md.LV.a", "md.LV.b"}, both, true},
		{[]string{"md.>"}, both, true},
		{[]string{"md.LV.a", "md.LV.*"}, both, false}, // a through the exact, b through the wildcard
	}
	epoch := h.Epoch()
	for r := 0; r < rounds; r++ {
		clients := make([]*client, len(patterns))
		for i := range clients {
			clients[i] = dial(t, addr)
		}
		errs := make([]error, len(patterns))
		var wg sync.WaitGroup
		for i, p := range patterns {
			wg.Add(1)
			go func(i int, c *client) {
				defer wg.Done()
				v := &lvCheck{topics: p.want, exactOK: p.exactOK, snap: map[string]uint64{}, last: map[string]uint64{}, live: map[string]int{}}
				tj, _ := json.Marshal(p.pats)
				if err := c.ws.WriteMessage(websocket.TextMessage, []byte(`{"op":"sub","id":1,"topics":`+string(tj)+`}`)); err != nil {
					errs[i] = err
					return
				}
				for !v.done(live) {
					m, err := mdRead(c.ws, 10*time.Second)
					if err == nil {
						err = v.add(m, epoch)
					}
					if err != nil {
						errs[i] = err
						return
					}
				}
			}(i, clients[i])
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, subscriber %v: %v", r, patterns[i].pats, err)
			}
		}
		for _, c := range clients {
			c.ws.Close()
		}
		select {
		case err := <-pubErr:
			t.Fatalf("publisher: %v", err)
		default:
		}
	}
	halt()
	select {
	case err := <-pubErr:
		t.Fatalf("publisher: %v", err)
	default:
	}
	t.Logf("%d rounds of %d subscribers; %d publishes", rounds, len(patterns), h.Stats().Published)
}

// TestMarketdataRecoveryMidStream: one client follows a 10,000-message
// stream; it drops its connection at several points while the publisher goes
// on, reconnects with since, and ends with every message exactly once, in
// order, each resubscribe answered recovered:true.
func TestMarketdataRecoveryMidStream(t *testing.T) {
	n := 10000
	if raceEnabled || testing.Short() {
		n = 4000
	}
	s, addr := start(t, server.Config{Hub: hub.Config{HistorySize: 20000}})
	h := s.Hub()
	const topic = "md.REC"
	c := dial(t, addr)
	before, ok := mdSub(t, c, 1, []string{topic}, "")
	epoch := ok.Epoch
	if len(before) != 0 || epoch == "" || epoch != h.Epoch() || ok.Topics[topic].Seq != 0 || ok.Topics[topic].Epoch != epoch {
		t.Fatalf("first sub: %d deliveries, ok %+v (hub epoch %q)", len(before), ok, h.Epoch())
	}

	pubDone := make(chan error, 1)
	go func() { // 10 per millisecond tick, bounded by n
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for i := 1; i <= n; {
			<-tick.C
			for k := 0; k < 10 && i <= n; k, i = k+1, i+1 {
				if _, err := h.Publish(topic, []byte(`{"i":`+strconv.Itoa(i)+`}`), 0); err != nil {
					pubDone <- err
					return
				}
			}
		}
		pubDone <- nil
	}()

	cuts := []int{n / 10, n * 3 / 10, n / 2, n * 7 / 10, n * 9 / 10}
	var last, cutSeq uint64
	pendingOK, recovered, reconnects, id := 0, 0, 0, 1
	for int(last) < n || pendingOK != 0 {
		m, err := mdRead(c.ws, 10*time.Second)
		if err != nil {
			t.Fatalf("after seq %d: %v", last, err)
		}
		switch m.Op {
		case "msg":
			if m.Topic != topic || m.Snap || m.Seq != last+1 || mdData(m) != int(m.Seq) {
				t.Fatalf("after seq %d: %s seq %d snap %v data %s", last, m.Topic, m.Seq, m.Snap, m.Data)
			}
			last = m.Seq
			if pendingOK != 0 {
				recovered++
			}
		case "ok":
			st := m.Topics[topic]
			if pendingOK == 0 || string(m.ID) != strconv.Itoa(pendingOK) || m.Epoch != epoch ||
				st.Epoch != epoch || st.Recovered == nil || !*st.Recovered {
				t.Fatalf("resubscribe %d: %+v", pendingOK, m)
			}
			// Everything up to the seq at subscribe time is queued before the
			// ok; live messages published between the subscribe and the ok
			// may come before it too (the stream stays contiguous).
			if st.Seq > last || recovered != int(last-cutSeq) {
				t.Fatalf("resubscribe since %d: ok seq %d, received up to %d, %d recovered before the ok",
					cutSeq, st.Seq, last, recovered)
			}
			if st.Seq == cutSeq && int(cutSeq) < n {
				t.Fatalf("resubscribe since %d recovered nothing: the publisher did not move on", cutSeq)
			}
			pendingOK = 0
		default:
			t.Fatalf("unexpected %+v", m)
		}
		if len(cuts) > 0 && int(last) >= cuts[0] && pendingOK == 0 {
			cuts = cuts[1:]
			if reconnects%2 == 0 {
				c.ws.Close() // the TCP connection just goes away
			} else {
				c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""), time.Now().Add(time.Second))
				c.ws.Close()
			}
			reconnects++
			target := min(last+300, uint64(n))
			waitFor(t, 20*time.Second, "the publisher to go on", func() bool { return h.Stats().Published >= target })
			c = dial(t, addr)
			id++
			c.send(fmt.Sprintf(`{"op":"sub","id":%d,"topics":[%q]%s}`, id, topic, mdSince(topic, epoch, last)))
			pendingOK, cutSeq, recovered = id, last, 0
		}
	}
	if err := <-pubDone; err != nil {
		t.Fatal(err)
	}
	// Nothing after n: a duplicate would arrive before the ping's ok.
	c.send(`{"op":"ping","id":99}`)
	if m, err := mdRead(c.ws, 10*time.Second); err != nil || m.Op != "ok" || string(m.ID) != "99" {
		t.Fatalf("after the stream: %+v %v", m, err)
	}
	if reconnects != 5 {
		t.Fatalf("%d reconnects, want 5", reconnects)
	}
}

// TestMarketdataRecoveryAfterRestart: a position from a previous server
// (other epoch) never recovers, even when its seq looks plausible in the new
// stream; the client gets the new snapshot and the new epoch.
func TestMarketdataRecoveryAfterRestart(t *testing.T) {
	_, addr, stop1, err := mdStart(t, "127.0.0.1:0", server.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		mdPublish(t, addr, "md.RS", i)
	}
	c := dial(t, addr)
	before, ok := mdSub(t, c, 1, []string{"md.RS"}, "")
	e1 := ok.Epoch
	if len(before) != 1 || !before[0].Snap || before[0].Seq != 5 || ok.Topics["md.RS"].Seq != 5 || e1 == "" {
		t.Fatalf("first server: %+v then %+v", before, ok)
	}
	// The client learns about the shutdown with 1001 (and answers the close
	// handshake while Shutdown waits for it).
	closed := make(chan error, 1)
	go func() {
		for {
			if _, err := mdRead(c.ws, 10*time.Second); err != nil {
				closed <- err
				return
			}
		}
	}()
	stop1()
	if err := <-closed; !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("after shutdown: %v, want close 1001", err)
	}
	s2, addr2, _, err := mdStart(t, addr, server.Config{})
	if err != nil {
		t.Logf("port %s not reusable (%v); restarting on a new port", addr, err)
		if s2, addr2, _, err = mdStart(t, "127.0.0.1:0", server.Config{}); err != nil {
			t.Fatal(err)
		}
	}
	e2 := s2.Hub().Epoch()
	if e2 == e1 {
		t.Fatalf("restart kept epoch %q", e1)
	}
	// The new stream gets past the client's seq: seq 6 and 7 exist again but
	// are different messages.
	for i := 1; i <= 7; i++ {
		mdPublish(t, addr2, "md.RS", 100+i)
	}
	c2 := dial(t, addr2)
	since := fmt.Sprintf(`,"since":{"md.RS":{"epoch":%q,"seq":5},"md.RS.none":{"epoch":%q,"seq":0}}`, e1, e1)
	before, ok = mdSub(t, c2, 2, []string{"md.RS", "md.RS.none"}, since)
	if len(before) != 1 || !before[0].Snap || before[0].Topic != "md.RS" || before[0].Seq != 7 || mdData(before[0]) != 107 {
		t.Fatalf("after restart: want only the snapshot seq 7 of md.RS, got %+v", before)
	}
	rs, none := ok.Topics["md.RS"], ok.Topics["md.RS.none"]
	if ok.Epoch != e2 || rs.Epoch != e2 || rs.Seq != 7 || rs.Recovered == nil || *rs.Recovered ||
		none.Epoch != e2 || none.Seq != 0 || none.Recovered == nil || *none.Recovered {
		t.Fatalf("after restart: ok %+v, want epoch %q, recovered:false for both", ok, e2)
	}
	// Live updates continue from the snapshot, without snap.
	mdPublish(t, addr2, "md.RS", 108)
	if m, err := mdRead(c2.ws, 10*time.Second); err != nil || m.Seq != 8 || m.Snap || mdData(m) != 108 {
		t.Fatalf("live after restart: %+v %v", m, err)
	}
	// With the new epoch, the same client position recovers.
	c3 := dial(t, addr2)
	before, ok = mdSub(t, c3, 3, []string{"md.RS"}, mdSince("md.RS", e2, 6))
	if len(before) != 2 || before[0].Seq != 7 || before[1].Seq != 8 || before[0].Snap || before[1].Snap ||
		ok.Topics["md.RS"].Recovered == nil || !*ok.Topics["md.RS"].Recovered {
		t.Fatalf("since seq 6 of the new epoch: %+v then %+v", before, ok)
	}
}

// TestMarketdataRecoveryTooOld: with a history of 10, missing 50 (or 11) is
// answered with the snapshot and recovered:false; missing exactly 10
// recovers; a seq ahead of the topic does not.
func TestMarketdataRecoveryTooOld(t *testing.T) {
	_, addr := start(t, server.Config{Hub: hub.Config{HistorySize: 10}})
	const topic = "md.OLD"
	for i := 1; i <= 5; i++ {
		mdPublish(t, addr, topic, i)
	}
	c := dial(t, addr)
	before, ok := mdSub(t, c, 1, []string{topic}, "")
	epoch := ok.Epoch
	if len(before) != 1 || before[0].Seq != 5 || !before[0].Snap {
		t.Fatalf("first sub: %+v", before)
	}
	c.ws.Close()
	for i := 6; i <= 55; i++ {
		mdPublish(t, addr, topic, i)
	}
	expect := func(id int, since uint64, rec bool, seqs ...uint64) {
		t.Helper()
		c := dial(t, addr)
		before, ok := mdSub(t, c, id, []string{topic}, mdSince(topic, epoch, since))
		var got []string
		for _, m := range before {
			got = append(got, fmt.Sprintf("%d/%v/%d", m.Seq, m.Snap, mdData(m)))
		}
		var want []string
		for _, q := range seqs {
			want = append(want, fmt.Sprintf("%d/%v/%d", q, !rec, q))
		}
		st := ok.Topics[topic]
		if strings.Join(got, " ") != strings.Join(want, " ") || st.Recovered == nil || *st.Recovered != rec ||
			st.Seq != seqs[len(seqs)-1] || st.Epoch != epoch {
			t.Fatalf("since %d: got %v %+v, want %v recovered %v", since, got, st, want, rec)
		}
		c.ws.Close()
	}
	expect(2, 5, false, 55) // missed 50
	for i := 56; i <= 65; i++ {
		mdPublish(t, addr, topic, i)
	}
	expect(3, 55, true, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65) // missed exactly 10
	expect(4, 54, false, 65)                                    // missed 11
	expect(5, 99, false, 65)                                    // ahead of the topic
}

// TestMarketdataConflation: a client over 8 topics stops reading while each
// topic gets 1,000 updates of 4 KB (far beyond the kernel's socket buffers and
// the 256 KiB queue bound), then reads slowly while publishing goes on. With
// conflate it stays connected, the server queues at most a couple of frames
// per topic, seqs per topic only go up and every topic ends on its latest
// seq. Without conflate the same client is closed with 1008.
func TestMarketdataConflation(t *testing.T) {
	t.Run("conflate", func(t *testing.T) { conflationScenario(t, true) })
	t.Run("plain", func(t *testing.T) { conflationScenario(t, false) })
}

func conflationScenario(t *testing.T, conflate bool) {
	const ntopics, maxQ = 8, 256 << 10
	updates, rounds := 1000, 300
	if raceEnabled {
		updates, rounds = 600, 100
	}
	cfg := server.Config{}
	cfg.Poller.MaxQueueBytes = maxQ
	cfg.Poller.SlowPolicy = poller.SlowDisconnect
	// This test is about the queue bound, not stalls: the client may stay
	// away longer than the default timeouts under -race. (A peer that reads
	// nothing for CloseTimeout after the 1008 decision gets a bare EOF, 1006.)
	cfg.Poller.WriteTimeout = time.Minute
	cfg.Poller.CloseTimeout = time.Minute
	s, addr := start(t, cfg)
	h := s.Hub()
	topics := make([]string, ntopics)
	for i := range topics {
		topics[i] = "md.CF." + strconv.Itoa(i)
	}
	c := dial(t, addr)
	if _, ok := mdSub(t, c, 1, topics, `,"conflate":`+strconv.FormatBool(conflate)); ok.Epoch == "" {
		t.Fatalf("sub: %+v", ok)
	}
	pad := strings.Repeat("x", 4096)
	frameLen := int64(len(`{"op":"msg","topic":"md.CF.0","seq":1000,"ts":1795478605421661926,"data":{"i":1000,"pad":""}}`) + len(pad) + 14)
	var maxQueued int64
	pub := func(i int) {
		for _, tp := range topics {
			if _, err := h.Publish(tp, []byte(`{"i":`+strconv.Itoa(i)+`,"pad":"`+pad+`"}`), 0); err != nil {
				t.Fatal(err)
			}
		}
		if q := s.Poller().Stats().QueuedBytes; q > maxQueued {
			maxQueued = q
		}
	}
	last := map[string]uint64{}
	received := 0
	check := func(m mdMsg) {
		t.Helper()
		if m.Op != "msg" || m.Snap || m.Seq <= last[m.Topic] || mdData(m) != int(m.Seq) {
			t.Fatalf("after %s seq %d: %+v", m.Topic, last[m.Topic], m)
		}
		if !conflate && m.Seq != last[m.Topic]+1 {
			t.Fatalf("no conflation asked, %s seq %d after %d", m.Topic, m.Seq, last[m.Topic])
		}
		last[m.Topic] = m.Seq
		received++
	}

	// Phase 1: the client reads nothing.
	for i := 1; i <= updates; i++ {
		pub(i)
	}
	if !conflate {
		// The client reads what reached its socket, then the close frame.
		for {
			m, err := mdRead(c.ws, 10*time.Second)
			if err != nil {
				if !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
					t.Fatalf("after %d deliveries: %v, want close 1008", received, err)
				}
				break
			}
			check(m)
		}
		waitFor(t, 10*time.Second, "the slow consumer close to be counted", func() bool {
			st := s.Poller().Stats()
			return st.Closes["slow_consumer"] == 1 && st.Conns == 0
		})
		if maxQueued > maxQ+2*frameLen {
			t.Fatalf("queued bytes reached %d, bound %d", maxQueued, maxQ)
		}
		t.Logf("closed 1008 after %d of %d deliveries; max queued %d B", received, updates*ntopics, maxQueued)
		return
	}
	st := s.Poller().Stats()
	if st.Closes["slow_consumer"] != 0 || st.Conns != 1 {
		t.Fatalf("conflating client closed: %+v", st)
	}
	// Phase 2: read slowly, 4 frames per round of one update on every topic;
	// every round refills every topic's slot, so a read never waits for long.
	for i := updates + 1; i <= updates+rounds; i++ {
		for k := 0; k < 4; k++ {
			m, err := mdRead(c.ws, 10*time.Second)
			if err != nil {
				t.Fatalf("slow read after %d deliveries: %v", received, err)
			}
			check(m)
		}
		pub(i)
	}
	// Phase 3: publishing stopped; every topic ends on its latest seq.
	final := uint64(updates + rounds)
	for _, tp := range topics {
		for last[tp] < final {
			m, err := mdRead(c.ws, 20*time.Second)
			if err != nil {
				t.Fatalf("drain: %s at %d of %d: %v", tp, last[tp], final, err)
			}
			check(m)
		}
	}
	c.send(`{"op":"ping","id":2}`)
	if m, err := mdRead(c.ws, 10*time.Second); err != nil || m.Op != "ok" || string(m.ID) != "2" {
		t.Fatalf("after the drain: %+v %v (a delivery here is past the final seq)", m, err)
	}
	st = s.Poller().Stats()
	if st.Closes["slow_consumer"] != 0 || st.Conns != 1 || st.Dropped != 0 {
		t.Fatalf("conflating client: %+v", st)
	}
	published := int(final) * ntopics
	if received >= published {
		t.Fatalf("received all %d messages: the client never fell behind, nothing was tested", published)
	}
	if bound := 2*ntopics*frameLen + 1024; maxQueued > bound {
		t.Fatalf("queued bytes reached %d; conflation keeps at most 2 frames per topic (%d)", maxQueued, bound)
	}
	t.Logf("received %d of %d messages; max queued %d B (frame %d B)", received, published, maxQueued, frameLen)
}

// TestMarketdataMaxRate: maxRate 5 on a topic published at 200/s for 1.5 s
// delivers at most 5/s (plus the first and the last), in seq order, and ends
// on the latest seq.
func TestMarketdataMaxRate(t *testing.T) {
	const rate, npub, topic = 5.0, 300, "md.RATE"
	s, addr := start(t, server.Config{})
	h := s.Hub()
	if _, err := h.Publish(topic, []byte(`{"i":1}`), 0); err != nil {
		t.Fatal(err)
	}
	c := dial(t, addr)
	before, ok := mdSub(t, c, 1, []string{topic}, `,"maxRate":5`)
	if len(before) != 1 || !before[0].Snap || before[0].Seq != 1 || ok.Topics[topic].Seq != 1 {
		t.Fatalf("sub: %+v then %+v", before, ok)
	}
	pubErr := make(chan error, 1)
	start := time.Now()
	go func() { // 200/s: one publish per 5 ms tick, npub in all
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for i := 2; i <= npub+1; i++ {
			<-tick.C
			if _, err := h.Publish(topic, []byte(`{"i":`+strconv.Itoa(i)+`}`), 0); err != nil {
				pubErr <- err
				return
			}
		}
		pubErr <- nil
	}()
	var seqs []uint64
	var at []time.Time
	for prev := uint64(1); prev < npub+1; {
		m, err := mdRead(c.ws, 10*time.Second)
		if err != nil {
			t.Fatalf("after seq %d (%d deliveries): %v", prev, len(seqs), err)
		}
		if m.Op != "msg" || m.Snap || m.Seq <= prev || mdData(m) != int(m.Seq) {
			t.Fatalf("after seq %d: %+v", prev, m)
		}
		prev = m.Seq
		seqs = append(seqs, m.Seq)
		at = append(at, time.Now())
	}
	if err := <-pubErr; err != nil {
		t.Fatal(err)
	}
	d := at[len(at)-1].Sub(start).Seconds()
	if limit := int(rate*d) + 2; len(seqs) > limit {
		t.Fatalf("%d deliveries in %.2fs, limit %d at %v/s: %v", len(seqs), d, limit, rate, seqs)
	}
	if len(seqs) < 4 {
		t.Fatalf("only %d deliveries in %.2fs: a busy topic should deliver every 1/maxRate: %v", len(seqs), d, seqs)
	}
	c.send(`{"op":"ping","id":2}`)
	if m, err := mdRead(c.ws, 10*time.Second); err != nil || m.Op != "ok" {
		t.Fatalf("after the last seq: %+v %v", m, err)
	}
	minGap := time.Hour
	for i := 1; i < len(at); i++ {
		minGap = min(minGap, at[i].Sub(at[i-1]))
	}
	t.Logf("%d deliveries of %d publishes in %.2fs; smallest gap seen by the client %v; seqs %v", len(seqs), npub, d, minGap, seqs)
}

// binMsg is a decoded binary delivery (docs/PROTOCOL.md).
type binMsg struct {
	kind    byte
	topic   string
	seq     uint64
	ts      int64
	payload []byte
}

func decodeBinary(b []byte) (binMsg, error) {
	var m binMsg
	if len(b) < 2 {
		return m, errors.New("short frame")
	}
	m.kind = b[0]
	if m.kind != 1 && m.kind != 2 {
		return m, fmt.Errorf("unknown kind %d", m.kind)
	}
	l, v := binary.Uvarint(b[1:])
	if v <= 0 || l > 256 {
		return m, fmt.Errorf("bad topic length (%d, %d)", l, v)
	}
	rest := b[1+v:]
	if uint64(len(rest)) < l+16 {
		return m, fmt.Errorf("frame of %d bytes too short for topic %d + 16", len(b), l)
	}
	m.topic = string(rest[:l])
	m.seq = binary.BigEndian.Uint64(rest[l:])
	m.ts = int64(binary.BigEndian.Uint64(rest[l+8:]))
	m.payload = rest[l+16:]
	return m, nil
}

func publishBinary(t *testing.T, addr, topic string, payload []byte) uint64 {
	t.Helper()
	r, err := http.Post("http://"+addr+"/publish?topic="+topic, "application/octet-stream", bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	body, _ := io.ReadAll(r.Body)
	var v struct{ Seq uint64 }
	if r.StatusCode != http.StatusAccepted || json.Unmarshal(body, &v) != nil {
		t.Fatalf("binary publish: %d %s", r.StatusCode, body)
	}
	return v.Seq
}

// TestMarketdataBinaryFrames: octet-stream publishes arrive as binary frames
// with the compact header, interleaved with JSON publishes on one seq
// counter; a binary last value is snapshotted with kind 2. A 203-byte topic
// exercises the two-byte length varint.
func TestMarketdataBinaryFrames(t *testing.T) {
	_, addr := start(t, server.Config{})
	for _, topic := range []string{"md.BIN", "md." + strings.Repeat("L", 200)} {
		c := dial(t, addr)
		mdSub(t, c, 1, []string{topic}, "")
		payload := []byte{0, 1, 2, 0xff, 0xfe, '"', '{', '\n'}
		for i := 0; i < 300; i++ {
			payload = append(payload, byte(i*7))
		}
		t0 := time.Now().UnixNano()
		seqs := []uint64{
			publish(t, addr, topic, `{"px":1}`),
			publishBinary(t, addr, topic, payload),
			publishBinary(t, addr, topic, nil),
			publish(t, addr, topic, `[2]`),
			publishBinary(t, addr, topic, []byte("last")),
		}
		t1 := time.Now().UnixNano()
		for i, q := range seqs {
			if q != uint64(i+1) {
				t.Fatalf("%s: publish seqs %v, want 1..5", topic[:8], seqs)
			}
		}
		type want struct {
			binary bool
			data   string
		}
		wants := []want{{false, `{"px":1}`}, {true, string(payload)}, {true, ""}, {false, `[2]`}, {true, "last"}}
		var lastTS int64
		for i, w := range wants {
			c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
			typ, b, err := c.ws.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			seq := uint64(i + 1)
			if !w.binary {
				var m mdMsg
				if typ != websocket.TextMessage || json.Unmarshal(b, &m) != nil || m.Topic != topic || m.Seq != seq || string(m.Data) != w.data {
					t.Fatalf("delivery %d: type %d %q", seq, typ, b)
				}
				continue
			}
			if typ != websocket.BinaryMessage {
				t.Fatalf("delivery %d: type %d %q, want binary", seq, typ, b)
			}
			m, err := decodeBinary(b)
			if err != nil || m.kind != 1 || m.topic != topic || m.seq != seq || m.ts < t0 || m.ts > t1 || string(m.payload) != w.data {
				t.Fatalf("delivery %d: %+v %v (ts window %d..%d)", seq, m, err, t0, t1)
			}
			if len(topic) >= 128 && b[1] < 0x80 {
				t.Fatalf("topic of %d bytes with a one-byte varint", len(topic))
			}
			lastTS = m.ts
		}
		// A new subscriber gets the binary last value as a kind 2 snapshot.
		c2 := dial(t, addr)
		c2.send(`{"op":"sub","id":1,"topics":["` + topic + `"]}`)
		c2.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		typ, b, err := c2.ws.ReadMessage()
		if err != nil || typ != websocket.BinaryMessage {
			t.Fatalf("snapshot: type %d %q %v", typ, b, err)
		}
		if m, err := decodeBinary(b); err != nil || m.kind != 2 || m.topic != topic || m.seq != 5 || m.ts != lastTS || string(m.payload) != "last" {
			t.Fatalf("snapshot: %+v %v", m, err)
		}
		c2.expectOK(1)
		c.ws.Close()
		c2.ws.Close()
	}
}
