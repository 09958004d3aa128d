package poller_test

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/wsframe"
)

// BenchmarkTLSBroadcast is BenchmarkBroadcast over TLS: one shared 128-byte
// frame per op queued on every connection, sealed per connection by the
// flushers. The clients read and discard the ciphertext without
// decrypting it, so the process's CPU and allocations are the server's.
// allocs/op must be 0; deliveries/s against BenchmarkBroadcast's is the
// record layer's cost.
func BenchmarkTLSBroadcast(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run("conns="+strconv.Itoa(n), func(b *testing.B) {
			h := &echoHandler{}
			s, addr, tc := startTLSServer(b, poller.Config{Handler: h, MaxQueueBytes: 64 << 20})
			for i := 0; i < n; i++ {
				raw := tlsUpgradeRaw(b, addr, tc)
				go func() {
					buf := make([]byte, 64<<10)
					for {
						if _, err := raw.Read(buf); err != nil {
							return
						}
					}
				}()
			}
			waitFor(b, 20*time.Second, "open", func() bool { return s.Stats().Conns == int64(n) })
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
			for i := 0; i < b.N; i++ {
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
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}

// tlsUpgradeRaw handshakes TLS, upgrades /echo over it and returns the
// underlying TCP connection, from which the caller reads ciphertext.
func tlsUpgradeRaw(b testing.TB, addr string, tc *tls.Config) net.Conn {
	b.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nc.Close() })
	c := tls.Client(nc, tc)
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	if _, err := c.Write([]byte(req)); err != nil {
		b.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 1), nil) // byte by byte: nothing past the head is consumed
	if err != nil || resp.StatusCode != 101 {
		b.Fatalf("upgrade over tls: %v %v", resp, err)
	}
	nc.SetDeadline(time.Time{})
	return nc
}
