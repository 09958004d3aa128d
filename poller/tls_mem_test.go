//go:build !race

package poller_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/c1mhq/c1m/internal/testutil"
	"github.com/c1mhq/c1m/poller"
)

// TestTLSIdleMemory measures the server's Go heap and goroutines per idle
// WebSocket connection over TLS 1.3 against plain, with the clients in a
// child process (this test binary, TestTLSIdleClients) so that only the
// server's memory is in this one. The goal: no goroutine per idle TLS
// connection and at most 8 KiB of heap each. Run with
//
//	go test -run TestTLSIdleMemory -v ./poller/
func TestTLSIdleMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("2,000 connections")
	}
	const n = 2000
	per := map[string]float64{}
	for _, kind := range []string{"plain", "tls"} {
		h := &echoHandler{}
		s, taddr, _ := startTLSServer(t, poller.Config{Handler: h})
		addr := taddr
		if kind == "plain" {
			addr = s.Addr().String()
		}
		before := testutil.HeapAfterGC()
		goroutines := runtime.NumGoroutine()
		cmd := exec.Command(os.Args[0], "-test.run=^TestTLSIdleClients$")
		cmd.Env = append(os.Environ(), fmt.Sprintf("C1M_IDLE_CLIENTS=%s,%d,%s", addr, n, kind))
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 60*time.Second, kind+" connections open", func() bool { return s.Stats().Conns == n })
		if kind == "tls" {
			// The sweeper trims crypto/tls's input buffers of silent
			// connections (tlstrim.go) within tlsTrimAfter plus a tick.
			waitFor(t, 10*time.Second, "idle TLS connections trimmed", func() bool { return s.Stats().TLSTrims >= n })
		}
		per[kind] = float64(int64(testutil.HeapAfterGC())-int64(before)) / n
		extra := runtime.NumGoroutine() - goroutines
		t.Logf("%d idle %s WebSocket connections: %.0f B of Go heap each, %d more goroutines", n, kind, per[kind], extra)
		if extra > 10 {
			t.Errorf("%d goroutines more with %d idle %s connections", extra, n, kind)
		}
		stdin.Close() // the clients exit
		_ = cmd.Wait()
		waitFor(t, 30*time.Second, "connections closed", func() bool { return s.Stats().TCPConns == 0 })
	}
	if per["tls"] > 8<<10 {
		t.Errorf("an idle TLS connection costs %.0f B of heap, want <= 8 KiB", per["tls"])
	}
}

// TestTLSIdleClients is TestTLSIdleMemory's child process: it opens the
// connections given in C1M_IDLE_CLIENTS and holds them until stdin closes.
func TestTLSIdleClients(t *testing.T) {
	spec := os.Getenv("C1M_IDLE_CLIENTS")
	if spec == "" {
		t.Skip("the child process of TestTLSIdleMemory")
	}
	parts := strings.Split(spec, ",")
	addr, kind := parts[0], parts[2]
	n, _ := strconv.Atoi(parts[1])
	conns := make([]net.Conn, 0, n)
	for i := 0; i < n; i++ {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		var c net.Conn = nc
		if kind == "tls" {
			c = tls.Client(nc, &tls.Config{InsecureSkipVerify: true})
		}
		req := "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
		if _, err := c.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReaderSize(c, 1), nil)
		if err != nil || resp.StatusCode != 101 {
			t.Fatalf("upgrade %d: %v %v", i, resp, err)
		}
		conns = append(conns, c)
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
}
