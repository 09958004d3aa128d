package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// The worker processes of the Pool are this test binary re-executed.
func TestMain(m *testing.M) {
	MaybeRunWorker()
	os.Exit(m.Run())
}

// benchServer is an independent, minimal implementation of the bench
// protocol (gorilla/websocket, a writer goroutine per subscriber) used to
// drive the load generator end to end.
type benchServer struct {
	conns atomic.Int64
	mu    sync.Mutex
	subs  map[chan []byte]bool
	seq   uint64
}

func newBenchServer(t *testing.T) *httptest.Server {
	s := &benchServer{subs: map[chan []byte]bool{}}
	up := websocket.Upgrader{}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		s.conns.Add(1)
		send := make(chan []byte, 4096)
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
			s.mu.Lock()
			delete(s.subs, send)
			s.mu.Unlock()
			close(send)
			<-done
			c.Close()
			s.conns.Add(-1)
		}()
		for {
			_, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			var op struct {
				Op string `json:"op"`
				ID int    `json:"id"`
			}
			if json.Unmarshal(p, &op) != nil {
				return
			}
			s.mu.Lock()
			if op.Op == "sub" {
				s.subs[send] = true
			}
			send <- []byte(`{"op":"ok","id":` + strconv.Itoa(op.ID) + `}`)
			s.mu.Unlock()
		}
	})
	// c1m's event stream, as specified: GET /sse?topics=T answers
	// text/event-stream (chunked: net/http flushes each write as a chunk),
	// a retry line first, comment heartbeats, and per delivery a data line
	// with the same JSON as on /ws followed by an id line.
	mux.HandleFunc("/sse", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("topics") != "bench.0" {
			http.Error(w, "unknown topic", http.StatusBadRequest)
			return
		}
		send := make(chan []byte, 4096)
		s.mu.Lock()
		s.subs[send] = true // subscribed before the header goes out
		s.mu.Unlock()
		s.conns.Add(1)
		defer func() {
			s.mu.Lock()
			delete(s.subs, send)
			s.mu.Unlock()
			s.conns.Add(-1)
		}()
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "retry: 1000\n\n: welcome\n\n")
		w.(http.Flusher).Flush()
		for n := 1; ; n++ {
			select {
			case <-r.Context().Done():
				return
			case m := <-send:
				// As c1m frames it: the delivery's data line in one chunk,
				// the stream's id line ending the event in the next. A
				// heartbeat every 10th message, and every 7th data line split
				// across two chunks.
				if n%10 == 0 {
					io.WriteString(w, ": hb\n\n")
				}
				io.WriteString(w, "data: ")
				if n%7 == 0 {
					w.(http.Flusher).Flush()
				}
				w.Write(m) // shared by every subscriber: not appended to
				io.WriteString(w, "\n")
				w.(http.Flusher).Flush()
				io.WriteString(w, "id: "+strconv.Itoa(n)+"\n\n")
				w.(http.Flusher).Flush()
			}
		}
	})
	mux.HandleFunc("/publish", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var items []json.RawMessage
		if r.URL.Query().Get("topic") != "" {
			items = []json.RawMessage{body}
		} else {
			var batch []struct {
				Data json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(body, &batch); err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			for _, b := range batch {
				items = append(items, b.Data)
			}
		}
		s.mu.Lock()
		for _, data := range items {
			s.seq++
			msg := []byte(`{"op":"msg","topic":"bench.0","seq":` + strconv.FormatUint(s.seq, 10) +
				`,"ts":` + strconv.FormatInt(time.Now().UnixNano(), 10) + `,"data":`)
			msg = append(append(msg, data...), '}')
			for ch := range s.subs {
				select {
				case ch <- msg:
				default: // a slow consumer misses messages in this test server
				}
			}
		}
		last := s.seq
		s.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		w.Write([]byte(`{"seq":` + strconv.FormatUint(last, 10) + `}`))
	})
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("gc") == "1" {
			runtime.GC()
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		json.NewEncoder(w).Encode(map[string]any{"pid": os.Getpid(), "conns": s.conns.Load(),
			"goroutines": runtime.NumGoroutine(), "heap_alloc": ms.HeapAlloc, "heap_inuse": ms.HeapInuse, "heap_sys": ms.HeapSys})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func runScenario(t *testing.T, url string, cfg Config) []Result {
	t.Helper()
	var out bytes.Buffer
	cfg.Server, cfg.URL, cfg.Out = "test", url, &out
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := Run(ctx, cfg); err != nil {
		t.Fatalf("%s: %v", cfg.Scenario, err)
	}
	res, err := ReadResults(&out)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) == 0 {
		t.Fatalf("%s: no results", cfg.Scenario)
	}
	return res
}

func metric(t *testing.T, r Result, name string) float64 {
	t.Helper()
	v, ok := r.Metrics[name]
	if !ok {
		t.Fatalf("%s %v: metric %s missing (have %v)", r.Scenario, r.Params, name, r.Metrics)
	}
	return v
}

func TestLoadGeneratorEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes and opens hundreds of sockets")
	}
	srv := newBenchServer(t)

	t.Run("connect", func(t *testing.T) {
		res := runScenario(t, srv.URL, Config{Scenario: "connect", Conns: []int{50, 150}, Workers: 2})
		if len(res) != 2 {
			t.Fatalf("want 2 results, got %d", len(res))
		}
		for i, want := range []float64{50, 150} {
			if got := metric(t, res[i], "held"); got != want {
				t.Errorf("held %v want %v", got, want)
			}
			if metric(t, res[i], "upgrades_per_s") <= 0 || metric(t, res[i], "failed") != 0 {
				t.Errorf("bad connect result %v", res[i].Metrics)
			}
			p50, p99 := metric(t, res[i], "upgrade_p50_us"), metric(t, res[i], "upgrade_p99_us")
			if p50 <= 0 || p99 < p50 || p99 > 10e6 {
				t.Errorf("upgrade latency p50=%v p99=%v", p50, p99)
			}
		}
	})

	t.Run("idle", func(t *testing.T) {
		res := runScenario(t, srv.URL, Config{Scenario: "idle", Conns: []int{100}})
		// Each idle gorilla connection holds at least its 4 KiB read and write buffers.
		if h := metric(t, res[0], "heap_alloc_per_conn"); h < 1024 || h > 1<<20 {
			t.Errorf("heap per conn %v out of range", h)
		}
		if g := metric(t, res[0], "goroutines_per_conn"); g < 1.9 || g > 2.1 {
			t.Errorf("goroutines per conn %v, the test server runs 2", g)
		}
		metric(t, res[0], "kernel_slab_per_conn")
		metric(t, res[0], "rss_per_conn")
	})

	t.Run("broadcast", func(t *testing.T) {
		res := runScenario(t, srv.URL, Config{Scenario: "broadcast", Conns: []int{40}, Payloads: []int{64},
			Rates: []string{"max", "half", "200"}, Duration: 500 * time.Millisecond, Workers: 2})
		if len(res) != 3 {
			t.Fatalf("want 3 results, got %d", len(res))
		}
		for _, r := range res {
			pub, deliv := metric(t, r, "published"), metric(t, r, "deliveries")
			if pub < 10 || deliv != pub*40 || metric(t, r, "delivered_ratio") != 1 {
				t.Errorf("%v: published %v delivered %v, want every message to all 40", r.Params, pub, deliv)
			}
			p50, p99, p999, mx := metric(t, r, "lat_p50_us"), metric(t, r, "lat_p99_us"), metric(t, r, "lat_p999_us"), metric(t, r, "lat_max_us")
			if !(0 < p50 && p50 <= p99 && p99 <= p999 && p999 <= mx && mx < 10e6) {
				t.Errorf("%v: latency percentiles not ordered: %v %v %v %v", r.Params, p50, p99, p999, mx)
			}
			if f := metric(t, r, "fanout_p99_ms"); f <= 0 || f*1000 > mx*1.01 {
				t.Errorf("%v: fan-out p99 %v ms vs latency max %v us", r.Params, f, mx)
			}
			if metric(t, r, "incomplete_seqs") != 0 {
				t.Errorf("%v: incomplete seqs", r.Params)
			}
			metric(t, r, "cpu_s_per_m_deliv")
		}
		// Pacing may fall behind on a loaded machine (race detector, shared
		// CI), so only the target and the ceiling are checked, not a floor.
		if r := res[2]; metric(t, r, "rate_target") != 200 || metric(t, r, "publish_per_s") > 250 {
			t.Errorf("paced at 200/s: target %v, got %v", metric(t, r, "rate_target"), metric(t, r, "publish_per_s"))
		}
		half, max := metric(t, res[1], "rate_target"), metric(t, res[0], "publish_per_s")
		if half < max/2*0.99 || half > max/2*1.01 {
			t.Errorf("half rate %v, max %v", half, max)
		}
	})

	t.Run("slow", func(t *testing.T) {
		res := runScenario(t, srv.URL, Config{Scenario: "slow", Conns: []int{200}, SlowRate: 100, Duration: 500 * time.Millisecond})
		r := res[0]
		if metric(t, r, "slow_consumers") != 2 {
			t.Errorf("1%% of 200 should be slow, got %v", r.Metrics["slow_consumers"])
		}
		if metric(t, r, "delivered_ratio_after") != 1 {
			t.Errorf("fast subscribers missed messages after the slow ones stopped: %v", r.Metrics)
		}
		metric(t, r, "lat_p99_before_us")
		metric(t, r, "lat_p99_after_us")
		metric(t, r, "server_rss_after_mb")
	})

	t.Run("sse", func(t *testing.T) {
		res := runScenario(t, srv.URL, Config{Scenario: "sse", Conns: []int{40}, Payloads: []int{64, 1024},
			Rates: []string{"max", "200"}, Duration: 500 * time.Millisecond, Workers: 2})
		if len(res) != 4 {
			t.Fatalf("want 4 results, got %d", len(res))
		}
		for _, r := range res {
			if r.Scenario != "sse" {
				t.Fatalf("scenario %q", r.Scenario)
			}
			pub, deliv := metric(t, r, "published"), metric(t, r, "deliveries")
			if pub < 10 || deliv != pub*40 || metric(t, r, "delivered_ratio") != 1 || metric(t, r, "incomplete_seqs") != 0 {
				t.Errorf("%v: published %v delivered %v, want every message to all 40 streams", r.Params, pub, deliv)
			}
			p50, p99, mx := metric(t, r, "lat_p50_us"), metric(t, r, "lat_p99_us"), metric(t, r, "lat_max_us")
			if !(0 < p50 && p50 <= p99 && p99 <= mx && mx < 10e6) {
				t.Errorf("%v: latency %v %v %v", r.Params, p50, p99, mx)
			}
			metric(t, r, "cpu_s_per_m_deliv")
		}
	})

	t.Run("idle_sse", func(t *testing.T) {
		res := runScenario(t, srv.URL, Config{Scenario: "idle_sse", Conns: []int{50, 100}})
		if len(res) != 2 || res[1].Scenario != "idle_sse" || metric(t, res[1], "held") != 100 {
			t.Fatalf("results %v", res)
		}
		// net/http: a connection goroutine per stream (plus its background reader).
		if g := metric(t, res[1], "goroutines_per_conn"); g < 0.9 || g > 2.1 {
			t.Errorf("goroutines per stream %v", g)
		}
		metric(t, res[1], "heap_alloc_per_conn")
		metric(t, res[1], "rss_per_conn")
	})

	t.Run("check", func(t *testing.T) {
		good := []Result{{Server: "a", Scenario: "connect", Params: map[string]string{"conns": "1"}, Metrics: map[string]float64{"upgrades_per_s": 1, "upgrade_p50_us": 1, "upgrade_p99_us": 1}}}
		if m := Check(good, []string{"a"}, []string{"connect"}); len(m) != 0 {
			t.Fatalf("complete results reported missing: %v", m)
		}
		if m := Check(good, []string{"a", "b"}, []string{"connect", "idle"}); len(m) != 4 {
			t.Fatalf("want 4 missing (b connect, a idle, b idle, b connect conns=1), got %v", m)
		}
	})
}
