package server_test

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/c1mhq/c1m/server"
)

// sjStream is a raw HTTP/1.1 connection reading a SockJS streaming
// response chunk by chunk (every frame is one chunk).
type sjStream struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
	tp *textproto.Reader
}

func sjDial(t testing.TB, addr string) *sjStream {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	return &sjStream{t: t, c: c, br: br, tp: textproto.NewReader(br)}
}

// open sends a receiving request and reads the head (and the prelude).
func (s *sjStream) open(method, path string) http.Header {
	s.t.Helper()
	req := method + " " + path + " HTTP/1.1\r\nHost: x\r\n"
	if method == "POST" {
		req += "Content-Length: 0\r\n"
	}
	if _, err := s.c.Write([]byte(req + "\r\n")); err != nil {
		s.t.Fatal(err)
	}
	line, err := s.tp.ReadLine()
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 200") {
		s.t.Fatalf("status %q %v", line, err)
	}
	h, err := s.tp.ReadMIMEHeader()
	if err != nil {
		s.t.Fatal(err)
	}
	s.chunk() // the prelude
	return http.Header(h)
}

func (s *sjStream) chunk() string {
	s.t.Helper()
	line, err := s.tp.ReadLine()
	if err != nil {
		s.t.Fatalf("chunk size: %v", err)
	}
	n, err := strconv.ParseInt(line, 16, 32)
	if err != nil {
		s.t.Fatalf("chunk size %q", line)
	}
	b := make([]byte, n+2)
	if _, err := io.ReadFull(s.br, b); err != nil {
		s.t.Fatal(err)
	}
	return string(b[:n])
}

// messages reads the next message frame and returns its messages, skipping
// heart-beats.
func (s *sjStream) messages(frame func(string) string) []string {
	s.t.Helper()
	for {
		f := frame(s.chunk())
		if f == "h" {
			continue
		}
		return sjMessages(s.t, f)
	}
}

// sjMessages decodes a["...",...].
func sjMessages(t testing.TB, f string) []string {
	t.Helper()
	if !strings.HasPrefix(f, "a") {
		t.Fatalf("frame %q, want a message frame", f)
	}
	var ms []string
	if err := json.Unmarshal([]byte(f[1:]), &ms); err != nil {
		t.Fatalf("frame %q: %v", f, err)
	}
	return ms
}

func xhrLine(c string) string { return strings.TrimSuffix(c, "\n") }

func sjPost(t testing.TB, u, body string) int {
	t.Helper()
	resp, err := http.Post(u, "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// sjSend sends messages (each JSON-quoted) with xhr_send.
func sjSend(t testing.TB, base string, msgs ...string) {
	t.Helper()
	b, _ := json.Marshal(msgs)
	if st := sjPost(t, base+"/xhr_send", string(b)); st != 204 {
		t.Fatalf("xhr_send: %d", st)
	}
}

// TestSockJSNativeXHRStreaming: the native protocol over xhr_streaming:
// sub and its ok, the snapshot, live deliveries, a publish from the
// client, and a binary delivery as JSON with base64 data.
func TestSockJSNativeXHRStreaming(t *testing.T) {
	s, addr := start(t, server.Config{ClientPublish: true})
	if _, err := s.Hub().Publish("sj.a", []byte(`{"px":1}`), 0); err != nil {
		t.Fatal(err)
	}
	st := sjDial(t, addr)
	st.open("POST", "/sockjs/0/n1/xhr_streaming")
	if f := st.chunk(); f != "o\n" {
		t.Fatalf("open %q", f)
	}
	base := "http://" + addr + "/sockjs/0/n1"
	sjSend(t, base, `{"op":"sub","id":1,"topics":["sj.a"]}`)
	var got []map[string]any
	for len(got) < 2 {
		for _, m := range st.messages(xhrLine) {
			var v map[string]any
			if err := json.Unmarshal([]byte(m), &v); err != nil {
				t.Fatalf("message %q: %v", m, err)
			}
			got = append(got, v)
		}
	}
	ops := got[0]["op"].(string) + "," + got[1]["op"].(string)
	if !strings.Contains(ops, "ok") || !strings.Contains(ops, "msg") {
		t.Fatalf("sub answers %v", got)
	}
	if _, err := s.Hub().Publish("sj.a", []byte(`{"px":2}`), 0); err != nil {
		t.Fatal(err)
	}
	ms := st.messages(xhrLine)
	if len(ms) != 1 || !strings.HasPrefix(ms[0], `{"op":"msg","topic":"sj.a","seq":2,`) || !strings.HasSuffix(ms[0], `"data":{"px":2}}`) {
		t.Fatalf("delivery %q", ms)
	}
	sjSend(t, base, `{"op":"pub","id":2,"topic":"sj.a","data":{"px":3}}`)
	seen := map[string]bool{}
	for !(seen["ok"] && seen["msg"]) {
		for _, m := range st.messages(xhrLine) {
			var v struct{ Op, Topic string }
			_ = json.Unmarshal([]byte(m), &v)
			seen[v.Op] = true
		}
	}
	if _, err := s.Hub().PublishBinary("sj.a", []byte{0, 1, 0xff}, 0); err != nil {
		t.Fatal(err)
	}
	ms = st.messages(xhrLine)
	var bin struct {
		Op     string
		Binary bool
		Data   string
	}
	if err := json.Unmarshal([]byte(ms[0]), &bin); err != nil || !bin.Binary || bin.Data != base64.StdEncoding.EncodeToString([]byte{0, 1, 0xff}) {
		t.Fatalf("binary delivery %q", ms)
	}
}

// TestSockJSNativeWebSocket: the native protocol over the framed
// websocket transport and the raw /sockjs/websocket.
func TestSockJSNativeWebSocket(t *testing.T) {
	s, addr := start(t, server.Config{})
	c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/sockjs/0/w1/websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	read := func() string {
		t.Helper()
		_, b, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if f := read(); f != "o" {
		t.Fatalf("open %q", f)
	}
	_ = c.WriteMessage(websocket.TextMessage, []byte(`["{\"op\":\"sub\",\"id\":7,\"topics\":[\"sj.w\"]}"]`))
	if ms := sjMessages(t, read()); !strings.HasPrefix(ms[0], `{"op":"ok","id":7`) {
		t.Fatalf("sub %q", ms)
	}
	if _, err := s.Hub().Publish("sj.w", []byte(`[1,2]`), 0); err != nil {
		t.Fatal(err)
	}
	if ms := sjMessages(t, read()); !strings.HasSuffix(ms[0], `"data":[1,2]}`) {
		t.Fatalf("delivery %q", ms)
	}
	raw, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/sockjs/websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.WriteMessage(websocket.TextMessage, []byte(`{"op":"sub","id":1,"topics":["sj.w"]}`))
	_ = raw.SetReadDeadline(time.Now().Add(10 * time.Second))
	sawOK := false
	for !sawOK {
		_, b, err := raw.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		sawOK = strings.HasPrefix(string(b), `{"op":"ok","id":1`)
	}
}

// TestSockJSStomp: STOMP over SockJS at /stomp-sockjs (websocket and
// xhr_streaming): CONNECT, SUBSCRIBE, MESSAGE.
func TestSockJSStomp(t *testing.T) {
	s, addr := start(t, server.Config{})
	st := sjDial(t, addr)
	st.open("POST", "/stomp-sockjs/0/s1/xhr_streaming")
	if f := st.chunk(); f != "o\n" {
		t.Fatalf("open %q", f)
	}
	base := "http://" + addr + "/stomp-sockjs/0/s1"
	sjSend(t, base, "CONNECT\naccept-version:1.2\nhost:x\nheart-beat:0,0\n\n\x00")
	if ms := st.messages(xhrLine); !strings.HasPrefix(ms[0], "CONNECTED\nversion:1.2\n") {
		t.Fatalf("CONNECTED %q", ms)
	}
	sjSend(t, base, "SUBSCRIBE\nid:sub-0\ndestination:/topic/sj.s\nreceipt:r1\n\n\x00")
	if ms := st.messages(xhrLine); !strings.HasPrefix(ms[0], "RECEIPT\nreceipt-id:r1\n") {
		t.Fatalf("RECEIPT %q", ms)
	}
	if _, err := s.Hub().Publish("sj.s", []byte(`{"q":1}`), 0); err != nil {
		t.Fatal(err)
	}
	ms := st.messages(xhrLine)
	if !strings.HasPrefix(ms[0], "MESSAGE\nsubscription:sub-0\n") || !strings.HasSuffix(ms[0], "\n\n{\"q\":1}\x00") {
		t.Fatalf("MESSAGE %q", ms)
	}

	c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/stomp-sockjs/0/s2/websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	read := func() string {
		t.Helper()
		for {
			_, b, err := c.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != "h" {
				return string(b)
			}
		}
	}
	send := func(frame string) {
		b, _ := json.Marshal([]string{frame})
		_ = c.WriteMessage(websocket.TextMessage, b)
	}
	if f := read(); f != "o" {
		t.Fatalf("open %q", f)
	}
	send("CONNECT\naccept-version:1.2\nhost:x\n\n\x00")
	if ms := sjMessages(t, read()); !strings.HasPrefix(ms[0], "CONNECTED\n") {
		t.Fatalf("CONNECTED %q", ms)
	}
	send("SUBSCRIBE\nid:sub-0\ndestination:/topic/sj.s\n\n\x00")
	if ms := sjMessages(t, read()); !strings.Contains(ms[0], "x-c1m-snap:true") || !strings.HasSuffix(ms[0], "{\"q\":1}\x00") {
		t.Fatalf("snapshot MESSAGE %q", ms)
	}
	if _, err := s.Hub().Publish("sj.s", []byte(`{"q":2}`), 0); err != nil {
		t.Fatal(err)
	}
	if ms := sjMessages(t, read()); !strings.HasSuffix(ms[0], "{\"q\":2}\x00") {
		t.Fatalf("MESSAGE %q", ms)
	}
	if ms := st.messages(xhrLine); !strings.HasSuffix(ms[0], "{\"q\":2}\x00") {
		t.Fatalf("MESSAGE over xhr_streaming %q", ms)
	}
}

// TestSockJSWiring: /info of both prefixes, /stats sockjs_sessions, the
// iframe page's script, and SockJS off.
func TestSockJSWiring(t *testing.T) {
	_, addr := start(t, server.Config{SockJS: server.SockJSConfig{CookieNeeded: true, ClientURL: "/x/sockjs.js"}})
	for _, p := range []string{"/sockjs/info", "/stomp-sockjs/info"} {
		resp, err := http.Get("http://" + addr + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), `"websocket":true,"cookie_needed":true`) {
			t.Fatalf("%s: %d %s", p, resp.StatusCode, b)
		}
	}
	resp, err := http.Get("http://" + addr + "/sockjs/iframe.html")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `src="/x/sockjs.js"`) {
		t.Fatalf("iframe %s", b)
	}
	st := sjDial(t, addr)
	st.open("GET", "/sockjs/0/st/eventsource")
	waitFor(t, 5*time.Second, "/stats sockjs_sessions", func() bool {
		resp, err := http.Get("http://" + addr + "/stats")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v struct {
			N int64 `json:"sockjs_sessions"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&v)
		return v.N == 1
	})
	resp, err = http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "c1m_sockjs_sessions 1") {
		t.Fatalf("metrics without c1m_sockjs_sessions 1")
	}

	_, off := start(t, server.Config{SockJS: server.SockJSConfig{Off: true}})
	resp, err = http.Get("http://" + off + "/sockjs/info")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("SockJS off: /sockjs/info %d", resp.StatusCode)
	}
}
