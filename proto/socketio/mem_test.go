//go:build !race

// The race detector's shadow memory makes heap numbers meaningless, so the
// measurement runs without it.

package socketio_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/c1mhq/c1m/internal/testutil"
	"github.com/c1mhq/c1m/server"
)

// readResponse reads one HTTP response with a Content-Length from fd and
// returns its body.
func readResponse(t testing.TB, fd int, buf []byte) string {
	t.Helper()
	n := 0
	for {
		m, err := unix.Read(fd, buf[n:])
		if err != nil || m == 0 {
			t.Fatalf("read: %v", err)
		}
		n += m
		head, body, ok := bytes.Cut(buf[:n], []byte("\r\n\r\n"))
		if !ok {
			continue
		}
		cl := clRe.FindSubmatch(head)
		if cl == nil {
			t.Fatalf("no Content-Length in %q", head)
		}
		want, _ := strconv.Atoi(string(cl[1]))
		if len(body) >= want {
			return string(body[:want])
		}
	}
}

var (
	clRe  = regexp.MustCompile(`(?i)content-length: (\d+)`)
	sidRe = regexp.MustCompile(`"sid":"([^"]+)"`)
)

// TestIdleMemory measures the Go heap per idle Socket.IO connection
// subscribed to one topic, over WebSocket and over polling (a held GET),
// against a native WebSocket connection with the same subscription, at 1k
// and 5k. The clients are bare sockets, so the numbers are the server's
// own. Run with
//
//	go test -run TestIdleMemory -v ./proto/socketio/
func TestIdleMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("up to 5,000 connections")
	}
	const upgrade = "HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	for _, n := range []int{1000, 5000} {
		per := map[string]float64{}

		// Native WebSocket, subscribed.
		s := startServer(t)
		before := testutil.HeapAfterGC()
		fds := testutil.DialSyscall(t, s.Addr().String(), n, "GET /ws "+upgrade+string(maskedText(`{"op":"sub","topics":["mem.a"]}`)))
		testutil.WaitFor(t, 60*time.Second, "native subscribed", func() bool { return s.Hub().Stats().Subscriptions == n })
		per["native websocket"] = float64(int64(testutil.HeapAfterGC())-int64(before)) / float64(n)
		closeAll(fds)

		// Socket.IO over WebSocket.
		s = startServer(t)
		before = testutil.HeapAfterGC()
		fds = testutil.DialSyscall(t, s.Addr().String(), n, "GET "+path+"?EIO=4&transport=websocket "+upgrade+
			string(maskedText("40"))+string(maskedText(`42["subscribe","mem.a"]`)))
		testutil.WaitFor(t, 60*time.Second, "socket.io websocket subscribed", func() bool { return s.Hub().Stats().Subscriptions == n })
		per["socket.io websocket"] = float64(int64(testutil.HeapAfterGC())-int64(before)) / float64(n)
		closeAll(fds)

		// Socket.IO over WebSocket with connection state recovery (c1m's
		// default: --sio-recovery 2m).
		s = startServerWith(t, server.Config{SocketIO: server.SocketIOConfig{Recovery: 2 * time.Minute}})
		before = testutil.HeapAfterGC()
		fds = testutil.DialSyscall(t, s.Addr().String(), n, "GET "+path+"?EIO=4&transport=websocket "+upgrade+
			string(maskedText("40"))+string(maskedText(`42["subscribe","mem.a"]`)))
		testutil.WaitFor(t, 60*time.Second, "socket.io websocket (recovery) subscribed", func() bool { return s.Hub().Stats().Subscriptions == n })
		per["socket.io websocket, recovery"] = float64(int64(testutil.HeapAfterGC())-int64(before)) / float64(n)
		closeAll(fds)

		// Socket.IO over polling: each connection ends with a held GET.
		s = startServer(t)
		buf := make([]byte, 4096)
		before = testutil.HeapAfterGC()
		fds = testutil.DialSyscall(t, s.Addr().String(), n, "GET "+path+"?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n")
		for _, fd := range fds {
			m := sidRe.FindStringSubmatch(readResponse(t, fd, buf))
			q := path + "?EIO=4&transport=polling&sid=" + m[1]
			post := func(body string) {
				_, _ = unix.Write(fd, []byte("POST "+q+" HTTP/1.1\r\nHost: x\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body))
				readResponse(t, fd, buf)
			}
			get := "GET " + q + " HTTP/1.1\r\nHost: x\r\n\r\n"
			post("40")
			_, _ = unix.Write(fd, []byte(get))
			readResponse(t, fd, buf) // 40{"sid":...}
			post(`420["subscribe","mem.a"]`)
			_, _ = unix.Write(fd, []byte(get))
			readResponse(t, fd, buf) // the ack
			_, _ = unix.Write(fd, []byte(get))
		}
		testutil.WaitFor(t, 60*time.Second, "socket.io polling held", func() bool { return s.Poller().Stats().HeldRequests == int64(n) })
		per["socket.io polling"] = float64(int64(testutil.HeapAfterGC())-int64(before)) / float64(n)
		closeAll(fds)

		for _, k := range []string{"native websocket", "socket.io websocket", "socket.io websocket, recovery", "socket.io polling"} {
			t.Logf("%d idle %s connections, subscribed: %.0f B of Go heap each (%.2fx native)", n, k, per[k], per[k]/per["native websocket"])
		}
		if r := per["socket.io websocket"] / per["native websocket"]; r > 2 {
			t.Errorf("an idle Socket.IO WebSocket connection costs %.2fx a native one, want <= 2x", r)
		}
		if r := per["socket.io polling"] / per["native websocket"]; r > 2.5 {
			t.Errorf("an idle Socket.IO polling connection costs %.2fx a native WebSocket one, want <= 2.5x", r)
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
	return startServerWith(t, server.Config{})
}

func startServerWith(t *testing.T, cfg server.Config) *server.Server {
	t.Helper()
	cfg.Addr, cfg.Logger = "127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil))
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
