//go:build !race

// The race detector's shadow memory makes heap numbers meaningless, so the
// measurement runs without it.

package sse_test

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/c1mhq/c1m/internal/testutil"
	"github.com/c1mhq/c1m/server"
)

// TestIdleStreamMemory measures the Go heap per idle SSE stream subscribed
// to one topic, against an idle WebSocket connection with the same
// subscription and one with none, at 1k and 5k. The clients are bare
// sockets made with syscalls, so the numbers are the server's own. Run with
//
//	go test -run TestIdleStreamMemory -v ./proto/sse/
//
// (19k streams need the bench suite's separate client processes:
// scripts/bench.sh --full --scenarios idle_sse.)
func TestIdleStreamMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("up to 5,000 connections")
	}
	const upgrade = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	sub := `{"op":"sub","topics":["mem.a"]}`
	// A masked text frame with a zero mask key carries the payload as is.
	frame := append([]byte{0x81, 0x80 | byte(len(sub)), 0, 0, 0, 0}, sub...)
	kinds := []struct {
		name string
		req  string
	}{
		{"websocket", upgrade},
		{"websocket+sub", upgrade + string(frame)},
		{"sse", "GET /sse?topics=mem.a HTTP/1.1\r\nHost: x\r\n\r\n"},
	}
	for _, n := range []int{1000, 5000} {
		per := map[string]float64{}
		for _, k := range kinds {
			s, addr := start(t, server.Config{})
			if _, err := s.Hub().Publish("mem.a", []byte(`{"bid":1}`), 0); err != nil {
				t.Fatal(err)
			}
			before := testutil.HeapAfterGC()
			fds := testutil.DialSyscall(t, addr, n, k.req)
			testutil.WaitFor(t, 60*time.Second, k.name+" open", func() bool {
				st := s.Poller().Stats()
				if k.name == "websocket" {
					return st.Conns == int64(n)
				}
				return s.Hub().Stats().Subscriptions == n && st.QueuedBytes == 0
			})
			per[k.name] = float64(int64(testutil.HeapAfterGC())-int64(before)) / float64(n)
			t.Logf("%d idle %s: %.0f B of Go heap each", n, k.name, per[k.name])
			for _, fd := range fds {
				unix.Close(fd)
			}
			testutil.WaitFor(t, 60*time.Second, "closed", func() bool { return s.Poller().Stats().TCPConns == 0 })
		}
		t.Logf("at %d: sse / websocket+sub = %.2f, sse / websocket = %.2f", n,
			per["sse"]/per["websocket+sub"], per["sse"]/per["websocket"])
		if r := per["sse"] / per["websocket+sub"]; r > 1.25 && n >= 5000 { // fixed costs blur 1k
			t.Errorf("at %d: an idle SSE stream costs %.2fx a subscribed WebSocket connection, want <= 1.25x", n, r)
		}
	}
}
