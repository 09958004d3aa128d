//go:build !race

// The race detector's shadow memory makes heap numbers meaningless, so the
// measurement runs without it.

package server_test

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/c1mhq/c1m/internal/testutil"
	"github.com/c1mhq/c1m/server"
)

// TestSockJSIdleMemory measures the Go heap and RSS per idle SockJS
// session (open, "o" sent, its receiving request held by the reactor) over
// xhr_streaming, eventsource and xhr polling, against an idle native
// WebSocket connection, at 10k each (C1M_SOCKJS_MEM_N overrides). The
// clients are bare sockets in a child process (the descriptor limit is per
// process), so the numbers are the server's own. Run with
//
//	go test -run TestSockJSIdleMemory -v ./server/
func TestSockJSIdleMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 connections per transport")
	}
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("C1M_SOCKJS_MEM_N")); err == nil && v > 0 {
		n = v
	}
	var native float64
	for _, tr := range []string{"native-ws", "xhr_streaming", "eventsource", "xhr"} {
		s, addr := start(t, server.Config{})
		heap0, rss0 := testutil.HeapAfterGC(), selfRSS()
		stop := sjClients(t, addr, tr, n)
		ps := func() (int64, int64, int64) {
			st := s.Poller().Stats()
			return st.Conns, st.Streams, st.HeldRequests
		}
		testutil.WaitFor(t, 120*time.Second, tr+" idle", func() bool {
			conns, streams, held := ps()
			switch tr {
			case "native-ws":
				return conns == int64(n)
			case "xhr":
				return held == int64(n) && s.SockJS()[0].Sessions() == int64(n)
			}
			return streams == int64(n) && s.SockJS()[0].Sessions() == int64(n)
		})
		heap := float64(int64(testutil.HeapAfterGC())-int64(heap0)) / float64(n)
		rss := float64(int64(selfRSS())-int64(rss0)) / float64(n)
		if tr == "native-ws" {
			native = heap
		}
		t.Logf("%d idle %s: %.0f B of Go heap (%.2fx a native WebSocket), %.0f B of RSS each", n, tr, heap, heap/native, rss)
		stop()
		if tr != "native-ws" && heap/native > 2.5 {
			t.Errorf("an idle %s session costs %.2fx a native WebSocket connection, want <= 2.5x", tr, heap/native)
		}
	}
}

// sjClients opens n idle clients of transport tr against addr in a child
// process and returns a function that ends them.
func sjClients(t *testing.T, addr, tr string, n int) func() {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSockJSMemClients$")
	cmd.Env = append(os.Environ(), "C1M_SOCKJS_MEM_CLIENTS="+addr+","+tr+","+strconv.Itoa(n))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready") {
		t.Fatalf("client process: %q %v", line, err)
	}
	done := false
	stop := func() {
		if !done {
			done = true
			stdin.Close()
			_ = cmd.Wait()
		}
	}
	t.Cleanup(stop)
	return stop
}

// TestSockJSMemClients is the client process of TestSockJSIdleMemory; it
// does nothing in a normal run.
func TestSockJSMemClients(t *testing.T) {
	spec := os.Getenv("C1M_SOCKJS_MEM_CLIENTS")
	if spec == "" {
		t.Skip("the client process of TestSockJSIdleMemory")
	}
	f := strings.Split(spec, ",")
	addr, tr := f[0], f[1]
	n, _ := strconv.Atoi(f[2])
	var fds []int
	for i := 0; i < n; i++ {
		req := "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
		if tr != "native-ws" {
			req = sjRequest("/sockjs", "m"+strconv.Itoa(i), tr)
		}
		fds = append(fds, testutil.DialSyscall(t, addr, 1, req)...)
	}
	os.Stdout.WriteString("ready\n")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // until the parent closes it
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// selfRSS returns VmRSS in bytes.
func selfRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			if f := strings.Fields(v); len(f) > 0 {
				kb, _ := strconv.ParseUint(f[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}
