package poller_test

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gorilla/websocket"

	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/wsframe"
)

// testCert makes a self-signed ECDSA P-256 certificate for 127.0.0.1 that
// is its own CA, and a pool trusting it.
func testCert(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "c1m test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// startTLSServer starts a poller with a plain and a TLS listener; it
// returns the server, the TLS address and a client config trusting it.
func startTLSServer(t testing.TB, cfg poller.Config) (*poller.Server, string, *tls.Config) {
	t.Helper()
	cert, pool := testCert(t)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Upgrader.Route == nil && cfg.Routes == nil {
		cfg.Upgrader.Route = func(p string) bool { return p == "/echo" }
	}
	if cfg.HTTP == nil {
		mux := http.NewServeMux()
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
		mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
			w.Write(bytes.Repeat([]byte("0123456789abcdef"), 64<<10)) // 1 MiB
		})
		cfg.HTTP = mux
	}
	s, err := poller.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	srvCfg := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12}
	if err := s.ListenTLS("127.0.0.1:0", srvCfg); err != nil {
		t.Fatal(err)
	}
	serve(t, s)
	addr := s.TLSAddr().String()
	return s, addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

func dialWSS(t testing.TB, addr string, tc *tls.Config) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{TLSClientConfig: tc, HandshakeTimeout: 5 * time.Second}
	c, resp, err := d.Dial("wss://"+addr+"/echo", nil)
	if err != nil {
		t.Fatalf("dial wss: %v (resp %v)", err, resp)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestTLSEcho(t *testing.T) {
	h := &echoHandler{}
	s, addr, tc := startTLSServer(t, poller.Config{Handler: h, Parser: wsframe.ParserConfig{MaxMessageSize: 4 << 20}})
	for _, v := range []struct {
		name string
		max  uint16
	}{{"tls13", tls.VersionTLS13}, {"tls12", tls.VersionTLS12}} {
		t.Run(v.name, func(t *testing.T) {
			ctc := tc.Clone()
			ctc.MaxVersion = v.max
			c := dialWSS(t, addr, ctc)
			for _, n := range []int{1, 125, 16 << 10, 100 << 10, 2 << 20} {
				msg := make([]byte, n)
				rand.Read(msg)
				if err := c.WriteMessage(websocket.BinaryMessage, msg); err != nil {
					t.Fatal(err)
				}
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				_, got, err := c.ReadMessage()
				if err != nil {
					t.Fatalf("read %d bytes: %v", n, err)
				}
				if !bytes.Equal(got, msg) {
					t.Fatalf("echo of %d bytes differs (got %d bytes)", n, len(got))
				}
			}
		})
	}
	st := s.Stats()
	if st.TLS13 < 1 || st.TLS12 < 1 || st.TLSHandshakes < 2 {
		t.Fatalf("handshakes by version: tls13 %d tls12 %d total %d", st.TLS13, st.TLS12, st.TLSHandshakes)
	}
	if st.TLSHandshakeErrors != 0 {
		t.Fatalf("handshake errors: %d", st.TLSHandshakeErrors)
	}
}

// The plain and the TLS listener serve side by side, HTTP goes through
// net/http over TLS too (keep-alive, a large body).
func TestTLSBesidePlainAndHTTP(t *testing.T) {
	h := &echoHandler{}
	s, addr, tc := startTLSServer(t, poller.Config{Handler: h})
	plain, _, err := websocket.DefaultDialer.Dial("ws://"+s.Addr().String()+"/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	secure := dialWSS(t, addr, tc)
	for _, c := range []*websocket.Conn{plain, secure} {
		echoOK(t, c, "hello")
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	for i := 0; i < 3; i++ {
		resp, err := client.Get("https://" + addr + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "ok" || resp.TLS == nil {
			t.Fatalf("GET /healthz over https: %d %q tls=%v", resp.StatusCode, body, resp.TLS != nil)
		}
	}
	resp, err := client.Get("https://" + addr + "/big")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := bytes.Repeat([]byte("0123456789abcdef"), 64<<10); !bytes.Equal(body, want) {
		t.Fatalf("GET /big over https: %d bytes, want %d", len(body), len(want))
	}
}

// A plain HTTP request to the TLS port gets net/http's 400; garbage and a
// hello that never completes are closed and counted; a client connected
// meanwhile is unaffected.
func TestTLSBadClientHello(t *testing.T) {
	h := &echoHandler{}
	s, addr, tc := startTLSServer(t, poller.Config{Handler: h, HandshakeTimeout: 500 * time.Millisecond})
	good := dialWSS(t, addr, tc)

	raw := func(b []byte) (string, error) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if len(b) > 0 {
			if _, err := c.Write(b); err != nil {
				t.Fatal(err)
			}
		}
		got, err := io.ReadAll(c)
		return string(got), err
	}
	got, err := raw([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	if err != nil || !strings.HasPrefix(got, "HTTP/1.0 400 Bad Request") || !strings.Contains(got, "Client sent an HTTP request to an HTTPS server") {
		t.Fatalf("plain HTTP to the TLS port: %q %v", got, err)
	}
	// A handshake record of garbage: the server answers an alert at most,
	// and closes.
	garbage := []byte{0x16, 0x03, 0x01, 0x00, 0x20}
	garbage = append(garbage, bytes.Repeat([]byte{0xee}, 32)...)
	if got, err := raw(garbage); err != nil || len(got) > 7 {
		t.Fatalf("garbage hello: %q %v (want close, an alert at most)", got, err)
	}
	// Not TLS at all and not HTTP.
	if got, err := raw([]byte("\x00\x01\x02\x03\x04\x05\x06\x07")); err != nil || got != "" {
		t.Fatalf("binary garbage: %q %v", got, err)
	}
	// Half a hello, and nothing at all: closed by HandshakeTimeout.
	if got, err := raw([]byte{0x16, 0x03, 0x01, 0x01, 0x00, 0x01, 0x00}); err != nil || got != "" {
		t.Fatalf("half a hello: %q %v", got, err)
	}
	if got, err := raw(nil); err != nil || got != "" {
		t.Fatalf("silent client: %q %v", got, err)
	}
	st := s.Stats()
	if st.TLSHandshakeErrors < 3 || st.TLSHandshakeTimeouts < 2 || st.Closes["tls_handshake"] < 3 {
		t.Fatalf("counted: errors %d timeouts %d closes %v", st.TLSHandshakeErrors, st.TLSHandshakeTimeouts, st.Closes)
	}
	echoOK(t, good, "still here")
}

// Handshakes past TLSHandshakeWorkers wait and complete; idle TLS
// connections hold no goroutine.
func TestTLSHandshakeWorkersAndIdleGoroutines(t *testing.T) {
	h := &echoHandler{}
	s, addr, tc := startTLSServer(t, poller.Config{Handler: h, TLSHandshakeWorkers: 2})
	base := runtime.NumGoroutine()
	const n = 200
	conns := make([]*websocket.Conn, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := websocket.Dialer{TLSClientConfig: tc, HandshakeTimeout: 20 * time.Second}
			c, _, err := d.Dial("wss://"+addr+"/echo", nil)
			if err != nil {
				errs <- err
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	waitFor(t, 10*time.Second, "handshakes done", func() bool {
		st := s.Stats()
		return st.TLSHandshaking == 0 && st.TLSHandshakeWorkers == 0 && st.Conns == n
	})
	// Each client connection has a reading goroutine of its own in this
	// process only while it reads; gorilla has none. The server side must
	// add nothing per connection.
	if g := runtime.NumGoroutine(); g > base+20 {
		t.Fatalf("%d goroutines with %d idle TLS connections (started with %d)", g, n, base)
	}
	if st := s.Stats(); st.TLSConns != n || st.TLSHandshakes != n {
		t.Fatalf("tls conns %d handshakes %d, want %d", st.TLSConns, st.TLSHandshakes, n)
	}
	// Silent, they lose crypto/tls's input buffers (tlstrim.go); they all
	// still work.
	waitFor(t, 10*time.Second, "idle connections trimmed", func() bool { return s.Stats().TLSTrims >= n })
	for i, c := range conns {
		echoOK(t, c, strconv.Itoa(i))
	}
}

// A client that does not read makes the server back up into the write-back
// path; every frame arrives sealed in order once it reads.
func TestTLSBackloggedWritesInOrder(t *testing.T) {
	const frames, size = 3000, 4 << 10
	h := &echoHandler{}
	h.onMsg = func(c *poller.Conn, op ws.OpCode, data []byte) bool {
		if string(data) != "flood" {
			return false
		}
		payload := make([]byte, size)
		for i := 0; i < frames; i++ {
			binary.BigEndian.PutUint32(payload, uint32(i))
			if err := c.Send(wsframe.NewPrepared(ws.OpBinary, payload)); err != nil {
				panic(fmt.Sprintf("send %d: %v", i, err))
			}
		}
		return true
	}
	s, addr, tc := startTLSServer(t, poller.Config{Handler: h, MaxQueueBytes: 64 << 20})
	c := dialWSS(t, addr, tc)
	if err := c.WriteMessage(websocket.TextMessage, []byte("flood")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the server backs up", func() bool { return s.Stats().Backlogged > 0 })
	for i := 0; i < frames; i++ {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, got, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if len(got) != size || binary.BigEndian.Uint32(got) != uint32(i) {
			t.Fatalf("frame %d: %d bytes, seq %d", i, len(got), binary.BigEndian.Uint32(got))
		}
	}
	waitFor(t, 5*time.Second, "queue drained", func() bool { st := s.Stats(); return st.Backlogged == 0 && st.QueuedBytes == 0 })
}

// A record that fails to decrypt after the handshake closes that
// connection (protocol_error), not the others.
func TestTLSBadRecordAfterHandshake(t *testing.T) {
	h := &echoHandler{}
	s, addr, tc := startTLSServer(t, poller.Config{Handler: h})
	good := dialWSS(t, addr, tc)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := tls.Client(nc, tc)
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "handshake counted", func() bool { return s.Stats().TLSHandshakes >= 2 })
	bad := append([]byte{0x17, 0x03, 0x03, 0x00, 0x40}, bytes.Repeat([]byte{0x42}, 0x40)...)
	if _, err := nc.Write(bad); err != nil {
		t.Fatal(err)
	}
	// The server answers an alert (bad_record_mac) at most, then closes.
	rest, err := io.ReadAll(nc)
	if err != nil || len(rest) > 64 {
		t.Fatalf("after a forged record: %d bytes, %v; want an alert at most and EOF", len(rest), err)
	}
	waitFor(t, 5*time.Second, "closed as protocol_error", func() bool { return s.Stats().Closes["protocol_error"] >= 1 })
	echoOK(t, good, "fine")
}

// The slow-consumer policy holds over TLS: a client that stops reading is
// closed once its queue passes MaxQueueBytes; a reading one is not.
func TestTLSSlowConsumer(t *testing.T) {
	h := &echoHandler{}
	s, addr, tc := startTLSServer(t, poller.Config{Handler: h, MaxQueueBytes: 256 << 10})
	slow := dialWSS(t, addr, tc)
	_ = slow // never reads
	fast := dialWSS(t, addr, tc)
	conns := h.waitOpened(t, 2)
	payload := bytes.Repeat([]byte("q"), 8<<10)
	var received atomic.Int64
	go func() {
		for {
			if _, _, err := fast.ReadMessage(); err != nil {
				return
			}
			received.Add(1)
		}
	}()
	for i := 0; i < 4000 && s.Stats().Closes["slow_consumer"] == 0; i++ {
		p := wsframe.NewPrepared(ws.OpBinary, payload)
		p.Retain(int32(len(conns) - 1))
		for _, c := range conns {
			_ = c.Send(p)
		}
		waitFor(t, 10*time.Second, "the reading client has it", func() bool { return received.Load() == int64(i+1) })
	}
	if n := s.Stats().Closes["slow_consumer"]; n != 1 {
		t.Fatalf("slow_consumer closes: %d, want 1", n)
	}
	if err := fast.WriteMessage(websocket.TextMessage, []byte("alive")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the reading client is still served", func() bool { return s.Stats().Conns == 1 })
}

// A client that hangs up right after its handshake (its Finished and FIN
// arrive together) counts as a completed handshake, not a failed one.
func TestTLSHangUpAfterHandshake(t *testing.T) {
	h := &echoHandler{}
	s, addr, tc := startTLSServer(t, poller.Config{Handler: h})
	const n = 20
	for i := 0; i < n; i++ {
		c, err := tls.Dial("tcp", addr, tc)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	waitFor(t, 10*time.Second, "every handshake settled", func() bool {
		st := s.Stats()
		return st.TLSHandshaking == 0 && st.TLSConns == 0
	})
	if st := s.Stats(); st.TLSHandshakes != n || st.TLSHandshakeErrors != 0 {
		t.Fatalf("handshakes %d errors %d, want %d and 0", st.TLSHandshakes, st.TLSHandshakeErrors, n)
	}
}

// A TLS 1.3 client sends its first request right behind its Finished: a
// large body arriving before the handshake worker hands the connection to
// the reactor is buffered, not refused.
func TestTLSLargeFirstRequest(t *testing.T) {
	var got sync.Map
	h := &echoHandler{}
	mux := http.NewServeMux()
	mux.HandleFunc("/upload", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		got.Store(len(b), true)
		w.WriteHeader(202)
	})
	s, addr, tc := startTLSServer(t, poller.Config{Handler: h, HTTP: mux})
	body := bytes.Repeat([]byte("x"), 700<<10)
	for i := 0; i < 10; i++ {
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}, Timeout: 10 * time.Second}
		resp, err := client.Post("https://"+addr+"/upload", "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			t.Fatalf("POST %d: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 202 {
			t.Fatalf("POST %d: %d", i, resp.StatusCode)
		}
	}
	if _, ok := got.Load(len(body)); !ok {
		t.Fatal("the body did not arrive whole")
	}
	if st := s.Stats(); st.TLSHandshakeErrors != 0 {
		t.Fatalf("handshake errors: %d", st.TLSHandshakeErrors)
	}
}

// echoOK sends msg on c and fails unless the echo comes back.
func echoOK(t testing.TB, c *websocket.Conn, msg string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	if _, got, err := c.ReadMessage(); err != nil || string(got) != msg {
		t.Fatalf("echo of %q: %q %v", msg, got, err)
	}
}

// Every close the server ends gracefully sends close_notify before its FIN
// (RFC 8446 6.1), so that a client reading a response delimited by the close
// (HTTP/1.0, Connection: close, a stream the server ends) can tell the end
// from a truncation: curl over OpenSSL 3, for one, fails a FIN without it
// as "unexpected eof". The clients speak TLS 1.2, whose alert records show
// their content type on the wire.
func TestTLSCloseNotify(t *testing.T) {
	h := newHTTPHandler()
	wh := &echoHandler{}
	_, addr, tc := startTLSServer(t, poller.Config{Handler: wh, HTTPRoutes: reactorRoutes(h)})
	tc.MaxVersion = tls.VersionTLS12
	dialWire := func(t *testing.T) *wireConn {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		return &wireConn{Conn: nc}
	}
	dialTLS := func(t *testing.T) (*rawConn, *wireConn) {
		w := dialWire(t)
		c := tls.Client(w, tc)
		return &rawConn{t: t, nc: c, br: bufio.NewReader(c)}, w
	}
	for _, c := range []struct{ name, path, body string }{
		{"reactor's Connection: close", "/hello?bye", "hello bye"},
		{"net/http's Connection: close", "/healthz", "ok"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rc, w := dialTLS(t)
			rc.send("GET " + c.path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			if resp, body := rc.response("GET"); body != c.body || !resp.Close {
				t.Fatalf("%q close=%v", body, resp.Close)
			}
			rc.expectEOF()
			w.endsWithAlert(t)
		})
	}
	t.Run("HTTP/1.0 stream ended by the server", func(t *testing.T) {
		rc, w := dialTLS(t)
		rc.send("GET /sse HTTP/1.0\r\n\r\n")
		c := recv(t, h.stream, "stream")
		rc.head()
		if err := c.Send(sseChunk(false, "last")); err != nil {
			t.Fatal(err)
		}
		c.Close()
		rc.exact("data: last\n\n")
		rc.expectEOF()
		w.endsWithAlert(t)
	})
	dialWS := func(t *testing.T) (*websocket.Conn, *wireConn) {
		var w *wireConn
		d := websocket.Dialer{TLSClientConfig: tc, HandshakeTimeout: 5 * time.Second,
			NetDial: func(string, string) (net.Conn, error) { w = dialWire(t); return w, nil }}
		ws, _, err := d.Dial("wss://"+addr+"/echo", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ws.Close() })
		echoOK(t, ws, "before")
		return ws, w
	}
	t.Run("WebSocket close from the client", func(t *testing.T) {
		ws, w := dialWS(t)
		msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "done")
		if err := ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(5*time.Second)); err != nil {
			t.Fatal(err)
		}
		ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, _, err := ws.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
			t.Fatalf("want the close echoed, got %v", err)
		}
		nc := ws.UnderlyingConn()
		if n, err := nc.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Fatalf("after the close handshake: %d bytes, %v; want EOF", n, err)
		}
		w.endsWithAlert(t)
	})
	t.Run("WebSocket close from the server", func(t *testing.T) {
		ws, w := dialWS(t)
		wh.waitOpened(t, 2)[1].CloseWith(wsframe.StatusGoingAway, "bye", poller.ReasonServer)
		if _, _, err := ws.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseGoingAway) {
			t.Fatalf("want close 1001, got %v", err)
		}
		// gorilla answered the close; the server then ends TLS and TCP.
		nc := ws.UnderlyingConn()
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, err := nc.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Fatalf("after the close handshake: %d bytes, %v; want EOF", n, err)
		}
		w.endsWithAlert(t)
	})
}

// wireConn keeps the bytes a TLS client reads off the wire.
type wireConn struct {
	net.Conn
	mu   sync.Mutex
	wire []byte
}

func (c *wireConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.wire = append(c.wire, p[:n]...)
	c.mu.Unlock()
	return n, err
}

// endsWithAlert fails unless the last TLS record the server sent is an
// alert: under TLS 1.2, close_notify (encrypted, so only its type shows).
func (c *wireConn) endsWithAlert(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var last byte
	b := c.wire
	for len(b) >= 5 {
		n := 5 + int(binary.BigEndian.Uint16(b[3:5]))
		if n > len(b) {
			break
		}
		last, b = b[0], b[n:]
	}
	if len(b) != 0 || last != tlsRecordAlert {
		t.Fatalf("the last record has type %d (%d bytes left over): want an alert (%d) before the FIN", last, len(b), tlsRecordAlert)
	}
}

const tlsRecordAlert = 21
