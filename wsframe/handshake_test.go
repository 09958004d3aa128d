package wsframe

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

const rfcKey = "dGhlIHNhbXBsZSBub25jZQ==" // RFC 6455 section 1.3

// request builds a request head; "-Name" in mods removes a header, "Name: v"
// replaces it (or adds it when absent), a line starting with "GET"/"POST"...
// replaces the request line.
func request(mods ...string) []byte {
	lines := []string{
		"GET /ws?x=1 HTTP/1.1",
		"Host: example.com",
		"Upgrade: websocket",
		"Connection: Upgrade",
		"Sec-WebSocket-Key: " + rfcKey,
		"Sec-WebSocket-Version: 13",
	}
	for _, m := range mods {
		switch {
		case strings.HasPrefix(m, "-"):
			for i, l := range lines {
				if strings.HasPrefix(strings.ToLower(l), strings.ToLower(m[1:])+":") {
					lines = append(lines[:i], lines[i+1:]...)
					break
				}
			}
		case !strings.Contains(m, ":") || strings.HasPrefix(m, "GET ") || strings.HasPrefix(m, "POST "):
			lines[0] = m
		default:
			name := m[:strings.IndexByte(m, ':')+1]
			replaced := false
			for i, l := range lines {
				if i > 0 && strings.HasPrefix(strings.ToLower(l), strings.ToLower(name)) {
					lines[i] = m
					replaced = true
					break
				}
			}
			if !replaced {
				lines = append(lines, m)
			}
		}
	}
	return []byte(strings.Join(lines, "\r\n") + "\r\n\r\n")
}

// acceptFor computes Sec-WebSocket-Accept independently (RFC 6455 4.2.2).
func acceptFor(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

func upgrade(t *testing.T, u *Upgrader, head []byte) (Handshake, error, *http.Response, []byte) {
	t.Helper()
	var out bytes.Buffer
	headCopy := append([]byte(nil), head...)
	hs, err := u.Upgrade(head, &out)
	if !bytes.Equal(head, headCopy) {
		t.Fatal("Upgrade modified head")
	}
	raw := append([]byte(nil), out.Bytes()...)
	resp, rerr := http.ReadResponse(bufio.NewReader(&out), nil)
	if rerr != nil {
		t.Fatalf("response does not parse: %v\n%q", rerr, raw)
	}
	return hs, err, resp, raw
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestUpgrade101Bytes(t *testing.T) {
	u := &Upgrader{}
	hs, err, _, raw := upgrade(t, u, request())
	if err != nil {
		t.Fatal(err)
	}
	want := "HTTP/1.1 101 Switching Protocols\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
	if string(raw) != want {
		t.Fatalf("response\n%q\nwant\n%q", raw, want)
	}
	if acceptFor(rfcKey) != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatal("oracle disagrees with the RFC example")
	}
	if hs != (Handshake{Path: "/ws", Query: "x=1"}) {
		t.Fatalf("handshake %+v", hs)
	}

	// Another key, with a subprotocol.
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	u = &Upgrader{Protocols: []string{"md.v1"}}
	hs, err, _, raw = upgrade(t, u, request("Sec-WebSocket-Key: "+key, "Sec-WebSocket-Protocol: md.v1", "GET /feed HTTP/1.1"))
	if err != nil {
		t.Fatal(err)
	}
	want = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + acceptFor(key) + "\r\n" +
		"Sec-WebSocket-Protocol: md.v1\r\n\r\n"
	if string(raw) != want {
		t.Fatalf("response\n%q\nwant\n%q", raw, want)
	}
	if hs != (Handshake{Path: "/feed", Protocol: "md.v1"}) {
		t.Fatalf("handshake %+v", hs)
	}
}

func TestUpgradeRefusals(t *testing.T) {
	u := &Upgrader{
		Route:   func(p string) bool { return p == "/ws" },
		Origins: []string{"https://good.example"},
	}
	cases := []struct {
		name    string
		head    []byte
		status  int
		inBody  string
		version bool // response carries Sec-WebSocket-Version: 13
	}{
		{"garbage request line", []byte("HELLO\r\n\r\n"), 400, "malformed HTTP request", false},
		{"request line without version", request("GET /ws"), 400, "bad request line", false},
		{"request line bad version", request("GET /ws HTTP/x.y"), 400, "bad request line", false},
		{"request line double space", request("GET  /ws HTTP/1.1"), 400, "bad request line", false},
		{"header without colon", []byte("GET /ws HTTP/1.1\r\nHost: a\r\nX-Broken\r\n\r\n"), 400, "bad header line", false},
		{"header name with space", []byte("GET /ws HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n"), 400, "bad header line", false},
		{"header value with control char", request("X-Evil: a\x01b"), 400, "bad header line", false},
		{"obs-fold", []byte("GET /ws HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n"), 400, "bad header line", false},
		{"incomplete head", []byte("GET /ws HTTP/1.1\r\nHost: a\r\n"), 400, "incomplete", false},
		{"wrong version", request("Sec-WebSocket-Version: 8"), 426, "Sec-WebSocket-Version", true},
		{"missing version", request("-Sec-WebSocket-Version"), 426, "Sec-WebSocket-Version", true},
		{"missing key", request("-Sec-WebSocket-Key"), 400, "Sec-WebSocket-Key", false},
		{"short key", request("Sec-WebSocket-Key: c2hvcnQ="), 400, "Sec-WebSocket-Key", false},
		{"key not base64", request("Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!=="), 400, "Sec-WebSocket-Key", false},
		{"key decodes to 17 bytes", request("Sec-WebSocket-Key: " + base64.StdEncoding.EncodeToString([]byte("0123456789abcdefg"))[:24]), 400, "Sec-WebSocket-Key", false},
		{"repeated key", append(request()[:len(request())-2], []byte("Sec-WebSocket-Key: "+rfcKey+"\r\n\r\n")...), 400, "repeated", false},
		{"plain GET", []byte("GET /ws HTTP/1.1\r\nHost: example.com\r\n\r\n"), 400, "Upgrade", false},
		{"missing Connection", request("-Connection"), 400, "Connection", false},
		{"Connection without upgrade", request("Connection: keep-alive"), 400, "Connection", false},
		{"Upgrade not websocket", request("Upgrade: h2c"), 400, "Upgrade", false},
		{"missing Host", request("-Host"), 400, "Host", false},
		{"unknown path", request("GET /other HTTP/1.1"), 404, "unknown WebSocket endpoint", false},
		{"unknown path plain GET", []byte("GET /favicon.ico HTTP/1.1\r\nHost: a\r\n\r\n"), 404, "", false},
		{"origin not allowed", request("Origin: https://evil.example"), 403, "origin not allowed", false},
		{"POST", request("POST /ws HTTP/1.1"), 405, "method", false},
		{"HTTP/1.0", request("GET /ws HTTP/1.0"), 505, "protocol version", false},
		{"malformed subprotocol", request("Sec-WebSocket-Protocol: a b"), 400, "malformed", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err, resp, raw := upgrade(t, u, tc.head)
			if err == nil {
				t.Fatalf("upgrade accepted; response %q", raw)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d; response %q", resp.StatusCode, tc.status, raw)
			}
			var rej *ws.ConnectionRejectedError
			if !errors.As(err, &rej) || rej.StatusCode() != tc.status {
				t.Fatalf("error %v (%T) does not carry status %d", err, err, tc.status)
			}
			b := body(t, resp)
			if b == "" || !strings.Contains(b, tc.inBody) {
				t.Fatalf("body %q, want a reason containing %q", b, tc.inBody)
			}
			if got := resp.Header.Get("Sec-WebSocket-Version"); (got == "13") != tc.version {
				t.Fatalf("Sec-WebSocket-Version header %q", got)
			}
		})
	}
}

func TestUpgradeSubprotocols(t *testing.T) {
	u := &Upgrader{Protocols: []string{"v2", "v1", "json"}}
	cases := []struct {
		name    string
		offers  []string // one Sec-WebSocket-Protocol header each
		want    string
		wantErr bool
	}{
		{"none offered", nil, "", false},
		{"server preference wins", []string{"v1, v2"}, "v2", false},
		{"only one supported", []string{"x, json, y"}, "json", false},
		{"none supported", []string{"x, y"}, "", false},
		{"across headers", []string{"json", "v1"}, "v1", false},
		{"case-sensitive", []string{"V2"}, "", false},
		{"empty elements", []string{" , v1 ,,"}, "v1", false},
		{"malformed", []string{"v1 v2"}, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			head := request()
			head = head[:len(head)-2]
			for _, o := range tc.offers {
				head = append(head, "Sec-WebSocket-Protocol: "+o+"\r\n"...)
			}
			head = append(head, "\r\n"...)
			hs, err, resp, _ := upgrade(t, u, head)
			if tc.wantErr {
				if err == nil || resp.StatusCode != 400 {
					t.Fatalf("err=%v status=%d, want 400", err, resp.StatusCode)
				}
				return
			}
			if err != nil || resp.StatusCode != 101 {
				t.Fatalf("err=%v status=%d", err, resp.StatusCode)
			}
			if hs.Protocol != tc.want || resp.Header.Get("Sec-WebSocket-Protocol") != tc.want {
				t.Fatalf("selected %q, header %q, want %q", hs.Protocol, resp.Header.Get("Sec-WebSocket-Protocol"), tc.want)
			}
			if _, present := resp.Header["Sec-Websocket-Protocol"]; present != (tc.want != "") {
				t.Fatalf("header present=%v", present)
			}
		})
	}
	// No Protocols configured: offers are ignored.
	_, err, resp, _ := upgrade(t, &Upgrader{}, request("Sec-WebSocket-Protocol: v1"))
	if err != nil || resp.Header.Get("Sec-WebSocket-Protocol") != "" {
		t.Fatalf("err=%v header=%q", err, resp.Header.Get("Sec-WebSocket-Protocol"))
	}
}

// TestUpgradeProtocolsFor: subprotocols per path; a path without any
// selects none even when Protocols lists the offer.
func TestUpgradeProtocolsFor(t *testing.T) {
	stomp := []string{"v12.stomp", "v11.stomp", "v10.stomp"}
	u := &Upgrader{Protocols: []string{"v10.stomp"}, ProtocolsFor: func(path string) []string {
		if path == "/stomp" {
			return stomp
		}
		return nil
	}}
	for _, tc := range []struct{ target, want string }{
		{"/stomp", "v12.stomp"},
		{"/stomp?x=1", "v12.stomp"},
		{"/ws", ""},
	} {
		head := bytes.Replace(request("Sec-WebSocket-Protocol: v10.stomp, v12.stomp"), []byte("/ws?x=1"), []byte(tc.target), 1)
		hs, err, resp, _ := upgrade(t, u, head)
		if err != nil || resp.StatusCode != 101 {
			t.Fatalf("%s: err=%v status=%d", tc.target, err, resp.StatusCode)
		}
		if hs.Protocol != tc.want || resp.Header.Get("Sec-WebSocket-Protocol") != tc.want {
			t.Fatalf("%s: selected %q, header %q, want %q", tc.target, hs.Protocol, resp.Header.Get("Sec-WebSocket-Protocol"), tc.want)
		}
	}
}

func TestUpgradeOrigins(t *testing.T) {
	cases := []struct {
		origins []string
		origin  string // "" sends no Origin
		status  int
	}{
		{nil, "https://any.example", 101},
		{[]string{"https://good.example"}, "https://good.example", 101},
		{[]string{"https://good.example"}, "HTTPS://GOOD.EXAMPLE", 101},
		{[]string{"https://good.example"}, "https://good.example.evil", 403},
		{[]string{"https://good.example"}, "null", 403},
		{[]string{"https://good.example"}, "", 101},
		{[]string{"https://a.example", "https://b.example"}, "https://b.example", 101},
		{[]string{"*"}, "https://whatever.example", 101},
	}
	for _, tc := range cases {
		var mods []string
		if tc.origin != "" {
			mods = append(mods, "Origin: "+tc.origin)
		}
		_, err, resp, _ := upgrade(t, &Upgrader{Origins: tc.origins}, request(mods...))
		if resp.StatusCode != tc.status || (err == nil) != (tc.status == 101) {
			t.Errorf("origins %v, Origin %q: status %d err %v, want %d", tc.origins, tc.origin, resp.StatusCode, err, tc.status)
		}
	}
}

func TestUpgradeAdmit(t *testing.T) {
	full := Reject(503, "connection limit reached")
	_, err, resp, _ := upgrade(t, &Upgrader{Admit: func() error { return full }}, request())
	if resp.StatusCode != 503 || body(t, resp) != "connection limit reached" || !errors.Is(err, full) {
		t.Fatalf("status %d err %v", resp.StatusCode, err)
	}

	_, err, resp, _ = upgrade(t, &Upgrader{Admit: func() error { return Reject(429, "slow down") }}, request())
	if resp.StatusCode != 429 || body(t, resp) != "slow down" || err == nil {
		t.Fatalf("status %d err %v", resp.StatusCode, err)
	}

	cause := errors.New("draining")
	_, err, resp, _ = upgrade(t, &Upgrader{Admit: func() error { return cause }}, request())
	var rej *ws.ConnectionRejectedError
	if resp.StatusCode != 503 || body(t, resp) != "draining" || !errors.Is(err, cause) || !errors.As(err, &rej) || rej.StatusCode() != 503 {
		t.Fatalf("status %d err %v", resp.StatusCode, err)
	}

	// Admit runs only for otherwise valid requests, after routing.
	called := 0
	u := &Upgrader{Route: func(string) bool { return false }, Admit: func() error { called++; return nil }}
	if _, err, resp, _ = upgrade(t, u, request()); resp.StatusCode != 404 || err == nil || called != 0 {
		t.Fatalf("status %d, admit called %d times", resp.StatusCode, called)
	}
	u.Route = nil
	if _, err, resp, _ = upgrade(t, u, request()); resp.StatusCode != 101 || err != nil || called != 1 {
		t.Fatalf("status %d err %v, admit called %d times", resp.StatusCode, err, called)
	}
}

func TestReject(t *testing.T) {
	for _, tc := range []struct {
		status int
		reason string
	}{{503, "connection limit reached"}, {429, "too many"}, {426, "upgrade"}, {418, "teapot"}} {
		_, err, resp, _ := upgrade(t, &Upgrader{Admit: func() error { return Reject(tc.status, tc.reason) }}, request())
		if resp.StatusCode != tc.status || body(t, resp) != tc.reason || err == nil || err.Error() != tc.reason {
			t.Errorf("Reject(%d, %q): status %d err %v", tc.status, tc.reason, resp.StatusCode, err)
		}
		if tc.status == 426 && resp.Header.Get("Sec-WebSocket-Version") != "13" {
			t.Errorf("426 without Sec-WebSocket-Version")
		}
	}
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

func TestUpgradeWriteError(t *testing.T) {
	werr := errors.New("broken pipe")
	if _, err := (&Upgrader{}).Upgrade(request(), failWriter{werr}); !errors.Is(err, werr) {
		t.Fatalf("err %v, want the write error", err)
	}
	if _, err := (&Upgrader{}).Upgrade([]byte("BAD\r\n\r\n"), failWriter{werr}); !errors.Is(err, werr) {
		t.Fatalf("err %v, want the write error", err)
	}
}

func TestRequestHeadLen(t *testing.T) {
	head := request()
	full := append(append([]byte(nil), head...), cf(0x1, "frame after the head")...)
	for k := 0; k < len(head); k++ {
		if n, err := RequestHeadLen(full[:k], 4096); n != 0 || err != nil {
			t.Fatalf("prefix %d: %d, %v", k, n, err)
		}
	}
	for k := len(head); k <= len(full); k++ {
		if n, err := RequestHeadLen(full[:k], 4096); n != len(head) || err != nil {
			t.Fatalf("prefix %d: %d, %v, want %d", k, n, err, len(head))
		}
	}
	// Limits.
	if n, err := RequestHeadLen(head, len(head)); n != len(head) || err != nil {
		t.Fatalf("head of exactly max: %d, %v", n, err)
	}
	if _, err := RequestHeadLen(head, len(head)-1); !errors.Is(err, ErrHeadTooLarge) {
		t.Fatalf("complete head over max: %v", err)
	}
	junk := bytes.Repeat([]byte("A"), 100)
	if n, err := RequestHeadLen(junk, 100); n != 0 || err != nil {
		t.Fatalf("100 bytes, max 100: %d, %v", n, err)
	}
	if _, err := RequestHeadLen(junk, 99); !errors.Is(err, ErrHeadTooLarge) {
		t.Fatalf("100 bytes, max 99: %v", err)
	}
	// A bare LF does not end a head.
	if n, _ := RequestHeadLen([]byte("GET / HTTP/1.1\n\n"), 100); n != 0 {
		t.Fatalf("LF LF ended a head: %d", n)
	}
}

func TestIsUpgradeRequest(t *testing.T) {
	cases := []struct {
		head    string
		path    string
		upgrade bool
	}{
		{string(request()), "/ws", true},
		{"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: WebSocket\r\n\r\n", "/ws", true},
		{"GET /ws HTTP/1.1\r\nupgrade: h2c, websocket\r\n\r\n", "/ws", true},
		{"GET /ws HTTP/1.1\r\nUpgrade:websocket \r\n\r\n", "/ws", true},
		{"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n", "/metrics", false},
		{"GET /a/b?c=d&e HTTP/1.1\r\nHost: a\r\n\r\n", "/a/b", false},
		{"GET http://host.example/abs?q HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", "/abs", true},
		{"GET http://host.example HTTP/1.1\r\n\r\n", "/", false},
		{"GET /ws HTTP/1.1\r\nUpgrade: websockets\r\n\r\n", "/ws", false},
		{"GET /ws HTTP/1.1\r\nX-Upgrade: websocket\r\n\r\n", "/ws", false},
		{"GET /ws HTTP/1.1\r\nHost: a\r\n\r\nUpgrade: websocket\r\n\r\n", "/ws", false}, // after the head
		{"garbage\r\n\r\n", "", false},
		{"", "", false},
	}
	for _, tc := range cases {
		path, up := IsUpgradeRequest([]byte(tc.head))
		if path != tc.path || up != tc.upgrade {
			t.Errorf("%q: %q %v, want %q %v", tc.head, path, up, tc.path, tc.upgrade)
		}
	}
}

func TestUpgradeRequestComplete(t *testing.T) {
	for _, tc := range []struct {
		head              string
		offered, complete bool
	}{
		{string(request()), true, true},
		{"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\r\n", true, true},
		{"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: close\r\n\r\n", true, false},
		{"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", true, false},
		{"POST /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", true, false},
		{"GET /ws HTTP/1.1\r\nConnection: Upgrade\r\n\r\n", false, false},
	} {
		if _, offered, complete := UpgradeRequest([]byte(tc.head)); offered != tc.offered || complete != tc.complete {
			t.Errorf("%q: offered %v complete %v, want %v %v", tc.head, offered, complete, tc.offered, tc.complete)
		}
	}
}

func TestUpgradeCheck(t *testing.T) {
	var gotPath, gotQuery string
	u := &Upgrader{Check: func(path, query string) error {
		gotPath, gotQuery = path, query
		if query == "sid=nope" {
			return RejectWith(400, "Content-Type: application/json\r\n", `{"code":1,"message":"Session ID unknown"}`)
		}
		if query == "ban=1" {
			return Reject(403, "banned")
		}
		return nil
	}}
	head := func(q string) []byte {
		return []byte(strings.Replace(string(request()), "GET /ws?x=1 ", "GET /chat?"+q+" ", 1))
	}
	_, err, _, raw := upgrade(t, u, head("sid=nope"))
	var resp *http.Response
	want := "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 41\r\n\r\n{\"code\":1,\"message\":\"Session ID unknown\"}"
	var rej *ws.ConnectionRejectedError
	if string(raw) != want || !errors.As(err, &rej) || rej.StatusCode() != 400 || gotPath != "/chat" || gotQuery != "sid=nope" {
		t.Fatalf("RejectWith: %q (err %v), want %q", raw, err, want)
	}
	if _, err, resp, _ = upgrade(t, u, head("ban=1")); resp.StatusCode != 403 || body(t, resp) != "banned" || err == nil {
		t.Fatalf("Reject: %d %v", resp.StatusCode, err)
	}
	if _, err, resp, _ = upgrade(t, u, head("ok=1")); resp.StatusCode != 101 || err != nil {
		t.Fatalf("allowed: %d %v", resp.StatusCode, err)
	}
	// Check runs only for a routed path.
	gotQuery = ""
	u.Route = func(string) bool { return false }
	if _, _, resp, _ = upgrade(t, u, head("sid=nope")); resp.StatusCode != 404 || gotQuery != "" {
		t.Fatalf("unrouted: %d, check saw %q", resp.StatusCode, gotQuery)
	}
}
