package server_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/c1mhq/c1m/server"
	"github.com/c1mhq/c1m/wsframe"
)

// BenchmarkPublishDeflate publishes a 600-byte JSON quote through the hub
// to N subscribers on /ws that negotiated permessage-deflate (raw sockets
// that read and discard): one compression per publish, and no allocation
// per subscriber (allocs/op stays flat as N grows).
func BenchmarkPublishDeflate(b *testing.B) {
	data := []byte(quoteData(1))
	for _, n := range []int{10, 100, 1000} {
		for _, deflate := range []bool{false, true} {
			name := "conns=" + strconv.Itoa(n) + "/deflate=" + strconv.FormatBool(deflate)
			b.Run(name, func(b *testing.B) {
				cfg := server.Config{}
				cfg.Poller.MaxQueueBytes = 64 << 20
				s, addr := start(b, cfg)
				offer := ""
				if deflate {
					offer = "permessage-deflate; client_max_window_bits"
				}
				for i := 0; i < n; i++ {
					c, _ := abDialTB(b, addr, "/ws", offer)
					c.sendText(`{"op":"sub","id":1,"topics":["bd.q"]}`)
					go c.discard()
				}
				waitFor(b, 20*time.Second, "subscribed", func() bool { return s.Hub().Stats().Subscriptions == n })
				drain := func() {
					waitFor(b, 60*time.Second, "queues drained", func() bool { return s.Poller().Stats().QueuedBytes == 0 })
				}
				for i := 0; i < b.N; i++ { // grow pools and queues to this backlog
					_, _ = s.Hub().Publish("bd.q", data, 0)
				}
				drain()
				d0 := wsframe.ReadDeflateStats()
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := s.Hub().Publish("bd.q", data, 0); err != nil {
						b.Fatal(err)
					}
				}
				drain()
				b.StopTimer()
				b.ReportMetric(float64(wsframe.ReadDeflateStats().Compressed-d0.Compressed)/float64(b.N), "compressions/op")
				b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "deliveries/s")
			})
		}
	}
}
