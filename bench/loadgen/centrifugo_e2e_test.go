package loadgen

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// centrifugoBinary is the Centrifugo executable scripts/bench.sh builds and
// caches ($CENTRIFUGO overrides it), or "" when there is none.
func centrifugoBinary() string {
	if p := os.Getenv("CENTRIFUGO"); p != "" {
		return p
	}
	dir := os.Getenv("XDG_CACHE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".cache")
	}
	p := filepath.Join(dir, "c1m-bench", "centrifugo-v6.9.1", "centrifugo")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// startCentrifugo runs Centrifugo with the bench configuration on a free
// loopback port and returns its base URL once /health answers.
func startCentrifugo(t *testing.T, bin, key string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cfg := filepath.Join(t.TempDir(), "centrifugo.json")
	if err := os.WriteFile(cfg, CentrifugoConfig("127.0.0.1", port, key), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", cfg)
	cmd.Dir = t.TempDir()
	logs, err := os.Create(filepath.Join(cmd.Dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(url + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url
			}
		}
		select {
		case err := <-exited:
			b, _ := os.ReadFile(logs.Name())
			t.Fatalf("centrifugo exited: %v\n%s", err, b)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("centrifugo not healthy after 20s: %v", err)
		}
	}
}

// TestCentrifugoEndToEnd runs every scenario Centrifugo takes part in
// against the real server, when scripts/bench.sh has built it.
func TestCentrifugoEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Centrifugo and worker processes")
	}
	bin := centrifugoBinary()
	if bin == "" {
		t.Skip("no Centrifugo binary (scripts/bench.sh --servers centrifugo builds it; or set CENTRIFUGO)")
	}
	const key = "test-key"
	url := startCentrifugo(t, bin, key)
	run := func(cfg Config) []Result {
		cfg.Proto, cfg.APIKey = ProtoCentrifugo, key
		return runScenario(t, url, cfg)
	}

	t.Run("connect", func(t *testing.T) {
		res := run(Config{Scenario: "connect", Conns: []int{50}})
		if metric(t, res[0], "held") != 50 || metric(t, res[0], "failed") != 0 {
			t.Fatalf("connect %v", res[0].Metrics)
		}
	})
	for _, sc := range []string{"idle", "idle_sse"} {
		t.Run(sc, func(t *testing.T) {
			res := run(Config{Scenario: sc, Conns: []int{50}})
			// A Go server holds at least a goroutine per connection.
			if metric(t, res[0], "held") != 50 || metric(t, res[0], "goroutines_per_conn") < 1 || metric(t, res[0], "heap_alloc_per_conn") <= 0 {
				t.Fatalf("%s %v", sc, res[0].Metrics)
			}
			metric(t, res[0], "rss_per_conn")
		})
	}
	for _, sc := range []string{"broadcast", "sse"} {
		t.Run(sc, func(t *testing.T) {
			res := run(Config{Scenario: sc, Conns: []int{40}, Payloads: []int{64, 1024}, Rates: []string{"max", "200"},
				Duration: 500 * time.Millisecond})
			if len(res) != 4 {
				t.Fatalf("want 4 results, got %d", len(res))
			}
			for _, r := range res {
				pub, deliv := metric(t, r, "published"), metric(t, r, "deliveries")
				if pub < 10 || deliv != pub*40 || metric(t, r, "incomplete_seqs") != 0 {
					t.Errorf("%v: published %v delivered %v, want every message to all 40", r.Params, pub, deliv)
				}
				if p50, mx := metric(t, r, "lat_p50_us"), metric(t, r, "lat_max_us"); !(0 < p50 && p50 <= mx && mx < 10e6) {
					t.Errorf("%v: latency p50 %v max %v", r.Params, p50, mx)
				}
				if metric(t, r, "cpu_s_per_m_deliv") <= 0 {
					t.Errorf("%v: no server CPU measured", r.Params)
				}
			}
		})
	}
	t.Run("bad key", func(t *testing.T) {
		pub := &Publisher{Client: http.DefaultClient, BaseURL: url, Topic: "bench.0", Size: 64, Proto: ProtoCentrifugo, APIKey: "wrong"}
		if _, err := pub.Paced(context.Background(), 10, time.Millisecond); err == nil {
			t.Fatal("publishing with a wrong API key succeeded")
		}
	})
}
