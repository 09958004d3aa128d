package poller_test

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/c1mhq/c1m/poller"
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
			benchBroadcast(b, s, h, n, func() net.Conn { return tlsUpgradeRaw(b, addr, tc) })
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
