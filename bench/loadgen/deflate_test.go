package loadgen

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestDeflateFeedSizes(t *testing.T) {
	for _, tc := range []struct {
		kind     string
		min, max int
	}{{DeflateQuote, 110, 160}, {DeflateBook, 520, 680}} {
		g := newQuoteGen(tc.kind)
		for i := range 200 {
			b := g.next(nil, 1764500000123456789)
			if len(b) < tc.min || len(b) > tc.max {
				t.Fatalf("%s %d: %d bytes, want %d-%d: %s", tc.kind, i, len(b), tc.min, tc.max, b)
			}
			var v map[string]any
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatalf("%s: not JSON: %v: %s", tc.kind, err, b)
			}
			if v["sym"] == "" || v["ts"] == nil {
				t.Fatalf("%s: %s", tc.kind, b)
			}
		}
	}
	// Deterministic: the same feed for every server configuration.
	a, b := newQuoteGen(DeflateBook), newQuoteGen(DeflateBook)
	for range 50 {
		if x, y := string(a.next(nil, 1)), string(b.next(nil, 1)); x != y {
			t.Fatalf("feed differs: %s vs %s", x, y)
		}
	}
}

func TestDeflateBody(t *testing.T) {
	g := newQuoteGen(DeflateQuote)
	per := make([]uint64, 4)
	next := 2
	body := deflateBody(nil, g, 6, 4, &next, per)
	var msgs []struct {
		Topic string          `json:"topic"`
		Data  json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &msgs); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	want := []string{"quotes.2", "quotes.3", "quotes.0", "quotes.1", "quotes.2", "quotes.3"}
	for i, m := range msgs {
		if m.Topic != want[i] || !strings.HasPrefix(string(m.Data), `{"type":"quote"`) {
			t.Fatalf("message %d: %s %s", i, m.Topic, m.Data)
		}
	}
	if next != 8 || per[0] != 1 || per[1] != 1 || per[2] != 2 || per[3] != 2 {
		t.Fatalf("next %d, per topic %v", next, per)
	}
}

func TestDeflateSubTopics(t *testing.T) {
	if got := deflateSubTopics(3, 2, 4); len(got) != 2 || got[0] != 3 || got[1] != 0 {
		t.Fatalf("got %v", got)
	}
	if got := deflateSubTopics(1, 5, 2); len(got) != 2 {
		t.Fatalf("k > n: got %v", got)
	}
}

func TestParseDeflateStats(t *testing.T) {
	before, err := parseDeflateStats([]byte(`{"pid":1,"poller":{"conns":3,"deflate_conns":10,"deflate_sent":100,"deflate_saved_bytes":1000,"frames_out":500},
		"deflate":{"compressed":4,"compressed_in_bytes":400,"compressed_out_bytes":200,"incompressible":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	after, err := parseDeflateStats([]byte(`{"poller":{"deflate_conns":12,"deflate_sent":150,"deflate_saved_bytes":1600,"frames_out":700},
		"deflate":{"compressed":6,"compressed_in_bytes":700,"compressed_out_bytes":300,"incompressible":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	met := map[string]float64{}
	deflateDeltas(met, before, after)
	want := map[string]float64{
		"server_deflate_sent": 50, "server_deflate_saved_bytes": 600, "server_frames_out": 200,
		"server_compressed": 2, "server_compressed_in_bytes": 300, "server_compressed_out_bytes": 100, "server_incompressible": 0,
	}
	for k, v := range want {
		if met[k] != v {
			t.Errorf("%s = %v, want %v", k, met[k], v)
		}
	}
	if len(met) != len(want) {
		t.Errorf("metrics %v", met)
	}
	// A server without the counters (a build before deflate, a peer): none.
	old, err := parseDeflateStats([]byte(`{"pid":1,"poller":{"conns":3}}`))
	if err != nil {
		t.Fatal(err)
	}
	met = map[string]float64{}
	deflateDeltas(met, old, old)
	if len(met) != 0 {
		t.Fatalf("counters from a server without them: %v", met)
	}
}

func TestDeflateFeedExample(t *testing.T) {
	for _, k := range []string{DeflateQuote, DeflateBook} {
		b := newQuoteGen(k).next(nil, 1764500000123456789)
		t.Logf("%s (%d bytes): %s", k, len(b), b)
	}
}

func TestDeflateSummary(t *testing.T) {
	row := func(mode, payload string, wire, dpc, p99 float64) Result {
		return Result{Server: "c1m", Scenario: "deflate",
			Params: map[string]string{"mode": mode, "payload": payload, "conns": "100", "rate": "200", "topics": "4"},
			Metrics: map[string]float64{"wire_bytes_per_deliv": wire, "msg_bytes_per_deliv": 500, "deliv_per_cpu_s": dpc,
				"lat_p50_us": 300, "lat_p99_us": p99, "delivered_ratio": 1, "published": 200, "server_compressed": 200}}
	}
	res := []Result{
		row("zero", "book", 250, 50000, 2000),
		row("off", "book", 500, 40000, 1000),
		row("default", "book", 260, 45000, 1500),
		{Server: "gorilla", Scenario: "deflate", Params: map[string]string{"mode": "off"}, Metrics: map[string]float64{}},
	}
	res[1].Metrics["delivered_ratio"] = 0.5
	s := DeflateSummary(res, "c1m")
	if !strings.Contains(s, "## c1m permessage-deflate") {
		t.Fatalf("no heading:\n%s", s)
	}
	off := strings.Index(s, "| off |")
	def := strings.Index(s, "| default |")
	zero := strings.Index(s, "| zero |")
	if off < 0 || def < off || zero < def {
		t.Fatalf("rows not in off, default, zero order:\n%s", s)
	}
	// zero: wire 250/500, deliv/CPU-s 50000/40000, p99 2000/1000.
	if !strings.Contains(s, "| conns=100 payload=book rate=200 topics=4 | zero | 500 | 250 | 0.50 | 50000 | 1.25 | 0.3 | 2.00 | 2.00 | 1.00 | 200 / 200 |") {
		t.Fatalf("zero row wrong:\n%s", s)
	}
	if !strings.Contains(s, "Not every delivery arrived") || !strings.Contains(s, "off conns=100 payload=book") {
		t.Fatalf("no short-delivery note:\n%s", s)
	}
	if strings.Count(s, "\n| conns=") != 3 || strings.Contains(s, "\n|  | off |") {
		t.Fatalf("other server's rows in the summary:\n%s", s)
	}
	if DeflateSummary(res[3:], "c1m") != "" {
		t.Fatal("summary without c1m deflate rows")
	}
	// The check wants the scenario's numbers.
	if miss := CheckPlan(res[:3], map[string][]string{"deflate": {"c1m"}}); len(miss) == 0 {
		t.Fatal("check passed rows without deliveries")
	}
}

// The deflate scenario against c1m itself (permessage-deflate on, its
// default): every message reaches every subscriber of its topics, the
// subscribers agree permessage-deflate, and the book updates are smaller on
// the wire than inflated.
func TestDeflateEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts c1m")
	}
	url := startC1M(t)
	res := runScenario(t, url, Config{Scenario: "deflate", Conns: []int{20}, Rates: []string{"200"},
		Duration: 300 * time.Millisecond, Deflate: DeflateConfig{Mode: "default", Topics: 4, SubTopics: 2}})
	if len(res) != 2 {
		t.Fatalf("want 2 results (quote, book), got %d", len(res))
	}
	for _, r := range res {
		pub, deliv := metric(t, r, "published"), metric(t, r, "deliveries")
		if r.Params["mode"] != "default" || pub < 20 || deliv != pub*10 || metric(t, r, "delivered_ratio") != 1 {
			t.Errorf("%v: published %v delivered %v, want every message to its 10 subscribers", r.Params, pub, deliv)
		}
		if n := metric(t, r, "client_deflate_conns"); n != 20 {
			t.Errorf("%v: %v subscribers agreed permessage-deflate, want 20", r.Params, n)
		}
		if p50, mx := metric(t, r, "lat_p50_us"), metric(t, r, "lat_max_us"); !(0 < p50 && p50 <= mx && mx < 10e6) {
			t.Errorf("%v: latency p50 %v max %v", r.Params, p50, mx)
		}
		metric(t, r, "deliv_per_cpu_s")
		wire, msg := metric(t, r, "wire_bytes_per_deliv"), metric(t, r, "msg_bytes_per_deliv")
		if r.Params["payload"] == DeflateBook && !(wire < 0.8*msg) {
			t.Errorf("book: %v wire bytes per delivery for %v-byte messages: not compressed", wire, msg)
		}
		if r.Params["payload"] == DeflateBook && metric(t, r, "server_compressed") < 1 {
			t.Errorf("book: the server reports no compressed frames: %v", r.Metrics)
		}
	}
}
