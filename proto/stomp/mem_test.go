//go:build !race

// The race detector's shadow memory makes heap numbers meaningless, so the
// measurement runs without it.

package stomp_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/c1mhq/c1m/internal/testutil"
	"github.com/c1mhq/c1m/server"
)

// TestIdleMemory measures the Go heap per idle STOMP connection (CONNECTed
// with heart-beats, one subscription, the snapshot delivered) against a
// native WebSocket connection with the same subscription, at 1k and 5k.
// The clients are bare sockets, so the numbers are the server's own. Run
// with
//
//	go test -run TestIdleMemory -v ./proto/stomp/
func TestIdleMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("up to 5,000 connections")
	}
	const upgrade = "HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	for _, n := range []int{1000, 5000} {
		s := startServer(t)
		before := testutil.HeapAfterGC()
		fds := testutil.DialSyscall(t, s.Addr().String(), n, "GET /ws "+upgrade+"\r\n"+string(maskedText(`{"op":"sub","topics":["mem.a"]}`)))
		testutil.WaitFor(t, 60*time.Second, "native subscribed", func() bool { return s.Hub().Stats().Subscriptions == n })
		native := float64(int64(testutil.HeapAfterGC())-int64(before)) / float64(n)
		closeAll(fds)

		s = startServer(t)
		before = testutil.HeapAfterGC()
		fds = testutil.DialSyscall(t, s.Addr().String(), n, "GET /stomp "+upgrade+"Sec-WebSocket-Protocol: v12.stomp\r\n\r\n"+
			string(maskedText("CONNECT\naccept-version:1.2\nhost:x\nheart-beat:10000,10000\n\n\x00"))+
			string(maskedText("SUBSCRIBE\nid:sub-0\ndestination:/topic/mem.a\n\n\x00")))
		testutil.WaitFor(t, 60*time.Second, "stomp subscribed", func() bool { return s.Stomp().Stats().Subscriptions == int64(n) })
		st := float64(int64(testutil.HeapAfterGC())-int64(before)) / float64(n)
		closeAll(fds)

		t.Logf("%d idle connections, subscribed: native WebSocket %.0f B, STOMP %.0f B of Go heap each (%.2fx)", n, native, st, st/native)
		if st/native > 2 {
			t.Errorf("an idle STOMP connection costs %.2fx a native one, want <= 2x", st/native)
		}
	}
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

func startServer(t *testing.T) *server.Server {
	t.Helper()
	cfg := server.Config{Addr: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	s, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	if _, err := s.Hub().Publish("mem.a", []byte(`{"bid":1}`), 0); err != nil {
		t.Fatal(err)
	}
	return s
}
