package poller_test

import (
	"io"
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
			var clients []net.Conn
			for i := 0; i < n; i++ {
				nc, _ := rawUpgrade(b, addr, "/echo", nil)
				nc.SetReadDeadline(time.Time{})
				clients = append(clients, nc)
				go func() {
					buf := make([]byte, 64<<10)
					for {
						if _, err := nc.Read(buf); err != nil {
							return
						}
					}
				}()
			}
			waitFor(b, 10*time.Second, "open", func() bool { return s.Stats().Conns == int64(n) })
			h.mu.Lock()
			conns := append([]*poller.Conn(nil), h.opened...)
			h.mu.Unlock()
			payload := make([]byte, 128)
			drain := func() {
				waitFor(b, 30*time.Second, "queues drained", func() bool { return s.Stats().QueuedBytes == 0 })
			}
			send := func() {
				p := wsframe.NewPrepared(ws.OpBinary, payload)
				p.Retain(int32(len(conns)))
				for _, c := range conns {
					_ = c.Send(p)
				}
				p.Release()
			}
			for i := 0; i < b.N; i++ { // grow pools and queue arrays to this backlog
				send()
			}
			drain()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				send()
			}
			drain()
			b.StopTimer()
			st := s.Stats()
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "deliveries/s")
			b.ReportMetric(float64(st.FramesOut)/float64(st.Writes), "frames/writev")
			for _, c := range clients {
				c.Close()
			}
			_ = io.EOF
		})
	}
}
