package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/c1mhq/c1m/server"
)

func start(t testing.TB, cfg server.Config) (*server.Server, string) {
	t.Helper()
	s, addr, _, err := mdStart(t, "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, addr
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

type client struct {
	t  testing.TB
	ws *websocket.Conn
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 512}
	c, _, err := d.Dial("ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, ws: c}
}

func (c *client) send(s string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

type reply struct {
	Op     string          `json:"op"`
	ID     json.RawMessage `json:"id"`
	Code   int             `json:"code"`
	Msg    string          `json:"msg"`
	Topic  string          `json:"topic"`
	Seq    uint64          `json:"seq"`
	Snap   bool            `json:"snap"`
	Data   json.RawMessage `json:"data"`
	Topics map[string]struct {
		Epoch     string `json:"epoch"`
		Seq       uint64 `json:"seq"`
		Recovered *bool  `json:"recovered"`
	} `json:"topics"`
}

// next reads the next reply that is not a delivery.
func (c *client) next() reply {
	c.t.Helper()
	for {
		c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, m, err := c.ws.ReadMessage()
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		var r reply
		if err := json.Unmarshal(m, &r); err != nil {
			c.t.Fatalf("server sent invalid JSON %q: %v", m, err)
		}
		if r.Op != "msg" {
			return r
		}
	}
}

func (c *client) expectOK(id int) reply {
	c.t.Helper()
	r := c.next()
	if r.Op != "ok" || string(r.ID) != strconv.Itoa(id) {
		c.t.Fatalf("want ok id %d, got %+v", id, r)
	}
	return r
}

func publish(t testing.TB, addr, topic, data string) uint64 {
	t.Helper()
	r, err := http.Post("http://"+addr+"/publish?topic="+topic, "application/json", strings.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	body, _ := io.ReadAll(r.Body)
	if r.StatusCode != http.StatusAccepted {
		t.Fatalf("publish %s: %d %s", topic, r.StatusCode, body)
	}
	var v struct{ Seq uint64 }
	json.Unmarshal(body, &v)
	return v.Seq
}

func TestProtocolErrorsKeepConnection(t *testing.T) {
	_, addr := start(t, server.Config{Hub: hubConfig(3)})
	c := dial(t, addr)
	cases := []struct {
		req  string
		code int
	}{
		{`not json`, 400},
		{`{"op":"fly","id":1}`, 404},
		{`{"id":2}`, 400},
		{`{"op":"sub","id":3,"topics":["md..AAPL"]}`, 422},
		{`{"op":"sub","id":4,"topics":["md.>.x"]}`, 422},
		{`{"op":"sub","id":5,"topics":[]}`, 400},
		{`{"op":"pub","id":6,"topic":"md.A","data":1}`, 403},
		{`{"op":"sub","id":7,"topics":"md.A"}`, 400},
		{`{"op":"sub","id":8,"topics":["a.1","a.2","a.3","a.4"]}`, 429},
	}
	for _, tc := range cases {
		c.send(tc.req)
		r := c.next()
		if r.Op != "err" || r.Code != tc.code || r.Msg == "" {
			t.Fatalf("%s: want err %d with a message, got %+v", tc.req, tc.code, r)
		}
		c.send(`{"op":"ping","id":99}`)
		c.expectOK(99)
	}
}

func TestPublishHTTP(t *testing.T) {
	_, addr := start(t, server.Config{PublishToken: "s3cret"})
	post := func(url, auth, body string) (int, string) {
		req, _ := http.NewRequest("POST", url, strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return r.StatusCode, string(b)
	}
	base := "http://" + addr + "/publish"
	if code, _ := post(base+"?topic=md.A", "", `{"px":1}`); code != 401 {
		t.Fatalf("no token: %d, want 401", code)
	}
	if code, _ := post(base+"?topic=md.A", "Bearer nope", `{"px":1}`); code != 401 {
		t.Fatalf("wrong token: %d, want 401", code)
	}
	c := dial(t, addr)
	c.send(`{"op":"sub","id":1,"topics":["md.*"]}`)
	c.expectOK(1)
	if code, body := post(base+"?topic=md.A", "Bearer s3cret", `{"px":1.50}`); code != 202 || !strings.Contains(body, `"seq":1`) {
		t.Fatalf("publish: %d %s", code, body)
	}
	if code, body := post(base, "Bearer s3cret", `[{"topic":"md.B","data":"x"},{"topic":"md.A","data":[1,2]}]`); code != 202 || !strings.Contains(body, `"seqs":[1,2]`) {
		t.Fatalf("batch: %d %s", code, body)
	}
	if code, _ := post(base+"?topic=md.A", "Bearer s3cret", `{bad`); code != 400 {
		t.Fatalf("bad JSON: %d, want 400", code)
	}
	if code, _ := post(base+"?topic=md..A", "Bearer s3cret", `1`); code != 400 {
		t.Fatalf("bad topic: %d, want 400", code)
	}
	want := []string{`md.A 1 {"px":1.50}`, `md.B 1 "x"`, `md.A 2 [1,2]`}
	for _, w := range want {
		c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, m, err := c.ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		var r reply
		json.Unmarshal(m, &r)
		if got := fmt.Sprintf("%s %d %s", r.Topic, r.Seq, r.Data); got != w {
			t.Fatalf("delivery %q, want %q (raw %s)", got, w, m)
		}
	}
}

// TestFanoutExactlyOnceInOrder: subscribers over several topics and
// wildcards, several concurrent publishers; every subscriber gets every
// message of its topics exactly once, in seq order.
func TestFanoutExactlyOnceInOrder(t *testing.T) {
	subs, pubs := 2000, 1000
	if raceEnabled || testing.Short() {
		subs, pubs = 200, 200
	}
	fanout(t, subs, pubs, 4)
}

func fanout(t *testing.T, nsubs, npubs, publishers int) {
	s, addr := start(t, server.Config{})
	topics := []string{"md.T0", "md.T1", "md.T2", "md.T3", "ref.T4"}
	patterns := [][]string{
		{"md.T0"}, {"md.T1", "md.T2"}, {"md.*"}, {"md.>"}, {"md.T3", "md.*"}, {">"}, {"ref.*", "md.T0"},
	}
	match := func(pats []string, topic string) bool {
		for _, p := range pats {
			switch {
			case p == topic, p == ">":
				return true
			case p == "md.*" || p == "md.>":
				if strings.HasPrefix(topic, "md.") {
					return true
				}
			case p == "ref.*":
				if strings.HasPrefix(topic, "ref.") {
					return true
				}
			}
		}
		return false
	}
	type sub struct {
		c    *client
		pats []string
		got  map[string][]uint64
		err  error
	}
	all := make([]*sub, nsubs)
	for i := range all {
		c := dial(t, addr)
		pats := patterns[i%len(patterns)]
		b, _ := json.Marshal(pats)
		c.send(`{"op":"sub","id":1,"topics":` + string(b) + `}`)
		c.expectOK(1)
		all[i] = &sub{c: c, pats: pats, got: map[string][]uint64{}}
	}
	waitFor(t, 10*time.Second, "subscriptions", func() bool { return s.Hub().Stats().Subscriptions >= nsubs })

	// Expected per topic: npubs spread round-robin.
	counts := map[string]int{}
	for i := 0; i < npubs; i++ {
		counts[topics[i%len(topics)]]++
	}
	want := func(pats []string) int {
		n := 0
		for tp, k := range counts {
			if match(pats, tp) {
				n += k
			}
		}
		return n
	}
	var rwg sync.WaitGroup
	for _, sb := range all {
		rwg.Add(1)
		go func(sb *sub) {
			defer rwg.Done()
			n := want(sb.pats)
			for i := 0; i < n; i++ {
				sb.c.ws.SetReadDeadline(time.Now().Add(60 * time.Second))
				_, m, err := sb.c.ws.ReadMessage()
				if err != nil {
					sb.err = fmt.Errorf("after %d of %d: %w", i, n, err)
					return
				}
				topic, seq, ok := topicSeq(m)
				if !ok {
					sb.err = fmt.Errorf("not a delivery: %s", m)
					return
				}
				sb.got[topic] = append(sb.got[topic], seq)
			}
		}(sb)
	}
	var pwg sync.WaitGroup
	for p := 0; p < publishers; p++ {
		pwg.Add(1)
		go func(p int) {
			defer pwg.Done()
			cl := &http.Client{Timeout: 30 * time.Second}
			for i := p; i < npubs; i += publishers {
				tp := topics[i%len(topics)]
				r, err := cl.Post("http://"+addr+"/publish?topic="+tp, "application/json", strings.NewReader(`{"i":`+strconv.Itoa(i)+`}`))
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, r.Body)
				r.Body.Close()
				if r.StatusCode != 202 {
					t.Errorf("publish status %d", r.StatusCode)
					return
				}
			}
		}(p)
	}
	pwg.Wait()
	rwg.Wait()
	for i, sb := range all {
		if sb.err != nil {
			t.Fatalf("subscriber %d %v: %v", i, sb.pats, sb.err)
		}
		for _, tp := range topics {
			seqs := sb.got[tp]
			if !match(sb.pats, tp) {
				if len(seqs) > 0 {
					t.Fatalf("subscriber %d %v got %d messages of %s", i, sb.pats, len(seqs), tp)
				}
				continue
			}
			if len(seqs) != counts[tp] {
				t.Fatalf("subscriber %d %v: %d messages of %s, want %d", i, sb.pats, len(seqs), tp, counts[tp])
			}
			for j, q := range seqs {
				if q != uint64(j+1) {
					t.Fatalf("subscriber %d %v: %s seq %d at position %d (want %d)", i, sb.pats, tp, q, j, j+1)
				}
			}
		}
	}
	st := s.Poller().Stats()
	t.Logf("%d subscribers, %d publishes: frames out %d in %d writes", nsubs, npubs, st.FramesOut, st.Writes)
}

// topicSeq extracts topic and seq from a delivery without a JSON decoder.
func topicSeq(m []byte) (string, uint64, bool) {
	if !bytes.HasPrefix(m, []byte(`{"op":"msg","topic":"`)) {
		return "", 0, false
	}
	rest := m[len(`{"op":"msg","topic":"`):]
	i := bytes.IndexByte(rest, '"')
	if i < 0 {
		return "", 0, false
	}
	topic := string(rest[:i])
	rest = rest[i:]
	j := bytes.Index(rest, []byte(`"seq":`))
	if j < 0 {
		return "", 0, false
	}
	rest = rest[j+6:]
	k := bytes.IndexByte(rest, ',')
	seq, err := strconv.ParseUint(string(rest[:k]), 10, 64)
	return topic, seq, err == nil
}

// TestSlowConsumerIsolated: one client stops reading; the server's queued
// bytes stay bounded, the policy closes it, and the others get everything.
func TestSlowConsumerIsolated(t *testing.T) {
	cfg := server.Config{}
	cfg.Poller.MaxQueueBytes = 1 << 20
	cfg.Poller.WriteTimeout = 2 * time.Second
	s, addr := start(t, cfg)
	slow := dial(t, addr)
	slow.send(`{"op":"sub","id":1,"topics":["md.X"]}`)
	slow.expectOK(1)
	const nfast = 5
	fast := make([]*client, nfast)
	for i := range fast {
		fast[i] = dial(t, addr)
		fast[i].send(`{"op":"sub","id":1,"topics":["md.X"]}`)
		fast[i].expectOK(1)
	}
	const n, batch = 4000, 20
	payload := `"` + strings.Repeat("x", 4000) + `"`
	var wg sync.WaitGroup
	errs := make([]error, nfast)
	for i, c := range fast {
		wg.Add(1)
		go func(i int, c *client) {
			defer wg.Done()
			for k := 1; k <= n; k++ {
				c.ws.SetReadDeadline(time.Now().Add(30 * time.Second))
				_, m, err := c.ws.ReadMessage()
				if err != nil {
					errs[i] = err
					return
				}
				if _, seq, _ := topicSeq(m); seq != uint64(k) {
					errs[i] = fmt.Errorf("seq %d, want %d", seq, k)
					return
				}
			}
		}(i, c)
	}
	var maxQueued int64
	body := []byte(`[`)
	for k := 0; k < batch; k++ {
		if k > 0 {
			body = append(body, ',')
		}
		body = append(body, `{"topic":"md.X","data":`+payload+`}`...)
	}
	body = append(body, ']')
	for k := 0; k < n/batch; k++ {
		r, err := http.Post("http://"+addr+"/publish", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if q := s.Poller().Stats().QueuedBytes; q > maxQueued {
			maxQueued = q
		}
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("fast client %d: %v", i, err)
		}
	}
	waitFor(t, 20*time.Second, "slow consumer closed", func() bool {
		st := s.Poller().Stats()
		return st.Closes["slow_consumer"] == 1 && st.Conns == nfast
	})
	if bound := int64(nfast+1) * (1<<20 + 8192); maxQueued > bound {
		t.Fatalf("queued bytes reached %d, bound %d", maxQueued, bound)
	}
	t.Logf("max queued bytes %d", maxQueued)
}

func hubConfig(maxSubs int) (c hubCfg) {
	c.MaxSubsPerConn = maxSubs
	return c
}
