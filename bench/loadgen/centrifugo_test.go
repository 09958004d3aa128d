package loadgen

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

func TestScanCentrifugo(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  string
		kind int
		seq  uint64
		ts   int64
	}{
		// What Centrifugo v6 sends (captured from a bench run).
		{"push", `{"push":{"channel":"bench.0","pub":{"data":{"ts":1732000000123456789,"seq":42,"p":"xxxx"}}}}`, KindMsg, 42, 1732000000123456789},
		{"push with offset", `{"push":{"channel":"bench.0","pub":{"data":{"ts":5,"seq":6,"p":""},"offset":9}}}`, KindMsg, 6, 5},
		{"uni push", `{"channel":"bench.0","pub":{"data":{"ts":7,"seq":8,"p":"x"}}}`, KindMsg, 8, 7},
		{"spaces", ` { "push" : { "channel" : "c", "pub" : { "data" : { "ts" : 1 , "seq" : 2 } } } } `, KindMsg, 2, 1},
		{"data naming keys", `{"push":{"channel":"c","pub":{"data":{"ts":3,"seq":4,"p":"\"id\":9,\"error\""}}}}`, KindMsg, 4, 3},
		{"ping", `{}`, KindPing, 0, 0},
		{"ping with newline", "{}\r\n", KindPing, 0, 0},
		{"connect reply", `{"id":1,"connect":{"client":"6ad1b2c4-0a8b","version":"0.0.0 OSS","ping":25,"pong":true}}`, KindOK, 1, 0},
		{"subscribe reply", `{"id":2,"subscribe":{}}`, KindOK, 2, 0},
		{"error reply", `{"id":2,"error":{"code":103,"message":"permission denied"}}`, KindError, 2, 0},
		{"uni connect", `{"connect":{"client":"eba3","version":"0.0.0 OSS","subs":{"bench.0":{}},"ping":25,"session":"b698"}}`, KindConnect, 0, 0},
		{"uni connect with data", `{"connect":{"client":"e","data":{"id":3}}}`, KindConnect, 0, 0},
		{"disconnect push", `{"push":{"disconnect":{"code":3501,"reason":"bad request"}}}`, KindClose, 0, 0},
		{"uni disconnect", `{"disconnect":{"code":3000,"reason":"shutdown"}}`, KindClose, 0, 0},
		{"join", `{"push":{"channel":"c","join":{"info":{"client":"x"}}}}`, KindOther, 0, 0},
		{"pub without seq", `{"push":{"channel":"c","pub":{"data":{"ts":1}}}}`, KindOther, 0, 0},
		{"pub with non-object data", `{"push":{"channel":"c","pub":{"data":"x"}}}`, KindOther, 0, 0},
		{"not json", `hello`, KindOther, 0, 0},
		{"empty", ``, KindOther, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kind, seq, ts := ScanCentrifugo([]byte(tc.msg))
			if kind != tc.kind || seq != tc.seq || ts != tc.ts {
				t.Fatalf("ScanCentrifugo(%s) = %d, %d, %d; want %d, %d, %d", tc.msg, kind, seq, ts, tc.kind, tc.seq, tc.ts)
			}
		})
	}
	msg := []byte(`{"push":{"channel":"bench.0","pub":{"data":{"ts":1732000000123456789,"seq":42,"p":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}}}}`)
	if a := testing.AllocsPerRun(1000, func() { ScanCentrifugo(msg) }); a != 0 {
		t.Fatalf("%v allocations per message", a)
	}
}

// A Centrifugo WebSocket frame carries up to 16 messages, one per line:
// every one must be seen, whatever its kind.
func TestCentrifugoFrameLines(t *testing.T) {
	frame := []byte(`{"push":{"channel":"c","pub":{"data":{"ts":1,"seq":1}}}}` + "\n" + `{}` + "\n" +
		`{"push":{"channel":"c","pub":{"data":{"ts":2,"seq":2}}}}` + "\n" + `{"id":2,"subscribe":{}}`)
	var kinds []int
	for p := frame; len(p) > 0; {
		var m []byte
		m, p, _ = bytes.Cut(p, []byte{'\n'})
		k, _, _ := ScanCentrifugo(m)
		kinds = append(kinds, k)
	}
	if len(kinds) != 4 || kinds[0] != KindMsg || kinds[1] != KindPing || kinds[2] != KindMsg || kinds[3] != KindOK {
		t.Fatalf("kinds %v", kinds)
	}
}

func TestCentrifugoCommands(t *testing.T) {
	b, last := AppendCentrifugoConnect(nil, "bench.0")
	lines := strings.Split(string(b), "\n")
	if last != 2 || len(lines) != 2 {
		t.Fatalf("connect+subscribe: last id %d, %q", last, b)
	}
	var conn struct {
		ID      int            `json:"id"`
		Connect map[string]any `json:"connect"`
	}
	var sub struct {
		ID        int `json:"id"`
		Subscribe struct {
			Channel string `json:"channel"`
		} `json:"subscribe"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &conn); err != nil || conn.ID != 1 || conn.Connect == nil {
		t.Fatalf("connect command %q: %v", lines[0], err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &sub); err != nil || sub.ID != 2 || sub.Subscribe.Channel != "bench.0" {
		t.Fatalf("subscribe command %q: %v", lines[1], err)
	}
	if b, last := AppendCentrifugoConnect(nil, ""); last != 1 || string(b) != `{"id":1,"connect":{}}` {
		t.Fatalf("connect only: %d %q", last, b)
	}

	p := CentrifugoUniSSEPath("bench.0")
	path, query, _ := strings.Cut(p, "?")
	q, err := url.ParseQuery(query)
	if path != "/connection/uni_sse" || err != nil {
		t.Fatalf("uni SSE path %q: %v", p, err)
	}
	var connect struct {
		Subs map[string]map[string]any `json:"subs"`
	}
	if err := json.Unmarshal([]byte(q.Get("cf_connect")), &connect); err != nil || connect.Subs["bench.0"] == nil || len(connect.Subs) != 1 {
		t.Fatalf("cf_connect %q: %v", q.Get("cf_connect"), err)
	}
}

func TestCentrifugoPublishBodies(t *testing.T) {
	for _, size := range []int{45, 64, 256, 1024} {
		for _, seq := range []uint64{1, 99999, 1 << 40} {
			d := appendCentrifugoData(nil, size, seq, 1732000000123456789)
			if seq < 100000 && len(d) != size {
				t.Errorf("size %d seq %d: data is %d bytes: %s", size, seq, len(d), d)
			}
			var v struct {
				TS  int64  `json:"ts"`
				Seq uint64 `json:"seq"`
				P   string `json:"p"`
			}
			if err := json.Unmarshal(d, &v); err != nil || v.TS != 1732000000123456789 || v.Seq != seq {
				t.Fatalf("data %s: %+v %v", d, v, err)
			}
			// What subscribers get back parses to the same seq and ts.
			push := append(append([]byte(`{"push":{"channel":"bench.0","pub":{"data":`), d...), "}}}"...)
			if k, s, ts := ScanCentrifugo(push); k != KindMsg || s != seq || ts != 1732000000123456789 {
				t.Fatalf("push of %s scans as %d %d %d", d, k, s, ts)
			}
		}
	}

	path, body := centrifugoBody(nil, "bench.0", 1, 64, 7, 11)
	var one struct {
		Channel string          `json:"channel"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &one); path != "/api/publish" || err != nil || one.Channel != "bench.0" || len(one.Data) != 64 {
		t.Fatalf("single publish %s %s: %v", path, body, err)
	}
	path, body = centrifugoBody(nil, "bench.0", 3, 64, 7, 11)
	var batch struct {
		Commands []struct {
			Publish struct {
				Channel string `json:"channel"`
				Data    struct {
					TS  int64  `json:"ts"`
					Seq uint64 `json:"seq"`
				} `json:"data"`
			} `json:"publish"`
		} `json:"commands"`
	}
	if err := json.Unmarshal(body, &batch); path != "/api/batch" || err != nil || len(batch.Commands) != 3 {
		t.Fatalf("batch %s %s: %v", path, body, err)
	}
	for i, c := range batch.Commands {
		if c.Publish.Channel != "bench.0" || c.Publish.Data.Seq != 7+uint64(i) || c.Publish.Data.TS != 11 {
			t.Fatalf("batch command %d: %+v", i, c)
		}
	}

	if err := centrifugoReplyError([]byte(`{"replies":[{"publish":{}},{"error":{"code":102,"message":"unknown channel"}}]}`)); err == nil {
		t.Fatal("batch reply with an error accepted")
	}
	if err := centrifugoReplyError([]byte(`{"replies":[{"publish":{}},{"publish":{}}]}`)); err != nil {
		t.Fatal(err)
	}
}

func TestMemStatsFields(t *testing.T) {
	profile := []byte("heap profile: 1: 2 [3: 4] @ heap/1048576\n1: 2 [3: 4] @ 0x1 0x2\n#\t0x1\tmain.f+0x1\n\n" +
		"# runtime.MemStats\n# Alloc = 18086736\n# TotalAlloc = 99\n# HeapAlloc = 18086736\n# HeapSys = 28573696\n" +
		"# HeapIdle = 1\n# HeapInuse = 20348928\n# PauseNs = [1 2 3]\n# NumGC = 4\n")
	f := memStatsFields(profile)
	if f["HeapAlloc"] != 18086736 || f["HeapSys"] != 28573696 || f["HeapInuse"] != 20348928 || f["NumGC"] != 4 {
		t.Fatalf("fields %v", f)
	}
	if _, ok := f["PauseNs"]; ok {
		t.Fatal("a list parsed as a number")
	}
}

func TestCentrifugoConfig(t *testing.T) {
	var cfg map[string]map[string]any
	if err := json.Unmarshal(CentrifugoConfig("127.0.0.1", 19104, "k"), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg["http_api"]["key"] != "k" || cfg["uni_sse"]["enabled"] != true || cfg["client"]["allow_anonymous_connect_without_token"] != true ||
		cfg["http_server"]["port"] != float64(19104) || cfg["usage_stats"]["disabled"] != true || cfg["debug"]["enabled"] != true {
		t.Fatalf("config %v", cfg)
	}
	ns := cfg["channel"]["without_namespace"].(map[string]any)
	if ns["allow_subscribe_for_anonymous"] != true || ns["history_size"] != float64(0) {
		t.Fatalf("channel options %v", ns)
	}
}
