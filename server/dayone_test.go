package server_test

// Tests for what a new user hit on day one (issue 8): atomic batch publish,
// WebSocket publishing behind the publish token, error replies that carry the
// id and speak the client's terms, CORS on /publish, and logging.

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/c1mhq/c1m/server"
)

func postJSON(t testing.TB, url, auth, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	var e struct{ Error string }
	if r.StatusCode >= 300 && json.Unmarshal(b, &e) == nil && e.Error != "" {
		return r.StatusCode, e.Error // unescaped, as a client reads it
	}
	return r.StatusCode, string(b)
}

// nextMsg reads the next delivery, failing on anything else.
func (c *client) nextMsg() reply {
	c.t.Helper()
	c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, m, err := c.ws.ReadMessage()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	var r reply
	if err := json.Unmarshal(m, &r); err != nil || r.Op != "msg" {
		c.t.Fatalf("want a delivery, got %s", m)
	}
	return r
}

func TestBatchPublishIsAllOrNothing(t *testing.T) {
	cfg := server.Config{}
	cfg.Hub.MaxTopics = 4
	_, addr := start(t, cfg)
	c := dial(t, addr)
	c.send(`{"op":"sub","id":1,"topics":["atom2.*"]}`)
	c.expectOK(1)
	base := "http://" + addr + "/publish"
	bad := []struct {
		name, body string
		status     int
		msg        string
	}{
		{"malformed topic last", `[{"topic":"atom2.A","data":"first"},{"topic":"atom2.B","data":"second"},{"topic":"bad..topic","data":3}]`, 400, `item 2: malformed topic "bad..topic"`},
		{"wildcard topic", `[{"topic":"atom2.A","data":1},{"topic":"atom2.>","data":2}]`, 400, "item 1"},
		{"missing data", `[{"topic":"atom2.A","data":1},{"topic":"atom2.B"}]`, 400, `item 1 has no "data"`},
		{"item not an object", `[{"topic":"atom2.A","data":1},"atom2.B"]`, 400, "item 1 must be an object"},
		{"topic not a string", `[{"topic":"atom2.A","data":1},{"topic":7,"data":1}]`, 400, `item 1: "topic" must be a string`},
		{"data too large", `[{"topic":"atom2.A","data":1},{"topic":"atom2.B","data":"` + strings.Repeat("x", 1<<20) + `"}]`, 413, "item 1: data is"},
		{"too many topics", `[{"topic":"atom2.A","data":1},{"topic":"atom2.B","data":2},{"topic":"atom2.C","data":3},{"topic":"atom2.D","data":4},{"topic":"atom2.E","data":5}]`, 507, "maximum number of topics (4)"},
	}
	for _, tc := range bad {
		code, body := postJSON(t, base, "", tc.body)
		if code != tc.status || !strings.Contains(body, tc.msg) {
			t.Errorf("%s: got %d %s, want %d with %q", tc.name, code, body, tc.status, tc.msg)
		}
	}
	// Nothing of the refused batches was published: the first delivery is
	// this one, with seq 1.
	if code, body := postJSON(t, base, "", `[{"topic":"atom2.A","data":"ok"}]`); code != 202 || !strings.Contains(body, `"seqs":[1]`) {
		t.Fatalf("good batch: %d %s", code, body)
	}
	if r := c.nextMsg(); r.Topic != "atom2.A" || r.Seq != 1 || string(r.Data) != `"ok"` {
		t.Fatalf("first delivery %+v, want atom2.A seq 1 \"ok\"", r)
	}
}

func TestWebSocketPublishNeedsTheToken(t *testing.T) {
	_, addr := start(t, server.Config{PublishToken: "s3cret", ClientPublish: true})
	sub := dial(t, addr)
	sub.send(`{"op":"sub","id":1,"topics":["tok.*"]}`)
	sub.expectOK(1)

	anon := dial(t, addr)
	anon.send(`{"op":"pub","id":2,"topic":"tok.A","data":"anonymous"}`)
	if r := anon.next(); r.Op != "err" || r.Code != 401 || string(r.ID) != "2" || !strings.Contains(r.Msg, "token") {
		t.Fatalf("anonymous text pub: %+v, want err 401 with id 2", r)
	}
	if err := anon.ws.WriteMessage(websocket.BinaryMessage, append([]byte{1, 5}, "tok.Banon"...)); err != nil {
		t.Fatal(err)
	}
	if r := anon.next(); r.Op != "err" || r.Code != 401 {
		t.Fatalf("anonymous binary pub: %+v, want err 401", r)
	}
	wrong := dialURL(t, "ws://"+addr+"/ws?token=nope", nil)
	wrong.send(`{"op":"pub","id":3,"topic":"tok.A","data":"wrong"}`)
	if r := wrong.next(); r.Code != 401 {
		t.Fatalf("wrong token: %+v, want err 401", r)
	}

	byQuery := dialURL(t, "ws://"+addr+"/ws?token=s3cret", nil)
	byQuery.send(`{"op":"pub","id":4,"topic":"tok.A","data":"query"}`)
	byQuery.expectOK(4)
	byHeader := dialURL(t, "ws://"+addr+"/ws", http.Header{"Authorization": {"Bearer s3cret"}})
	byHeader.send(`{"op":"pub","id":5,"topic":"tok.A","data":"header"}`)
	byHeader.expectOK(5)

	// The subscriber got only the authorized publishes, from seq 1.
	for i, want := range []string{`"query"`, `"header"`} {
		if r := sub.nextMsg(); r.Seq != uint64(i+1) || string(r.Data) != want {
			t.Fatalf("delivery %d: %+v, want seq %d %s", i, r, i+1, want)
		}
	}
}

func dialURL(t testing.TB, url string, h http.Header) *client {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial(url, h)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, ws: c}
}

func TestErrorRepliesCarryIDAndReadableMessages(t *testing.T) {
	_, addr := start(t, server.Config{Hub: hubConfig(3)})
	c := dial(t, addr)
	cases := []struct {
		req  string
		id   string // echoed id, "" for none
		code int
		msg  string // a substring of the message
	}{
		{`{"op":"sub","id":12,"topics":"md.AAPL.quote"}`, "12", 400, `"topics" must be an array of strings, got a string`},
		{`{"op":"sub","id":"a","topics":["md.A",7]}`, `"a"`, 400, `"topics"[1] must be a string, got a number`},
		{`{"op":"sub","id":13,"topics":["md.>.x"]}`, "13", 422, `malformed pattern "md.>.x": > must be the last token`},
		{`{"op":"sub","id":14,"topics":["md..A"]}`, "14", 422, "empty token at byte 3"},
		{`{"op":"sub","id":15,"topics":["md.A b"]}`, "15", 422, "character ' ' at byte 4"},
		{`{"op":"sub","id":16,"topics":["md.A"],"conflate":"yes"}`, "16", 400, `"conflate" must be true or false, got a string`},
		{`{"op":"sub","id":17,"topics":["md.A"],"maxRate":-1}`, "17", 400, `"maxRate" must be a number >= 0`},
		{`{"op":"sub","id":18,"topics":["md.A"],"since":{"md.A":{"epoch":"e","seq":"x"}}}`, "18", 400, `"since" must be an object mapping topics`},
		{`{"op":"sub","id":19,"topics":["a.1","a.2","a.3","a.4"]}`, "19", 429, "at most 3"},
		{`{"op":"pub","id":20,"topic":"md.A","data":1}`, "20", 403, "client publishing is disabled"},
		{`{"op":"fly","id":21}`, "21", 404, `unknown op "fly" (one of sub, unsub, pub, ping)`},
		{`{"id":22}`, "22", 400, `missing "op"`},
		{`{"op":7,"id":23}`, "23", 400, `"op" must be a string, got a number`},
		{`{"op":"sub","id":{},"topics":["x"]}`, "", 400, `"id" must be a number or a string, got an object`},
		{`["sub"]`, "", 400, "a message must be a JSON object"},
		{`{"op":"sub",`, "", 400, "invalid JSON at byte"},
		{`{"op":"unsub","id":24}`, "24", 400, `unsub needs "topics"`},
	}
	for _, tc := range cases {
		c.send(tc.req)
		c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, raw, err := c.ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		var r reply
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatalf("%s: reply is not JSON: %s", tc.req, raw)
		}
		if r.Op != "err" || r.Code != tc.code || string(r.ID) != tc.id || !strings.Contains(r.Msg, tc.msg) {
			t.Errorf("%s:\n got %s\nwant code %d, id %q, msg containing %q", tc.req, raw, tc.code, tc.id, tc.msg)
		}
		for _, leak := range []string{"Go ", "struct", "[]string", "json:", `\u003e`, "clientOp"} {
			if bytes.Contains(raw, []byte(leak)) {
				t.Errorf("%s: reply leaks %q: %s", tc.req, leak, raw)
			}
		}
	}
	// A malformed pattern refuses the whole request: md.ok was not subscribed.
	c.send(`{"op":"sub","id":30,"topics":["md.ok","md..bad"]}`)
	if r := c.next(); r.Code != 422 {
		t.Fatalf("mixed request: %+v", r)
	}
	publish(t, addr, "md.ok", `1`)
	c.send(`{"op":"ping","id":31}`)
	c.expectOK(31) // no delivery of md.ok came before the pong
}

func TestPublishHTTPErrorsAreReadable(t *testing.T) {
	_, addr := start(t, server.Config{})
	base := "http://" + addr + "/publish"
	cases := []struct {
		url, body string
		status    int
		msg       string
	}{
		{base, `{"topic":"md.A","data":1}`, 400, `a JSON array of {"topic":T,"data":D}; got an object`},
		{base, `[1,`, 400, "invalid JSON at byte"},
		{base + "?topic=md.>", `1`, 400, `malformed topic "md.>": wildcard > in a publish topic`},
		{base + "?topic=md.A", `{bad`, 400, "not valid JSON"},
	}
	for _, tc := range cases {
		r, err := http.Post(tc.url, "application/json", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(r.Body)
		r.Body.Close()
		var e struct{ Error string }
		json.Unmarshal(raw, &e)
		if r.StatusCode != tc.status || !strings.Contains(e.Error, tc.msg) {
			t.Errorf("POST %s %s: got %d %s, want %d with %q", tc.url, tc.body, r.StatusCode, raw, tc.status, tc.msg)
		}
		body := string(raw)
		for _, leak := range []string{"Go ", "struct", "json:", `\u003e`, "RawMessage"} {
			if strings.Contains(body, leak) {
				t.Errorf("POST %s %s: leaks %q: %s", tc.url, tc.body, leak, body)
			}
		}
	}
}

func TestPublishCORS(t *testing.T) {
	_, addr := start(t, server.Config{Origins: []string{"https://desk.example"}})
	do := func(method, origin string) *http.Response {
		req, _ := http.NewRequest(method, "http://"+addr+"/publish?topic=cors.A", strings.NewReader("1"))
		req.Header.Set("Origin", origin)
		if method == "OPTIONS" {
			req.Header.Set("Access-Control-Request-Method", "POST")
			req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		}
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
		return r
	}
	r := do("OPTIONS", "https://desk.example")
	if r.StatusCode != 204 || r.Header.Get("Access-Control-Allow-Origin") != "https://desk.example" ||
		!strings.Contains(r.Header.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(strings.ToLower(r.Header.Get("Access-Control-Allow-Headers")), "authorization") {
		t.Fatalf("preflight from an allowed origin: %d %v", r.StatusCode, r.Header)
	}
	if r := do("OPTIONS", "https://evil.example"); r.StatusCode != 403 || r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight from another origin: %d %v", r.StatusCode, r.Header)
	}
	if r := do("POST", "https://desk.example"); r.StatusCode != 202 || r.Header.Get("Access-Control-Allow-Origin") != "https://desk.example" {
		t.Fatalf("POST from an allowed origin: %d %v", r.StatusCode, r.Header)
	}
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestDebugLogging(t *testing.T) {
	var out syncBuffer
	cfg := server.Config{
		PublishToken: "s3cret",
		Logger:       slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	cfg.Poller.MaxConns = 1
	_, addr := start(t, cfg)
	c := dial(t, addr)
	c.send(`{"op":"sub","id":1,"topics":["log.A"]}`)
	c.expectOK(1)
	c.send(`{"op":"sub","id":2,"topics":["log..A"]}`)
	c.next()
	if _, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws", nil); err == nil {
		t.Fatal("second connection admitted past MaxConns 1")
	}
	if code, _ := postJSON(t, "http://"+addr+"/publish?topic=log.A", "", "1"); code != 401 {
		t.Fatalf("publish without token: %d", code)
	}
	c.ws.Close()
	want := []string{
		`msg="ws open" remote=127.0.0.1:`,
		`msg=subscribe remote=127.0.0.1:`,
		`topics=[log.A]`,
		`msg="protocol error" remote=127.0.0.1:`,
		`code=422`,
		`msg="upgrade refused"`,
		`status=503`,
		`msg="request refused" status=401 method=POST path=/publish`,
		`msg="ws close" remote=127.0.0.1:`,
		`reason=peer_`,
	}
	waitFor(t, 10*time.Second, "every debug line", func() bool {
		s := out.String()
		for _, w := range want {
			if !strings.Contains(s, w) {
				return false
			}
		}
		return true
	})
}

func TestSummaryLine(t *testing.T) {
	var out syncBuffer
	cfg := server.Config{
		LogSummary: 20 * time.Millisecond,
		Logger:     slog.New(slog.NewTextHandler(&out, nil)),
	}
	_, addr := start(t, cfg)
	c := dial(t, addr)
	c.send(`{"op":"sub","id":1,"topics":["sum.A"]}`)
	c.expectOK(1)
	publish(t, addr, "sum.A", "1")
	c.nextMsg()
	waitFor(t, 10*time.Second, "a summary line with one connection", func() bool {
		return strings.Contains(out.String(), "msg=summary conns=1 ")
	})
	if s := out.String(); !strings.Contains(s, "deliveries_per_s=") || !strings.Contains(s, "closes=") || strings.Contains(s, "level=DEBUG") {
		t.Fatalf("summary: %s", s)
	}
}

func TestURLForAPerson(t *testing.T) {
	for addr, want := range map[string]string{
		":0":          "http://localhost:",
		"0.0.0.0:0":   "http://localhost:",
		"127.0.0.1:0": "http://127.0.0.1:",
	} {
		s, _, _, err := mdStart(t, addr, server.Config{})
		if err != nil {
			t.Fatal(err)
		}
		if got := s.URL(); !strings.HasPrefix(got, want) || !strings.HasSuffix(got, "/") {
			t.Errorf("listening on %s: URL %s, want %s...", addr, got, want)
		}
	}
}

// Engine.IO sessions are counted in /stats and /metrics.
func TestStatsCountEngineIOSessions(t *testing.T) {
	_, addr := start(t, server.Config{})
	r, err := http.Get("http://" + addr + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 200 || !strings.HasPrefix(string(body), `0{"sid":`) {
		t.Fatalf("handshake: %d %s", r.StatusCode, body)
	}
	var st struct {
		EIO int `json:"eio_sessions"`
	}
	waitFor(t, 5*time.Second, "the session in /stats and /metrics", func() bool {
		r, err := http.Get("http://" + addr + "/stats")
		if err != nil {
			return false
		}
		json.NewDecoder(r.Body).Decode(&st)
		r.Body.Close()
		m, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		mb, _ := io.ReadAll(m.Body)
		m.Body.Close()
		return st.EIO == 1 && strings.Contains(string(mb), "\nc1m_engineio_sessions 1\n") &&
			strings.Contains(string(mb), "\nc1m_http_streams 0\n") && strings.Contains(string(mb), "\nc1m_http_held_requests 0\n")
	})
}
