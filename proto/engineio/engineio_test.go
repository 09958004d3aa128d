package engineio_test

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/c1mhq/c1m/internal/testutil"
	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/proto/engineio"
	"github.com/c1mhq/c1m/wsframe"
)

// echo is an engineio.Handler that echoes every message and records
// sessions and close reasons.
type echo struct {
	mu       sync.Mutex
	sessions map[string]*engineio.Session
	closed   map[string]string
	noEcho   bool
}

func (e *echo) OnOpen(s *engineio.Session) {
	e.mu.Lock()
	e.sessions[s.ID()] = s
	e.mu.Unlock()
}

func (e *echo) OnMessage(s *engineio.Session, data []byte, binary bool) {
	if e.noEcho {
		return
	}
	if binary {
		_ = s.SendBinary(data)
	} else {
		_ = s.SendMessage(data)
	}
}

func (e *echo) OnClose(s *engineio.Session, reason string) {
	e.mu.Lock()
	e.closed[s.ID()] = reason
	e.mu.Unlock()
}

func (e *echo) session(sid string) *engineio.Session {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sessions[sid]
}

func (e *echo) closeReason(sid string) (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, ok := e.closed[sid]
	return r, ok
}

// rig is an Engine.IO server on one reactor, both transports on one path:
// upgrades go to the WebSocket transport, plain requests to polling.
type rig struct {
	eio  *engineio.Server
	h    *echo
	http string // base URL of the polling listener
	ws   string // base URL of the WebSocket listener
}

const path = "/engine.io/"

func newRig(t *testing.T, cfg engineio.Config) *rig {
	t.Helper()
	h := &echo{sessions: map[string]*engineio.Session{}, closed: map[string]string{}}
	cfg.Handler = h
	cfg.WebSocket = true
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	e := engineio.New(cfg)
	t.Cleanup(e.Close)
	start := func(pc poller.Config) string {
		pc.Logger = cfg.Logger
		pc.HandshakeTimeout = time.Second // TestSlowPost
		return testutil.ServePoller(t, pc)
	}
	wsh := e.WebSocket()
	addr := start(poller.Config{
		Handler: wsh,
		Routes: func(p string) poller.Handler {
			if p == path {
				return wsh
			}
			return nil
		},
		Upgrader: wsframe.Upgrader{Route: func(p string) bool { return p == path }, Check: e.CheckUpgrade},
		HTTPRoutes: func(method, p string) poller.HTTPHandler {
			if p == path {
				return e.Polling()
			}
			return nil
		},
	})
	return &rig{eio: e, h: h, http: "http://" + addr + path, ws: "ws://" + addr + path}
}

type response struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, method, u, body string, hdr ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, string(b)}
}

type openPacket struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int      `json:"pingInterval"`
	PingTimeout  int      `json:"pingTimeout"`
	MaxPayload   int      `json:"maxPayload"`
}

// handshake opens a polling session and returns its sid.
func (r *rig) handshake(t *testing.T) string {
	t.Helper()
	resp := do(t, "GET", r.http+"?EIO=4&transport=polling", "")
	if resp.status != 200 || !strings.HasPrefix(resp.body, "0{") {
		t.Fatalf("handshake: %d %q", resp.status, resp.body)
	}
	var op openPacket
	if err := json.Unmarshal([]byte(resp.body[1:]), &op); err != nil {
		t.Fatal(err)
	}
	return op.SID
}

func (r *rig) poll(sid string) string { return r.http + "?EIO=4&transport=polling&sid=" + sid }

func TestHandshake(t *testing.T) {
	r := newRig(t, engineio.Config{})
	resp := do(t, "GET", r.http+"?EIO=4&transport=polling&t=abc", "")
	if resp.status != 200 {
		t.Fatalf("status %d", resp.status)
	}
	if ct := resp.header.Get("Content-Type"); ct != "text/plain; charset=UTF-8" {
		t.Errorf("Content-Type %q", ct)
	}
	var op openPacket
	if err := json.Unmarshal([]byte(resp.body[1:]), &op); err != nil || resp.body[0] != '0' {
		t.Fatalf("open packet %q: %v", resp.body, err)
	}
	want := `0{"sid":"` + op.SID + `","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`
	if resp.body != want {
		t.Errorf("open packet\n got %s\nwant %s", resp.body, want)
	}
	if len(op.SID) != 20 {
		t.Errorf("sid %q: want 20 characters", op.SID)
	}
	if r.h.session(op.SID) == nil {
		t.Error("OnOpen not called")
	}
}

func TestErrors(t *testing.T) {
	r := newRig(t, engineio.Config{AllowRequest: func(req *poller.Request) error {
		if strings.Contains(req.RawQuery, "deny=1") {
			return errors.New("go away")
		}
		return nil
	}})
	sid := r.handshake(t)
	for _, tc := range []struct {
		name, method, query string
		status              int
		body                string
	}{
		{"unknown transport", "GET", "EIO=4&transport=carrier-pigeon", 400, `{"code":0,"message":"Transport unknown"}`},
		{"no transport", "GET", "EIO=4", 400, `{"code":0,"message":"Transport unknown"}`},
		{"unknown sid", "GET", "EIO=4&transport=polling&sid=nope", 400, `{"code":1,"message":"Session ID unknown"}`},
		{"unknown sid POST", "POST", "EIO=4&transport=polling&sid=nope", 400, `{"code":1,"message":"Session ID unknown"}`},
		{"POST handshake", "POST", "EIO=4&transport=polling", 400, `{"code":2,"message":"Bad handshake method"}`},
		{"PUT handshake", "PUT", "EIO=4&transport=polling", 400, `{"code":2,"message":"Bad handshake method"}`},
		{"websocket handshake without upgrade", "GET", "EIO=4&transport=websocket", 400, `{"code":3,"message":"Bad request"}`},
		{"transport mismatch", "GET", "EIO=4&transport=websocket&sid=" + sid, 400, `{"code":3,"message":"Bad request"}`},
		{"bad query", "GET", "EIO=4&transport=polling&sid=%zz", 400, `{"code":3,"message":"Bad request"}`},
		{"refused", "GET", "EIO=4&transport=polling&deny=1", 403, `{"code":4,"message":"go away"}`},
		{"EIO 3", "GET", "EIO=3&transport=polling", 400, `{"code":5,"message":"Unsupported protocol version"}`},
		{"no EIO", "GET", "transport=polling", 400, `{"code":5,"message":"Unsupported protocol version"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := do(t, tc.method, r.http+"?"+tc.query, "")
			if resp.status != tc.status || resp.body != tc.body {
				t.Errorf("got %d %s, want %d %s", resp.status, resp.body, tc.status, tc.body)
			}
			if ct := resp.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
	// None of these harmed the session.
	if resp := do(t, "POST", r.poll(sid), "4still here"); resp.status != 200 || resp.body != "ok" {
		t.Fatalf("POST after errors: %d %q", resp.status, resp.body)
	}
	if resp := do(t, "GET", r.poll(sid), ""); resp.body != "4still here" {
		t.Fatalf("GET after errors: %q", resp.body)
	}
}

// TestPayloadFraming: several packets in one POST, separated by 0x1e, with
// a base64 binary one; the echoes come back in one GET, in order.
func TestPayloadFraming(t *testing.T) {
	r := newRig(t, engineio.Config{})
	sid := r.handshake(t)
	resp := do(t, "POST", r.poll(sid), "4hello\x1e4wörld\x1ebAAEC/w==\x1e6\x1e4")
	if resp.status != 200 || resp.body != "ok" {
		t.Fatalf("POST: %d %q", resp.status, resp.body)
	}
	if ct := resp.header.Get("Content-Type"); ct != "text/html" {
		t.Errorf("POST Content-Type %q", ct)
	}
	got := do(t, "GET", r.poll(sid), "")
	if want := "4hello\x1e4wörld\x1ebAAEC/w==\x1e4"; got.body != want {
		t.Fatalf("GET body %q, want %q", got.body, want)
	}
}

// TestHeldGETReleased: a GET with nothing to send is held until a packet
// comes, and then answered with it.
func TestHeldGETReleased(t *testing.T) {
	r := newRig(t, engineio.Config{})
	sid := r.handshake(t)
	got := make(chan response, 1)
	go func() { got <- do(t, "GET", r.poll(sid), "") }()
	select {
	case resp := <-got:
		t.Fatalf("GET answered at once: %q", resp.body)
	case <-time.After(100 * time.Millisecond):
	}
	_ = r.h.session(sid).SendMessage([]byte("late"))
	select {
	case resp := <-got:
		if resp.body != "4late" {
			t.Fatalf("held GET got %q", resp.body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("held GET not released")
	}
}

// TestOverlappingGET: a second GET while one is held gets 400 and closes
// the session; the held one gets the close packet.
func TestOverlappingGET(t *testing.T) {
	r := newRig(t, engineio.Config{})
	sid := r.handshake(t)
	first := make(chan response, 1)
	go func() { first <- do(t, "GET", r.poll(sid), "") }()
	testutil.WaitFor(t, 5*time.Second, "first GET held", func() bool { return r.eio.Sessions() == 1 && held(r, sid) })
	second := do(t, "GET", r.poll(sid), "")
	if second.status != 400 {
		t.Errorf("second GET: %d %q", second.status, second.body)
	}
	if resp := <-first; resp.body != "1" {
		t.Errorf("held GET got %q, want the close packet", resp.body)
	}
	testutil.WaitFor(t, 5*time.Second, "close", func() bool { _, ok := r.h.closeReason(sid); return ok })
	if why, _ := r.h.closeReason(sid); why != "transport error" {
		t.Errorf("close reason %q", why)
	}
	if resp := do(t, "GET", r.poll(sid), ""); resp.body != `{"code":1,"message":"Session ID unknown"}` {
		t.Errorf("GET after close: %q", resp.body)
	}
}

// held reports whether sid has a GET held: a message sent now is answered
// by it. It is probed without sending by the session's transport state.
func held(r *rig, sid string) bool {
	return engineio.HeldGET(r.h.session(sid))
}

func TestPostTooLarge(t *testing.T) {
	r := newRig(t, engineio.Config{MaxPayload: 100})
	sid := r.handshake(t)
	resp := do(t, "POST", r.poll(sid), "4"+strings.Repeat("x", 100))
	if resp.status != 413 {
		t.Errorf("status %d", resp.status)
	}
	if why, ok := r.h.closeReason(sid); !ok || why != "transport error" {
		t.Errorf("close reason %q %v", why, ok)
	}
	if resp := do(t, "POST", r.poll(sid), "4x"); resp.status != 400 {
		t.Errorf("POST after close: %d", resp.status)
	}
}

func TestParseError(t *testing.T) {
	r := newRig(t, engineio.Config{})
	for _, body := range []string{"", "9x", "4ok\x1e\x1e4", "b!!!", "2"} {
		sid := r.handshake(t)
		resp := do(t, "POST", r.poll(sid), body)
		if resp.status != 200 {
			t.Errorf("%q: status %d", body, resp.status)
		}
		want := "parse error"
		if body == "2" {
			want = "transport error" // a ping from the client: wrong direction in v4
		}
		if why, ok := r.h.closeReason(sid); !ok || why != want {
			t.Errorf("%q: close reason %q %v, want %q", body, why, ok, want)
		}
	}
}

// TestClientClose: the client's close packet ends the session; a held GET
// gets noop, as the reference answers it, and the sid is gone.
func TestClientClose(t *testing.T) {
	r := newRig(t, engineio.Config{})
	sid := r.handshake(t)
	held := make(chan response, 1)
	go func() { held <- do(t, "GET", r.poll(sid), "") }()
	testutil.WaitFor(t, 5*time.Second, "GET held", func() bool { return engineio.HeldGET(r.h.session(sid)) })
	do(t, "POST", r.poll(sid), "1")
	if resp := <-held; resp.status != 200 || resp.body != "6" {
		t.Errorf("held GET: %d %q, want noop", resp.status, resp.body)
	}
	if why, ok := r.h.closeReason(sid); !ok || why != "transport close" {
		t.Errorf("close reason %q %v", why, ok)
	}
	if resp := do(t, "GET", r.poll(sid), ""); resp.status != 400 {
		t.Errorf("GET after close: %d %q", resp.status, resp.body)
	}
}

// TestPingTimeoutExact: a request that comes after pingInterval +
// pingTimeout without a pong finds the session gone (400), whatever the
// sweeper's tick, as the Engine.IO test suite expects.
func TestPingTimeoutExact(t *testing.T) {
	r := newRig(t, engineio.Config{PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond})
	for i := 0; i < 3; i++ {
		sid := r.handshake(t)
		time.Sleep(500 * time.Millisecond) // the suite's wait: the deadline itself
		if resp := do(t, "GET", r.poll(sid), ""); resp.status != 400 || resp.body != `{"code":1,"message":"Session ID unknown"}` {
			t.Fatalf("GET at the deadline: %d %q", resp.status, resp.body)
		}
	}
}

// TestPingTimeoutAnswersHeldGET: a session closed by the ping timeout
// while a GET is held answers it with the close packet.
func TestPingTimeoutAnswersHeldGET(t *testing.T) {
	r := newRig(t, engineio.Config{PingInterval: 50 * time.Millisecond, PingTimeout: 100 * time.Millisecond})
	sid := r.handshake(t)
	if resp := do(t, "GET", r.poll(sid), ""); resp.body != "2" {
		t.Fatalf("ping: %q", resp.body)
	}
	if resp := do(t, "GET", r.poll(sid), ""); resp.body != "1" {
		t.Fatalf("held GET at the ping timeout: %q", resp.body)
	}
	// The handler hears of the close after the GET is answered.
	testutil.WaitFor(t, 5*time.Second, "close reason ping timeout", func() bool {
		why, _ := r.h.closeReason(sid)
		return why == "ping timeout"
	})
}

// TestHeartbeat: the server pings; a pong keeps the session, a missing one
// closes it after pingTimeout.
func TestHeartbeat(t *testing.T) {
	// A pong timeout far above a loaded machine's request time, so that
	// only a missing pong can close the session.
	r := newRig(t, engineio.Config{PingInterval: 100 * time.Millisecond, PingTimeout: time.Second})
	sid := r.handshake(t)
	for i := 0; i < 3; i++ {
		if resp := do(t, "GET", r.poll(sid), ""); resp.body != "2" {
			t.Fatalf("ping %d: got %q", i, resp.body)
		}
		do(t, "POST", r.poll(sid), "3")
	}
	if _, ok := r.h.closeReason(sid); ok {
		t.Fatal("closed although it answered every ping")
	}
	testutil.WaitFor(t, 5*time.Second, "ping timeout", func() bool {
		why, ok := r.h.closeReason(sid)
		return ok && why == "ping timeout"
	})
}

func TestCORS(t *testing.T) {
	r := newRig(t, engineio.Config{Origins: []string{"https://app.example"}})
	resp := do(t, "GET", r.http+"?EIO=4&transport=polling", "", "Origin", "https://app.example")
	if resp.status != 200 || resp.header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		resp.header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("allowed origin: %d %v", resp.status, resp.header)
	}
	resp = do(t, "OPTIONS", r.http+"?EIO=4&transport=polling", "", "Origin", "https://app.example",
		"Access-Control-Request-Headers", "content-type")
	if resp.status != 204 || resp.header.Get("Access-Control-Allow-Methods") == "" ||
		resp.header.Get("Access-Control-Allow-Headers") != "content-type" {
		t.Errorf("preflight: %d %v", resp.status, resp.header)
	}
	resp = do(t, "GET", r.http+"?EIO=4&transport=polling", "", "Origin", "https://evil.example")
	if resp.status != 403 || resp.body != `{"code":4,"message":"Forbidden"}` {
		t.Errorf("other origin: %d %q", resp.status, resp.body)
	}
	resp = do(t, "GET", r.http+"?EIO=4&transport=polling", "")
	if resp.status != 200 || resp.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("no origin: %d %v", resp.status, resp.header)
	}
}

func dialWS(t *testing.T, u string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	return c
}

func readWS(t *testing.T, c *websocket.Conn) (int, string) {
	t.Helper()
	typ, b, err := c.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	return typ, string(b)
}

func TestWebSocketDirect(t *testing.T) {
	r := newRig(t, engineio.Config{})
	c := dialWS(t, r.ws+"?EIO=4&transport=websocket")
	_, open := readWS(t, c)
	var op openPacket
	if open[0] != '0' || json.Unmarshal([]byte(open[1:]), &op) != nil || len(op.Upgrades) != 0 {
		t.Fatalf("open %q", open)
	}
	_ = c.WriteMessage(websocket.TextMessage, []byte("4hi"))
	if _, m := readWS(t, c); m != "4hi" {
		t.Fatalf("echo %q", m)
	}
	_ = c.WriteMessage(websocket.BinaryMessage, []byte{0, 1, 2})
	if typ, m := readWS(t, c); typ != websocket.BinaryMessage || m != "\x00\x01\x02" {
		t.Fatalf("binary echo %d %q", typ, m)
	}
	_ = c.WriteMessage(websocket.TextMessage, []byte("x"))
	testutil.WaitFor(t, 5*time.Second, "parse error close", func() bool {
		why, ok := r.h.closeReason(op.SID)
		return ok && why == "parse error"
	})
}

// TestWebSocketClosePacket: over WebSocket the client's close packet closes
// the session and the socket, as the Engine.IO v4 protocol test suite
// expects ("close > WebSocket > forcefully closes the session"; engine.io 6
// itself leaves that to the client's close of the socket).
func TestWebSocketClosePacket(t *testing.T) {
	r := newRig(t, engineio.Config{})
	c := dialWS(t, r.ws+"?EIO=4&transport=websocket")
	_, open := readWS(t, c)
	var op openPacket
	if open[0] != '0' || json.Unmarshal([]byte(open[1:]), &op) != nil {
		t.Fatalf("open %q", open)
	}
	_ = c.WriteMessage(websocket.TextMessage, []byte("1"))
	if _, _, err := c.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Fatalf("after the close packet: %v, want the socket closed with 1000", err)
	}
	testutil.WaitFor(t, 5*time.Second, "the session closed", func() bool {
		why, ok := r.h.closeReason(op.SID)
		return ok && why == "transport close"
	})
}

// TestUpgrade: polling upgraded to WebSocket with the probe, while the
// server sends a numbered stream: every number arrives once, in order,
// over the GETs and then the WebSocket; the held GET is released by noop.
func TestUpgrade(t *testing.T) {
	r := newRig(t, engineio.Config{})
	sid := r.handshake(t)
	s := r.h.session(sid)
	stop := make(chan struct{})
	sent := make(chan int, 1)
	go func() {
		n := 0
		defer func() { sent <- n }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if s.SendMessage([]byte(itoa(n))) != nil {
				return
			}
			n++
			if n%50 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	var got []string
	take := func(body string) {
		for _, p := range strings.Split(body, "\x1e") {
			switch {
			case p == "6":
			case strings.HasPrefix(p, "4"):
				got = append(got, p[1:])
			default:
				t.Fatalf("unexpected packet %q", p)
			}
		}
	}
	take(do(t, "GET", r.poll(sid), "").body)
	c := dialWS(t, r.ws+"?EIO=4&transport=websocket&sid="+sid)
	// A GET held across the probe is released by noop.
	pending := make(chan response, 1)
	go func() { pending <- do(t, "GET", r.poll(sid), "") }()
	_ = c.WriteMessage(websocket.TextMessage, []byte("2probe"))
	if _, m := readWS(t, c); m != "3probe" {
		t.Fatalf("probe answer %q", m)
	}
	take((<-pending).body)
	_ = c.WriteMessage(websocket.TextMessage, []byte("5"))
	// Let the stream go on over the WebSocket for a while before stopping it.
	for ws := 0; ws < 20; {
		_, m := readWS(t, c)
		if strings.HasPrefix(m, "4") {
			got = append(got, m[1:])
			ws++
		}
	}
	close(stop)
	n := <-sent
	for len(got) < n {
		_, m := readWS(t, c)
		if m == "2" {
			continue
		}
		if !strings.HasPrefix(m, "4") {
			t.Fatalf("unexpected %q", m)
		}
		got = append(got, m[1:])
	}
	for i, v := range got {
		if v != itoa(i) {
			t.Fatalf("message %d is %q (lost or duplicated around the upgrade)", i, v)
		}
	}
	if s.Transport() != engineio.WebSocket {
		t.Errorf("transport %q", s.Transport())
	}
	if resp := do(t, "GET", r.poll(sid), ""); resp.status != 400 || resp.body != `{"code":3,"message":"Bad request"}` {
		t.Errorf("polling after upgrade: %d %q", resp.status, resp.body)
	}
	_ = c.WriteMessage(websocket.TextMessage, []byte("4after"))
	if _, m := readWS(t, c); m != "4after" {
		t.Errorf("echo after upgrade %q", m)
	}
	t.Logf("%d messages across the upgrade", n)
}

// TestUpgradeRefused: a second WebSocket for a session that upgrades, and
// one for an unknown session, are closed; the session is not harmed.
func TestUpgradeRefused(t *testing.T) {
	r := newRig(t, engineio.Config{})
	sid := r.handshake(t)
	// An unknown sid is refused before the upgrade (TestWebSocketRefusedBeforeUpgrade).
	if _, resp, err := websocket.DefaultDialer.Dial(r.ws+"?EIO=4&transport=websocket&sid=nope", nil); err == nil || resp == nil || resp.StatusCode != 400 {
		t.Errorf("unknown sid: %v %v", resp, err)
	}
	c := dialWS(t, r.ws+"?EIO=4&transport=websocket&sid="+sid)
	_ = c.WriteMessage(websocket.TextMessage, []byte("2probe"))
	readWS(t, c)
	other := dialWS(t, r.ws+"?EIO=4&transport=websocket&sid="+sid)
	if _, _, err := other.ReadMessage(); !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
		t.Errorf("second probe: %v", err)
	}
	if resp := do(t, "POST", r.poll(sid), "4ok"); resp.body != "ok" {
		t.Errorf("POST: %q", resp.body)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestSlowPost: a POST whose body never completes is closed by the
// reactor's HandshakeTimeout; the session and other clients are unharmed.
func TestSlowPost(t *testing.T) {
	r := newRig(t, engineio.Config{})
	sid := r.handshake(t)
	addr := strings.TrimPrefix(strings.TrimSuffix(r.http, path), "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = conn.Write([]byte("POST " + path + "?EIO=4&transport=polling&sid=" + sid + " HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n4par"))
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadAll(conn); err != nil {
		t.Fatalf("the slow POST's connection was not closed: %v", err)
	}
	if resp := do(t, "POST", r.poll(sid), "4whole"); resp.body != "ok" {
		t.Fatalf("POST after the slow one: %d %q", resp.status, resp.body)
	}
	if resp := do(t, "GET", r.poll(sid), ""); resp.body != "4whole" {
		t.Fatalf("GET: %q (the partial POST must deliver nothing)", resp.body)
	}
}

// TestWebSocketRefusedBeforeUpgrade: a WebSocket request the reference
// refuses gets its 400 and JSON body instead of a 101.
func TestWebSocketRefusedBeforeUpgrade(t *testing.T) {
	r := newRig(t, engineio.Config{})
	for _, tc := range []struct{ query, body string }{
		{"EIO=4&transport=websocket&sid=nope", `{"code":1,"message":"Session ID unknown"}`},
		{"EIO=3&transport=websocket", `{"code":5,"message":"Unsupported protocol version"}`},
		{"EIO=4&transport=carrier-pigeon", `{"code":0,"message":"Transport unknown"}`},
		{"EIO=4&transport=websocket&%zz", `{"code":3,"message":"Bad request"}`},
	} {
		_, resp, err := websocket.DefaultDialer.Dial(r.ws+"?"+tc.query, nil)
		if err == nil || resp == nil {
			t.Fatalf("%s: upgraded (%v)", tc.query, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || string(body) != tc.body || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %q %q, want 400 %s", tc.query, resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.body)
		}
	}
	// A good upgrade still works.
	c := dialWS(t, r.ws+"?EIO=4&transport=websocket")
	if _, open := readWS(t, c); open[0] != '0' {
		t.Fatalf("open %q", open)
	}
}

// TestBadSessionRequests: requests that come at the wrong time in a
// session's life get the reference's answer and harm nothing else: a POST
// to a closed session, polling after the upgrade, a GET whose head trickles
// in and never completes (slow loris).
func TestBadSessionRequests(t *testing.T) {
	r := newRig(t, engineio.Config{})
	closed := r.handshake(t)
	do(t, "POST", r.poll(closed), "1") // the client closes it
	if resp := do(t, "POST", r.poll(closed), "4late"); resp.status != 400 || resp.body != `{"code":1,"message":"Session ID unknown"}` {
		t.Errorf("POST to a closed session: %d %q", resp.status, resp.body)
	}

	up := r.handshake(t)
	c := dialWS(t, r.ws+"?EIO=4&transport=websocket&sid="+up)
	_ = c.WriteMessage(websocket.TextMessage, []byte("2probe"))
	if _, m := readWS(t, c); m != "3probe" {
		t.Fatalf("probe answer %q", m)
	}
	// While upgrading, polling still carries the client's packets.
	if resp := do(t, "POST", r.poll(up), "4during"); resp.body != "ok" {
		t.Errorf("POST while upgrading: %d %q", resp.status, resp.body)
	}
	_ = c.WriteMessage(websocket.TextMessage, []byte("5"))
	testutil.WaitFor(t, 5*time.Second, "the upgrade", func() bool {
		resp := do(t, "POST", r.poll(up), "4after")
		return resp.status == 400 && resp.body == `{"code":3,"message":"Bad request"}`
	})
	_ = c.WriteMessage(websocket.TextMessage, []byte("4over ws"))
	for {
		if _, m := readWS(t, c); m == "4over ws" {
			break // the session, upgraded, still echoes
		}
	}

	// A GET whose head never completes is closed at the handshake timeout;
	// the session it names is unharmed.
	live := r.handshake(t)
	addr := strings.TrimPrefix(strings.TrimSuffix(r.http, path), "http://")
	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	_, _ = slow.Write([]byte("GET " + path + "?EIO=4&transport=polling&sid=" + live + " HTTP/1.1\r\nHo"))
	_ = slow.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadAll(slow); err != nil {
		t.Fatalf("the slow GET's connection was not closed: %v", err)
	}
	if resp := do(t, "POST", r.poll(live), "4still"); resp.body != "ok" {
		t.Fatalf("POST after the slow GET: %d %q", resp.status, resp.body)
	}
	if resp := do(t, "GET", r.poll(live), ""); resp.body != "4still" {
		t.Fatalf("GET after the slow one: %q", resp.body)
	}
}
