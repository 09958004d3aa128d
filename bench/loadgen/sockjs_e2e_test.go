package loadgen

import (
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// startC1M builds c1m from this module and runs it on a free loopback port;
// it returns the base URL once /stats answers.
func startC1M(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "c1m")
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, "github.com/c1mhq/c1m/cmd/c1m")
	if out, err := build.CombinedOutput(); err != nil {
		t.Skipf("cannot build c1m: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "--addr", addr, "--demo=false")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url := "http://" + addr
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(url + "/stats"); err == nil {
			resp.Body.Close()
			return url
		}
		if time.Now().After(deadline) {
			t.Fatal("c1m did not start")
		}
	}
}

// The sockjs and idle_sockjs scenarios against c1m's own /sockjs, over every
// transport: every message reaches every session, and sessions are counted.
func TestSockJSEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts c1m and worker processes")
	}
	url := startC1M(t)
	for _, tr := range SockJSTransports {
		t.Run(tr, func(t *testing.T) {
			res := runScenario(t, url, Config{Scenario: "sockjs", SockJS: tr, Conns: []int{30}, Payloads: []int{64, 1024},
				Rates: []string{"max", "200"}, Duration: 300 * time.Millisecond})
			if len(res) != 4 {
				t.Fatalf("want 4 results, got %d", len(res))
			}
			for _, r := range res {
				pub, deliv := metric(t, r, "published"), metric(t, r, "deliveries")
				if r.Params["transport"] != tr || pub < 10 || deliv != pub*30 || metric(t, r, "incomplete_seqs") != 0 {
					t.Errorf("%v: published %v delivered %v, want every message to all 30", r.Params, pub, deliv)
				}
				if p50, mx := metric(t, r, "lat_p50_us"), metric(t, r, "lat_max_us"); !(0 < p50 && p50 <= mx && mx < 10e6) {
					t.Errorf("%v: latency p50 %v max %v", r.Params, p50, mx)
				}
			}
			// The server is shared by the transports: memory per session is
			// noise at 40 sessions here (bench.sh runs a fresh server), so
			// only its presence is checked.
			res = runScenario(t, url, Config{Scenario: "idle_sockjs", SockJS: tr, Conns: []int{40}})
			if r := res[0]; r.Params["transport"] != tr || metric(t, r, "held") != 40 || metric(t, r, "failed") != 0 {
				t.Errorf("idle_sockjs %v %v", r.Params, r.Metrics)
			}
			metric(t, res[0], "heap_alloc_per_conn")
			metric(t, res[0], "rss_per_conn")
		})
	}
}
