//go:build !race

// The race detector's shadow memory and pool behaviour make heap numbers
// meaningless, so the measurement runs without it.

package poller_test

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/c1mhq/c1m/internal/testutil"
	"github.com/c1mhq/c1m/poller"
)

// TestIdleMemoryPerConn measures the Go heap per idle connection: a WebSocket
// connection and an SSE stream, at 1k and 5k. The clients are bare sockets
// made with syscalls, so they add nothing to the Go heap and the numbers are
// the server's own (with the default 128 B read buffer). Run with
//
//	go test -run TestIdleMemoryPerConn -v ./poller/
func TestIdleMemoryPerConn(t *testing.T) {
	if testing.Short() {
		t.Skip("up to 5,000 connections")
	}
	upgrade := "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	perConn := map[string]float64{}
	for _, n := range []int{1000, 5000} {
		for _, kind := range []string{"websocket", "stream"} {
			h := newHTTPHandler()
			s, addr := startHTTPServer(t, poller.Config{}, h)
			req, ready := upgrade, func() bool { return s.Stats().Conns == int64(n) }
			if kind == "stream" {
				req, ready = get("/events"), func() bool { return s.Stats().Streams == int64(n) }
			}
			before := testutil.HeapAfterGC()
			fds := testutil.DialSyscall(t, addr, n, req)
			waitFor(t, 30*time.Second, kind+"s open", ready)
			waitFor(t, 10*time.Second, "queues written", func() bool { return s.Stats().QueuedBytes == 0 })
			per := float64(int64(testutil.HeapAfterGC())-int64(before)) / float64(n)
			perConn[kind] = per
			t.Logf("%d idle %ss: %.0f B of Go heap each", n, kind, per)
			for _, fd := range fds {
				unix.Close(fd)
			}
			waitFor(t, 30*time.Second, "connections closed", func() bool { return s.Stats().TCPConns == 0 })
		}
		// A stream costs its reactor HTTP state on top of a connection; a
		// regression that made it a goroutine or a buffer per stream would
		// show as kilobytes here.
		if extra := perConn["stream"] - perConn["websocket"]; extra > 1024 {
			t.Errorf("at %d: a stream costs %.0f B more than a WebSocket connection, want <= 1 KiB", n, extra)
		}
	}
}
