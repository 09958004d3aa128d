package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestParseNATSStats(t *testing.T) {
	body := []byte(`{"pid":1,"conns":3,"nats":{"connected":true,"msgs_in":12,"msgs_out":7,"publish_retries":0,"gaps_filled":2,"slow_consumer_events":1,"server":"nats://x","js":{"acks":5}}}`)
	got, err := ParseNATSStats(body)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"connected": 1, "msgs_in": 12, "msgs_out": 7, "publish_retries": 0, "gaps_filled": 2, "slow_consumer_events": 1, "js.acks": 5}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	// A standalone node has no "nats" object.
	got, err = ParseNATSStats([]byte(`{"pid":1}`))
	if err != nil || len(got) != 0 {
		t.Fatalf("standalone: %v, %v", got, err)
	}
	if _, err := ParseNATSStats([]byte(`{`)); err == nil {
		t.Fatal("bad JSON accepted")
	}
}

func TestNATSDelta(t *testing.T) {
	b := clusterSample{natsStats: map[string]float64{"msgs_in": 10, "gaps_filled": 1}}
	a := clusterSample{natsStats: map[string]float64{"msgs_in": 25, "gaps_filled": 1, "other": 4}}
	d := natsDelta(b, a)
	if d["nats_msgs_in"] != 15 || d["nats_gaps_filled"] != 0 || len(d) != 2 {
		t.Fatalf("delta %v", d)
	}
	if d := natsDelta(clusterSample{}, clusterSample{}); len(d) != 0 {
		t.Fatalf("standalone delta %v", d)
	}
}

func TestClusterMode(t *testing.T) {
	if m := ClusterMode(1, 0); m != "single" {
		t.Fatal(m)
	}
	if m := ClusterMode(3, 42); m != "cluster" {
		t.Fatal(m)
	}
	if m := ClusterMode(1, 42); m != "cluster" { // one node on NATS is a cluster of one
		t.Fatal(m)
	}
}

func TestClusterWindow(t *testing.T) {
	for _, c := range []struct {
		per, topics int
		want        uint64
	}{{950, 20, 315}, {30, 10, 500}, {19000, 1, 15}, {1000000, 1, 2}, {0, 0, 50}} {
		if got := ClusterWindow(c.per, c.topics); got != c.want {
			t.Errorf("ClusterWindow(%d, %d) = %d, want %d", c.per, c.topics, got, c.want)
		}
	}
}

func TestTopicNamesRotate(t *testing.T) {
	if got := strings.Join(topicNames("pub3", 3), ","); got != "pub3.0,pub3.1,pub3.2" {
		t.Fatal(got)
	}
	s := []string{"a", "b", "c"}
	if got := strings.Join(rotate(s, 1), ""); got != "bca" {
		t.Fatal(got)
	}
	if got := strings.Join(rotate(s, 4), ""); got != "bca" {
		t.Fatal(got)
	}
	if strings.Join(s, "") != "abc" {
		t.Fatal("rotate changed its argument")
	}
}

func TestSeqState(t *testing.T) {
	s := NewSeqState([]string{"a", "b"})
	for _, m := range []struct {
		topic string
		seq   uint64
	}{{"a", 1}, {"b", 1}, {"a", 2}, {"a", 5}, {"b", 2}, {"a", 4}, {"a", 6}, {"b", 2}} {
		s.Add([]byte(m.topic), m.seq)
	}
	if s.Add([]byte("zz"), 1) {
		t.Fatal("untracked topic accepted")
	}
	r := s.Report([]uint64{8, 2})
	want := SeqReport{Received: 8, Gaps: 1, Missing: 2, Dups: 2, Tail: 2}
	if r != want {
		t.Fatalf("got %+v, want %+v", r, want)
	}
	// A topic numbered from elsewhere: its first seq is counted apart,
	// what follows must be contiguous.
	s = NewSeqState([]string{"x", "y"})
	s.Add([]byte("x"), 3)
	s.Add([]byte("x"), 4)
	s.Add([]byte("y"), 9)
	s.Add([]byte("y"), 11)
	if r := s.Report([]uint64{4, 12}); r.Late != 2 || r.Gaps != 1 || r.Missing != 1 || r.Tail != 1 {
		t.Fatalf("late start: %+v", r)
	}
	var sum SeqReport
	sum.Add(SeqReport{Received: 1, Gaps: 1, FirstErr: "x"})
	sum.Add(SeqReport{Received: 2, Dups: 3, Late: 4, FirstErr: "y"})
	if sum.Received != 3 || sum.Gaps != 1 || sum.Dups != 3 || sum.Late != 4 || sum.FirstErr != "x" {
		t.Fatalf("sum %+v", sum)
	}
}

func TestPublisherMultiTopic(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := func(name string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			got = append(got, name+" "+r.URL.RawQuery+" "+string(b))
			mu.Unlock()
			w.WriteHeader(http.StatusAccepted)
		}))
	}
	s1, s2 := srv("s1"), srv("s2")
	defer s1.Close()
	defer s2.Close()
	p := &Publisher{Client: http.DefaultClient, BaseURL: s1.URL, URLs: []string{s1.URL, s2.URL}, Topics: []string{"t.0", "t.1", "t.2"}, Size: 10}
	ctx := context.Background()
	for _, n := range []int{1, 1, 2} {
		if err := p.post(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		`s1 topic=t.0 {"p":"xx"}`,
		`s2 topic=t.1 {"p":"xx"}`,
		`s1  [{"topic":"t.2","data":{"p":"xx"}},{"topic":"t.0","data":{"p":"xx"}}]`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestClusterSummary(t *testing.T) {
	fan := func(mode, nodes string, dpc, p50, p99 float64) Result {
		return Result{Server: "c1m", Scenario: "cluster",
			Params:  map[string]string{"mode": mode, "nodes": nodes, "conns": "300", "topics": "10", "payload": "64", "rate": "100"},
			Metrics: map[string]float64{"deliv_per_cpu_s": dpc, "lat_p50_us": p50, "lat_p99_us": p99, "publish_per_s": 100, "delivered_ratio": 1, "nats_cpu_s": 1, "nodes_cpu_s": 3}}
	}
	pub := func(mode, nodes string, acked float64) Result {
		return Result{Server: "c1m", Scenario: "cluster_pub",
			Params:  map[string]string{"mode": mode, "nodes": nodes, "topics": "1000", "publishers": "32", "payload": "64"},
			Metrics: map[string]float64{"acked_per_s": acked, "acked_per_cpu_s": acked / 2, "pub_p99_us": 2000, "received_ratio": 1, "seq_gaps": 0, "seq_dups": 0, "seq_missing_tail": 0, "errors": 0}}
	}
	res := []Result{fan("single", "1", 100000, 500, 2000), pub("single", "1", 10000),
		fan("cluster", "3", 80000, 1000, 3000), pub("cluster", "3", 5000),
		{Server: "c1m", Scenario: "broadcast", Params: map[string]string{"conns": "1"}}}
	s := ClusterSummary(res, "c1m")
	for _, want := range []string{
		"## c1m cluster: 3 nodes on one nats-server against one node",
		"| conns=300 payload=64 rate=100 topics=10 | 100000 | 80000 | 0.80 | 0.5 | 1.00 | 2.00 | 2.00 | 3.00 | 1.50 | 100 / 100 | 1.00 / 1.00 | 0.25 |",
		"| payload=64 publishers=32 topics=1000 | 10000 | 5000 | 0.50 | 5000 | 2500 | 0.50 | 2.00 | 2.00 | 1.00 / 1.00 | 0 / 0 | 0 / 0 |",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "Seq check failed") {
		t.Errorf("clean run flagged:\n%s", s)
	}
	if strings.Contains(s, "Fixed rates not reached") {
		t.Errorf("rates flagged:\n%s", s)
	}
	slow := fan("cluster", "3", 80000, 1000, 3000)
	slow.Metrics["rate_target"], slow.Metrics["publish_per_s"] = 100, 50
	s = ClusterSummary([]Result{fan("single", "1", 100000, 500, 2000), slow}, "c1m")
	if !strings.Contains(s, "Fixed rates not reached") || !strings.Contains(s, "cluster conns=300 payload=64 rate=100 topics=10: 50 of 100 msg/s") {
		t.Errorf("short rate not flagged:\n%s", s)
	}
	bad := pub("cluster", "3", 5000)
	bad.Metrics["seq_gaps"], bad.Metrics["seq_missing"] = 2, 40
	s = ClusterSummary([]Result{pub("single", "1", 10000), bad}, "c1m")
	if !strings.Contains(s, "**Seq check failed**") || !strings.Contains(s, "- cluster payload=64 publishers=32 topics=1000: 2 gaps (40 seqs skipped), 0 duplicate or out-of-order, 0 acked not received, received 1.00") {
		t.Errorf("seq failure not flagged:\n%s", s)
	}
	// Only one side: the other's cells are missing, no ratio.
	s = ClusterSummary(res[:2], "c1m")
	if !strings.Contains(s, "| 100000 | missing | - |") {
		t.Errorf("single only:\n%s", s)
	}
	if ClusterSummary(res[4:], "c1m") != "" {
		t.Error("summary without cluster rows")
	}
	// The check knows both scenarios' numbers.
	if m := CheckPlan(res[:4], map[string][]string{"cluster": {"c1m"}, "cluster_pub": {"c1m"}}); len(m) != 4 {
		t.Errorf("check: %v", m) // cpu_s_per_m_deliv and deliveries_per_s missing from both fan-out rows
	}
}

// fakeCluster is nodes of a minimal multi-topic bench-protocol server that
// share one hub (as nodes joined by NATS do): per-topic seqs, POST /publish
// answering the seq, /stats with a "nats" object.
type fakeCluster struct {
	mu   sync.Mutex
	seq  map[string]uint64
	subs map[chan []byte][]string
	pubs atomic.Int64
}

func (f *fakeCluster) publish(topic string, data []byte) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq[topic]++
	s := f.seq[topic]
	msg := fmt.Appendf(nil, `{"op":"msg","topic":%q,"seq":%d,"ts":%d,"data":%s}`, topic, s, time.Now().UnixNano(), data)
	for ch, ts := range f.subs {
		for _, t := range ts {
			if t == topic {
				ch <- msg
			}
		}
	}
	f.pubs.Add(1)
	return s
}

func (f *fakeCluster) node(t *testing.T) *httptest.Server {
	up := websocket.Upgrader{}
	mux := http.NewServeMux()
	var conns atomic.Int64
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		conns.Add(1)
		send := make(chan []byte, 1<<16)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for m := range send {
				if c.WriteMessage(websocket.TextMessage, m) != nil {
					c.Close()
				}
			}
		}()
		defer func() {
			f.mu.Lock()
			delete(f.subs, send)
			f.mu.Unlock()
			close(send)
			<-done
			c.Close()
			conns.Add(-1)
		}()
		for {
			_, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			var op struct {
				Op     string   `json:"op"`
				ID     int      `json:"id"`
				Topics []string `json:"topics"`
			}
			if json.Unmarshal(p, &op) != nil || op.Op != "sub" {
				return
			}
			f.mu.Lock()
			f.subs[send] = append(f.subs[send], op.Topics...)
			send <- fmt.Appendf(nil, `{"op":"ok","id":%d}`, op.ID)
			f.mu.Unlock()
		}
	})
	mux.HandleFunc("/publish", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if topic := r.URL.Query().Get("topic"); topic != "" {
			s := f.publish(topic, bytes.TrimSpace(body))
			w.WriteHeader(http.StatusAccepted)
			fmt.Fprintf(w, `{"seq":%d}`, s)
			return
		}
		var batch []struct {
			Topic string          `json:"topic"`
			Data  json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(body, &batch); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var seqs []uint64
		for _, m := range batch {
			seqs = append(seqs, f.publish(m.Topic, m.Data))
		}
		w.WriteHeader(http.StatusAccepted)
		json.NewEncoder(w).Encode(map[string][]uint64{"seqs": seqs})
	})
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"pid":%d,"conns":%d,"nats":{"msgs_in":%d,"gaps_filled":0}}`, os.Getpid(), conns.Load(), f.pubs.Load())
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestClusterScenarioEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	f := &fakeCluster{seq: map[string]uint64{}, subs: map[chan []byte][]string{}}
	var urls []string
	for range 3 {
		urls = append(urls, f.node(t).URL)
	}
	var out bytes.Buffer
	cfg := Config{
		Server: "c1m", Scenario: "cluster", URL: strings.Join(urls, ","),
		Conns: []int{60}, Payloads: []int{64}, Rates: []string{"200", "max"}, Duration: 300 * time.Millisecond,
		Cluster: ClusterConfig{NATSPid: os.Getpid(), Topics: 4, PubTopics: []int{1, 20}, Publishers: 4, PubDuration: 300 * time.Millisecond},
		Out:     &out,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := Run(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	res, err := ReadResults(&out)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 4 {
		t.Fatalf("%d results:\n%s", len(res), out.String())
	}
	if m := CheckPlan(res, map[string][]string{"cluster": {"c1m"}, "cluster_pub": {"c1m"}}); len(m) > 0 {
		t.Fatalf("missing: %v\n%s", m, out.String())
	}
	for _, r := range res {
		if r.Params["mode"] != "cluster" || r.Params["nodes"] != "3" {
			t.Errorf("params %v", r.Params)
		}
		switch r.Scenario {
		case "cluster":
			if r.Params["conns"] != "60" || r.Params["topics"] != "4" || r.Metrics["delivered_ratio"] != 1 {
				t.Errorf("fan-out %v %v", r.Params, r.Metrics)
			}
			if _, ok := r.Metrics["incomplete_seqs"]; ok {
				t.Error("per-seq table reported for several topics")
			}
			if !strings.Contains(r.Note, "subscribers per node 20/20/20") {
				t.Errorf("note %q", r.Note)
			}
		case "cluster_pub":
			m := r.Metrics
			if m["acked"] == 0 || m["received_ratio"] != 1 || m["seq_gaps"] != 0 || m["seq_dups"] != 0 || m["seq_missing_tail"] != 0 || m["errors"] != 0 || m["checkers"] != 3 {
				t.Errorf("publish %v %v", r.Params, m)
			}
		}
	}
}

func TestPacedPaths(t *testing.T) {
	var n atomic.Int64
	var inFlight, most atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cur := inFlight.Add(1)
		for {
			m := most.Load()
			if cur <= m || most.CompareAndSwap(m, cur) {
				break
			}
		}
		io.Copy(io.Discard, r.Body)
		time.Sleep(30 * time.Millisecond) // slower than the rate's interval: one path alone falls behind
		inFlight.Add(-1)
		n.Add(1)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	p := &Publisher{Client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}, BaseURL: srv.URL,
		Topics: []string{"a", "b"}, Size: 16, Paths: 3}
	sent, err := p.Paced(context.Background(), 300, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	// 150 due in 0.5 s; each path batches what is due, so all are sent.
	if sent < 140 || sent > 160 {
		t.Fatalf("sent %d, want about 150", sent)
	}
	if most.Load() < 2 {
		t.Fatalf("at most %d requests in flight, want up to 3", most.Load())
	}
}
