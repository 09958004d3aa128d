package client_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/c1mhq/c1m/client"
)

// blaster is a stand-in server that answers the first sub and then writes
// n deliveries of one topic (seq 1..n) as fast as the socket takes them,
// so that the benchmark measures the client's receiving side only.
func blaster(b *testing.B, n int) string {
	up := websocket.Upgrader{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		if _, _, err := conn.ReadMessage(); err != nil { // the sub
			return
		}
		conn.WriteMessage(websocket.TextMessage, []byte(`{"op":"ok","id":1,"epoch":"E","topics":{"md.AAPL.quote":{"epoch":"E","seq":0}}}`))
		raw := conn.UnderlyingConn()
		buf := make([]byte, 0, 128<<10)
		var msg []byte
		for seq := 1; seq <= n; seq++ {
			msg = append(msg[:0], `{"op":"msg","topic":"md.AAPL.quote","seq":`...)
			msg = strconv.AppendInt(msg, int64(seq), 10)
			msg = append(msg, `,"ts":1795478605421661926,"data":{"bid":189.12,"ask":189.14,"bidSize":300,"askSize":200}}`...)
			buf = append(buf, 0x81, 126, byte(len(msg)>>8), byte(len(msg))) // FIN text, 16-bit length
			buf = append(buf, msg...)
			if len(buf) > 120<<10 || seq == n {
				if _, err := raw.Write(buf); err != nil {
					return
				}
				buf = buf[:0]
			}
		}
		conn.ReadMessage() // until the client goes
	}))
	b.Cleanup(hs.Close)
	return hs.URL
}

// BenchmarkReceive: deliveries one client receives per second (its reading
// goroutine runs on one core at a time) and its allocations per delivery.
//
//	go test -run '^$' -bench Receive -benchtime 2000000x -cpu 1,2 ./client
func BenchmarkReceive(b *testing.B) {
	url := blaster(b, b.N)
	got := 0
	done := make(chan struct{})
	c, err := client.Dial(context.Background(), url, client.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	_, err = c.Subscribe(context.Background(), []string{"md.AAPL.quote"}, client.SubOptions{Handler: func(m *client.Message) {
		got++
		if got == b.N {
			close(done)
		}
	}})
	if err != nil {
		b.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		b.Fatalf("received %d of %d", got, b.N)
	}
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "deliveries/s")
	if s := c.Stats(); s.Missed != 0 || s.Duplicates != 0 {
		b.Fatalf("stats %+v", s)
	}
}

// BenchmarkReceiveFromServer: the same against the real server, fed by
// HTTP batch publishes of 500 messages kept at most 10,000 ahead of the
// client. The allocations counted include the server's and the
// publisher's (one process).
//
//	go test -run '^$' -bench ReceiveFromServer -benchtime 200000x ./client
func BenchmarkReceiveFromServer(b *testing.B) {
	_, addr, _ := startServer(b, "127.0.0.1:0", nil)
	var got atomic.Int64
	done := make(chan struct{})
	c, err := client.Dial(context.Background(), "http://"+addr, client.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	_, err = c.Subscribe(context.Background(), []string{"b.>"}, client.SubOptions{Handler: func(m *client.Message) {
		if got.Add(1) == int64(b.N) {
			close(done)
		}
	}})
	if err != nil {
		b.Fatal(err)
	}
	var batch bytes.Buffer
	batch.WriteByte('[')
	for i := 0; i < 500; i++ {
		if i > 0 {
			batch.WriteByte(',')
		}
		fmt.Fprintf(&batch, `{"topic":"b.%d","data":{"bid":189.12,"ask":189.14,"bidSize":300,"askSize":200}}`, i%50)
	}
	batch.WriteByte(']')
	body := batch.Bytes()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	go func() {
		hc := &http.Client{}
		for sent := 0; sent < b.N; sent += 500 {
			for int64(sent)-got.Load() > 10000 {
				time.Sleep(100 * time.Microsecond)
			}
			resp, err := hc.Post("http://"+addr+"/publish", "application/json", bytes.NewReader(body))
			if err != nil {
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		b.Fatalf("received %d of %d", got.Load(), b.N)
	}
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "deliveries/s")
	if s := c.Stats(); s.Missed != 0 || s.Duplicates != 0 || s.Reconnects != 0 {
		b.Fatalf("stats %+v", s)
	}
}
