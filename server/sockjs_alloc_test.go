//go:build !race

package server_test

import (
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/c1mhq/c1m/internal/testutil"
	"github.com/c1mhq/c1m/server"
	"github.com/c1mhq/c1m/wsframe"
)

// sjRequest returns the receiving request that opens session id over
// transport: xhr_streaming, eventsource, websocket (framed), or xhr (two
// polls pipelined: the first gets "o", the second is held).
func sjRequest(prefix, id, transport string) string {
	p := prefix + "/0/" + id + "/" + transport
	switch transport {
	case "eventsource":
		return "GET " + p + " HTTP/1.1\r\nHost: x\r\n\r\n"
	case "websocket":
		return "GET " + p + " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	case "xhr":
		r := "POST " + p + " HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
		return r + r
	}
	return "POST " + p + " HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
}

// sjSessions opens n sessions over transport with bare sockets (nothing
// reads them: the clients add nothing to the Go heap) and returns the
// descriptors, closed when the test ends.
func sjSessions(t testing.TB, addr, prefix, tag, transport string, n int) []int {
	t.Helper()
	var fds []int
	for i := 0; i < n; i++ {
		fds = append(fds, testutil.DialSyscall(t, addr, 1, sjRequest(prefix, tag+strconv.Itoa(i), transport))...)
	}
	t.Cleanup(func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	})
	return fds
}

// sjSubscribeAll subscribes sessions tag0..tag<n-1> to topic with xhr_send
// (over websocket: through the WebSocket itself, as a SockJS WebSocket
// session has no id another request could name).
func sjSubscribeAll(t testing.TB, addr, tag, topic string, n int, wsFDs []int) {
	t.Helper()
	body := `["{\"op\":\"sub\",\"topics\":[\"` + topic + `\"]}"]`
	if wsFDs != nil {
		frame := append([]byte{0x81, 0x80 | byte(len(body)), 0, 0, 0, 0}, body...) // masked with a zero key
		for _, fd := range wsFDs {
			if _, err := unix.Write(fd, frame); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	for i := 0; i < n; i++ {
		resp, err := http.Post("http://"+addr+"/sockjs/0/"+tag+strconv.Itoa(i)+"/xhr_send", "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 204 {
			t.Fatalf("xhr_send: %d", resp.StatusCode)
		}
	}
}

// TestSockJSEncodedOnce: a publish to SockJS sessions over websocket,
// xhr_streaming and eventsource is encoded once per framing, shared by
// every session of that framing: the frame buffers acquired per publish do
// not grow with the sessions, and a delivery allocates (nearly) nothing.
// Run with
//
//	go test -run TestSockJSEncodedOnce -v ./server/
func TestSockJSEncodedOnce(t *testing.T) {
	transports := []string{"websocket", "xhr_streaming", "eventsource"}
	var perPublish []float64
	for _, per := range []int{20, 200} {
		s, addr := start(t, server.Config{SockJS: server.SockJSConfig{ResponseLimit: 1 << 30}})
		n := per * len(transports)
		fds := map[string][]int{}
		for _, tr := range transports {
			fds[tr] = sjSessions(t, addr, "/sockjs", tr+"-", tr, per)
		}
		testutil.WaitFor(t, 20*time.Second, "sessions", func() bool { return s.SockJS()[0].Sessions() == int64(n) })
		for _, tr := range transports {
			var ws []int
			if tr == "websocket" {
				ws = fds[tr]
			}
			sjSubscribeAll(t, addr, tr+"-", "enc.t", per, ws)
		}
		testutil.WaitFor(t, 20*time.Second, "subscriptions", func() bool { return s.Hub().Stats().Subscriptions == n })
		data := []byte(`{"bid":189.1,"ask":189.2}`)
		publish := func(k int) {
			base := s.Hub().Stats().Deliveries
			for i := 0; i < k; i++ {
				if _, err := s.Hub().Publish("enc.t", data, 1); err != nil {
					t.Fatal(err)
				}
			}
			testutil.WaitFor(t, 20*time.Second, "deliveries", func() bool { return s.Hub().Stats().Deliveries-base == uint64(n*k) })
		}
		publish(100) // warm up: queues and pools grow to their size
		const msgs = 100
		pool := wsframe.ReadPoolStats()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		publish(msgs)
		runtime.ReadMemStats(&after)
		perDelivery := float64(after.Mallocs-before.Mallocs) / float64(n*msgs)
		buffers := float64(wsframe.ReadPoolStats().Acquired-pool.Acquired) / msgs
		perPublish = append(perPublish, buffers)
		t.Logf("%d sessions (%d per transport): %.2f frame buffers acquired per publish, %.4f allocations per delivery",
			n, per, buffers, perDelivery)
		if perDelivery > 0.2 {
			t.Errorf("%.3f allocations per delivery: something allocates per session", perDelivery)
		}
		// The native frame, and per framing the wrapped frame and the scratch
		// the wrapped one is made from: 1 + 3*2.
		if buffers > 7.1 {
			t.Errorf("%.2f frame buffers per publish, want at most 7: a delivery is encoded per session", buffers)
		}
	}
	if perPublish[1] > perPublish[0]+0.1 {
		t.Errorf("frame buffers per publish grow with the sessions: %.2f at 60, %.2f at 600", perPublish[0], perPublish[1])
	}
}
