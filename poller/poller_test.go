package poller_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gorilla/websocket"

	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/wsframe"
)

// echoHandler echoes every message and records opens and closes.
type echoHandler struct {
	mu     sync.Mutex
	opened []*poller.Conn
	closed map[*poller.Conn]poller.CloseReason
	onMsg  func(c *poller.Conn, op ws.OpCode, data []byte) bool // true: handled
}

func (h *echoHandler) OnOpen(c *poller.Conn) {
	h.mu.Lock()
	h.opened = append(h.opened, c)
	h.mu.Unlock()
}

func (h *echoHandler) OnMessage(c *poller.Conn, op ws.OpCode, data []byte) {
	if h.onMsg != nil && h.onMsg(c, op, data) {
		return
	}
	_ = c.Send(wsframe.NewPrepared(op, data))
}

func (h *echoHandler) OnClose(c *poller.Conn, r poller.CloseReason) {
	h.mu.Lock()
	if h.closed == nil {
		h.closed = map[*poller.Conn]poller.CloseReason{}
	}
	h.closed[c] = r
	h.mu.Unlock()
}

func (h *echoHandler) closeReasons() map[poller.CloseReason]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[poller.CloseReason]int{}
	for _, r := range h.closed {
		out[r]++
	}
	return out
}

// waitOpened waits until OnOpen ran for n connections (the server counts
// a connection open just before its OnOpen) and returns them.
func (h *echoHandler) waitOpened(t testing.TB, n int) []*poller.Conn {
	t.Helper()
	waitFor(t, 20*time.Second, "OnOpen of every connection", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.opened) == n
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*poller.Conn(nil), h.opened...)
}

func startServer(t testing.TB, cfg poller.Config) (*poller.Server, string) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Upgrader.Route == nil && cfg.Routes == nil {
		cfg.Upgrader.Route = func(p string) bool { return p == "/echo" }
	}
	if cfg.HTTP == nil {
		mux := http.NewServeMux()
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
		cfg.HTTP = mux
	}
	s, err := poller.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	serve(t, s)
	return s, s.Addr().String()
}

// serve runs s until the test ends and waits until its listeners accept.
func serve(t testing.TB, s *poller.Server) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after Shutdown")
		}
	})
	for _, a := range []net.Addr{s.Addr(), s.TLSAddr()} {
		if a == nil {
			continue
		}
		waitFor(t, 5*time.Second, "server accepts on "+a.String(), func() bool {
			c, err := net.Dial("tcp", a.String())
			if err != nil {
				return false
			}
			c.Close()
			return true
		})
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func dial(t testing.TB, addr, path string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, ReadBufferSize: 4096, WriteBufferSize: 4096}
	c, resp, err := d.Dial("ws://"+addr+path, nil)
	if err != nil {
		t.Fatalf("dial %s: %v (resp %v)", path, err, resp)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestEchoTextBinaryLarge(t *testing.T) {
	_, addr := startServer(t, poller.Config{Handler: &echoHandler{}})
	c := dial(t, addr, "/echo")
	big := make([]byte, 16<<20-64)
	rand.Read(big)
	cases := []struct {
		typ  int
		data []byte
	}{
		{websocket.TextMessage, []byte("hello, 世界")},
		{websocket.BinaryMessage, []byte{0, 1, 2, 255}},
		{websocket.TextMessage, []byte("")},
		{websocket.BinaryMessage, bytes.Repeat([]byte{7}, 70000)},
		{websocket.BinaryMessage, big},
	}
	for _, tc := range cases {
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		if err := c.WriteMessage(tc.typ, tc.data); err != nil {
			t.Fatal(err)
		}
		typ, got, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("read %d bytes: %v", len(tc.data), err)
		}
		if typ != tc.typ || !bytes.Equal(got, tc.data) {
			t.Fatalf("echo of %d bytes type %d: got %d bytes type %d", len(tc.data), tc.typ, len(got), typ)
		}
	}
}

func TestFragmentedAndPingBetweenFragments(t *testing.T) {
	_, addr := startServer(t, poller.Config{Handler: &echoHandler{}})
	nc, br := rawUpgrade(t, addr, "/echo", nil)
	// "Hel" + ping + "lo" as a fragmented text message.
	writeFrame(t, nc, false, ws.OpText, []byte("Hel"))
	writeFrame(t, nc, true, ws.OpPing, []byte("p1"))
	writeFrame(t, nc, true, ws.OpContinuation, []byte("lo"))
	f := readFrame(t, nc, br)
	if f.op != ws.OpPong || string(f.payload) != "p1" {
		t.Fatalf("want pong p1 first, got op %v %q", f.op, f.payload)
	}
	f = readFrame(t, nc, br)
	if f.op != ws.OpText || string(f.payload) != "Hello" {
		t.Fatalf("want text Hello, got op %v %q", f.op, f.payload)
	}
}

func TestDataInHandshakeSegmentIsKept(t *testing.T) {
	_, addr := startServer(t, poller.Config{Handler: &echoHandler{}})
	var frame bytes.Buffer
	appendClientFrame(&frame, true, ws.OpText, []byte("early"))
	nc, br := rawUpgrade(t, addr, "/echo", frame.Bytes())
	f := readFrame(t, nc, br)
	if f.op != ws.OpText || string(f.payload) != "early" {
		t.Fatalf("got op %v %q", f.op, f.payload)
	}
}

func TestCloseEchoesCode(t *testing.T) {
	h := &echoHandler{}
	_, addr := startServer(t, poller.Config{Handler: h})
	nc, br := rawUpgrade(t, addr, "/echo", nil)
	writeFrame(t, nc, true, ws.OpClose, ws.NewCloseFrameBody(4001, "bye"))
	f := readFrame(t, nc, br)
	if f.op != ws.OpClose || len(f.payload) < 2 || int(f.payload[0])<<8|int(f.payload[1]) != 4001 {
		t.Fatalf("want close 4001 echoed, got op %v %v", f.op, f.payload)
	}
	expectEOF(t, nc, br)
	waitFor(t, 5*time.Second, "OnClose", func() bool { return h.closeReasons()[poller.ReasonPeerClose] == 1 })
}

func TestProtocolViolationsCloseWithCode(t *testing.T) {
	cases := []struct {
		name string
		send func(w io.Writer)
		code wsframe.StatusCode
	}{
		{"unmasked", func(w io.Writer) { w.Write([]byte{0x81, 0x02, 'h', 'i'}) }, wsframe.StatusProtocolError},
		{"rsv1", func(w io.Writer) {
			var b bytes.Buffer
			appendClientFrame(&b, true, ws.OpText, []byte("x"))
			raw := b.Bytes()
			raw[0] |= 0x40
			w.Write(raw)
		}, wsframe.StatusProtocolError},
		{"invalid utf8", func(w io.Writer) {
			var b bytes.Buffer
			appendClientFrame(&b, true, ws.OpText, []byte{0xff, 0xfe})
			w.Write(b.Bytes())
		}, wsframe.StatusInvalidPayload},
		{"too big while still sending", func(w io.Writer) {
			// The client keeps streaming its oversized message: the close frame
			// must still arrive (lingering close), not be lost to a reset.
			w.Write([]byte{0x82, 0xff, 0, 0, 0, 0, 0, 0x20, 0, 0, 1, 2, 3, 4})
			go func() {
				chunk := make([]byte, 64<<10)
				for i := 0; i < 32; i++ {
					if _, err := w.Write(chunk); err != nil {
						return
					}
				}
			}()
		}, wsframe.StatusMessageTooBig},
		{"too big", func(w io.Writer) {
			// header declaring 2 MiB with a 1 MiB limit: closed on the header alone.
			w.Write([]byte{0x82, 0xff, 0, 0, 0, 0, 0, 0x20, 0, 0, 1, 2, 3, 4})
		}, wsframe.StatusMessageTooBig},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := &echoHandler{}
			_, addr := startServer(t, poller.Config{Handler: h, Parser: wsframe.ParserConfig{MaxMessageSize: 1 << 20}})
			other := dial(t, addr, "/echo")
			nc, br := rawUpgrade(t, addr, "/echo", nil)
			tc.send(nc)
			f := readFrame(t, nc, br)
			if f.op != ws.OpClose || len(f.payload) < 2 {
				t.Fatalf("want close, got op %v %v", f.op, f.payload)
			}
			if got := wsframe.StatusCode(int(f.payload[0])<<8 | int(f.payload[1])); got != tc.code {
				t.Fatalf("close code %d, want %d (reason %q)", got, tc.code, f.payload[2:])
			}
			expectEOF(t, nc, br)
			// The other connection is unaffected.
			other.SetReadDeadline(time.Now().Add(5 * time.Second))
			if err := other.WriteMessage(websocket.TextMessage, []byte("still here")); err != nil {
				t.Fatal(err)
			}
			if _, m, err := other.ReadMessage(); err != nil || string(m) != "still here" {
				t.Fatalf("other connection: %q %v", m, err)
			}
		})
	}
}

func TestHandshakeErrors(t *testing.T) {
	var admit atomic.Bool
	admit.Store(true)
	cfg := poller.Config{Handler: &echoHandler{}}
	cfg.Upgrader.Admit = func() error {
		if !admit.Load() {
			return wsframe.Reject(http.StatusServiceUnavailable, "closed for maintenance")
		}
		return nil
	}
	cfg.Upgrader.Origins = []string{"https://good.example"}
	_, addr := startServer(t, cfg)
	key := "dGhlIHNhbXBsZSBub25jZQ=="
	up := func(path string, extra string) string {
		return "GET " + path + " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + "\r\n" + extra + "\r\n"
	}
	cases := []struct {
		name, req string
		status    int
		header    string
	}{
		{"ok", up("/echo", ""), 101, ""},
		{"unknown path", up("/nope", ""), 404, ""},
		{"bad version", strings.Replace(up("/echo", ""), "Version: 13", "Version: 8", 1), 426, "Sec-Websocket-Version: 13"},
		{"missing key", strings.Replace(up("/echo", ""), "Sec-WebSocket-Key: "+key+"\r\n", "", 1), 400, ""},
		{"malformed key", strings.Replace(up("/echo", ""), key, "short", 1), 400, ""},
		{"plain GET on ws path", "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n", 400, ""},
		{"bad origin", up("/echo", "Origin: https://evil.example\r\n"), 403, ""},
		{"good origin", up("/echo", "Origin: https://good.example\r\n"), 101, ""},
		{"malformed request line", "GARBAGE\r\nUpgrade: websocket\r\n\r\n", 400, ""},
		{"plain http", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 200, ""},
		{"plain http 404", "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n", 404, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := rawRequest(t, addr, tc.req)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.header != "" {
				k, v, _ := strings.Cut(tc.header, ": ")
				if resp.Header.Get(k) != v {
					t.Fatalf("header %s = %q, want %q", k, resp.Header.Get(k), v)
				}
			}
		})
	}
	admit.Store(false)
	if resp := rawRequest(t, addr, up("/echo", "")); resp.StatusCode != 503 {
		t.Fatalf("admit refusal: status %d, want 503", resp.StatusCode)
	}
}

func TestMaxConnsRefusesWith503(t *testing.T) {
	_, addr := startServer(t, poller.Config{Handler: &echoHandler{}, MaxConns: 3})
	for i := 0; i < 3; i++ {
		dial(t, addr, "/echo")
	}
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	_, resp, err := d.Dial("ws://"+addr+"/echo", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("want 503, got resp %v err %v", resp, err)
	}
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), "connection limit") {
		t.Fatalf("503 body %q does not say why", body)
	}
	if resp.Header.Get("Retry-After") == "" {
		t.Fatalf("503 without Retry-After: %v", resp.Header)
	}
}

func TestSlowLorisDoesNotDelayOthers(t *testing.T) {
	_, addr := startServer(t, poller.Config{Handler: &echoHandler{}})
	// 200 half handshakes and 200 half frames.
	var lorises []net.Conn
	for i := 0; i < 200; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		lorises = append(lorises, c)
		c.Write([]byte("GET /echo HTTP/1.1\r\nHost: x\r\nUpgr"))
	}
	for i := 0; i < 200; i++ {
		nc, _ := rawUpgrade(t, addr, "/echo", nil)
		var b bytes.Buffer
		appendClientFrame(&b, true, ws.OpText, bytes.Repeat([]byte("a"), 1000))
		nc.Write(b.Bytes()[:500])
	}
	defer func() {
		for _, c := range lorises {
			c.Close()
		}
	}()
	c := dial(t, addr, "/echo")
	for i := 0; i < 100; i++ {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if err := c.WriteMessage(websocket.TextMessage, []byte("ping")); err != nil {
			t.Fatal(err)
		}
		if _, m, err := c.ReadMessage(); err != nil || string(m) != "ping" {
			t.Fatalf("echo %d: %q %v", i, m, err)
		}
	}
}

func TestHandshakeTimeout(t *testing.T) {
	h := &echoHandler{}
	s, addr := startServer(t, poller.Config{Handler: h, HandshakeTimeout: time.Second})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET /echo HTTP/1.1\r\n"))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 10)); err == nil {
		t.Fatal("want the half handshake closed")
	}
	waitFor(t, 5*time.Second, "handshake timeout counted", func() bool {
		return s.Stats().Closes["handshake_timeout"] >= 1
	})
}

func TestIdleConnectionsAddNoGoroutines(t *testing.T) {
	if testing.Short() {
		t.Skip("5,000 connections")
	}
	const n = 5000
	s, addr := startServer(t, poller.Config{Handler: &echoHandler{}})
	c0 := dial(t, addr, "/echo")
	_ = c0
	runtime.GC()
	base := runtime.NumGoroutine()
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < n; i++ {
		nc, _ := rawUpgrade(t, addr, "/echo", nil)
		conns = append(conns, nc)
	}
	waitFor(t, 10*time.Second, "all upgraded", func() bool { return s.Stats().Conns == n+1 })
	waitFor(t, 10*time.Second, "workers idle", func() bool { return runtime.NumGoroutine() <= base+5 })
	if g := runtime.NumGoroutine(); g > base+5 {
		t.Fatalf("%d idle connections added %d goroutines", n, g-base)
	}
	t.Logf("goroutines with %d idle connections: %d (base %d)", n, runtime.NumGoroutine(), base)
}

func TestSlowConsumerDisconnect(t *testing.T) {
	h := &echoHandler{}
	s, addr := startServer(t, poller.Config{Handler: h, MaxQueueBytes: 256 << 10})
	slowNC, _ := rawUpgrade(t, addr, "/echo", nil)
	_ = slowNC // never reads
	fast := dial(t, addr, "/echo")
	slow := h.waitOpened(t, 2)[0]
	payload := bytes.Repeat([]byte("x"), 16<<10)
	var errSeen error
	for i := 0; i < 10000 && errSeen == nil; i++ {
		errSeen = slow.Send(wsframe.NewPrepared(ws.OpBinary, payload))
		if st := s.Stats(); st.QueuedBytes > 8<<20 {
			t.Fatalf("queued bytes %d grew past the bound", st.QueuedBytes)
		}
	}
	if !errors.Is(errSeen, poller.ErrSlowConsumer) && !errors.Is(errSeen, poller.ErrClosed) {
		t.Fatalf("want ErrSlowConsumer, got %v", errSeen)
	}
	waitFor(t, 15*time.Second, "slow consumer closed", func() bool { return s.Stats().Closes["slow_consumer"] == 1 })
	echoOK(t, fast, "ok")
}

func TestSlowConsumerDropKeepsNewest(t *testing.T) {
	h := &echoHandler{}
	s, addr := startServer(t, poller.Config{Handler: h, MaxQueueBytes: 64 << 10, SlowPolicy: poller.SlowDrop})
	nc, br := rawUpgrade(t, addr, "/echo", nil)
	c := h.waitOpened(t, 1)[0]
	const n = 5000
	for i := 0; i < n; i++ {
		p := wsframe.AcquirePrepared()
		p.B = fmt.Appendf(p.B, "%06d", i)
		p.B = append(p.B, bytes.Repeat([]byte("."), 1000)...)
		p.Seal(ws.OpText)
		if err := c.Send(p); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if s.Stats().Dropped == 0 {
		t.Fatal("no drops counted")
	}
	// Reading now: strictly increasing, ends with the last one.
	last := -1
	for last != n-1 {
		f := readFrame(t, nc, br)
		var v int
		fmt.Sscanf(string(f.payload[:6]), "%d", &v)
		if v <= last {
			t.Fatalf("out of order: %d after %d", v, last)
		}
		last = v
	}
}

func TestShutdownSends1001(t *testing.T) {
	h := &echoHandler{}
	s, err := poller.New(poller.Config{Handler: h, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Upgrader: wsframe.Upgrader{Route: func(string) bool { return true }}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	addr := s.Addr().String()
	var conns []*websocket.Conn
	for i := 0; i < 50; i++ {
		conns = append(conns, dial(t, addr, "/echo"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(ctx) }()
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, _, err := c.ReadMessage()
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != 1001 {
			t.Fatalf("want close 1001, got %v", err)
		}
		c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1001, ""), time.Now().Add(time.Second))
	}
	if err := <-shut; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if r := h.closeReasons()[poller.ReasonShutdown]; r != 50 {
		t.Fatalf("%d closes counted as shutdown, want 50", r)
	}
}

// --- raw client helpers -------------------------------------------------

func rawUpgrade(t testing.TB, addr, path string, extra []byte) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	req := "GET " + path + " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	if _, err := nc.Write(append([]byte(req), extra...)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 {
		t.Fatalf("upgrade status %d", resp.StatusCode)
	}
	return nc, br
}

func rawRequest(t *testing.T, addr, req string) *http.Response {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write([]byte(req))
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	return resp
}

type frame struct {
	op      ws.OpCode
	payload []byte
}

func readFrame(t testing.TB, nc net.Conn, br *bufio.Reader) frame {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	h, err := ws.ReadHeader(br)
	if err != nil {
		t.Fatalf("read header: %v", err)
	}
	if h.Masked {
		t.Fatal("server frame is masked")
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(br, p); err != nil {
		t.Fatalf("read payload: %v", err)
	}
	return frame{h.OpCode, p}
}

func expectEOF(t testing.TB, nc net.Conn, br *bufio.Reader) {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("server did not close the TCP connection")
		}
	}
}

func appendClientFrame(b *bytes.Buffer, fin bool, op ws.OpCode, payload []byte) {
	mask := [4]byte{1, 2, 3, 4}
	h := ws.Header{Fin: fin, OpCode: op, Masked: true, Mask: mask, Length: int64(len(payload))}
	ws.WriteHeader(b, h)
	p := append([]byte(nil), payload...)
	ws.Cipher(p, mask, 0)
	b.Write(p)
}

func writeFrame(t testing.TB, nc net.Conn, fin bool, op ws.OpCode, payload []byte) {
	t.Helper()
	var b bytes.Buffer
	appendClientFrame(&b, fin, op, payload)
	if _, err := nc.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
}
