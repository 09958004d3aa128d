//go:build !race

package stomp_test

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/c1mhq/c1m/internal/testutil"
	"github.com/c1mhq/c1m/proto/stomp"
	"github.com/c1mhq/c1m/wsframe"
)

// maskedText is a client text frame with a zero mask key (the payload is
// sent as is).
func maskedText(s string) []byte {
	if len(s) > 125 {
		panic("maskedText: payload too long")
	}
	b := []byte{0x81, 0x80 | byte(len(s)), 0, 0, 0, 0}
	return append(b, s...)
}

// broadcastRig serves STOMP with n bare sockets, each CONNECTed and
// subscribed to alloc.t with id sub-0 and the given ack mode (as
// @stomp/stompjs numbers its first subscription).
func broadcastRig(t testing.TB, n int, ack string) (*rig, []int) {
	r := newRig(t, stomp.Config{})
	addr := strings.TrimSuffix(strings.TrimPrefix(r.url, "ws://"), "/stomp")
	req := "GET /stomp HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: v12.stomp\r\n\r\n"
	fds := testutil.DialSyscall(t, addr, n, req)
	t.Cleanup(func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	})
	msg := append(maskedText("CONNECT\naccept-version:1.2\nhost:x\n\n\x00"),
		maskedText("SUBSCRIBE\nid:sub-0\ndestination:/topic/alloc.t\nack:"+ack+"\n\n\x00")...)
	for _, fd := range fds {
		if _, err := unix.Write(fd, msg); err != nil {
			t.Fatal(err)
		}
	}
	// The handler counts a subscription once hub.Subscribe returned.
	testutil.WaitFor(t, 10*time.Second, "subscriptions", func() bool { return r.h.Stats().Subscriptions == int64(n) })
	return r, fds
}

// TestBroadcastEncodedOnce: a publish to 500 STOMP subscribers that share a
// subscription id is encoded once for all of them (one MESSAGE buffer
// besides the native frame) and allocates (nearly) nothing per subscriber.
// With ack client-individual the same holds: each subscriber only records
// the message in its prefetch window (warmed up here past its growth).
func TestBroadcastEncodedOnce(t *testing.T) {
	for _, ack := range []string{"auto", "client-individual"} {
		t.Run(ack, func(t *testing.T) {
			const n, msgs = 500, 200
			r, _ := broadcastRig(t, n, ack)
			data := []byte(`{"bid":189.1,"ask":189.2}`)
			warm := 300
			for i := 0; i < warm; i++ {
				if _, err := r.hub.Publish("alloc.t", data, 1); err != nil {
					t.Fatal(err)
				}
			}
			testutil.WaitFor(t, 10*time.Second, "warm-up deliveries", func() bool { return r.hub.Stats().Deliveries >= uint64(n*warm) })
			base := r.hub.Stats().Deliveries
			pool := wsframe.ReadPoolStats()
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
			encodings := float64(wsframe.ReadPoolStats().Acquired-pool.Acquired) / msgs
			t.Logf("%d deliveries, %d allocations: %.4f per delivery; %.2f frame buffers per publish", n*msgs, after.Mallocs-before.Mallocs, perDelivery, encodings)
			if perDelivery > 0.2 {
				t.Errorf("%.3f allocations per delivery: something allocates per subscriber", perDelivery)
			}
			if encodings > 2.1 {
				t.Errorf("%.2f frame buffers per publish, want 2 (native and STOMP): MESSAGE encoded per subscriber", encodings)
			}
		})
	}
}
