package server_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/c1mhq/c1m/server"
	"github.com/c1mhq/c1m/wsframe"
)

// deflateDial opens path with or without permessage-deflate (gorilla offers
// it with no context takeover either way) and checks what was agreed.
func deflateDial(t *testing.T, addr, path string, compress bool, protos ...string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, EnableCompression: compress, Subprotocols: protos}
	c, resp, err := d.Dial("ws://"+addr+path, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	t.Cleanup(func() { c.Close() })
	ext := resp.Header.Get("Sec-WebSocket-Extensions")
	if compress != strings.HasPrefix(ext, "permessage-deflate") {
		t.Fatalf("%s: compress %v, extensions %q", path, compress, ext)
	}
	return c
}

// readUntil reads messages until one contains want.
func readUntil(t *testing.T, c *websocket.Conn, want string) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, b, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("waiting for %q: %v", want, err)
		}
		if string(b) == "2" { // an Engine.IO ping
			_ = c.WriteMessage(websocket.TextMessage, []byte("3"))
		}
		if strings.Contains(string(b), want) {
			return string(b)
		}
	}
}

// quoteData is a JSON quote of about 600 bytes.
func quoteData(i int) string {
	var b strings.Builder
	b.WriteString(`{"sym":"AAPL","levels":[`)
	for l := range 10 {
		if l > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"bid":%d.%02d,"bsz":%d,"ask":%d.%02d,"asz":%d}`, 190+l, i%100, 100*(l+1), 191+l, (i+3)%100, 200*(l+1))
	}
	fmt.Fprintf(&b, `],"n":%d}`, i)
	return b.String()
}

// TestDeflateEveryWebSocketProtocol: with deflate on (the default), one
// publish reaches native, STOMP, Socket.IO and SockJS WebSocket clients
// that negotiated compression and a native one that did not; it is
// compressed once per wire format, however many deflate connections share
// a format, and /stats and /metrics count it. The clients' own messages
// are compressed by gorilla and inflated by the server.
func TestDeflateEveryWebSocketProtocol(t *testing.T) {
	s, addr := start(t, server.Config{})
	var natives []*websocket.Conn
	for i, compress := range []bool{true, true, true, false} {
		c := deflateDial(t, addr, "/ws", compress)
		_ = c.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`{"op":"sub","id":%d,"topics":["dq.a"]}`, i+1)))
		readUntil(t, c, `"op":"ok"`)
		natives = append(natives, c)
	}
	st := deflateDial(t, addr, "/stomp", true, "v12.stomp")
	_ = st.WriteMessage(websocket.TextMessage, []byte("CONNECT\naccept-version:1.2\nhost:x\n\n\x00"))
	readUntil(t, st, "CONNECTED")
	_ = st.WriteMessage(websocket.TextMessage, []byte("SUBSCRIBE\ndestination:/topic/dq.a\nid:0\nreceipt:r1\n\n\x00"))
	readUntil(t, st, "receipt-id:r1")
	sio := deflateDial(t, addr, "/socket.io/?EIO=4&transport=websocket", true)
	readUntil(t, sio, `0{"sid":"`)
	_ = sio.WriteMessage(websocket.TextMessage, []byte("40"))
	readUntil(t, sio, `40{"sid":"`)
	_ = sio.WriteMessage(websocket.TextMessage, []byte(`421["subscribe",{"topics":["dq.a"]}]`))
	readUntil(t, sio, "431[")
	sj := deflateDial(t, addr, "/sockjs/0/d1/websocket", true)
	readUntil(t, sj, "o")
	_ = sj.WriteMessage(websocket.TextMessage, []byte(`["{\"op\":\"sub\",\"id\":9,\"topics\":[\"dq.a\"]}"]`))
	readUntil(t, sj, `\"op\":\"ok\"`)

	const rounds = 3
	before, pbefore := wsframe.ReadDeflateStats(), s.Poller().Stats()
	for i := range rounds {
		data := quoteData(i)
		publish(t, addr, "dq.a", data)
		for _, c := range natives {
			if got := readUntil(t, c, `"op":"msg"`); !strings.HasSuffix(got, `"data":`+data+`}`) {
				t.Fatalf("native delivery %q", got)
			}
		}
		readUntil(t, st, data)
		readUntil(t, sio, data)
		readUntil(t, sj, strings.ReplaceAll(data, `"`, `\"`))
	}
	after, pafter := wsframe.ReadDeflateStats(), s.Poller().Stats()
	// Four wire formats (native, STOMP, Socket.IO, SockJS-framed native):
	// four compressions per publish for three native deflate connections
	// and one of each other.
	if n := after.Compressed - before.Compressed; n != 4*rounds {
		t.Fatalf("compressed %d times in %d publishes, want %d (once per format)", n, rounds, 4*rounds)
	}
	if n := pafter.DeflateSent - pbefore.DeflateSent; n != 6*rounds {
		t.Fatalf("compressed frames sent %d, want %d", n, 6*rounds)
	}
	if pafter.DeflateSaved-pbefore.DeflateSaved < uint64(6*rounds*200) {
		t.Fatalf("saved only %d bytes", pafter.DeflateSaved-pbefore.DeflateSaved)
	}
	if after.Inflated == 0 {
		t.Fatal("no compressed client message was inflated")
	}

	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{"c1m_deflate_compressed_total ", "c1m_deflate_saved_bytes_total ", "c1m_deflate_connections_total 6"} {
		if !bytes.Contains(body, []byte(m)) {
			t.Errorf("/metrics lacks %q", m)
		}
	}
	resp, err = http.Get("http://" + addr + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{`"deflate":{"compressed":`, `"deflate_saved_bytes":`} {
		if !bytes.Contains(body, []byte(m)) {
			t.Errorf("/stats lacks %q", m)
		}
	}
}

// TestDeflateEchoAndOff: /echo answers compressed, small messages go
// uncompressed, and with Deflate.Off no offer is accepted.
func TestDeflateEchoAndOff(t *testing.T) {
	_, addr := start(t, server.Config{Deflate: server.DeflateConfig{Threshold: 1000}})
	c := deflateDial(t, addr, "/echo", true)
	before := wsframe.ReadDeflateStats()
	for _, n := range []int{10, 999, 1000, 70000} {
		msg := strings.Repeat(quoteData(n), n/500+1)[:n]
		_ = c.WriteMessage(websocket.TextMessage, []byte(msg))
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, b, err := c.ReadMessage(); err != nil || string(b) != msg {
			t.Fatalf("%d bytes: %v", n, err)
		}
	}
	if n := wsframe.ReadDeflateStats().Compressed - before.Compressed; n != 2 {
		t.Fatalf("compressed %d echoes, want 2 (the ones of 1000 bytes or more)", n)
	}

	_, offAddr := start(t, server.Config{Deflate: server.DeflateConfig{Off: true}})
	off := deflateDial(t, offAddr, "/echo", false)
	d := websocket.Dialer{EnableCompression: true}
	c2, resp, err := d.Dial("ws://"+offAddr+"/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		t.Fatalf("deflate off: extensions %q", ext)
	}
	_ = off.WriteMessage(websocket.TextMessage, []byte("x"))
	if _, b, err := off.ReadMessage(); err != nil || string(b) != "x" {
		t.Fatal(err)
	}
}
