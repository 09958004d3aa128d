package wsframe

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"
	"github.com/gorilla/websocket"
)

// echoServer drives the codec over real TCP connections the way the poller
// does (accumulate the head, Upgrade, then Feed whatever arrives), with a
// goroutine per connection because this test has no reactor. It echoes
// messages with Prepared frames, answers pings and echoes or sends closes.
type echoServer struct {
	ln   net.Listener
	u    *Upgrader
	wg   sync.WaitGroup
	mu   sync.Mutex
	errs []error // how each connection ended
}

func startEchoServer(t *testing.T, u *Upgrader) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &echoServer{ln: ln, u: u}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				err := s.serve(c)
				s.mu.Lock()
				s.errs = append(s.errs, err)
				s.mu.Unlock()
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *echoServer) url(path string) string { return "ws://" + s.ln.Addr().String() + path }

type echoHandler struct {
	w   *bufio.Writer
	err error
}

func (h *echoHandler) OnMessage(op ws.OpCode, p []byte) {
	f := NewPrepared(op, p)
	_, err := h.w.Write(f.Bytes())
	f.Release()
	if err != nil && h.err == nil {
		h.err = err
	}
}
func (h *echoHandler) OnPing(p []byte) {
	var b [2 + 125]byte
	if _, err := h.w.Write(AppendPong(b[:0], p)); err != nil && h.err == nil {
		h.err = err
	}
}
func (h *echoHandler) OnPong([]byte) {}

func (s *echoServer) serve(c net.Conn) error {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	bw := bufio.NewWriter(c)
	buf := make([]byte, 0, 4096)
	var n int
	for {
		if len(buf) == cap(buf) {
			return ErrHeadTooLarge
		}
		m, err := c.Read(buf[len(buf):cap(buf)])
		if err != nil {
			return err
		}
		buf = buf[:len(buf)+m]
		if n, err = RequestHeadLen(buf, 4096); err != nil {
			return err
		} else if n > 0 {
			break
		}
	}
	if _, err := s.u.Upgrade(buf[:n], bw); err != nil {
		bw.Flush()
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	p := NewParser(ParserConfig{MaxMessageSize: 1 << 20})
	defer p.Release()
	h := &echoHandler{w: bw}
	data := buf[n:]
	rbuf := make([]byte, 1500) // small reads: frames arrive split
	for {
		err := p.Feed(data, h)
		if ferr := bw.Flush(); ferr != nil {
			return ferr
		}
		if h.err != nil {
			return h.err
		}
		var ce *CloseError
		if errors.As(err, &ce) {
			code, reason := ce.Code, ce.Reason
			if ce.Remote && code == StatusNoStatusReceived {
				code = 0
			}
			f := ClosePrepared(code, reason)
			c.Write(f.Bytes())
			f.Release()
			// Lingering close: drain what the client still sends so that
			// unread data does not turn our FIN into a reset that would
			// destroy the close frame before the client reads it.
			if tc, ok := c.(*net.TCPConn); ok {
				tc.CloseWrite()
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				io.Copy(io.Discard, c)
			}
			return err
		}
		m, rerr := c.Read(rbuf)
		if rerr != nil {
			return rerr
		}
		data = rbuf[:m]
	}
}

func dial(t *testing.T, url string, d *websocket.Dialer, hdr http.Header) *websocket.Conn {
	t.Helper()
	c, resp, err := d.Dial(url, hdr)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

func TestConnEchoWithGorilla(t *testing.T) {
	s := startEchoServer(t, &Upgrader{
		Route:     func(p string) bool { return p == "/ws" },
		Protocols: []string{"v2", "v1"},
	})
	d := &websocket.Dialer{WriteBufferSize: 512, Subprotocols: []string{"v1", "v2"}, HandshakeTimeout: 5 * time.Second}
	c := dial(t, s.url("/ws?token=1"), d, nil)
	if c.Subprotocol() != "v2" {
		t.Fatalf("subprotocol %q, want the server's preference v2", c.Subprotocol())
	}
	var pongs []string
	c.SetPongHandler(func(p string) error { pongs = append(pongs, p); return nil })

	msgs := []struct {
		typ  int
		data []byte
	}{
		{websocket.TextMessage, []byte("hello")},
		{websocket.BinaryMessage, allBytes(3000)},                   // fragmented by the 512-byte write buffer
		{websocket.TextMessage, []byte(strings.Repeat("€𝄞", 5000))}, // code points split across fragments and reads
		{websocket.BinaryMessage, nil},
		{websocket.TextMessage, []byte(strings.Repeat("x", 200000))},
	}
	for i, m := range msgs {
		if err := c.WriteControl(websocket.PingMessage, []byte("p"+string(rune('0'+i))), time.Now().Add(5*time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := c.WriteMessage(m.typ, m.data); err != nil {
			t.Fatal(err)
		}
		typ, got, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if typ != m.typ || !bytes.Equal(got, m.data) {
			t.Fatalf("message %d: echo type %d, %d bytes; sent type %d, %d bytes", i, typ, len(got), m.typ, len(m.data))
		}
		if len(pongs) != i+1 || pongs[i] != "p"+string(rune('0'+i)) {
			t.Fatalf("pongs %q after message %d", pongs, i)
		}
	}

	// The client closes; the server echoes its code.
	if err := c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4001, "bye"), time.Now().Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	_, _, err := c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 4001 || ce.Text != "bye" {
		t.Fatalf("after close: %v", err)
	}
}

func TestConnViolationsWithGorilla(t *testing.T) {
	s := startEchoServer(t, &Upgrader{})
	cases := []struct {
		name string
		send func(c *websocket.Conn) error
		code int
	}{
		{"invalid UTF-8", func(c *websocket.Conn) error {
			return c.WriteMessage(websocket.TextMessage, []byte("bad \xff text"))
		}, 1007},
		{"too big", func(c *websocket.Conn) error {
			return c.WriteMessage(websocket.BinaryMessage, make([]byte, 1<<20+1))
		}, 1009},
		{"close without code", func(c *websocket.Conn) error {
			return c.WriteControl(websocket.CloseMessage, nil, time.Now().Add(5*time.Second))
		}, websocket.CloseNoStatusReceived},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, s.url("/"), &websocket.Dialer{HandshakeTimeout: 5 * time.Second}, nil)
			if err := tc.send(c); err != nil && tc.code != 1009 { // the server may close while we write
				t.Fatal(err)
			}
			_, _, err := c.ReadMessage()
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != tc.code {
				t.Fatalf("got %v, want close %d", err, tc.code)
			}
			if tc.code != websocket.CloseNoStatusReceived && !utf8.ValidString(ce.Text) {
				t.Fatalf("close reason %q", ce.Text)
			}
		})
	}
}

func TestConnRefusalsWithGorilla(t *testing.T) {
	s := startEchoServer(t, &Upgrader{
		Route:   func(p string) bool { return p == "/ws" },
		Origins: []string{"https://good.example"},
		Admit: func() error {
			return nil
		},
	})
	d := &websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	for _, tc := range []struct {
		path, origin string
		status       int
	}{
		{"/nope", "", 404},
		{"/ws", "https://evil.example", 403},
		{"/ws", "https://good.example", 101},
	} {
		hdr := http.Header{}
		if tc.origin != "" {
			hdr.Set("Origin", tc.origin)
		}
		c, resp, err := d.Dial(s.url(tc.path), hdr)
		if resp == nil || resp.StatusCode != tc.status {
			t.Fatalf("%s %s: resp %v err %v, want %d", tc.path, tc.origin, resp, err, tc.status)
		}
		if c != nil {
			c.Close()
		}
	}
}
