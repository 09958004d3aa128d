package poller_test

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/wsframe"
)

// BenchmarkBroadcast queues one shared 128-byte frame on every connection per
// op, as the hub does, and waits until the flushers have written all of it.
// Clients on real sockets read and discard. allocs/op must be 0 whatever the
// number of connections.
func BenchmarkBroadcast(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run("conns="+strconv.Itoa(n), func(b *testing.B) {
			h := &echoHandler{}
			s, addr := startServer(b, poller.Config{Handler: h, MaxQueueBytes: 64 << 20})
			benchBroadcast(b, s, h, n, func() net.Conn {
				nc, _ := rawUpgrade(b, addr, "/echo", nil)
				nc.SetReadDeadline(time.Time{})
				return nc
			})
		})
	}
}

// benchBroadcast opens n clients with dial (each returns the socket to
// read and discard), then queues one shared 128-byte frame on every
// connection per op and waits until the flushers have written all of it.
func benchBroadcast(b *testing.B, s *poller.Server, h *echoHandler, n int, dial func() net.Conn) {
	for i := 0; i < n; i++ {
		discardInput(dial())
	}
	conns := h.waitOpened(b, n)
	payload := make([]byte, 128)
	timeBroadcasts(b, s, n, nil, func() {
		p := wsframe.NewPrepared(ws.OpBinary, payload)
		p.Retain(int32(len(conns)))
		for _, c := range conns {
			_ = c.Send(p)
		}
		p.Release()
	})
	st := s.Stats()
	b.ReportMetric(float64(st.FramesOut)/float64(st.Writes), "frames/writev")
}

// discardInput reads and drops everything nc receives until it ends: a
// receiver whose own cost stays out of the measurement.
func discardInput(nc net.Conn) {
	go func() {
		buf := make([]byte, 64<<10)
		for {
			if _, err := nc.Read(buf); err != nil {
				return
			}
		}
	}()
}

// timeBroadcasts runs send b.N times first, so that pools and queue arrays
// grow to that backlog, and waits for the queues to drain; then it times b.N
// sends and the drain, with allocations, and reports deliveries/s for n
// receivers. before, when set, runs just before the timer starts.
func timeBroadcasts(b *testing.B, s *poller.Server, n int, before, send func()) {
	drain := func() {
		waitFor(b, 60*time.Second, "queues drained", func() bool { return s.Stats().QueuedBytes == 0 })
	}
	for i := 0; i < b.N; i++ {
		send()
	}
	drain()
	if before != nil {
		before()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		send()
	}
	drain()
	b.StopTimer()
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "deliveries/s")
}

// BenchmarkUpgrade measures the full accept + handshake + 101 path per op: a
// TCP dial from the same process, the upgrade request, reading the 101. The
// connections stay open so that closing them is not measured.
func BenchmarkUpgrade(b *testing.B) {
	s, addr := startServer(b, poller.Config{Handler: &echoHandler{}})
	req := []byte("GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	buf := make([]byte, 512)
	conns := make([]net.Conn, 0, b.N)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	if b.N > 8000 {
		b.Skip("bounded by the open-file limit: use -benchtime <= 8000x")
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		n, err := c.Read(buf)
		if err != nil || n < 12 || string(buf[9:12]) != "101" {
			b.Fatalf("upgrade: %q %v", buf[:n], err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "upgrades/s")
	_ = s
}

// staticHandler answers every request with the same small response, or opens
// a stream on /events.
type staticHandler struct{ streams chan *poller.Conn }

var staticBody = []byte("ok")

func (h staticHandler) ServeHTTP(c *poller.Conn, r *poller.Request) {
	if r.Path == "/events" {
		if _, err := c.StartStream(200, nil); err == nil {
			h.streams <- c
		}
		return
	}
	_ = c.Respond(200, nil, staticBody)
}

func (staticHandler) OnClose(*poller.Conn, poller.CloseReason) {}

// BenchmarkHTTPKeepAlive is one request and its response on a kept-alive
// reactor connection: parse, route, dispatch, Respond written inline. The
// client reads into a fixed buffer, so allocs/op are the server's.
func BenchmarkHTTPKeepAlive(b *testing.B) {
	h := staticHandler{}
	_, addr := startServer(b, poller.Config{Handler: &echoHandler{},
		HTTPRoutes: func(method, path string) poller.HTTPHandler { return h }})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	req := []byte("GET /bench?q=1 HTTP/1.1\r\nHost: x\r\n\r\n")
	const want = len("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	buf := make([]byte, 256)
	roundTrip := func() {
		if _, err := nc.Write(req); err != nil {
			b.Fatal(err)
		}
		for got := 0; got < want; {
			n, err := nc.Read(buf[got:])
			if err != nil {
				b.Fatal(err)
			}
			got += n
		}
	}
	for range 1000 {
		roundTrip()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		roundTrip()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "requests/s")
}

// BenchmarkStreamBroadcast is BenchmarkBroadcast for chunked HTTP streams:
// one shared chunk queued on every stream per op. allocs/op must be 0.
func BenchmarkStreamBroadcast(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run("streams="+strconv.Itoa(n), func(b *testing.B) {
			h := staticHandler{streams: make(chan *poller.Conn, n)}
			s, addr := startServer(b, poller.Config{Handler: &echoHandler{}, MaxQueueBytes: 64 << 20,
				HTTPRoutes: func(method, path string) poller.HTTPHandler { return h }})
			conns := make([]*poller.Conn, 0, n)
			for i := 0; i < n; i++ {
				nc, err := net.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				defer nc.Close()
				nc.Write([]byte("GET /events HTTP/1.1\r\nHost: x\r\n\r\n"))
				discardInput(nc)
				conns = append(conns, <-h.streams)
			}
			payload := make([]byte, 128)
			timeBroadcasts(b, s, n, nil, func() {
				p := wsframe.AcquirePrepared()
				p.B = append(p.B, payload...)
				p.SealChunk()
				p.Retain(int32(len(conns)))
				for _, c := range conns {
					_ = c.Send(p)
				}
				p.Release()
			})
		})
	}
}
