package poller_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/wsframe"
)

// BenchmarkBroadcastDeflate is BenchmarkBroadcast with a 300-byte JSON
// quote to connections that negotiated permessage-deflate:
//
//   - off: deflate not negotiated, the frame goes as it is;
//   - shared: the frame is compressed once, by the first connection, and
//     every other queues the same compressed variant (what c1m does);
//   - per-conn: each connection compresses its own copy (what a server
//     with a compressor per connection does), the baseline of the CPU that
//     compressing once saves.
//
// allocs/op must be 0 for off and shared whatever the number of
// connections: the compressed variant costs nothing per subscriber.
func BenchmarkBroadcastDeflate(b *testing.B) {
	payload := quoteJSON(300)
	for _, n := range []int{100, 1000} {
		for _, mode := range []string{"off", "shared", "per-conn"} {
			b.Run("conns="+strconv.Itoa(n)+"/"+mode, func(b *testing.B) {
				h := &echoHandler{}
				s, addr := startServer(b, poller.Config{Handler: h, MaxQueueBytes: 64 << 20,
					Upgrader: wsframe.Upgrader{Deflate: mode != "off"}, DeflateThreshold: 64})
				for i := 0; i < n; i++ {
					nc, _, _ := rawUpgradeExt(b, addr, "/echo", "permessage-deflate")
					nc.SetReadDeadline(time.Time{})
					discardInput(nc)
				}
				conns := h.waitOpened(b, n)
				var d0 wsframe.DeflateStats
				var st0 poller.Stats
				timeBroadcasts(b, s, n, func() { d0, st0 = wsframe.ReadDeflateStats(), s.Stats() }, func() {
					if mode == "per-conn" {
						for _, c := range conns {
							_ = c.Send(wsframe.NewPrepared(ws.OpText, payload))
						}
						return
					}
					p := wsframe.NewPrepared(ws.OpText, payload)
					p.Retain(int32(len(conns)))
					for _, c := range conns {
						_ = c.Send(p)
					}
					p.Release()
				})
				d1, st1 := wsframe.ReadDeflateStats(), s.Stats()
				b.ReportMetric(float64(d1.Compressed-d0.Compressed)/float64(b.N), "compressions/op")
				wire := float64(len(payload) + 4)
				if sent := st1.DeflateSent - st0.DeflateSent; sent > 0 {
					wire -= float64(st1.DeflateSaved-st0.DeflateSaved) / float64(sent)
				}
				b.ReportMetric(wire, "wire-B/delivery")
			})
		}
	}
}
