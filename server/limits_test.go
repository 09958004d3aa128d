package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/c1mhq/c1m/auth"
	"github.com/c1mhq/c1m/internal/oprate"
	"github.com/c1mhq/c1m/server"
)

// dialFrom upgrades /ws from a chosen loopback address; it returns the
// connection, or the HTTP status and body of a refusal.
func dialFrom(t *testing.T, ip, addr string) (*websocket.Conn, int, string, http.Header) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, NetDialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
		nd := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		return nd.DialContext(ctx, network, a)
	}}
	c, resp, err := d.Dial("ws://"+addr+"/ws", nil)
	if err == nil {
		t.Cleanup(func() { c.Close() })
		return c, 101, "", nil
	}
	if resp == nil {
		t.Fatalf("dial from %s: %v", ip, err)
	}
	body, _ := io.ReadAll(resp.Body)
	return nil, resp.StatusCode, string(body), resp.Header
}

// sseFrom opens /sse from a chosen loopback address and returns the status.
func sseFrom(t *testing.T, ip, addr string) int {
	t.Helper()
	nd := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	c, err := nd.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /sse?topics=lim.x HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	r, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("sse from %s: %v", ip, err)
	}
	return r.StatusCode
}

func pollerStats(t *testing.T, addr string) (st struct {
	Poller struct {
		RefusedIPConns uint64 `json:"refused_ip_conns"`
		RefusedIPRate  uint64 `json:"refused_ip_rate"`
		TrackedIPs     int    `json:"tracked_ips"`
	} `json:"poller"`
}) {
	t.Helper()
	r, err := http.Get("http://" + addr + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	if err := json.NewDecoder(r.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// One address holding its maximum of connections is refused 429 with
// Retry-After, for WebSocket and SSE alike, while another address connects
// normally; a closed connection frees its place.
func TestConnectionsPerIP(t *testing.T) {
	var cfg server.Config
	cfg.Poller.MaxConnsPerIP = 3
	_, addr := start(t, cfg)
	var held []*websocket.Conn
	for range 3 {
		c, st, body, _ := dialFrom(t, "127.0.0.2", addr)
		if st != 101 {
			t.Fatalf("connection within the limit: %d %s", st, body)
		}
		held = append(held, c)
	}
	_, st, body, h := dialFrom(t, "127.0.0.2", addr)
	if st != 429 || h.Get("Retry-After") == "" || !strings.Contains(body, "too many connections from your address") {
		t.Fatalf("4th connection: %d %q %v, want 429 with Retry-After", st, body, h)
	}
	if st := sseFrom(t, "127.0.0.2", addr); st != 429 {
		t.Fatalf("SSE past the limit: %d, want 429", st)
	}
	if _, st, body, _ := dialFrom(t, "127.0.0.3", addr); st != 101 {
		t.Fatalf("another address: %d %s", st, body)
	}
	held[0].Close()
	waitFor(t, 5*time.Second, "a place freed", func() bool {
		c, st, _, _ := dialFrom(t, "127.0.0.2", addr)
		if c != nil {
			c.Close()
		}
		return st == 101
	})
	if s := pollerStats(t, addr).Poller; s.RefusedIPConns < 2 || s.TrackedIPs < 2 {
		t.Fatalf("stats %+v", s)
	}
}

// A flood of new connections from one address is refused past its rate
// while another address connects normally.
func TestConnectRatePerIP(t *testing.T) {
	var cfg server.Config
	cfg.Poller.ConnectRatePerIP = 0.5 // one every 2 s, a burst of 3
	cfg.Poller.ConnectBurstPerIP = 3
	_, addr := start(t, cfg)
	ok, refused := 0, 0
	for range 20 {
		c, st, body, h := dialFrom(t, "127.0.0.4", addr)
		switch st {
		case 101:
			ok++
			c.Close()
		case 429:
			refused++
			if h.Get("Retry-After") != "2" || !strings.Contains(body, "at most 0.5 per second") {
				t.Fatalf("refusal: %q Retry-After %q", body, h.Get("Retry-After"))
			}
		default:
			t.Fatalf("status %d %s", st, body)
		}
	}
	if ok < 3 || ok > 4 || refused != 20-ok {
		t.Fatalf("flood of 20: %d accepted, %d refused; want the burst of 3 (4 if a token refilled)", ok, refused)
	}
	for range 3 {
		if _, st, body, _ := dialFrom(t, "127.0.0.5", addr); st != 101 {
			t.Fatalf("another address during the flood: %d %s", st, body)
		}
	}
	if s := pollerStats(t, addr).Poller; s.RefusedIPRate != uint64(refused) {
		t.Fatalf("refused_ip_rate %d, want %d", s.RefusedIPRate, refused)
	}
	if m := metricsText(t, addr); !strings.Contains(m, fmt.Sprintf(`c1m_refused_total{reason="connect_rate_per_ip"} %d`, refused)) {
		t.Fatalf("metrics lack the refusals:\n%s", m)
	}
}

// A connection that sends operations past --max-ops-per-sec gets err 429,
// then, going on, close 1008; another connection is not affected.
func TestOpsRateNative(t *testing.T) {
	_, addr := start(t, server.Config{Ops: oprate.Limit{Rate: 1, Burst: 5, Strikes: 4}})
	flood, calm := dial(t, addr), dial(t, addr)
	for i := 1; i <= 5; i++ {
		flood.send(fmt.Sprintf(`{"op":"ping","id":%d}`, i))
		flood.expectOK(i)
	}
	flood.send(`{"op":"sub","id":6,"topics":["ops.a"]}`)
	if r := flood.next(); r.Op != "err" || r.Code != 429 || string(r.ID) != "6" || !strings.Contains(r.Msg, "too many operations: at most 1 per second") {
		t.Fatalf("6th op: %+v", r)
	}
	calm.send(`{"op":"sub","id":1,"topics":["ops.a"]}`)
	calm.expectOK(1)
	for i := 7; i <= 9; i++ {
		flood.send(fmt.Sprintf(`{"op":"ping","id":%d}`, i))
	}
	for {
		flood.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _, err := flood.ws.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			if ce.Code != websocket.ClosePolicyViolation || ce.Text != "operation rate exceeded" {
				t.Fatalf("close %d %q, want 1008 operation rate exceeded", ce.Code, ce.Text)
			}
			break
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
	}
	calm.send(`{"op":"ping","id":2}`)
	calm.expectOK(2)
	waitFor(t, 5*time.Second, "the close counted by reason", func() bool {
		return strings.Contains(metricsText(t, addr), `c1m_closes_total{reason="op_rate"} 1`)
	})
}

func metricsText(t *testing.T, addr string) string {
	t.Helper()
	r, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return string(b)
}

// STOMP has no error that keeps the session: a frame past the rate ends it
// with ERROR "too many operations".
func TestOpsRateStomp(t *testing.T) {
	_, addr := start(t, server.Config{Ops: oprate.Limit{Rate: 1, Burst: 2}})
	c, _ := stompDial(t, addr, "/stomp")
	if f := stompRoundTrip(t, c, "CONNECT\naccept-version:1.2\nhost:x\n\n\x00"); !strings.HasPrefix(f, "CONNECTED") {
		t.Fatalf("CONNECTED: %q", f)
	}
	for i := range 2 {
		if f := stompRoundTrip(t, c, fmt.Sprintf("SUBSCRIBE\nid:%d\ndestination:/topic/ops.%d\nreceipt:r%d\n\n\x00", i, i, i)); !strings.HasPrefix(f, "RECEIPT") {
			t.Fatalf("SUBSCRIBE %d: %q", i, f)
		}
	}
	if f := stompRoundTrip(t, c, "SUBSCRIBE\nid:9\ndestination:/topic/ops.9\n\n\x00"); !strings.HasPrefix(f, "ERROR\nmessage:too many operations\n") {
		t.Fatalf("past the rate: %q", f)
	}
}

// A Socket.IO socket past the rate gets the ack error 429, then, going
// on, is disconnected.
func TestOpsRateSocketIO(t *testing.T) {
	_, addr := start(t, server.Config{Ops: oprate.Limit{Rate: 1, Burst: 2, Strikes: 3}})
	c := dialAuthSIO(t, addr)
	if p := c.connect(""); !strings.HasPrefix(p, "40{") {
		t.Fatalf("CONNECT: %q", p)
	}
	for i := 1; i <= 2; i++ {
		if r := c.call(i, "subscribe", `"ops.s"`); r.Op != "ok" {
			t.Fatalf("subscribe %d: %+v", i, r)
		}
	}
	if r := c.call(3, "subscribe", `"ops.s"`); r.Op != "err" || r.Code != 429 {
		t.Fatalf("past the rate: %+v", r)
	}
	c.send(`424["subscribe","ops.s"]`)
	c.send(`425["subscribe","ops.s"]`)
	for {
		p := c.packet(5 * time.Second)
		if p == "41" {
			break // disconnected from the namespace
		}
		if !strings.HasPrefix(p, "434[") && !strings.HasPrefix(p, "42") {
			t.Fatalf("want the 429 ack then DISCONNECT, got %q", p)
		}
	}
}

// With --auth, token refusals are counted by kind in /metrics.
func TestAuthRefusalMetrics(t *testing.T) {
	_, addr := start(t, authCfg(auth.ModeRequired))
	if _, st, _, _ := dialRaw(addr, "token=not-a-jwt", nil); st != 401 {
		t.Fatalf("malformed token: %d, want 401", st)
	}
	if _, st, _, _ := dialRaw(addr, "", nil); st != 401 {
		t.Fatalf("no token: %d, want 401", st)
	}
	dialToken(t, addr, token(t, "carol", time.Hour, []string{">"}, nil))
	m := metricsText(t, addr)
	for _, want := range []string{`c1m_auth_refused_total{kind="malformed"} 1`, `c1m_auth_refused_total{kind="missing"} 1`, "c1m_auth_users 1"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
