package sockjs_test

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/c1mhq/c1m/internal/testutil"
	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/proto/sockjs"
	"github.com/c1mhq/c1m/wsframe"
)

// recorder is an echoing Protocol that records what it was called with.
type recorder struct {
	sockjs.Echo
	mu     sync.Mutex
	opened int
	closed int
	msgs   []string
}

func (r *recorder) Open(c poller.Peer) {
	r.mu.Lock()
	r.opened++
	r.mu.Unlock()
}

func (r *recorder) Message(c poller.Peer, data []byte) {
	r.mu.Lock()
	r.msgs = append(r.msgs, string(data))
	r.mu.Unlock()
	r.Echo.Message(c, data)
}

func (r *recorder) Closed(c poller.Peer) {
	r.mu.Lock()
	r.closed++
	r.mu.Unlock()
}

func (r *recorder) counts() (opened, closed int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.opened, r.closed
}

// rig is a SockJS server under /s on a reactor of its own.
type rig struct {
	srv  *sockjs.Server
	rec  *recorder
	addr string
}

const prefix = "/s"

func newRig(t testing.TB, cfg sockjs.Config) *rig {
	t.Helper()
	r := &rig{rec: &recorder{}}
	cfg.Prefix = prefix
	if cfg.Protocol == nil {
		cfg.Protocol = r.rec
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.Logger = log
	r.srv = sockjs.New(cfg)
	t.Cleanup(r.srv.Close)
	r.addr = testutil.ServePoller(t, poller.Config{
		Logger:           log,
		HandshakeTimeout: time.Second,
		MaxBodySize:      64 << 10,
		Routes:           r.srv.Route,
		Upgrader:         wsframe.Upgrader{Route: func(p string) bool { return r.srv.Route(p) != nil }},
		HTTPRoutes: func(method, p string) poller.HTTPHandler {
			if r.srv.Owns(p) {
				return r.srv.HTTP()
			}
			return nil
		},
	})
	return r
}

// client is a raw HTTP/1.1 connection.
type client struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
	tp *textproto.Reader
}

func (r *rig) dial(t testing.TB) *client {
	t.Helper()
	c, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	return &client{t: t, c: c, br: br, tp: textproto.NewReader(br)}
}

// send writes a request; hdr are "Key: value" lines.
func (c *client) send(method, path, body string, hdr ...string) {
	c.t.Helper()
	var b strings.Builder
	b.WriteString(method + " " + path + " HTTP/1.1\r\nHost: x\r\n")
	for _, h := range hdr {
		b.WriteString(h + "\r\n")
	}
	if body != "" || method == "POST" {
		b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
	}
	b.WriteString("\r\n" + body)
	if _, err := c.c.Write([]byte(b.String())); err != nil {
		c.t.Fatal(err)
	}
}

// head reads a response head.
func (c *client) head() (int, http.Header) {
	c.t.Helper()
	line, err := c.tp.ReadLine()
	if err != nil {
		c.t.Fatalf("status line: %v", err)
	}
	f := strings.SplitN(line, " ", 3)
	st, _ := strconv.Atoi(f[1])
	h, err := c.tp.ReadMIMEHeader()
	if err != nil {
		c.t.Fatalf("header: %v", err)
	}
	return st, http.Header(h)
}

// body reads a Content-Length body.
func (c *client) body(h http.Header) string {
	c.t.Helper()
	n, _ := strconv.Atoi(h.Get("Content-Length"))
	b := make([]byte, n)
	if _, err := io.ReadFull(c.br, b); err != nil {
		c.t.Fatalf("body: %v", err)
	}
	return string(b)
}

// chunk reads one chunk of a chunked body; ok is false at the last chunk.
func (c *client) chunk() (string, bool) {
	c.t.Helper()
	line, err := c.tp.ReadLine()
	if err != nil {
		c.t.Fatalf("chunk size: %v", err)
	}
	n, err := strconv.ParseInt(line, 16, 32)
	if err != nil {
		c.t.Fatalf("chunk size %q", line)
	}
	b := make([]byte, n+2)
	if _, err := io.ReadFull(c.br, b); err != nil {
		c.t.Fatalf("chunk: %v", err)
	}
	return string(b[:n]), n > 0
}

// expectChunk reads a chunk and checks it.
func (c *client) expectChunk(want string) {
	c.t.Helper()
	got, _ := c.chunk()
	if got != want {
		c.t.Fatalf("chunk %q, want %q", trunc(got), trunc(want))
	}
}

// expectEnd reads the last chunk.
func (c *client) expectEnd() {
	c.t.Helper()
	if got, more := c.chunk(); more {
		c.t.Fatalf("chunk %q, want the last chunk", trunc(got))
	}
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "..." + strconv.Itoa(len(s))
	}
	return s
}

// do sends a request on a new connection and reads a Content-Length
// response.
func (r *rig) do(t testing.TB, method, path, body string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	c := r.dial(t)
	c.send(method, path, body, hdr...)
	st, h := c.head()
	return st, h, c.body(h)
}

// sess returns the session URL prefix for id.
func sess(id string) string { return prefix + "/000/" + id }

// checkHeader fails unless h has want for each key.
func checkHeader(t testing.TB, what string, h http.Header, kv ...string) {
	t.Helper()
	for i := 0; i+1 < len(kv); i += 2 {
		if got := h.Get(kv[i]); got != kv[i+1] {
			t.Errorf("%s: %s = %q, want %q", what, kv[i], got, kv[i+1])
		}
	}
}
