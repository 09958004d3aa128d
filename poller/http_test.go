package poller_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/wsframe"
)

// httpHandler is a reactor HTTP handler for tests:
//
//	/hello          200 "hello <query>"
//	/echo-body      200 with the request body; X-Seen echoes the X-Test header
//	/hold           held: the Conn is sent on held, answered by the test
//	/sse, /events   a stream (StartStream); the Conn is sent on streams
//
// Every ServeHTTP is counted; OnClose reasons are recorded.
type httpHandler struct {
	served atomic.Int64
	held   chan *poller.Conn
	stream chan *poller.Conn

	mu     sync.Mutex
	closes []poller.CloseReason
	paths  []string
}

func newHTTPHandler() *httpHandler {
	return &httpHandler{held: make(chan *poller.Conn, 16), stream: make(chan *poller.Conn, 8192)}
}

func (h *httpHandler) ServeHTTP(c *poller.Conn, r *poller.Request) {
	h.served.Add(1)
	h.mu.Lock()
	h.paths = append(h.paths, r.Method+" "+r.Path)
	h.mu.Unlock()
	switch r.Path {
	case "/hello":
		_ = c.Respond(200, []byte("Content-Type: text/plain\r\n"), []byte("hello "+r.RawQuery))
	case "/echo-body":
		hdr := "X-Seen: " + r.Header("x-test") + "\r\n"
		_ = c.Respond(200, []byte(hdr), r.Body)
	case "/hold":
		h.held <- c
	case "/sse", "/events":
		if _, err := c.StartStream(200, []byte("Content-Type: text/event-stream\r\nCache-Control: no-cache\r\n")); err != nil {
			return
		}
		h.stream <- c
	default:
		_ = c.Respond(404, nil, []byte("no such reactor route"))
	}
}

func (h *httpHandler) OnClose(c *poller.Conn, reason poller.CloseReason) {
	h.mu.Lock()
	h.closes = append(h.closes, reason)
	h.mu.Unlock()
}

func (h *httpHandler) closeCount(r poller.CloseReason) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, x := range h.closes {
		if x == r {
			n++
		}
	}
	return n
}

// hbHandler adds a Heartbeater to httpHandler.
type hbHandler struct{ *httpHandler }

func (h hbHandler) Heartbeat(c *poller.Conn) *wsframe.Prepared {
	p := wsframe.AcquirePrepared()
	p.B = append(p.B, ": hb\n\n"...)
	p.SealChunk()
	return p
}

// reactorRoutes claims the paths httpHandler serves; the rest is net/http's.
func reactorRoutes(h poller.HTTPHandler) func(method, path string) poller.HTTPHandler {
	return func(method, path string) poller.HTTPHandler {
		switch path {
		case "/hello", "/echo-body", "/hold", "/sse", "/events", "/missing":
			return h
		}
		return nil
	}
}

func startHTTPServer(t testing.TB, cfg poller.Config, h poller.HTTPHandler) (*poller.Server, string) {
	t.Helper()
	cfg.Handler = &echoHandler{}
	cfg.HTTPRoutes = reactorRoutes(h)
	if cfg.HTTP == nil {
		mux := http.NewServeMux()
		mux.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "page from net/http") })
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
		cfg.HTTP = mux
	}
	return startServer(t, cfg)
}

// sseChunk returns an SSE event sealed for the stream's framing.
func sseChunk(chunked bool, data string) *wsframe.Prepared {
	p := wsframe.AcquirePrepared()
	p.B = append(p.B, "data: "...)
	p.B = append(p.B, data...)
	p.B = append(p.B, "\n\n"...)
	if chunked {
		p.SealChunk()
	} else {
		p.SealRaw()
	}
	return p
}

// rawConn is a raw TCP client.
type rawConn struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (rc *rawConn) send(s string) {
	rc.t.Helper()
	if _, err := rc.nc.Write([]byte(s)); err != nil {
		rc.t.Fatal(err)
	}
}

// response reads one response; method is the request's (HEAD has no body).
func (rc *rawConn) response(method string) (*http.Response, string) {
	rc.t.Helper()
	rc.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(rc.br, &http.Request{Method: method})
	if err != nil {
		rc.t.Fatalf("reading response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		rc.t.Fatalf("reading body: %v", err)
	}
	return resp, string(body)
}

// exact reads exactly len(want) bytes and compares them.
func (rc *rawConn) exact(want string) {
	rc.t.Helper()
	rc.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	got := make([]byte, len(want))
	if _, err := io.ReadFull(rc.br, got); err != nil {
		rc.t.Fatalf("reading %q: %v (got %q)", want, err, got)
	}
	if string(got) != want {
		rc.t.Fatalf("got %q, want %q", got, want)
	}
}

// head reads a response head up to the empty line and returns it raw.
func (rc *rawConn) head() string {
	rc.t.Helper()
	rc.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	for {
		line, err := rc.br.ReadString('\n')
		if err != nil {
			rc.t.Fatalf("reading head: %v (so far %q)", err, b.String()+line)
		}
		b.WriteString(line)
		if line == "\r\n" {
			return b.String()
		}
	}
}

// expectEOF reads until the server closes and then closes the client side,
// as an HTTP client does.
func (rc *rawConn) expectEOF() {
	rc.t.Helper()
	rc.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(rc.br)
	if err != nil {
		rc.t.Fatalf("want EOF, got %v after %q", err, b)
	}
	if len(b) > 0 {
		rc.t.Fatalf("unexpected bytes before EOF: %q", b)
	}
	rc.nc.Close()
}

func get(path string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n"
}

func recv[T any](t testing.TB, ch chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero T
	return zero
}

// TestHTTPStreamChunkedBytes checks the exact bytes of a chunked stream:
// head, chunks of several sizes, the last chunk, and the next request on the
// same connection.
func TestHTTPStreamChunkedBytes(t *testing.T) {
	h := newHTTPHandler()
	s, addr := startHTTPServer(t, poller.Config{}, h)
	rc := dialRaw(t, addr)
	rc.send(get("/sse"))
	c := recv(t, h.stream, "stream")
	if got, want := rc.head(), "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n"; got != want {
		t.Fatalf("head %q, want %q", got, want)
	}
	if st := s.Stats(); st.Streams != 1 || st.HeldRequests != 0 {
		t.Fatalf("streams %d held %d, want 1 and 0", st.Streams, st.HeldRequests)
	}
	for _, data := range []string{"a", strings.Repeat("x", 300), strings.Repeat("y", 70000)} {
		if err := c.Send(sseChunk(true, data)); err != nil {
			t.Fatal(err)
		}
		ev := "data: " + data + "\n\n"
		rc.exact(strconv.FormatInt(int64(len(ev)), 16) + "\r\n" + ev + "\r\n")
	}
	// A request pipelined during the stream waits for its end.
	rc.send(get("/hello?again"))
	// An empty chunk must not end the stream: it is not written at all.
	empty := wsframe.AcquirePrepared()
	empty.SealChunk()
	if err := c.Send(empty); err != nil {
		t.Fatal(err)
	}
	if err := c.EndStream(); err != nil {
		t.Fatal(err)
	}
	rc.exact("0\r\n\r\n")
	if err := c.Send(sseChunk(true, "late")); !errors.Is(err, poller.ErrClosed) {
		t.Fatalf("Send after EndStream: %v, want ErrClosed", err)
	}
	if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != "hello again" {
		t.Fatalf("next request: %d %q", resp.StatusCode, body)
	}
	waitFor(t, 5*time.Second, "stream gauge back to 0", func() bool { return s.Stats().Streams == 0 })
	if n := h.closeCount(poller.ReasonPeerGone) + h.closeCount(poller.ReasonServer); n != 0 {
		t.Fatalf("OnClose called after EndStream")
	}
}

// TestHTTPKeepAliveSequential sends several requests one after the other on
// one connection, raw and through net/http's client.
func TestHTTPKeepAliveSequential(t *testing.T) {
	h := newHTTPHandler()
	s, addr := startHTTPServer(t, poller.Config{}, h)
	rc := dialRaw(t, addr)
	for i := 0; i < 5; i++ {
		q := strconv.Itoa(i)
		rc.send("GET /hello?" + q + " HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, body := rc.response("GET")
		if resp.StatusCode != 200 || body != "hello "+q || resp.Close {
			t.Fatalf("request %d: %d %q close=%v", i, resp.StatusCode, body, resp.Close)
		}
		if resp.ContentLength != int64(len(body)) {
			t.Fatalf("Content-Length %d for %d bytes", resp.ContentLength, len(body))
		}
	}
	rc.send("HEAD /hello?head HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, body := rc.response("HEAD"); resp.StatusCode != 200 || body != "" || resp.ContentLength != int64(len("hello head")) {
		t.Fatalf("HEAD: %d %q length %d", resp.StatusCode, body, resp.ContentLength)
	}
	if st := s.Stats(); st.HTTPRequests != 6 || st.Accepted > 2 {
		t.Fatalf("stats %+v: want 6 requests on one connection", st)
	}

	// net/http's client reuses its connection.
	var reused atomic.Int64
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
		if i.Reused {
			reused.Add(1)
		}
	}}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	for i := 0; i < 4; i++ {
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace),
			"POST", "http://"+addr+"/echo-body", strings.NewReader("body "+strconv.Itoa(i)))
		req.Header.Set("X-Test", "v"+strconv.Itoa(i))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "body "+strconv.Itoa(i) || resp.Header.Get("X-Seen") != "v"+strconv.Itoa(i) {
			t.Fatalf("POST %d: %q X-Seen %q", i, b, resp.Header.Get("X-Seen"))
		}
	}
	if reused.Load() != 3 {
		t.Fatalf("net/http client reused its connection %d times, want 3", reused.Load())
	}
}

// TestHTTPPipelining sends three requests in one write; the second is held
// and answered later from another goroutine: the responses come in order and
// the third is not dispatched before the second is answered.
func TestHTTPPipelining(t *testing.T) {
	h := newHTTPHandler()
	_, addr := startHTTPServer(t, poller.Config{}, h)
	rc := dialRaw(t, addr)
	rc.send(get("/hello?1") + "POST /hold HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody" + get("/hello?3"))
	if _, body := rc.response("GET"); body != "hello 1" {
		t.Fatalf("first: %q", body)
	}
	c := recv(t, h.held, "held request")
	if n := h.served.Load(); n != 2 {
		t.Fatalf("%d requests dispatched while the second is held, want 2", n)
	}
	done := make(chan error)
	go func() { done <- c.Respond(202, []byte("X-Late: yes\r\n"), []byte("answered later")) }()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if resp, body := rc.response("POST"); resp.StatusCode != 202 || body != "answered later" || resp.Header.Get("X-Late") != "yes" {
		t.Fatalf("second: %d %q", resp.StatusCode, body)
	}
	if _, body := rc.response("GET"); body != "hello 3" {
		t.Fatalf("third: %q", body)
	}
	if err := c.Respond(200, nil, nil); !errors.Is(err, poller.ErrNoRequest) {
		t.Fatalf("second Respond: %v, want ErrNoRequest", err)
	}
}

// TestHTTP10 covers HTTP/1.0 clients: a close-delimited stream without
// chunking, a response that closes, and keep-alive only when asked.
func TestHTTP10(t *testing.T) {
	h := newHTTPHandler()
	s, addr := startHTTPServer(t, poller.Config{}, h)

	t.Run("stream", func(t *testing.T) {
		rc := dialRaw(t, addr)
		// Even asked to keep the connection, a close-delimited stream ends it.
		rc.send("GET /sse HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
		c := recv(t, h.stream, "stream")
		if got, want := rc.head(), "HTTP/1.0 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n"; got != want {
			t.Fatalf("head %q, want %q", got, want)
		}
		for _, d := range []string{"one", "two"} {
			if err := c.Send(sseChunk(false, d)); err != nil {
				t.Fatal(err)
			}
			rc.exact("data: " + d + "\n\n")
		}
		if err := c.EndStream(); err != nil {
			t.Fatal(err)
		}
		rc.expectEOF()
	})
	t.Run("close", func(t *testing.T) {
		rc := dialRaw(t, addr)
		rc.send("GET /hello?10 HTTP/1.0\r\n\r\n")
		resp, body := rc.response("GET")
		if resp.StatusCode != 200 || body != "hello 10" || resp.Header.Get("Connection") != "close" || resp.Proto != "HTTP/1.0" {
			t.Fatalf("%s %d %q Connection %q", resp.Proto, resp.StatusCode, body, resp.Header.Get("Connection"))
		}
		rc.expectEOF()
	})
	t.Run("keep-alive", func(t *testing.T) {
		rc := dialRaw(t, addr)
		for i := 0; i < 3; i++ {
			rc.send("GET /hello?ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
			resp, body := rc.response("GET")
			if body != "hello ka" || !strings.EqualFold(resp.Header.Get("Connection"), "keep-alive") {
				t.Fatalf("%d: %q Connection %q", i, body, resp.Header.Get("Connection"))
			}
		}
	})
	waitFor(t, 5*time.Second, "closes counted", func() bool {
		cl := s.Stats().Closes
		return cl["server"] >= 1 && cl["peer_close"] >= 1
	})
}

// TestHTTPConnectionClose: the response says Connection: close and the
// connection closes after it; a pipelined request behind it is not served.
func TestHTTPConnectionClose(t *testing.T) {
	h := newHTTPHandler()
	s, addr := startHTTPServer(t, poller.Config{}, h)
	rc := dialRaw(t, addr)
	rc.send("GET /hello?bye HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" + get("/hello?never"))
	resp, body := rc.response("GET")
	if body != "hello bye" || !resp.Close {
		t.Fatalf("%q close=%v", body, resp.Close)
	}
	rc.expectEOF()
	if n := h.served.Load(); n != 1 {
		t.Fatalf("%d requests served, want 1", n)
	}
	waitFor(t, 5*time.Second, "peer_close counted", func() bool { return s.Stats().Closes["peer_close"] == 1 })
}

// TestHTTPTrickledRequest: a request and its body arriving a byte per write
// cost a buffer, not a worker: another client is served meanwhile.
func TestHTTPTrickledRequest(t *testing.T) {
	h := newHTTPHandler()
	_, addr := startHTTPServer(t, poller.Config{}, h)
	req := "POST /echo-body HTTP/1.1\r\nHost: x\r\nX-Test: slow\r\nContent-Length: 11\r\n\r\ntrickle me!"
	rc := dialRaw(t, addr)
	for i := 0; i < len(req); i++ {
		rc.send(req[i : i+1])
		if i == len(req)/2 {
			other := dialRaw(t, addr)
			other.send(get("/hello?other"))
			if _, body := other.response("GET"); body != "hello other" {
				t.Fatalf("other client: %q", body)
			}
		}
		time.Sleep(200 * time.Microsecond) // pacing, so that bytes arrive in separate reads
	}
	resp, body := rc.response("POST")
	if body != "trickle me!" || resp.Header.Get("X-Seen") != "slow" {
		t.Fatalf("%q X-Seen %q", body, resp.Header.Get("X-Seen"))
	}
}

// TestHTTPBodies: Content-Length and chunked request bodies, Expect:
// 100-continue, leading empty lines.
func TestHTTPBodies(t *testing.T) {
	h := newHTTPHandler()
	_, addr := startHTTPServer(t, poller.Config{}, h)
	rc := dialRaw(t, addr)

	rc.send("POST /echo-body HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
	if _, body := rc.response("POST"); body != "hello" {
		t.Fatalf("Content-Length body: %q", body)
	}
	// Chunked with an extension and a trailer, split across writes.
	chunked := "POST /echo-body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"5;ext=1\r\nhello\r\n1\r\n \r\nb\r\nchunked bod\r\n1\r\ny\r\n0\r\nX-Trailer: t\r\n\r\n"
	for _, part := range []string{chunked[:70], chunked[70:75], chunked[75:]} {
		rc.send(part)
	}
	if _, body := rc.response("POST"); body != "hello chunked body" {
		t.Fatalf("chunked body: %q", body)
	}
	// Expect: 100-continue: the interim response comes before the body is sent.
	rc.send("\r\nPOST /echo-body HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
	rc.exact("HTTP/1.1 100 Continue\r\n\r\n")
	rc.send("data")
	if resp, body := rc.response("POST"); resp.StatusCode != 200 || body != "data" {
		t.Fatalf("after 100-continue: %d %q", resp.StatusCode, body)
	}
	// A route of the reactor's that the handler does not know.
	rc.send(get("/missing"))
	if resp, _ := rc.response("GET"); resp.StatusCode != 404 {
		t.Fatalf("missing: %d", resp.StatusCode)
	}
}

// TestHTTPRefusals: malformed requests, oversize heads and bodies get their
// status and the connection closes.
func TestHTTPRefusals(t *testing.T) {
	h := newHTTPHandler()
	s, addr := startHTTPServer(t, poller.Config{MaxHeadSize: 1024, MaxBodySize: 1000}, h)
	big := strings.Repeat("a", 2000)
	cases := []struct {
		name, req string
		status    int
		reason    string
	}{
		{"head too large", "GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\n\r\n", 431, "handshake_rejected"},
		{"body too large", "POST /echo-body HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n", 413, "message_too_big"},
		{"chunked body too large", "POST /echo-body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3e9\r\n" + big, 413, "message_too_big"},
		{"bad header", "GET /hello HTTP/1.1\r\nHost: x\r\nBad Header: v\r\n\r\n", 400, "protocol_error"},
		{"no host", "GET /hello HTTP/1.1\r\n\r\n", 400, "protocol_error"},
		{"length and chunked", "POST /echo-body HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "protocol_error"},
		{"two lengths", "POST /echo-body HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400, "protocol_error"},
		{"bad chunk", "POST /echo-body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, "protocol_error"},
		{"gzip", "POST /echo-body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, "protocol_error"},
		{"expectation", "POST /echo-body HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n", 417, "protocol_error"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Stats().Closes[tc.reason]
			rc := dialRaw(t, addr)
			rc.send(get("/hello?first")) // refusals also come after a served request
			rc.response("GET")
			rc.send(tc.req)
			resp, _ := rc.response("GET")
			if resp.StatusCode != tc.status || !resp.Close {
				t.Fatalf("status %d close=%v, want %d and close", resp.StatusCode, resp.Close, tc.status)
			}
			rc.expectEOF()
			waitFor(t, 5*time.Second, "close counted as "+tc.reason, func() bool { return s.Stats().Closes[tc.reason] == before+1 })
		})
	}
}

// TestHTTPPipelinedInputBounded: input behind a held request is buffered up
// to MaxHeadSize+MaxBodySize; past it the connection closes.
func TestHTTPPipelinedInputBounded(t *testing.T) {
	h := newHTTPHandler()
	s, addr := startHTTPServer(t, poller.Config{MaxHeadSize: 1024, MaxBodySize: 4096}, h)
	rc := dialRaw(t, addr)
	rc.send(get("/hold"))
	recv(t, h.held, "held")
	rc.send(get("/hello?1") + get("/hello?2")) // well within the bound
	if n := h.served.Load(); n != 1 {
		t.Fatalf("%d dispatched while held", n)
	}
	go rc.nc.Write(bytes.Repeat([]byte("x"), 8192))
	rc.expectEOF()
	waitFor(t, 10*time.Second, "closed as message_too_big", func() bool {
		return h.closeCount(poller.ReasonMessageTooBig) == 1 && s.Stats().HeldRequests == 0
	})
}

// TestHTTPMaxConns503: WebSocket connections, streams and held requests
// share MaxConns; past it a reactor request gets 503 with Retry-After.
func TestHTTPMaxConns503(t *testing.T) {
	h := newHTTPHandler()
	s, addr := startHTTPServer(t, poller.Config{MaxConns: 3}, h)
	dial(t, addr, "/echo")
	dialRaw(t, addr).send(get("/sse"))
	recv(t, h.stream, "stream")
	dialRaw(t, addr).send(get("/hold"))
	recv(t, h.held, "held")
	rc := dialRaw(t, addr)
	rc.send(get("/sse"))
	resp, body := rc.response("GET")
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "connection limit") {
		t.Fatalf("%d Retry-After %q %q", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	rc.expectEOF()
	if st := s.Stats(); st.Refused503 != 1 || st.Conns != 1 || st.Streams != 1 || st.HeldRequests != 1 {
		t.Fatalf("stats %+v", st)
	}
	// A WebSocket upgrade is refused too.
	if resp := rawRequest(t, addr, "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"); resp.StatusCode != 503 {
		t.Fatalf("upgrade past the limit: %d", resp.StatusCode)
	}
	// A plain request for net/http is not limited.
	if resp := rawRequest(t, addr, get("/page")); resp.StatusCode != 200 {
		t.Fatalf("net/http request: %d", resp.StatusCode)
	}
}

// TestHTTPStreamSlowConsumer: a stream whose reader stalls is bounded by
// MaxQueueBytes and closed as slow_consumer, while another stream gets every
// frame.
func TestHTTPStreamSlowConsumer(t *testing.T) {
	h := newHTTPHandler()
	s, addr := startHTTPServer(t, poller.Config{MaxQueueBytes: 256 << 10}, h)
	stalled := dialRaw(t, addr)
	stalled.send(get("/sse"))
	slow := recv(t, h.stream, "stalled stream")
	fast := dialRaw(t, addr)
	fast.send(get("/sse"))
	quick := recv(t, h.stream, "fast stream")
	fast.head()

	const frames = 2000
	payload := strings.Repeat("x", 4000)
	got := make(chan error, 1)
	// The fast reader acknowledges every frame; the sender keeps at most 16
	// frames (64 KB) ahead of it, so that only the stalled stream overflows.
	acks := make(chan struct{}, frames)
	go func() {
		for i := 0; i < frames; i++ {
			ev := "data: " + strconv.Itoa(i) + " " + payload + "\n\n"
			want := strconv.FormatInt(int64(len(ev)), 16) + "\r\n" + ev + "\r\n"
			b := make([]byte, len(want))
			fast.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
			if _, err := io.ReadFull(fast.br, b); err != nil || string(b) != want {
				got <- fmt.Errorf("frame %d: %v", i, err)
				return
			}
			acks <- struct{}{}
		}
		got <- nil
	}()
	var slowErr error
	for i := 0; i < frames; i++ {
		if i >= 16 {
			recv(t, acks, "the fast reader")
		}
		data := strconv.Itoa(i) + " " + payload
		if err := quick.Send(sseChunk(true, data)); err != nil {
			t.Fatalf("fast stream send %d: %v", i, err)
		}
		if slowErr == nil {
			slowErr = slow.Send(sseChunk(true, data))
		}
		if q := s.Stats().QueuedBytes; q > 4<<20 {
			t.Fatalf("queued bytes %d grew past the bound", q)
		}
	}
	if !errors.Is(slowErr, poller.ErrSlowConsumer) && !errors.Is(slowErr, poller.ErrClosed) {
		t.Fatalf("stalled stream: %v, want ErrSlowConsumer", slowErr)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "slow consumer closed", func() bool {
		return s.Stats().Closes["slow_consumer"] == 1 && h.closeCount(poller.ReasonSlowConsumer) == 1
	})
}

// TestHTTPIdleStreamsAddNoGoroutines: 5,000 open streams have no goroutine
// each.
func TestHTTPIdleStreamsAddNoGoroutines(t *testing.T) {
	if testing.Short() {
		t.Skip("5,000 streams")
	}
	const n = 5000
	h := newHTTPHandler()
	s, addr := startHTTPServer(t, poller.Config{}, h)
	warm := dialRaw(t, addr)
	warm.send(get("/sse"))
	recv(t, h.stream, "warm-up stream")
	runtime.GC()
	base := runtime.NumGoroutine()
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	req := []byte(get("/events"))
	for i := 0; i < n; i++ {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, nc)
		if _, err := nc.Write(req); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 20*time.Second, "all streams open", func() bool { return s.Stats().Streams == n+1 })
	waitFor(t, 10*time.Second, "workers idle", func() bool { return runtime.NumGoroutine() <= base+5 })
	t.Logf("goroutines with %d open streams: %d (base %d)", n, runtime.NumGoroutine(), base)
}

// TestHTTPHeartbeat: a silent stream gets the handler's heartbeat every
// PingInterval and is not closed by IdleTimeout.
func TestHTTPHeartbeat(t *testing.T) {
	h := newHTTPHandler()
	s, addr := startHTTPServer(t, poller.Config{PingInterval: time.Second, IdleTimeout: time.Second}, hbHandler{h})
	rc := dialRaw(t, addr)
	rc.send(get("/sse"))
	recv(t, h.stream, "stream")
	rc.head()
	for i := 0; i < 2; i++ {
		rc.exact("6\r\n: hb\n\n\r\n")
	}
	if st := s.Stats(); st.Streams != 1 || st.Closes["idle_timeout"] != 0 {
		t.Fatalf("stream closed by the idle timeout: %+v", st)
	}
}

// TestHTTPBridge: a browser's kept-alive connection moves between net/http
// and the reactor at request boundaries, both ways.
func TestHTTPBridge(t *testing.T) {
	h := newHTTPHandler()
	s, addr := startHTTPServer(t, poller.Config{}, h)
	rc := dialRaw(t, addr)

	rc.send(get("/page")) // net/http
	if _, body := rc.response("GET"); body != "page from net/http" {
		t.Fatalf("page: %q", body)
	}
	// On the connection net/http serves now: hijacked back to the reactor,
	// with a body and a pipelined request behind it.
	rc.send("POST /echo-body HTTP/1.1\r\nHost: x\r\nX-Test: bridged\r\nContent-Length: 6\r\n\r\nbridge" + get("/hello?after"))
	resp, body := rc.response("POST")
	if body != "bridge" || resp.Header.Get("X-Seen") != "bridged" {
		t.Fatalf("bridged POST: %q X-Seen %q", body, resp.Header.Get("X-Seen"))
	}
	if _, body := rc.response("GET"); body != "hello after" {
		t.Fatalf("after the bridge: %q", body)
	}
	if n := h.served.Load(); n != 2 {
		t.Fatalf("reactor served %d requests, want 2", n)
	}
	// Reactor -> net/http at a request boundary, then a stream on the reactor.
	rc.send(get("/page"))
	if _, body := rc.response("GET"); body != "page from net/http" {
		t.Fatalf("page again: %q", body)
	}
	rc.send(get("/sse"))
	c := recv(t, h.stream, "bridged stream")
	rc.head()
	if err := c.Send(sseChunk(true, "via bridge")); err != nil {
		t.Fatal(err)
	}
	rc.exact("12\r\ndata: via bridge\n\n\r\n")
	if st := s.Stats(); st.Accepted > 2 || st.Streams != 1 {
		t.Fatalf("stats %+v: want one connection with one stream", st)
	}
	if err := c.EndStream(); err != nil {
		t.Fatal(err)
	}
	rc.exact("0\r\n\r\n")
	rc.send(get("/healthz"))
	if _, body := rc.response("GET"); body != "ok" {
		t.Fatalf("healthz: %q", body)
	}
}

// TestUpgradeAfterHandoff: a client that keeps its connections alive may
// send its WebSocket upgrade on a connection net/http served (Java's
// HttpClient after a GET does, and so does Node's ws with a keep-alive
// agent). The connection goes back to the reactor and upgrades as a fresh
// one would, a frame pipelined behind the head included; an upgrade to a
// path without a WebSocket route gets the fresh connection's 404.
func TestUpgradeAfterHandoff(t *testing.T) {
	for _, reactorHTTP := range []bool{true, false} {
		t.Run(fmt.Sprintf("reactor HTTP routes %v", reactorHTTP), func(t *testing.T) {
			var s *poller.Server
			var addr string
			if reactorHTTP {
				s, addr = startHTTPServer(t, poller.Config{}, newHTTPHandler())
			} else {
				s, addr = startServer(t, poller.Config{Handler: &echoHandler{}})
			}
			rc := dialRaw(t, addr)
			rc.send(get("/healthz"))
			if _, body := rc.response("GET"); body != "ok" {
				t.Fatalf("healthz: %q", body)
			}
			var pipelined bytes.Buffer
			appendClientFrame(&pipelined, true, ws.OpText, []byte("pipelined"))
			upgrade := "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: 0\r\n" +
				"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
			rc.send(upgrade + pipelined.String())
			rc.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			resp, err := http.ReadResponse(rc.br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
				t.Fatalf("upgrade after net/http: %s %v", resp.Status, resp.Header)
			}
			if f := readFrame(t, rc.nc, rc.br); f.op != ws.OpText || string(f.payload) != "pipelined" {
				t.Fatalf("echo of the pipelined frame: %v %q", f.op, f.payload)
			}
			writeFrame(t, rc.nc, true, ws.OpBinary, []byte("after"))
			if f := readFrame(t, rc.nc, rc.br); f.op != ws.OpBinary || string(f.payload) != "after" {
				t.Fatalf("echo: %v %q", f.op, f.payload)
			}
			if st := s.Stats(); st.Conns != 1 {
				t.Fatalf("%d WebSocket connections, want the one upgraded", st.Conns)
			}

			rc = dialRaw(t, addr)
			rc.send(get("/healthz"))
			rc.response("GET")
			rc.send(strings.Replace(upgrade, "/echo", "/nowhere", 1))
			if resp, _ := rc.response("GET"); resp.StatusCode != http.StatusNotFound {
				t.Fatalf("upgrade to an unrouted path after net/http: %s", resp.Status)
			}
		})
	}
}

// TestHTTPCloseStream: Close on a stream closes TCP after the queued frames
// and sends no WebSocket close frame; OnClose sees "server".
func TestHTTPCloseStream(t *testing.T) {
	h := newHTTPHandler()
	_, addr := startHTTPServer(t, poller.Config{}, h)
	rc := dialRaw(t, addr)
	rc.send(get("/sse"))
	c := recv(t, h.stream, "stream")
	rc.head()
	if err := c.Send(sseChunk(true, "last")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	rc.exact("c\r\ndata: last\n\n\r\n")
	rc.expectEOF()
	waitFor(t, 5*time.Second, "OnClose", func() bool { return h.closeCount(poller.ReasonServer) == 1 })
}

// TestHTTPPeerGoneHeld: a client that hangs up on a held request gives
// OnClose(peer_gone), and a late Respond reports ErrClosed.
func TestHTTPPeerGoneHeld(t *testing.T) {
	h := newHTTPHandler()
	s, addr := startHTTPServer(t, poller.Config{}, h)
	rc := dialRaw(t, addr)
	rc.send(get("/hold"))
	c := recv(t, h.held, "held")
	rc.nc.Close()
	waitFor(t, 5*time.Second, "OnClose", func() bool { return h.closeCount(poller.ReasonPeerGone) == 1 })
	if err := c.Respond(200, nil, []byte("late")); !errors.Is(err, poller.ErrClosed) {
		t.Fatalf("late Respond: %v, want ErrClosed", err)
	}
	if st := s.Stats(); st.HeldRequests != 0 {
		t.Fatalf("held gauge %d after close", st.HeldRequests)
	}
}

// TestHTTPShutdownEndsStreams: Shutdown ends streams with their last chunk,
// answers held requests 503 and closes; OnClose sees "shutdown".
func TestHTTPShutdownEndsStreams(t *testing.T) {
	h := newHTTPHandler()
	s, err := poller.New(poller.Config{Handler: &echoHandler{}, HTTPRoutes: reactorRoutes(h),
		Upgrader: wsframe.Upgrader{Route: func(p string) bool { return p == "/echo" }},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	addr := s.Addr().String()
	var streams []*rawConn
	for i := 0; i < 5; i++ {
		rc := dialRaw(t, addr)
		rc.send(get("/sse"))
		c := recv(t, h.stream, "stream")
		rc.head()
		if err := c.Send(sseChunk(true, "before")); err != nil {
			t.Fatal(err)
		}
		streams = append(streams, rc)
	}
	held := dialRaw(t, addr)
	held.send(get("/hold"))
	recv(t, h.held, "held")
	ws := dial(t, addr, "/echo")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(ctx) }()
	for _, rc := range streams {
		rc.exact("e\r\ndata: before\n\n\r\n0\r\n\r\n")
		rc.expectEOF()
	}
	resp, _ := held.response("GET")
	if resp.StatusCode != 503 || !resp.Close {
		t.Fatalf("held request at shutdown: %d close=%v", resp.StatusCode, resp.Close)
	}
	held.expectEOF()
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := ws.ReadMessage(); err == nil || !strings.Contains(err.Error(), "1001") {
		t.Fatalf("websocket at shutdown: %v", err)
	}
	ws.Close()
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if n := h.closeCount(poller.ReasonShutdown); n != 6 {
		t.Fatalf("%d OnClose(shutdown), want 6", n)
	}
}

// TestShutdownFinishesNetHTTPRequests: Shutdown lets net/http finish the
// request it is serving (a publish the client would otherwise retry and so
// send twice) and closes the idle kept-alive connection it serves at once.
func TestShutdownFinishesNetHTTPRequests(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("/publish", func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, "published")
	})
	s, addr := startHTTPServer(t, poller.Config{HTTP: mux}, newHTTPHandler())
	idle := dialRaw(t, addr)
	idle.send(get("/healthz"))
	if _, body := idle.response("GET"); body != "ok" {
		t.Fatalf("healthz: %q", body)
	}
	busy := dialRaw(t, addr)
	busy.send("POST /publish HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
	recv(t, entered, "the handler running")

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- s.Shutdown(ctx)
	}()
	idle.expectEOF() // idle: closed at once
	close(release)
	resp, body := busy.response("POST")
	if resp.StatusCode != http.StatusAccepted || body != "published" {
		t.Fatalf("the request in progress at Shutdown: %d %q", resp.StatusCode, body)
	}
	busy.expectEOF()
	if err := recv(t, done, "Shutdown"); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// TestHTTPHandoffWaitsForQueuedResponse: a net/http request pipelined behind a
// large reactor response is answered after it, never inside it.
func TestHTTPHandoffWaitsForQueuedResponse(t *testing.T) {
	h := newHTTPHandler()
	_, addr := startHTTPServer(t, poller.Config{}, h)
	rc := dialRaw(t, addr)
	big := strings.Repeat("z", 4<<20)
	rc.send("POST /echo-body HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(len(big)) + "\r\n\r\n")
	go rc.nc.Write([]byte(big + get("/page")))
	// The body is over MaxBodySize (1 MiB): 413 comes first and closes.
	resp, _ := rc.response("POST")
	if resp.StatusCode != 413 {
		t.Fatalf("status %d", resp.StatusCode)
	}

	// Within the limit: a 1 MiB echo, then net/http's page.
	rc = dialRaw(t, addr)
	body := strings.Repeat("q", 1<<20)
	rc.send("POST /echo-body HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body + get("/page"))
	if _, got := rc.response("POST"); got != body {
		t.Fatalf("echo of %d bytes: got %d", len(body), len(got))
	}
	if _, got := rc.response("GET"); got != "page from net/http" {
		t.Fatalf("page: %q", got)
	}
}

// TestHTTPWebSocketAfterReactorRequest: an upgrade at a request boundary of a
// kept-alive reactor connection works and its 101 follows the response.
func TestHTTPWebSocketAfterReactorRequest(t *testing.T) {
	h := newHTTPHandler()
	_, addr := startHTTPServer(t, poller.Config{}, h)
	rc := dialRaw(t, addr)
	var frame bytes.Buffer
	appendClientFrame(&frame, true, 1, []byte("after http"))
	rc.send(get("/hello?ws") + "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n" + frame.String())
	if _, body := rc.response("GET"); body != "hello ws" {
		t.Fatalf("first: %q", body)
	}
	rc.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	if f := readFrame(t, rc.nc, rc.br); string(f.payload) != "after http" {
		t.Fatalf("echo: %q", f.payload)
	}
}

// TestHTTPKeepAliveTimeouts: a kept-alive reactor connection waiting for its
// next request closes after IdleTimeout; one that sent part of its next
// request closes after HandshakeTimeout.
func TestHTTPKeepAliveTimeouts(t *testing.T) {
	h := newHTTPHandler()
	s, addr := startHTTPServer(t, poller.Config{IdleTimeout: time.Second, HandshakeTimeout: time.Second, PingInterval: time.Hour}, h)
	idle := dialRaw(t, addr)
	idle.send(get("/hello?idle"))
	idle.response("GET")
	partial := dialRaw(t, addr)
	partial.send(get("/hello?partial"))
	partial.response("GET")
	partial.send("GET /hello HTTP/1.1\r\nHo")
	idle.expectEOF()
	partial.expectEOF()
	waitFor(t, 5*time.Second, "timeouts counted", func() bool {
		cl := s.Stats().Closes
		return cl["idle_timeout"] == 1 && cl["handshake_timeout"] == 1
	})
}

// TestHTTPStreamWriteTimeout: a stream whose client stopped reading, with a
// queue bound it does not reach, is closed by the write timeout.
func TestHTTPStreamWriteTimeout(t *testing.T) {
	h := newHTTPHandler()
	s, addr := startHTTPServer(t, poller.Config{WriteTimeout: time.Second, MaxQueueBytes: 256 << 20}, h)
	rc := dialRaw(t, addr)
	rc.send(get("/sse"))
	c := recv(t, h.stream, "stream")
	chunk := strings.Repeat("w", 64<<10)
	for i := 0; i < 512; i++ { // 32 MiB: more than the socket buffers hold
		if err := c.Send(sseChunk(true, chunk)); err != nil {
			break
		}
	}
	waitFor(t, 15*time.Second, "write timeout", func() bool {
		return s.Stats().Closes["write_timeout"] == 1 && h.closeCount(poller.ReasonWriteTimeout) == 1
	})
	if st := s.Stats(); st.Streams != 0 || st.QueuedBytes != 0 {
		t.Fatalf("after the close: %d streams, %d bytes queued", st.Streams, st.QueuedBytes)
	}
}

// TestHTTPAndWebSocketOnOnePath: a path that is both a WebSocket route and
// an HTTP route (Engine.IO's /socket.io/ serves polling and websocket) sends
// upgrades to the WebSocket handler and plain requests to the HTTP handler,
// on fresh and on kept-alive connections.
func TestHTTPAndWebSocketOnOnePath(t *testing.T) {
	h := newHTTPHandler()
	cfg := poller.Config{}
	cfg.Upgrader.Route = func(p string) bool { return p == "/hello" || p == "/echo" }
	_, addr := startHTTPServer(t, cfg, h)
	upgrade := "GET /hello HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	var frame bytes.Buffer
	appendClientFrame(&frame, true, 1, []byte("ws on /hello"))

	plain := dialRaw(t, addr)
	plain.send(get("/hello?plain"))
	if _, body := plain.response("GET"); body != "hello plain" {
		t.Fatalf("plain request on a fresh connection: %q", body)
	}
	plain.send(upgrade + frame.String()) // then an upgrade on the kept-alive connection
	plain.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if resp, err := http.ReadResponse(plain.br, nil); err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade after a plain request: %v %v", resp, err)
	}
	if f := readFrame(t, plain.nc, plain.br); string(f.payload) != "ws on /hello" {
		t.Fatalf("echo: %q", f.payload)
	}

	ws := dialRaw(t, addr)
	ws.send(upgrade + frame.String())
	ws.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if resp, err := http.ReadResponse(ws.br, nil); err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade on a fresh connection: %v %v", resp, err)
	}
	if f := readFrame(t, ws.nc, ws.br); string(f.payload) != "ws on /hello" {
		t.Fatalf("echo: %q", f.payload)
	}
}
