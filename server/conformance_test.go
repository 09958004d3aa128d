package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/c1mhq/c1m/server"
)

// TestConformanceListener: --conformance-addr serves an Engine.IO echo
// server at /engine.io/ and the Socket.IO suite's server at /socket.io/,
// both transports, with the suites' timing.
func TestConformanceListener(t *testing.T) {
	s, _ := start(t, server.Config{ConformanceAddr: "127.0.0.1:0"})
	base := "http://" + s.ConformanceAddr().String()
	hc := &http.Client{Timeout: 10 * time.Second}
	get := func(u string) string {
		t.Helper()
		resp, err := hc.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	post := func(u, body string) {
		t.Helper()
		resp, err := hc.Post(u, "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	open := func(p string) (string, string) {
		t.Helper()
		body := get(base + p + "?EIO=4&transport=polling")
		var op struct {
			SID          string
			PingInterval int
			PingTimeout  int
			Upgrades     []string
		}
		if err := json.Unmarshal([]byte(body[1:]), &op); err != nil || op.PingInterval != 300 || op.PingTimeout != 200 || len(op.Upgrades) != 1 {
			t.Fatalf("open packet %q (%v)", body, err)
		}
		return op.SID, base + p + "?EIO=4&transport=polling&sid=" + op.SID
	}

	// Engine.IO echo, polling then WebSocket.
	_, u := open("/engine.io/")
	post(u, "4hello\x1ebAQI=")
	if got := get(u); got != "4hello\x1ebAQI=" {
		t.Fatalf("echo over polling: %q", got)
	}
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+s.ConformanceAddr().String()+"/engine.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, m, err := ws.ReadMessage(); err != nil || m[0] != '0' {
		t.Fatalf("open over websocket: %q %v", m, err)
	}
	_ = ws.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3})
	for {
		typ, m, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if string(m) == "2" {
			_ = ws.WriteMessage(websocket.TextMessage, []byte("3"))
			continue
		}
		if typ != websocket.BinaryMessage || string(m) != "\x01\x02\x03" {
			t.Fatalf("binary echo: %d %q", typ, m)
		}
		break
	}

	// Socket.IO: auth on connect, message-back.
	_, u = open("/socket.io/")
	post(u, `40{"token":"123"}`)
	var got []string
	for len(got) < 2 {
		for _, p := range strings.Split(get(u), "\x1e") {
			if p != "2" {
				got = append(got, p)
			} else {
				post(u, "3")
			}
		}
	}
	if !strings.HasPrefix(got[0], `40{"sid":"`) || got[1] != `42["auth",{"token":"123"}]` {
		t.Fatalf("connect: %q", got)
	}
	post(u, `42["message",1,"2"]`)
	if m := get(u); m != `42["message-back",1,"2"]` {
		t.Fatalf("message-back: %q", m)
	}

	// A session that sends no CONNECT is closed after 1s.
	_, u = open("/socket.io/")
	deadline := time.Now().Add(5 * time.Second)
	for {
		m := get(u)
		if m == "1" || strings.Contains(m, "Session ID unknown") {
			break
		}
		if m == "2" {
			post(u, "3")
		}
		if time.Now().After(deadline) {
			t.Fatalf("not closed without CONNECT: %q", m)
		}
	}
}
