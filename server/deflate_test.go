package server_test

import (
	"bufio"
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
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

// autobahnSizes are Autobahn|Testsuite's MSG_SIZES of cases 12.x and 13.x:
// payload length and auto-fragment size (0: one frame).
var autobahnSizes = [][2]int{{16, 0}, {64, 0}, {256, 0}, {1024, 0}, {4096, 0}, {8192, 0}, {16384, 0}, {32768, 0}, {65536, 0}, {131072, 0},
	{8192, 256}, {16384, 256}, {32768, 256}, {65536, 256}, {131072, 256}, {131072, 1024}, {131072, 4096}, {131072, 32768}}

// autobahnOffers are the client offers of cases 13.1 to 13.7 (Autobahn's
// PerMessageDeflateOffer always adds client_max_window_bits).
var autobahnOffers = []string{
	"permessage-deflate; client_max_window_bits",
	"permessage-deflate; client_no_context_takeover; client_max_window_bits",
	"permessage-deflate; client_max_window_bits; server_max_window_bits=8",
	"permessage-deflate; client_max_window_bits; server_max_window_bits=15",
	"permessage-deflate; client_no_context_takeover; client_max_window_bits; server_max_window_bits=8",
	"permessage-deflate; client_no_context_takeover; client_max_window_bits; server_max_window_bits=15",
	"permessage-deflate; client_no_context_takeover; client_max_window_bits; server_max_window_bits=8, permessage-deflate; client_no_context_takeover; client_max_window_bits, permessage-deflate; client_max_window_bits",
}

// abConn is a raw client for the Autobahn-like cases.
type abConn struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

func abDial(t *testing.T, addr, offer string) (*abConn, string) {
	t.Helper()
	return abDialTB(t, addr, "/echo", offer)
}

// abDialTB upgrades on path with offer ("" for none).
func abDialTB(t testing.TB, addr, path, offer string) (*abConn, string) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	ext := ""
	if offer != "" {
		ext = "Sec-WebSocket-Extensions: " + offer + "\r\n"
	}
	fmt.Fprintf(nc, "GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n%s\r\n", path, ext)
	br := bufio.NewReader(nc)
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	return &abConn{t: t, nc: nc, br: br}, resp.Header.Get("Sec-WebSocket-Extensions")
}

// sendText sends one uncompressed text message.
func (c *abConn) sendText(msg string) {
	c.t.Helper()
	var out bytes.Buffer
	h := ws.Header{Fin: true, OpCode: ws.OpText, Masked: true, Mask: [4]byte{1, 2, 3, 4}, Length: int64(len(msg))}
	_ = ws.WriteHeader(&out, h)
	p := []byte(msg)
	ws.Cipher(p, h.Mask, 0)
	out.Write(p)
	if _, err := c.nc.Write(out.Bytes()); err != nil {
		c.t.Fatal(err)
	}
}

// discard reads and drops everything until the connection ends.
func (c *abConn) discard() {
	_ = c.nc.SetReadDeadline(time.Time{})
	buf := make([]byte, 64<<10)
	for {
		if _, err := c.br.Read(buf); err != nil {
			return
		}
	}
}

// sendCompressed sends msg compressed without context takeover, as
// fragments of at most frag bytes (RSV1 on the first only).
func (c *abConn) sendCompressed(op ws.OpCode, msg []byte, frag int) {
	c.t.Helper()
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.DefaultCompression)
	w.Write(msg)
	w.Flush()
	z := bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
	if frag <= 0 {
		frag = len(z)
	}
	var out bytes.Buffer
	for i := 0; i == 0 || i < len(z); i += frag {
		end := min(i+frag, len(z))
		h := ws.Header{Fin: end == len(z), OpCode: ws.OpContinuation, Masked: true, Mask: [4]byte{9, 8, 7, 6}, Length: int64(end - i)}
		if i == 0 {
			h.OpCode, h.Rsv = op, ws.Rsv(true, false, false)
		}
		_ = ws.WriteHeader(&out, h)
		p := append([]byte(nil), z[i:end]...)
		ws.Cipher(p, h.Mask, 0)
		out.Write(p)
	}
	if _, err := c.nc.Write(out.Bytes()); err != nil {
		c.t.Fatal(err)
	}
}

// read returns the next message, inflated if compressed, and whether it was.
func (c *abConn) read() (ws.OpCode, []byte, bool) {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var op ws.OpCode
	var msg []byte
	compressed := false
	for {
		h, err := ws.ReadHeader(c.br)
		if err != nil {
			c.t.Fatal(err)
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(c.br, p); err != nil {
			c.t.Fatal(err)
		}
		if h.OpCode.IsControl() {
			c.t.Fatalf("control frame %v %q", h.OpCode, p)
		}
		if h.OpCode != ws.OpContinuation {
			op, compressed = h.OpCode, h.Rsv&4 != 0
		} else if h.Rsv != 0 {
			c.t.Fatal("RSV on a continuation frame")
		}
		msg = append(msg, p...)
		if h.Fin {
			break
		}
	}
	if compressed {
		r := flate.NewReader(io.MultiReader(bytes.NewReader(msg), strings.NewReader("\x00\x00\xff\xff\x01\x00\x00\xff\xff")))
		var err error
		if msg, err = io.ReadAll(r); err != nil {
			c.t.Fatalf("server frame does not inflate: %v", err)
		}
	}
	return op, msg, compressed
}

// abData is test data like Autobahn's: JSON text and binary.
func abData(n int, binary bool) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		if binary {
			b.WriteByte(byte(i*7) ^ byte(i>>3))
		} else {
			fmt.Fprintf(&b, `{"id":%d,"name":"item %d","tags":["a","b"],"price":%d.%02d},`, i, i%97, i%1000, i%100)
		}
	}
	return b.Bytes()[:n]
}

// TestDeflateAutobahnCases follows Autobahn|Testsuite's compression cases
// against the real /echo: 12.x (the default offer, text and binary
// messages of 16 B to 128 KiB, whole and auto-fragmented) and 13.1-13.7
// (the offers above, JSON text): every echo arrives as sent, compressed
// when it is worth it, with the answer RFC 7692 asks for.
func TestDeflateAutobahnCases(t *testing.T) {
	_, addr := start(t, server.Config{Deflate: server.DeflateConfig{Threshold: -1}})
	run := func(t *testing.T, offer string, binary bool) {
		c, ext := abDial(t, addr, offer)
		if !strings.HasPrefix(ext, "permessage-deflate; server_no_context_takeover; client_no_context_takeover") {
			t.Fatalf("extensions %q", ext)
		}
		if strings.Contains(offer, "server_max_window_bits=8") != strings.HasSuffix(ext, "server_max_window_bits=8") ||
			strings.Contains(offer, "server_max_window_bits=15") != strings.HasSuffix(ext, "server_max_window_bits=15") {
			t.Fatalf("offer %q answered %q", offer, ext)
		}
		op := ws.OpText
		if binary {
			op = ws.OpBinary
		}
		for _, sz := range autobahnSizes {
			msg := abData(sz[0], binary)
			for range 3 {
				c.sendCompressed(op, msg, sz[1])
				gotOp, got, compressed := c.read()
				if gotOp != op || !bytes.Equal(got, msg) {
					t.Fatalf("%d bytes frag %d: echo op %v, %d bytes", sz[0], sz[1], gotOp, len(got))
				}
				if !binary && sz[0] >= 256 && !compressed {
					t.Fatalf("%d bytes: echo not compressed", sz[0])
				}
			}
		}
	}
	t.Run("12.x", func(t *testing.T) {
		run(t, autobahnOffers[0], false)
		run(t, autobahnOffers[0], true)
	})
	for i, offer := range autobahnOffers {
		t.Run(fmt.Sprintf("13.%d", i+1), func(t *testing.T) { run(t, offer, false) })
	}
}
