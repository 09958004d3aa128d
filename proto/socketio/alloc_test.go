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
// for the namespace and queued by reference, with connection state recovery
// (the offset is in the shared event; each socket logs the delivery in its
// ring) as without. The clients are bare sockets that add nothing to the
// heap.
func TestBroadcastAllocs(t *testing.T) {
	for _, rec := range []time.Duration{0, time.Minute} {
		t.Run("recovery="+rec.String(), func(t *testing.T) {
			const n, msgs = 500, 200
			r := broadcastRig(t, socketio.Config{Recovery: rec}, n)
			data := []byte(`{"bid":189.1,"ask":189.2}`)
			// Warm up pools, scratch and the sockets' recovery rings (which
			// grow to 1024 entries and then wrap).
			for i := 0; i < 1100; i++ {
				r.publish(t, "alloc.t", string(data))
			}
			testutil.WaitFor(t, 10*time.Second, "warm-up deliveries", func() bool { return r.hub.Stats().Deliveries >= n*1100 })
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
		})
	}
}

// broadcastRig serves cfg with n bare WebSocket sockets connected to "/"
// and subscribed to alloc.t.
func broadcastRig(t testing.TB, cfg socketio.Config, n int) *rig {
	r, _ := broadcastRigFDs(t, cfg, n)
	return r
}

func broadcastRigFDs(t testing.TB, cfg socketio.Config, n int) (*rig, []int) {
	r := newRig(t, cfg, engineio.Config{})
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
	return r, fds
}

// drain reads and discards what the server writes to fds until stop is
// closed, in one goroutine (poll), so that the sockets are not closed as
// slow consumers.
func drain(fds []int, stop chan struct{}) {
	pfds := make([]unix.PollFd, len(fds))
	for i, fd := range fds {
		pfds[i] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
	}
	buf := make([]byte, 64<<10)
	for {
		select {
		case <-stop:
			return
		default:
		}
		if n, err := unix.Poll(pfds, 50); err != nil || n == 0 {
			continue
		}
		for i := range pfds {
			if pfds[i].Revents&unix.POLLIN != 0 {
				_, _ = unix.Read(int(pfds[i].Fd), buf)
			}
		}
	}
}

// BenchmarkBroadcast publishes to 200 bare WebSocket sockets, with and
// without connection state recovery; allocs/delivery and ns/delivery are
// per socket; one goroutine reads and discards what the sockets get.
func BenchmarkBroadcast(b *testing.B) {
	for _, rec := range []time.Duration{0, time.Minute} {
		// One rig per case, made once: b.Run calls its function more than
		// once (b.N = 1 first).
		const n = 200
		r, fds := broadcastRigFDs(b, socketio.Config{Recovery: rec}, n)
		stop := make(chan struct{})
		go drain(fds, stop)
		data := []byte(`{"bid":189.1,"ask":189.2}`)
		for i := 0; i < 1100; i++ {
			r.publish(b, "alloc.t", string(data))
		}
		testutil.WaitFor(b, 10*time.Second, "warm-up deliveries", func() bool { return r.hub.Stats().Deliveries >= n*1100 })
		b.Run("recovery="+rec.String(), func(b *testing.B) {
			base := r.hub.Stats().Deliveries
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := r.hub.Publish("alloc.t", data, 1); err != nil {
					b.Fatal(err)
				}
			}
			want := uint64(n * b.N)
			testutil.WaitFor(b, 60*time.Second, "deliveries", func() bool { return r.hub.Stats().Deliveries-base >= want })
			b.StopTimer()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(want), "allocs/delivery")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(want), "ns/delivery")
		})
		close(stop)
	}
}
