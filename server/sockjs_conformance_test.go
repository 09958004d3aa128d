package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/c1mhq/c1m/server"
)

// TestSockJSConformanceServices: the --conformance-addr listener serves
// the SockJS services of sockjs-node's test server: /echo (streaming
// responses closed after 4,096 bytes), /close, /disabled_websocket_echo
// and /cookie_needed_echo.
func TestSockJSConformanceServices(t *testing.T) {
	s, _ := start(t, server.Config{ConformanceAddr: "127.0.0.1:0"})
	addr := s.ConformanceAddr().String()
	base := "http://" + addr
	get := func(u string) (int, http.Header, string) {
		t.Helper()
		resp, err := http.Get(base + u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	post := func(u, body string) (int, http.Header, string) {
		t.Helper()
		resp, err := http.Post(base+u, "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}

	// /echo: a streaming response ends past 4,096 bytes.
	if _, _, b := get("/echo/info"); !strings.Contains(b, `"websocket":true,"cookie_needed":false`) {
		t.Fatalf("/echo/info %s", b)
	}
	st := sjDial(t, addr)
	st.open("POST", "/echo/0/e1/xhr_streaming")
	if f := st.chunk(); f != "o\n" {
		t.Fatalf("open %q", f)
	}
	big := strings.Repeat("x", 1000)
	for i := 0; i < 5; i++ {
		sjSend(t, base+"/echo/0/e1", big)
	}
	frames := 0
	for {
		f := st.chunk()
		if f == "" {
			break
		}
		if f != `a["`+big+`"]`+"\n" {
			t.Fatalf("echo %q", f)
		}
		frames++
	}
	if frames != 5 {
		t.Fatalf("%d frames before the response ended, want 5", frames)
	}
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/echo/0/e2/websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, o, _ := ws.ReadMessage()
	_ = ws.WriteMessage(websocket.TextMessage, []byte(`["hi"]`))
	if _, f, _ := ws.ReadMessage(); string(o) != "o" || string(f) != `a["hi"]` {
		t.Fatalf("websocket echo %q %q", o, f)
	}

	// /close: "o", then c[3000,"Go away!"].
	if _, _, b := post("/close/0/c1/xhr", ""); b != "o\n" {
		t.Fatalf("/close first poll %q", b)
	}
	if _, _, b := post("/close/0/c1/xhr", ""); b != `c[3000,"Go away!"]`+"\n" {
		t.Fatalf("/close second poll %q", b)
	}

	// /disabled_websocket_echo: no websocket.
	if _, _, b := get("/disabled_websocket_echo/info"); !strings.Contains(b, `"websocket":false`) {
		t.Fatalf("/disabled_websocket_echo/info %s", b)
	}
	if _, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/disabled_websocket_echo/0/d/websocket", nil); err == nil || resp == nil || resp.StatusCode != 404 {
		t.Fatalf("websocket on /disabled_websocket_echo: %v", err)
	}
	if c, _, _ := get("/disabled_websocket_echo/0/d/websocket"); c != 404 {
		t.Fatalf("GET websocket on /disabled_websocket_echo: %d", c)
	}
	if _, _, b := post("/disabled_websocket_echo/0/d/xhr", ""); b != "o\n" {
		t.Fatalf("xhr on /disabled_websocket_echo %q", b)
	}

	// /cookie_needed_echo: JSESSIONID.
	if _, _, b := get("/cookie_needed_echo/info"); !strings.Contains(b, `"cookie_needed":true`) {
		t.Fatalf("/cookie_needed_echo/info %s", b)
	}
	if _, h, _ := post("/cookie_needed_echo/0/k/xhr", ""); h.Get("Set-Cookie") != "JSESSIONID=dummy; path=/" {
		t.Fatalf("Set-Cookie %q", h.Get("Set-Cookie"))
	}
}
