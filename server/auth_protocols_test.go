package server_test

// JWT authentication and per-topic permissions over SSE, Socket.IO and
// STOMP (issue 14). The native protocol and /publish are in auth_test.go.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/c1mhq/c1m/auth"
)

// ---- SSE ----

type authSSE struct {
	conn net.Conn
	r    *bufio.Reader
}

// openAuthSSE requests /sse?query with header h: the stream, or the
// refusal's status, WWW-Authenticate and body.
func openAuthSSE(t *testing.T, addr, query string, h http.Header) (*authSSE, int, string, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	req, _ := http.NewRequest("GET", "http://"+addr+"/sse?"+query, nil)
	for k, v := range h {
		req.Header[k] = v
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return nil, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(b)
	}
	return &authSSE{conn: conn, r: bufio.NewReader(resp.Body)}, 200, "", ""
}

// event returns the next event's name and data within d.
func (s *authSSE) event(t *testing.T, d time.Duration) (string, string) {
	t.Helper()
	_ = s.conn.SetReadDeadline(time.Now().Add(d))
	var name string
	var data []string
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream: %v", err)
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if data != nil {
				return name, strings.Join(data, "\n")
			}
		case strings.HasPrefix(line, "event: "):
			name = line[7:]
		case strings.HasPrefix(line, "data: "):
			data = append(data, line[6:])
		}
	}
}

func sseQuery(topics string, extra ...string) string {
	q := url.Values{"topics": {topics}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return q.Encode()
}

func TestAuthSSE(t *testing.T) {
	_, addr := start(t, authCfg(auth.ModeRequired))
	alice := token(t, "alice", time.Hour, []string{"md.>", "news.*"}, nil)
	// Every source of the token opens a stream.
	for name, c := range map[string]struct {
		query string
		h     http.Header
	}{
		"bearer": {sseQuery("md.A"), http.Header{"Authorization": {"Bearer " + alice}}},
		"query":  {sseQuery("md.*.quote", "token", alice), nil},
		"cookie": {sseQuery("news.x"), http.Header{"Cookie": {"c1m_token=" + alice}}},
	} {
		s, status, _, body := openAuthSSE(t, addr, c.query, c.h)
		if s == nil {
			t.Fatalf("%s: %d %s", name, status, body)
		}
		if ev, _ := s.event(t, 5*time.Second); ev != "sub" {
			t.Fatalf("%s: first event %q", name, ev)
		}
	}
	// Refusals come before the stream starts.
	for _, c := range []struct {
		name, query string
		h           http.Header
		status      int
		msg         string
	}{
		{"no token", sseQuery("md.A"), nil, 401, "authentication required"},
		{"malformed", sseQuery("md.A", "token", "x.y"), nil, 401, "malformed token"},
		{"expired", sseQuery("md.A", "token", token(t, "alice", -time.Minute, []string{">"}, nil)), nil, 401, "token expired"},
		{"wrong signature", sseQuery("md.A", "token", alice[:len(alice)-4]+"AAAA"), nil, 401, "signature is invalid"},
		{"not covered", sseQuery("md.A,orders.x"), http.Header{"Authorization": {"Bearer " + alice}}, 403, `not allowed to subscribe to "orders.x"`},
		{"wildcard not covered", sseQuery("news.>"), http.Header{"Authorization": {"Bearer " + alice}}, 403, `"news.>"`},
		{"resume not covered", sseQuery("orders.x", "since", `{"orders.x":{"epoch":"e","seq":3}}`), http.Header{"Authorization": {"Bearer " + alice}}, 403, "orders.x"},
	} {
		s, status, www, body := openAuthSSE(t, addr, c.query, c.h)
		if s != nil || status != c.status || !strings.Contains(body, c.msg) {
			t.Fatalf("%s: %d %q, want %d %q", c.name, status, body, c.status, c.msg)
		}
		if (status == 401) != strings.HasPrefix(www, "Bearer") {
			t.Fatalf("%s: WWW-Authenticate %q", c.name, www)
		}
	}
}

func TestAuthSSEExpiry(t *testing.T) {
	cfg := authCfg(auth.ModeRequired)
	cfg.PublishToken = "pt"
	s, addr := start(t, cfg)
	st, status, _, body := openAuthSSE(t, addr, sseQuery("md.A"), http.Header{"Authorization": {"Bearer " + token(t, "alice", 2*time.Second, []string{"md.>"}, nil)}})
	if st == nil {
		t.Fatalf("%d %s", status, body)
	}
	if ev, _ := st.event(t, 5*time.Second); ev != "sub" {
		t.Fatalf("first event %q", ev)
	}
	if status, body := postJSON(t, "http://"+addr+"/publish?topic=md.A", "Bearer pt", "1"); status != 202 {
		t.Fatalf("publish: %d %s", status, body)
	}
	if ev, data := st.event(t, 5*time.Second); ev != "" || !strings.Contains(data, `"topic":"md.A"`) {
		t.Fatalf("delivery: %q %s", ev, data)
	}
	ev, data := st.event(t, 10*time.Second)
	if ev != "end" || data != `{"reason":"token expired"}` {
		t.Fatalf("at expiry: event %q %s", ev, data)
	}
	// The stream ended: its last chunk arrives and the subscription is gone.
	_ = st.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(st.r); err != nil {
		t.Fatalf("after the end event: %v", err)
	}
	waitFor(t, 5*time.Second, "the expired stream's subscription to go", func() bool { return s.Hub().Stats().Subscriptions == 0 })
}

// ---- Socket.IO over Engine.IO's WebSocket transport ----

type authSIO struct {
	t  *testing.T
	ws *websocket.Conn
}

func dialAuthSIO(t *testing.T, addr string) *authSIO {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	c := &authSIO{t: t, ws: ws}
	if p := c.packet(5 * time.Second); !strings.HasPrefix(p, `0{"sid":"`) {
		t.Fatalf("engine.io open: %q", p)
	}
	return c
}

func (c *authSIO) send(p string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(p)); err != nil {
		c.t.Fatal(err)
	}
}

// packet returns the next packet other than ping (answered) and noop.
func (c *authSIO) packet(d time.Duration) string {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(d))
	for {
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		switch string(b) {
		case "2":
			c.send("3")
		case "6":
		default:
			return string(b)
		}
	}
}

// connect sends CONNECT to "/" with the auth payload and returns the answer.
func (c *authSIO) connect(payload string) string {
	c.send("40" + payload)
	return c.packet(5 * time.Second)
}

// call emits event name with arg and ack id, and returns the ack's reply.
func (c *authSIO) call(id int, name, arg string) struct {
	Op   string
	Code int
	Msg  string
} {
	c.t.Helper()
	c.send(fmt.Sprintf(`42%d["%s",%s]`, id, name, arg))
	prefix := fmt.Sprintf("43%d[", id)
	for {
		p := c.packet(5 * time.Second)
		if !strings.HasPrefix(p, prefix) {
			continue // a delivery
		}
		var r []struct {
			Op   string
			Code int
			Msg  string
		}
		if json.Unmarshal([]byte(p[len(prefix)-1:]), &r) != nil || len(r) != 1 {
			c.t.Fatalf("ack %q", p)
		}
		return r[0]
	}
}

func TestAuthSocketIO(t *testing.T) {
	_, addr := start(t, authCfg(auth.ModeRequired))
	// Refused tokens: connect_error with the reason and status 401.
	for _, c := range []struct{ payload, msg string }{
		{"", "authentication required"},
		{`{"token":"junk"}`, "malformed token"},
		{`{"token":"` + token(t, "alice", -time.Minute, nil, nil) + `"}`, "token expired"},
		{`{"token":"` + mustSignKid(t, "k1") + `"}`, "signing method"},
	} {
		sio := dialAuthSIO(t, addr)
		p := sio.connect(c.payload)
		var ce struct {
			Message string
			Data    struct{ Status int }
		}
		if !strings.HasPrefix(p, "44") || json.Unmarshal([]byte(p[2:]), &ce) != nil || !strings.Contains(ce.Message, c.msg) || ce.Data.Status != 401 {
			t.Fatalf("CONNECT %s: %q, want connect_error %q", c.payload, p, c.msg)
		}
	}
	sio := dialAuthSIO(t, addr)
	if p := sio.connect(`{"token":"` + token(t, "alice", time.Hour, []string{"md.>"}, []string{"orders.*"}) + `"}`); !strings.HasPrefix(p, `40{"sid"`) {
		t.Fatalf("CONNECT: %q", p)
	}
	for i, c := range []struct {
		name, arg string
		code      int
		msg       string
	}{
		{"subscribe", `{"topics":["md.A"]}`, 0, ""},
		{"subscribe", `"md.*.quote"`, 0, ""},
		{"subscribe", `["md.B",">"]`, 403, `not allowed to subscribe to ">"`},
		{"subscribe", `{"topics":["news.x"],"since":{"news.x":{"epoch":"e","seq":1}}}`, 403, "news.x"},
		{"publish", `{"topic":"orders.new","data":1}`, 0, ""},
		{"publish", `{"topic":"md.A","data":1}`, 403, `not allowed to publish to "md.A"`},
		{"refresh", `"junk"`, 401, "malformed token"},
		{"refresh", `{"token":"` + token(t, "bob", time.Hour, nil, nil) + `"}`, 401, "another user"},
		{"refresh", `{"token":"` + token(t, "alice", time.Hour, []string{"news.>"}, nil) + `"}`, 0, ""},
		{"subscribe", `"news.x"`, 0, ""}, // the refreshed token's subs
		{"subscribe", `"md.C"`, 403, "md.C"},
	} {
		r := sio.call(i+1, c.name, c.arg)
		if c.code == 0 && r.Op != "ok" || c.code != 0 && (r.Op != "err" || r.Code != c.code || !strings.Contains(r.Msg, c.msg)) {
			t.Fatalf("%d %s %s: %+v, want %d %q", i, c.name, c.arg, r, c.code, c.msg)
		}
	}
}

func TestAuthSocketIOExpiry(t *testing.T) {
	_, addr := start(t, authCfg(auth.ModeRequired))
	// One socket refreshes in time, one does not.
	stale, fresh := dialAuthSIO(t, addr), dialAuthSIO(t, addr)
	exp := time.Now().Add(2 * time.Second).Truncate(time.Second) // exp has whole seconds
	for _, c := range []*authSIO{stale, fresh} {
		if p := c.connect(`{"token":"` + token(t, "alice", 2*time.Second, []string{"md.>"}, nil) + `"}`); !strings.HasPrefix(p, `40{"sid"`) {
			t.Fatalf("CONNECT: %q", p)
		}
	}
	if r := fresh.call(1, "refresh", `"`+token(t, "alice", time.Hour, []string{"md.>"}, nil)+`"`); r.Op != "ok" {
		t.Fatalf("refresh: %+v", r)
	}
	if p := stale.packet(10 * time.Second); p != `42["token_expired",{"reason":"token expired"}]` {
		t.Fatalf("at expiry: %q", p)
	}
	if p := stale.packet(5 * time.Second); p != "41" {
		t.Fatalf("want DISCONNECT, got %q", p)
	}
	// The refreshed socket is still there after the first token's exp
	// (the stale socket's, the same second).
	if time.Now().Before(exp) {
		t.Fatal("expired early")
	}
	if r := fresh.call(2, "subscribe", `"md.A"`); r.Op != "ok" {
		t.Fatalf("refreshed socket: %+v", r)
	}
}

// ---- STOMP over WebSocket ----

type authStomp struct {
	t  *testing.T
	ws *websocket.Conn
}

type stompF struct {
	cmd     string
	headers map[string]string
	body    string
}

func dialAuthStomp(t *testing.T, addr, rawQuery string, h http.Header) *authStomp {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"v12.stomp"}}
	u := "ws://" + addr + "/stomp"
	if rawQuery != "" {
		u += "?" + rawQuery
	}
	ws, _, err := d.Dial(u, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return &authStomp{t: t, ws: ws}
}

func (c *authStomp) send(frame string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		c.t.Fatal(err)
	}
}

// frame reads the next frame (one per WebSocket message, heart-beats
// skipped) within d.
func (c *authStomp) frame(d time.Duration) stompF {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(d))
	for {
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		s := strings.TrimLeft(string(b), "\r\n")
		if s == "" {
			continue
		}
		head, body, _ := strings.Cut(s, "\n\n")
		lines := strings.Split(head, "\n")
		f := stompF{cmd: lines[0], headers: map[string]string{}, body: strings.TrimSuffix(body, "\x00")}
		for _, l := range lines[1:] {
			k, v, _ := strings.Cut(l, ":")
			if _, dup := f.headers[k]; !dup {
				f.headers[k] = v
			}
		}
		return f
	}
}

// connect sends CONNECT with the extra header lines and returns the answer.
func (c *authStomp) connect(headers string) stompF {
	c.send("CONNECT\naccept-version:1.2\nhost:c1m\nheart-beat:0,0\n" + headers + "\n\x00")
	return c.frame(5 * time.Second)
}

func TestAuthStompConnect(t *testing.T) {
	_, addr := start(t, authCfg(auth.ModeRequired))
	good := token(t, "alice", time.Hour, []string{"md.>"}, nil)
	// Every source of the token.
	for name, c := range map[string]struct {
		query, headers string
		h              http.Header
	}{
		"passcode":              {"", "login:alice\npasscode:" + good + "\n", nil},
		"frame authorization":   {"", "Authorization:Bearer " + good + "\n", nil},
		"upgrade authorization": {"", "", http.Header{"Authorization": {"Bearer " + good}}},
		"upgrade query":         {"token=" + good, "", nil},
	} {
		st := dialAuthStomp(t, addr, c.query, c.h)
		if f := st.connect(c.headers); f.cmd != "CONNECTED" {
			t.Fatalf("%s: %+v", name, f)
		}
	}
	// Refusals: ERROR, then the connection closes.
	for _, c := range []struct{ headers, msg string }{
		{"", "authentication required"},
		{"passcode:junk\n", "malformed token"},
		{"passcode:" + token(t, "alice", -time.Minute, nil, nil) + "\n", "token expired"},
		{"passcode:" + mustSignKid(t, "k2") + "\n", "signing method"},
	} {
		st := dialAuthStomp(t, addr, "", nil)
		f := st.connect(c.headers)
		if f.cmd != "ERROR" || f.headers["message"] != "authentication failed" || !strings.Contains(f.body, c.msg) {
			t.Fatalf("CONNECT %q: %+v, want ERROR %q", c.headers, f, c.msg)
		}
		if code, _ := waitClose(t, st.ws, 5*time.Second); code != 1008 {
			t.Fatalf("close %d", code)
		}
	}
}

func TestAuthStompPermissions(t *testing.T) {
	_, addr := start(t, authCfg(auth.ModeRequired))
	alice := token(t, "alice", time.Hour, []string{"md.>"}, []string{"orders.*"})
	st := dialAuthStomp(t, addr, "", nil)
	if f := st.connect("passcode:" + alice + "\n"); f.cmd != "CONNECTED" {
		t.Fatalf("%+v", f)
	}
	for i, c := range []string{
		"SUBSCRIBE\nid:1\ndestination:/topic/md.A\nreceipt:r1\n\n\x00",
		"SUBSCRIBE\nid:2\ndestination:/topic/md.*.quote\nreceipt:r2\n\n\x00",
		"SEND\ndestination:/topic/orders.new\ncontent-type:application/json\nreceipt:r3\n\n1\x00",
		"SEND\ndestination:" + "/c1m/refresh" + "\nreceipt:r4\n\n" + token(t, "alice", time.Hour, []string{"md.>", "news.>"}, []string{"orders.*"}) + "\x00",
		"SUBSCRIBE\nid:5\ndestination:/topic/news.x\nreceipt:r5\n\n\x00", // the refreshed token's subs
	} {
		st.send(c)
		if f := st.frame(5 * time.Second); f.cmd != "RECEIPT" {
			t.Fatalf("frame %d: %+v", i, f)
		}
	}
	// Refusals are ERROR frames, which end a STOMP connection.
	for _, c := range []struct{ frame, msg string }{
		{"SUBSCRIBE\nid:9\ndestination:/topic/>\n\n\x00", `not allowed to subscribe to ">"`},
		{"SUBSCRIBE\nid:9\ndestination:/queue/news.*.x\n\n\x00", `not allowed to subscribe to "news.*.x"`},
		{"SEND\ndestination:/topic/md.A\n\n1\x00", `not allowed to publish to "md.A"`},
		{"SEND\ndestination:/c1m/refresh\n\njunk\x00", "malformed token"},
		{"SEND\ndestination:/c1m/refresh\ntoken:" + token(t, "bob", time.Hour, nil, nil) + "\n\n\x00", "another user"},
	} {
		st := dialAuthStomp(t, addr, "", nil)
		if f := st.connect("passcode:" + token(t, "alice", time.Hour, []string{"md.>", "news.*"}, []string{"orders.*"}) + "\n"); f.cmd != "CONNECTED" {
			t.Fatalf("%+v", f)
		}
		st.send(c.frame)
		if f := st.frame(5 * time.Second); f.cmd != "ERROR" || !strings.Contains(f.body, c.msg) {
			t.Fatalf("%q: %+v, want ERROR %q", c.frame, f, c.msg)
		}
	}
}

func TestAuthStompExpiry(t *testing.T) {
	_, addr := start(t, authCfg(auth.ModeRequired))
	stale, fresh := dialAuthStomp(t, addr, "", nil), dialAuthStomp(t, addr, "", nil)
	exp := time.Now().Add(2 * time.Second).Truncate(time.Second)
	for _, st := range []*authStomp{stale, fresh} {
		if f := st.connect("passcode:" + token(t, "alice", 2*time.Second, []string{"md.>"}, nil) + "\n"); f.cmd != "CONNECTED" {
			t.Fatalf("%+v", f)
		}
	}
	fresh.send("SEND\ndestination:/c1m/refresh\nreceipt:r\n\n" + token(t, "alice", time.Hour, []string{"md.>"}, nil) + "\x00")
	if f := fresh.frame(5 * time.Second); f.cmd != "RECEIPT" {
		t.Fatalf("refresh: %+v", f)
	}
	f := stale.frame(10 * time.Second)
	if f.cmd != "ERROR" || f.headers["message"] != "token expired" {
		t.Fatalf("at expiry: %+v", f)
	}
	if code, text := waitClose(t, stale.ws, 5*time.Second); code != 4401 || text != "token expired" {
		t.Fatalf("close %d %q", code, text)
	}
	if time.Now().Before(exp) {
		t.Fatal("expired early")
	}
	fresh.send("SUBSCRIBE\nid:1\ndestination:/topic/md.A\nreceipt:r1\n\n\x00")
	if f := fresh.frame(5 * time.Second); f.cmd != "RECEIPT" {
		t.Fatalf("refreshed session: %+v", f)
	}
}

// ---- the native protocol over SockJS (websocket transport) ----

func TestAuthSockJSNative(t *testing.T) {
	_, addr := start(t, authCfg(auth.ModeRequired))
	dialSJ := func(id, rawQuery string) *websocket.Conn {
		ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/sockjs/000/"+id+"/websocket?"+rawQuery, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ws.Close() })
		return ws
	}
	read := func(ws *websocket.Conn) string {
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if s := string(b); s != "h" {
				return s
			}
		}
	}
	// A session opened without a token is closed with 4401 and the reason.
	ws := dialSJ("noauth", "")
	if f := read(ws); f != "o" {
		t.Fatalf("open frame %q", f)
	}
	if f := read(ws); !strings.HasPrefix(f, `c[4401,"authentication required`) {
		t.Fatalf("want the close frame 4401, got %q", f)
	}
	ws = dialSJ("withauth", "token="+token(t, "alice", time.Hour, []string{"md.>"}, nil))
	if f := read(ws); f != "o" {
		t.Fatalf("open frame %q", f)
	}
	for _, c := range []struct{ op, want string }{
		{`{"op":"sub","id":1,"topics":["md.A"]}`, `"op":"ok"`},
		{`{"op":"sub","id":2,"topics":["orders.*"]}`, `"code":403`},
	} {
		msg, _ := json.Marshal([]string{c.op})
		if err := ws.WriteMessage(websocket.TextMessage, msg); err != nil {
			t.Fatal(err)
		}
		if f := read(ws); !strings.HasPrefix(f, "a[") || !strings.Contains(f, strings.ReplaceAll(c.want, `"`, `\"`)) {
			t.Fatalf("%s: %q, want %s", c.op, f, c.want)
		}
	}
}

// TestAuthSocketIORecovery: a recovered socket's subscriptions are
// subscribes too: a new token that does not allow them all starts the
// socket afresh instead of restoring them.
func TestAuthSocketIORecovery(t *testing.T) {
	cfg := authCfg(auth.ModeRequired)
	cfg.SocketIO.Recovery = time.Minute
	srv, addr := start(t, cfg)
	type ids struct{ Sid, Pid string }
	connect := func(payload string) ids {
		c := dialAuthSIO(t, addr)
		p := c.connect(payload)
		var v ids
		if !strings.HasPrefix(p, "40{") || json.Unmarshal([]byte(p[2:]), &v) != nil || v.Pid == "" {
			t.Fatalf("CONNECT: %q", p)
		}
		return v
	}
	subs := func() int { return srv.Hub().Stats().Subscriptions }
	md := token(t, "alice", time.Hour, []string{"md.>"}, nil)
	news := token(t, "alice", time.Hour, []string{"news.>"}, nil)
	for _, c := range []struct {
		name, tok string
		recovered bool
	}{{"md.> no longer allowed", news, false}, {"same permissions", md, true}} {
		first := dialAuthSIO(t, addr)
		var v ids
		if p := first.connect(`{"token":"` + md + `"}`); json.Unmarshal([]byte(p[2:]), &v) != nil {
			t.Fatalf("CONNECT: %q", p)
		}
		if r := first.call(1, "subscribe", `"md.A"`); r.Op != "ok" {
			t.Fatalf("%s: subscribe %+v", c.name, r)
		}
		first.ws.Close() // the transport drops: the socket waits for its client
		waitFor(t, 5*time.Second, "the dropped socket to be kept for recovery", func() bool { return subs() == 0 })
		again := connect(`{"token":"` + c.tok + `","pid":"` + v.Pid + `","offset":""}`)
		if (again.Sid == v.Sid) != c.recovered {
			t.Fatalf("%s: sid %s then %s, want recovered %v", c.name, v.Sid, again.Sid, c.recovered)
		}
		// What the restore subscribed: md.A again, or nothing.
		want := 0
		if c.recovered {
			want = 1
		}
		if n := subs(); n != want {
			t.Fatalf("%s: %d subscriptions after the reconnect, want %d", c.name, n, want)
		}
	}
}

// TestAuthStompOverSockJS: STOMP over SockJS authenticates in its CONNECT
// like STOMP over WebSocket.
func TestAuthStompOverSockJS(t *testing.T) {
	_, addr := start(t, authCfg(auth.ModeRequired))
	for _, c := range []struct {
		passcode, want string
	}{
		{token(t, "alice", time.Hour, []string{"md.>"}, nil), "CONNECTED"},
		{"junk", "ERROR\nmessage:authentication failed"},
	} {
		ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/stomp-sockjs/000/s"+c.passcode[:4]+"/websocket", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, b, err := ws.ReadMessage(); err != nil || string(b) != "o" {
			t.Fatalf("open: %q %v", b, err)
		}
		msg, _ := json.Marshal([]string{"CONNECT\naccept-version:1.2\nhost:c1m\npasscode:" + c.passcode + "\n\n\x00"})
		if err := ws.WriteMessage(websocket.TextMessage, msg); err != nil {
			t.Fatal(err)
		}
		_, b, err := ws.ReadMessage()
		var frames []string
		if err != nil || !strings.HasPrefix(string(b), "a") || json.Unmarshal(b[1:], &frames) != nil || !strings.HasPrefix(frames[0], c.want) {
			t.Fatalf("CONNECT %.8s: %q %v, want %q", c.passcode, b, err, c.want)
		}
	}
}
