package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/c1mhq/c1m/client"
	"github.com/c1mhq/c1m/internal/testutil"
	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/server"
)

func TestMaxRateReportsConflatedGaps(t *testing.T) {
	_, addr, _ := startServer(t, "127.0.0.1:0", nil)
	var r rec
	c := dial(t, addr, &r, nil)
	if _, err := c.Subscribe(ctx5(t), []string{"mr.x"}, client.SubOptions{Handler: r.handle, MaxRate: 2}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 20; i++ {
		if err := c.Publish(ctx5(t), "mr.x", []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	// the last value of a burst always arrives
	testutil.WaitFor(t, 5*time.Second, "the last value", func() bool {
		m, _ := r.snapshot()
		return len(m) > 0 && m[len(m)-1].Seq == 20
	})
	msgs, _ := r.snapshot()
	if len(msgs) >= 20 {
		t.Fatalf("%d deliveries at maxRate 2", len(msgs))
	}
	var missed uint64
	for _, g := range r.eventsOf(client.EventGap) {
		if !g.Conflated || g.Topic != "mr.x" || g.To < g.From {
			t.Fatalf("gap %+v", g)
		}
		missed += g.To - g.From + 1
	}
	if missed != uint64(20-len(msgs)) || c.Stats().Missed != missed {
		t.Fatalf("%d deliveries, %d reported missing (stats %+v)", len(msgs), missed, c.Stats())
	}
}

func TestDropPolicyGapsAreReported(t *testing.T) {
	_, addr, _ := startServer(t, "127.0.0.1:0", func(c *server.Config) {
		c.Poller.SlowPolicy = poller.SlowDrop
		c.Poller.MaxQueueBytes = 16 << 10
		c.Poller.WriteTimeout = 2 * time.Minute // the held reader must not get the connection closed
	})
	var r rec
	release := make(chan struct{})
	c := dial(t, addr, &r, nil)
	first := true
	if _, err := c.Subscribe(ctx5(t), []string{"dp.x"}, client.SubOptions{Handler: func(m *client.Message) {
		if first { // hold the reading goroutine: the server's queue overflows
			first = false
			<-release
		}
		r.handle(m)
	}}); err != nil {
		t.Fatal(err)
	}
	// 20 MB: more than the socket buffers and the server's queue hold
	const n = 20000
	item := `{"topic":"dp.x","data":"` + strings.Repeat("x", 1000) + `"}`
	batch := "[" + strings.Repeat(item+",", 99) + item + "]"
	for i := 0; i < n/100; i++ {
		postBatch(t, addr, []byte(batch))
	}
	close(release)
	testutil.WaitFor(t, 10*time.Second, "the last message", func() bool {
		m, _ := r.snapshot()
		return len(m) > 0 && m[len(m)-1].Seq == n
	})
	msgs, _ := r.snapshot()
	var missed uint64
	for _, g := range r.eventsOf(client.EventGap) {
		if g.Conflated {
			t.Fatalf("gap %+v", g)
		}
		missed += g.To - g.From + 1
	}
	if d := r.eventsOf(client.EventDisconnected); len(d) != 0 {
		t.Fatalf("disconnected: %+v", d)
	}
	if missed == 0 || uint64(len(msgs))+missed != n {
		t.Fatalf("%d deliveries + %d reported missing != %d", len(msgs), missed, n)
	}
}

func TestUnsubscribe(t *testing.T) {
	_, addr, _ := startServer(t, "127.0.0.1:0", nil)
	var r rec
	c := dial(t, addr, &r, nil)
	s, err := c.Subscribe(ctx5(t), []string{"u.a", "u.b"}, client.SubOptions{Handler: r.handle})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Unsubscribe(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	if err := s.Unsubscribe(ctx5(t)); err != nil {
		t.Fatalf("twice: %v", err)
	}
	if _, err := c.Subscribe(ctx5(t), []string{"u.c"}, client.SubOptions{Handler: r.handle}); err != nil {
		t.Fatal(err)
	}
	c.Publish(ctx5(t), "u.a", []byte(`1`))
	c.Publish(ctx5(t), "u.c", []byte(`2`))
	testutil.WaitFor(t, 5*time.Second, "u.c", func() bool { return r.count() == 1 })
	if m, _ := r.snapshot(); m[0].Topic != "u.c" {
		t.Fatalf("got %+v", m)
	}
	if _, ok := c.Positions()["u.a"]; ok {
		t.Fatal("position kept after Unsubscribe")
	}
}

// A server that stops answering (not even pings) is given up after the
// keepalive's intervals, and the client reconnects.
func TestKeepaliveFindsDeadServer(t *testing.T) {
	up := websocket.Upgrader{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		<-r.Context().Done() // never reads: pings go unanswered
		conn.Close()
	}))
	defer hs.Close()
	var r rec
	c, err := client.Dial(ctx5(t), hs.URL, client.Options{OnEvent: r.event, PingInterval: 20 * time.Millisecond, MinBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	testutil.WaitFor(t, 5*time.Second, "the dead connection given up", func() bool {
		d := r.eventsOf(client.EventDisconnected)
		return len(d) > 0 && errors.Is(d[0].Err, client.ErrAbnormalClosure)
	})
	testutil.WaitFor(t, 5*time.Second, "a reconnection", func() bool { return len(r.eventsOf(client.EventConnected)) >= 2 })
	_ = context.Background
}
