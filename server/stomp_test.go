package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/c1mhq/c1m/server"
)

// stompDial opens /stomp offering the STOMP subprotocols and returns the
// connection and the selected one.
func stompDial(t *testing.T, addr, path string) (*websocket.Conn, string) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, Subprotocols: []string{"v10.stomp", "v12.stomp"}}
	c, resp, err := d.Dial("ws://"+addr+path, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	t.Cleanup(func() { c.Close() })
	return c, resp.Header.Get("Sec-WebSocket-Protocol")
}

// stompRoundTrip sends frames as one message and returns the next message.
func stompRoundTrip(t *testing.T, c *websocket.Conn, frames string) string {
	t.Helper()
	if err := c.WriteMessage(websocket.TextMessage, []byte(frames)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, b, err := c.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestStompWiring: /stomp negotiates v12.stomp (and /ws selects no STOMP
// subprotocol), SEND needs the publish token as passcode, and /stats counts
// the sessions.
func TestStompWiring(t *testing.T) {
	s, addr := start(t, server.Config{ClientPublish: true, PublishToken: "sekrit"})
	if _, proto := stompDial(t, addr, "/ws"); proto != "" {
		t.Fatalf("/ws selected %q", proto)
	}
	anon, proto := stompDial(t, addr, "/stomp")
	if proto != "v12.stomp" {
		t.Fatalf("/stomp selected %q", proto)
	}
	if f := stompRoundTrip(t, anon, "CONNECT\naccept-version:1.2\nhost:x\n\n\x00"); !strings.HasPrefix(f, "CONNECTED\nversion:1.2\n") {
		t.Fatalf("CONNECTED: %q", f)
	}
	if f := stompRoundTrip(t, anon, "SEND\ndestination:/topic/w.a\n\n1\x00"); !strings.HasPrefix(f, "ERROR\nmessage:publish refused\n") {
		t.Fatalf("SEND without the token: %q", f)
	}
	authed, _ := stompDial(t, addr, "/stomp")
	stompRoundTrip(t, authed, "CONNECT\naccept-version:1.2\nhost:x\nlogin:feed\npasscode:sekrit\n\n\x00")
	if f := stompRoundTrip(t, authed, "SEND\ndestination:/topic/w.a\nreceipt:1\n\n1\x00"); f != "RECEIPT\nreceipt-id:1\n\n\x00" {
		t.Fatalf("SEND with the token: %q", f)
	}
	if seq := s.Hub().Stats().Published; seq != 1 {
		t.Fatalf("published %d", seq)
	}
	resp, err := http.Get("http://" + addr + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Stomp struct {
			Sessions int64  `json:"sessions"`
			Errors   uint64 `json:"errors"`
		} `json:"stomp"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if st.Stomp.Sessions < 1 || st.Stomp.Errors != 1 {
		t.Fatalf("/stats stomp %+v", st.Stomp)
	}
}
