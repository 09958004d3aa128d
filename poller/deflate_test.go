package poller_test

import (
	"bufio"
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gorilla/websocket"

	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/wsframe"
)

// rawUpgradeExt upgrades with the given Sec-WebSocket-Extensions offer and
// returns the 101 response too.
func rawUpgradeExt(t testing.TB, addr, path, offer string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	req := "GET " + path + " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	if offer != "" {
		req += "Sec-WebSocket-Extensions: " + offer + "\r\n"
	}
	if _, err := nc.Write([]byte(req + "\r\n")); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	return nc, br, resp
}

// readRawFrame reads one server frame with its RSV bits.
func readRawFrame(t testing.TB, nc net.Conn, br *bufio.Reader) (ws.Header, []byte) {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	h, err := ws.ReadHeader(br)
	if err != nil {
		t.Fatalf("read header: %v", err)
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(br, p); err != nil {
		t.Fatal(err)
	}
	return h, p
}

func deflateBytes(t testing.TB, msg []byte, level int) []byte {
	t.Helper()
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, level)
	w.Write(msg)
	w.Flush()
	return bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
}

func inflateBytes(t testing.TB, p []byte) []byte {
	t.Helper()
	out, err := io.ReadAll(flate.NewReader(io.MultiReader(bytes.NewReader(p), strings.NewReader("\x00\x00\xff\xff\x01\x00\x00\xff\xff"))))
	if err != nil {
		t.Fatalf("inflate: %v", err)
	}
	return out
}

// writeRSV1Frame writes a masked client frame with RSV1 set.
func writeRSV1Frame(t testing.TB, nc net.Conn, op ws.OpCode, payload []byte) {
	t.Helper()
	var b bytes.Buffer
	appendClientFrame(&b, true, op, payload)
	raw := b.Bytes()
	raw[0] |= 0x40
	if _, err := nc.Write(raw); err != nil {
		t.Fatal(err)
	}
}

func quoteJSON(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `{"sym":"S%03d","bid":%d.25,"ask":%d.50,"vol":%d},`, i%100, 100+i%7, 100+i%9, 1000*i)
	}
	return b.Bytes()[:n]
}

// TestDeflateBroadcastCompressedOnce: one frame sent to deflate and plain
// connections is compressed once, reaches every gorilla client intact,
// and only the deflate connections get RSV1 frames.
func TestDeflateBroadcastCompressedOnce(t *testing.T) {
	var mu sync.Mutex
	var conns []*poller.Conn
	h := &echoHandler{}
	h.onMsg = func(c *poller.Conn, op ws.OpCode, data []byte) bool {
		if string(data) != "hello" {
			return false
		}
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		_ = c.Send(wsframe.NewPrepared(ws.OpText, []byte("ok")))
		return true
	}
	srv, addr := startServer(t, poller.Config{Handler: h, Upgrader: wsframe.Upgrader{Deflate: true}, DeflateThreshold: 64})
	const nDeflate, nPlain = 5, 3
	var clients []*websocket.Conn
	for i := range nDeflate + nPlain {
		d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, EnableCompression: i < nDeflate}
		c, resp, err := d.Dial("ws://"+addr+"/echo", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		ext := resp.Header.Get("Sec-WebSocket-Extensions")
		if (i < nDeflate) != strings.HasPrefix(ext, "permessage-deflate") {
			t.Fatalf("client %d: extensions %q", i, ext)
		}
		clients = append(clients, c)
		c.WriteMessage(websocket.TextMessage, []byte("hello"))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, m, err := c.ReadMessage(); err != nil || string(m) != "ok" {
			t.Fatalf("hello: %q %v", m, err)
		}
	}
	// A raw deflate client too, to see RSV1 on the wire.
	rc, rbr, _ := rawUpgradeExt(t, addr, "/echo", "permessage-deflate; client_max_window_bits")
	writeFrame(t, rc, true, ws.OpText, []byte("hello"))
	if hd, p := readRawFrame(t, rc, rbr); hd.Rsv != 0 || string(p) != "ok" {
		t.Fatalf("small reply: rsv %d %q (want uncompressed under the threshold)", hd.Rsv, p)
	}
	waitFor(t, 5*time.Second, "handlers saw every hello", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(conns) == nDeflate+nPlain+1
	})

	before, stBefore := wsframe.ReadDeflateStats(), srv.Stats()
	msg := quoteJSON(3000)
	for round := range 3 {
		p := wsframe.NewPrepared(ws.OpText, msg)
		p.Retain(int32(len(conns) - 1))
		for _, c := range conns {
			_ = c.Send(p)
		}
		for i, c := range clients {
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, m, err := c.ReadMessage(); err != nil || !bytes.Equal(m, msg) {
				t.Fatalf("round %d client %d: %d bytes, %v", round, i, len(m), err)
			}
		}
		hd, payload := readRawFrame(t, rc, rbr)
		if hd.Rsv != 4 || !hd.Fin || hd.OpCode != ws.OpText || !bytes.Equal(inflateBytes(t, payload), msg) {
			t.Fatalf("raw client: %+v", hd)
		}
		if len(payload) >= len(msg)/2 {
			t.Fatalf("compressed to %d of %d bytes", len(payload), len(msg))
		}
	}
	after, stAfter := wsframe.ReadDeflateStats(), srv.Stats()
	if n := after.Compressed - before.Compressed; n != 3 {
		t.Fatalf("compressed %d times for 3 broadcasts to %d deflate connections, want 3", n, nDeflate+1)
	}
	if n := stAfter.DeflateSent - stBefore.DeflateSent; n != 3*(nDeflate+1) {
		t.Fatalf("DeflateSent %d, want %d", n, 3*(nDeflate+1))
	}
	if stAfter.DeflateConns != nDeflate+1 || stAfter.DeflateSaved <= stBefore.DeflateSaved {
		t.Fatalf("stats %+v", stAfter)
	}
}

// TestDeflateClientMessages: compressed client messages are inflated and
// echoed compressed; an invalid stream gets 1007, a bomb 1009, RSV1 on a
// connection that did not negotiate stays 1002.
func TestDeflateClientMessages(t *testing.T) {
	h := &echoHandler{}
	_, addr := startServer(t, poller.Config{Handler: h, Upgrader: wsframe.Upgrader{Deflate: true},
		Parser: wsframe.ParserConfig{MaxMessageSize: 1 << 20}})

	nc, br, resp := rawUpgradeExt(t, addr, "/echo", "permessage-deflate; client_max_window_bits")
	if got := resp.Header.Get("Sec-WebSocket-Extensions"); got != "permessage-deflate; server_no_context_takeover; client_no_context_takeover" {
		t.Fatalf("extensions %q", got)
	}
	for _, n := range []int{1, 100, 5000, 200000} {
		msg := quoteJSON(n)
		writeRSV1Frame(t, nc, ws.OpText, deflateBytes(t, msg, flate.DefaultCompression))
		hd, p := readRawFrame(t, nc, br)
		if hd.Rsv == 4 {
			p = inflateBytes(t, p)
		}
		if !bytes.Equal(p, msg) || hd.OpCode != ws.OpText {
			t.Fatalf("%d bytes: echo %d bytes op %v", n, len(p), hd.OpCode)
		}
	}

	// Huffman-only for a client that limits the server's window.
	nc2, br2, resp2 := rawUpgradeExt(t, addr, "/echo", "permessage-deflate; server_max_window_bits=9")
	if got := resp2.Header.Get("Sec-WebSocket-Extensions"); !strings.HasSuffix(got, "server_max_window_bits=9") {
		t.Fatalf("extensions %q", got)
	}
	msg := quoteJSON(4000)
	writeFrame(t, nc2, true, ws.OpBinary, msg)
	if hd, p := readRawFrame(t, nc2, br2); hd.Rsv != 4 || !bytes.Equal(inflateBytes(t, p), msg) {
		t.Fatalf("huffman echo: %+v", hd)
	}

	closeCode := func(nc net.Conn, br *bufio.Reader) wsframe.StatusCode {
		t.Helper()
		for {
			hd, p := readRawFrame(t, nc, br)
			if hd.OpCode == ws.OpClose && len(p) >= 2 {
				expectEOF(t, nc, br)
				return wsframe.StatusCode(int(p[0])<<8 | int(p[1]))
			}
		}
	}
	cases := []struct {
		name  string
		offer string
		send  func(nc net.Conn)
		code  wsframe.StatusCode
	}{
		{"invalid deflate stream", "permessage-deflate", func(nc net.Conn) {
			writeRSV1Frame(t, nc, ws.OpBinary, []byte{0xff, 0xfe, 0xfd, 0xfc, 0xfb})
		}, wsframe.StatusInvalidPayload},
		{"compression bomb", "permessage-deflate", func(nc net.Conn) {
			writeRSV1Frame(t, nc, ws.OpBinary, deflateBytes(t, make([]byte, 4<<20), flate.BestCompression))
		}, wsframe.StatusMessageTooBig},
		{"RSV1 without deflate", "", func(nc net.Conn) {
			writeRSV1Frame(t, nc, ws.OpText, deflateBytes(t, []byte("hi"), flate.BestSpeed))
		}, wsframe.StatusProtocolError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nc, br, _ := rawUpgradeExt(t, addr, "/echo", tc.offer)
			tc.send(nc)
			if got := closeCode(nc, br); got != tc.code {
				t.Fatalf("close %d, want %d", got, tc.code)
			}
		})
	}
	// The first connection is unaffected.
	writeFrame(t, nc, true, ws.OpText, []byte("still here"))
	if _, p := readRawFrame(t, nc, br); string(p) != "still here" {
		t.Fatalf("got %q", p)
	}
}

// TestDeflateDeclinedWhenOff: without Upgrader.Deflate an offer is
// declined and a gorilla client that asked for compression works.
func TestDeflateDeclinedWhenOff(t *testing.T) {
	h := &echoHandler{}
	_, addr := startServer(t, poller.Config{Handler: h})
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, EnableCompression: true}
	c, resp, err := d.Dial("ws://"+addr+"/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		t.Fatalf("extensions %q", ext)
	}
	msg := quoteJSON(5000)
	c.WriteMessage(websocket.TextMessage, msg)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, m, err := c.ReadMessage(); err != nil || !bytes.Equal(m, msg) {
		t.Fatal(err)
	}
}
