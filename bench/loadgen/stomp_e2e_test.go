package loadgen

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// stompServer is an independent, minimal STOMP 1.2 over WebSocket server
// (gorilla/websocket, a writer goroutine per client) with the bench
// protocol's /publish and /stats: MESSAGE frames carry c1m's x-c1m-seq and
// x-c1m-ts headers for publishes through /publish, and SEND frames from a
// STOMP publisher are broadcast as a broker does (no c1m headers, the body
// as sent). It packs up to three frames into one WebSocket message and sends
// an EOL heart-beat after some, as servers may.
type stompServer struct {
	conns atomic.Int64
	mu    sync.Mutex
	subs  map[chan []byte]string // -> subscription id
	seq   uint64
}

func newSTOMPServer(t *testing.T) *httptest.Server {
	s := &stompServer{subs: map[chan []byte]string{}}
	up := websocket.Upgrader{Subprotocols: []string{"v12.stomp", "v11.stomp", "v10.stomp"}}
	mux := http.NewServeMux()
	mux.HandleFunc("/stomp", func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		if c.Subprotocol() != "v12.stomp" {
			c.Close()
			return
		}
		s.conns.Add(1)
		send := make(chan []byte, 4096)
		done := make(chan struct{})
		go func() {
			defer close(done)
			var batch []byte
			for m := range send {
				batch = append(batch[:0], m...)
				for i := 0; i < 2 && len(send) > 0; i++ {
					batch = append(batch, "\n"...)
					batch = append(batch, <-send...)
				}
				if c.WriteMessage(websocket.TextMessage, batch) != nil {
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
			for len(p) > 0 {
				f, n, err := ParseSTOMPFrame(p, maxFrame)
				if err != nil || n == 0 {
					return
				}
				cmd, _, _ := bytes.Cut(p[:n], []byte("\n"))
				frame := p[:n]
				p = p[n:]
				switch string(cmd) {
				case "CONNECT":
					if !bytes.Contains(frame, []byte("\naccept-version:1.2\n")) || !bytes.Contains(frame, []byte("\nheart-beat:0,0\n")) {
						send <- []byte("ERROR\nmessage:bad CONNECT\n\n\x00")
						return
					}
					send <- []byte("CONNECTED\nversion:1.2\nheart-beat:0,0\n\n\x00")
				case "SUBSCRIBE":
					if !bytes.Contains(frame, []byte("\ndestination:/topic/bench.0\n")) || !bytes.Contains(frame, []byte("\nid:sub-0\n")) {
						send <- []byte("ERROR\nmessage:bad SUBSCRIBE\n\n\x00")
						return
					}
					s.mu.Lock()
					s.subs[send] = "sub-0"
					s.mu.Unlock()
				case "SEND":
					s.broadcast(f.Body, false)
				}
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
		for _, data := range items {
			s.broadcast(data, true)
		}
		w.WriteHeader(http.StatusAccepted)
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

func (s *stompServer) broadcast(body []byte, c1m bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	var m []byte
	m = append(m, "MESSAGE\nsubscription:sub-0\nmessage-id:"...)
	m = strconv.AppendUint(m, s.seq, 10)
	m = append(m, "\ndestination:/topic/bench.0\ncontent-type:application/json\ncontent-length:"...)
	m = strconv.AppendInt(m, int64(len(body)), 10)
	if c1m {
		m = append(m, "\nx-c1m-seq:"...)
		m = strconv.AppendUint(m, s.seq, 10)
		m = append(m, "\nx-c1m-epoch:e1\nx-c1m-ts:"...)
		m = strconv.AppendInt(m, time.Now().UnixNano(), 10)
	}
	m = append(m, "\n\n"...)
	m = append(m, body...)
	m = append(m, 0)
	for ch := range s.subs {
		select {
		case ch <- m:
		default:
		}
	}
}

func TestSTOMPEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns worker processes")
	}
	srv := newSTOMPServer(t)
	check := func(res []Result, n int) {
		t.Helper()
		for _, r := range res {
			if r.Metrics["delivered_ratio"] < 0.99 || r.Metrics["deliveries"] < float64(n) || r.Metrics["lat_p50_us"] <= 0 || r.Metrics["cpu_s_per_m_deliv"] < 0 {
				t.Errorf("%s %v: %v (%s)", r.Scenario, r.Params, r.Metrics, r.Note)
			}
		}
	}
	// c1m's way: clients over STOMP, publishes through /publish.
	res := runScenario(t, srv.URL, Config{Scenario: "stomp", Conns: []int{50}, Payloads: []int{64}, Rates: []string{"max", "half"}, Duration: 300 * time.Millisecond})
	if len(res) != 2 || res[0].Scenario != "stomp" || res[0].Params["rate"] != "max" {
		t.Fatalf("results %+v", res)
	}
	check(res, 50)
	if _, ok := res[0].Metrics["server_heap_inuse_mb"]; !ok {
		t.Error("no heap figure from /stats")
	}
	// A broker's way: publishes with STOMP SEND over the publisher's own
	// connection, timed by the body; samples from /proc (this process), with
	// connections counted on the port: a server of its own, which the HTTP
	// client above holds no keep-alive connections to.
	broker := newSTOMPServer(t)
	res = runScenario(t, broker.URL, Config{Scenario: "stomp", Proto: ProtoSTOMP, STOMPPath: "/stomp", Conns: []int{30}, Payloads: []int{64}, Rates: []string{"max", "200"}, Duration: 300 * time.Millisecond})
	if len(res) != 2 {
		t.Fatalf("results %+v", res)
	}
	check(res, 30)
	if _, ok := res[0].Metrics["server_heap_inuse_mb"]; ok {
		t.Error("a heap figure for a broker without /stats")
	}
	res = runScenario(t, srv.URL, Config{Scenario: "idle_stomp", Conns: []int{20, 40}})
	if len(res) != 2 || res[1].Metrics["held"] != 40 || !strings.Contains(res[1].Note, "STOMP client is CONNECTED and subscribed") {
		t.Errorf("idle_stomp %+v", res)
	}
}
