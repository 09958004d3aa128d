//go:build !race

package socketio_test

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/c1mhq/c1m/internal/testutil"
	"github.com/c1mhq/c1m/proto/engineio"
	"github.com/c1mhq/c1m/proto/socketio"
)

// maskedText is a client text frame with a zero mask key (the payload is
// sent as is).
func maskedText(s string) []byte {
	b := []byte{0x81, 0x80 | byte(len(s)), 0, 0, 0, 0}
	return append(b, s...)
}

// TestBroadcastAllocs: a publish delivered to 500 Socket.IO WebSocket
// sockets allocates (nearly) nothing per socket: the event is encoded once
// for the namespace and queued by reference. The clients are bare sockets
// that add nothing to the heap.
func TestBroadcastAllocs(t *testing.T) {
	const n, msgs = 500, 200
	r := newRig(t, socketio.Config{}, engineio.Config{})
	addr := strings.TrimPrefix(strings.TrimSuffix(r.ws, path), "ws://")
	req := "GET " + path + "?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	fds := testutil.DialSyscall(t, addr, n, req)
	t.Cleanup(func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	})
	testutil.WaitFor(t, 10*time.Second, "sessions", func() bool { return r.eio.Sessions() == n })
	for _, fd := range fds {
		if _, err := unix.Write(fd, append(maskedText("40"), maskedText(`42["subscribe","alloc.t"]`)...)); err != nil {
			t.Fatal(err)
		}
	}
	testutil.WaitFor(t, 10*time.Second, "subscriptions", func() bool { return r.hub.Stats().Subscriptions == n })
	data := []byte(`{"bid":189.1,"ask":189.2}`)
	r.publish(t, "alloc.t", string(data)) // warm up pools and scratch
	base := r.hub.Stats().Deliveries
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < msgs; i++ {
		if _, err := r.hub.Publish("alloc.t", data, 1); err != nil {
			t.Fatal(err)
		}
	}
	testutil.WaitFor(t, 10*time.Second, "deliveries", func() bool { return r.hub.Stats().Deliveries-base == n*msgs })
	runtime.ReadMemStats(&after)
	perDelivery := float64(after.Mallocs-before.Mallocs) / float64(n*msgs)
	t.Logf("%d deliveries, %d allocations: %.4f per delivery", n*msgs, after.Mallocs-before.Mallocs, perDelivery)
	// One allocation per socket would show as 1 or more; what remains is
	// per publish (the hub) and the reactor's queues growing, amortized.
	if perDelivery > 0.2 {
		t.Errorf("%.3f allocations per delivery: something allocates per socket", perDelivery)
	}
}
