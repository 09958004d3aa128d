package server_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	c1mclient "github.com/c1mhq/c1m/client"
	"github.com/c1mhq/c1m/internal/certs"
	"github.com/c1mhq/c1m/internal/testutil"
	"github.com/c1mhq/c1m/server"
)

// tlsServer starts a server with a TLS listener beside the plain one, both
// on 127.0.0.1, and returns it with its certificate.
func tlsServer(t *testing.T, mod func(*server.Config)) (*server.Server, *testutil.TLSCert) {
	t.Helper()
	cert := testutil.NewTLSCert(t)
	cfg := server.Config{TLS: server.TLSConfig{Addr: "127.0.0.1:0", CertFile: cert.CertFile, KeyFile: cert.KeyFile, ReloadInterval: -1}}
	if mod != nil {
		mod(&cfg)
	}
	s, _ := start(t, cfg)
	if s.TLSAddr() == nil || !strings.HasPrefix(s.TLSURL(), "https://127.0.0.1:") {
		t.Fatalf("TLSAddr %v, TLSURL %q", s.TLSAddr(), s.TLSURL())
	}
	return s, cert
}

// httpsClient trusts the given certificates; every request on a new
// connection (a new handshake).
func httpsClient(cs ...*certs.Generated) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: testutil.TrustConfig(cs...), DisableKeepAlives: true, ForceAttemptHTTP2: true}}
}

// getOK GETs url with hc and returns the body of its 200.
func getOK(t *testing.T, hc *http.Client, url string) []byte {
	t.Helper()
	r, err := hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	if r.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, r.StatusCode, b)
	}
	return b
}

func getJSON(t *testing.T, hc *http.Client, url string, v any) {
	t.Helper()
	b := getOK(t, hc, url)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v in %s", url, err, b)
	}
}

func httpsPublish(t *testing.T, hc *http.Client, base, topic, data string) uint64 {
	t.Helper()
	r, err := hc.Post(base+"/publish?topic="+topic, "application/json", strings.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	if r.StatusCode != http.StatusAccepted {
		t.Fatalf("publish %s over https: %d %s", topic, r.StatusCode, b)
	}
	var v struct{ Seq uint64 }
	_ = json.Unmarshal(b, &v)
	return v.Seq
}

// wssDial opens a raw WebSocket on the TLS listener and subscribes to
// topic.
func wssDial(t *testing.T, s *server.Server, trust *tls.Config, topic string) *client {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, TLSClientConfig: trust}
	ws, _, err := d.Dial(strings.Replace(s.TLSURL(), "https", "wss", 1)+"/ws", nil)
	if err != nil {
		t.Fatalf("dial wss: %v", err)
	}
	t.Cleanup(func() { ws.Close() })
	c := &client{t: t, ws: ws}
	c.send(`{"op":"sub","id":1,"topics":["` + topic + `"]}`)
	c.expectOK(1)
	return c
}

// peerSerial is the serial of the certificate a TLS connection got.
func peerSerial(c *client) string {
	return certs.SerialOf(c.ws.NetConn().(*tls.Conn).ConnectionState().PeerCertificates[0])
}

// TestTLSNativeClient: the Go client subscribes and publishes over wss://.
func TestTLSNativeClient(t *testing.T) {
	s, cert := tlsServer(t, func(c *server.Config) { c.ClientPublish = true })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c1mclient.Dial(ctx, s.TLSURL(), c1mclient.Options{}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a client that does not trust the certificate connected: %v", err)
	}
	c, err := c1mclient.Dial(ctx, s.TLSURL(), c1mclient.Options{TLSConfig: testutil.TrustConfig(cert.Generated)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := make(chan c1mclient.Message, 16)
	if _, err := c.Subscribe(ctx, []string{"tls.native"}, c1mclient.SubOptions{Chan: got}); err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctx, "tls.native", []byte(`{"over":"wss"}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m.Topic != "tls.native" || string(m.Data) != `{"over":"wss"}` || m.Seq != 1 {
			t.Fatalf("got %+v", m)
		}
	case <-ctx.Done():
		t.Fatal("no delivery over wss")
	}
	ps := s.Poller().Stats()
	if ps.TLSHandshakes < 1 || ps.TLSConns < 1 {
		t.Fatalf("poller TLS stats %+v", ps)
	}
}

// TestTLSSSEStatsAndSocketIO: the reactor's HTTP (an SSE stream, Socket.IO
// polling) and net/http behind the hand-off (/stats, /metrics, /publish)
// over https.
func TestTLSSSEStatsAndSocketIO(t *testing.T) {
	s, cert := tlsServer(t, func(c *server.Config) { c.AdminAddr = "127.0.0.1:0" })
	hc := httpsClient(cert.Generated)
	base := s.TLSURL()

	// SSE
	r, err := hc.Get(base + "/sse?topics=tls.sse")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	if r.StatusCode != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/event-stream") || r.ProtoMajor != 1 {
		t.Fatalf("sse over https: %s %v %s", r.Status, r.Header, r.Proto)
	}
	if r.TLS == nil || r.TLS.NegotiatedProtocol != "http/1.1" && r.TLS.NegotiatedProtocol != "" {
		t.Fatalf("ALPN %+v", r.TLS)
	}
	testutil.WaitFor(t, 5*time.Second, "the stream's subscription", func() bool { return s.Hub().Stats().Subscriptions == 1 })
	seq := httpsPublish(t, hc, base, "tls.sse", `{"v":"sse-over-tls"}`)
	br := bufio.NewReader(r.Body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream: %v", err)
		}
		if strings.HasPrefix(line, "data: ") && strings.Contains(line, "sse-over-tls") {
			break
		}
	}
	if seq != 1 {
		t.Fatalf("seq %d", seq)
	}

	// Socket.IO: an Engine.IO polling handshake
	r2, err := hc.Get(base + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r2.Body)
	r2.Body.Close()
	if r2.StatusCode != 200 || !strings.HasPrefix(string(b), "0{") || !strings.Contains(string(b), `"sid"`) {
		t.Fatalf("engine.io handshake over https: %d %q", r2.StatusCode, b)
	}

	// /stats on both listeners and the admin one
	for _, u := range []string{base + "/stats", s.URL() + "stats", "http://" + s.AdminAddr().String() + "/stats"} {
		var st struct {
			TLS *server.TLSStats `json:"tls"`
		}
		getJSON(t, hc, u, &st)
		if st.TLS == nil || st.TLS.Cert.Serial != cert.Serial() || !st.TLS.Cert.NotAfter.Equal(cert.Leaf.NotAfter) ||
			st.TLS.Addr != s.TLSAddr().String() || st.TLS.Handshakes < 3 || st.TLS.TLS13 < 3 || st.TLS.Conns < 1 {
			t.Fatalf("%s: tls %+v", u, st.TLS)
		}
	}

	// a client that only speaks TLS 1.1 fails its handshake and is counted
	if c, err := tls.Dial("tcp", s.TLSAddr().String(), &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11, InsecureSkipVerify: true}); err == nil {
		c.Close()
		t.Fatal("TLS 1.1 accepted")
	}
	testutil.WaitFor(t, 5*time.Second, "the failed handshake to be counted", func() bool { return s.Poller().Stats().TLSHandshakeErrors >= 1 })
	// a TLS 1.2 client is served
	c12, err := tls.Dial("tcp", s.TLSAddr().String(), &tls.Config{MaxVersion: tls.VersionTLS12, RootCAs: testutil.TrustConfig(cert.Generated).RootCAs, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("TLS 1.2: %v", err)
	}
	c12.Close()

	m := string(getOK(t, hc, base+"/metrics"))
	for _, want := range []string{
		`c1m_tls_handshakes_total{result="ok"}`, `c1m_tls_handshakes_total{result="error"}`, `c1m_tls_handshakes_total{result="timeout"} 0`,
		`c1m_tls_handshakes_by_version_total{version="1.3"}`, `c1m_tls_handshakes_by_version_total{version="1.2"} 1`,
		`c1m_tls_cert_reloads_total{result="ok"} 0`, `c1m_tls_cert_reloads_total{result="error"} 0`,
		"c1m_tls_connections ", "c1m_tls_handshaking ", "c1m_tls_resumed_total ", "c1m_tls_cert_not_after_seconds ",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(m, `c1m_tls_handshakes_total{result="error"} 0`) {
		t.Error("the TLS 1.1 handshake is not counted as an error")
	}
}

// TestTLSBesidePlain: one publish reaches a ws:// and a wss://
// subscriber with the same seq, and a publish on either listener reaches
// both.
func TestTLSBesidePlain(t *testing.T) {
	s, cert := tlsServer(t, nil)
	trust := testutil.TrustConfig(cert.Generated)
	plain := dial(t, s.Addr().String())
	plain.send(`{"op":"sub","id":1,"topics":["side.*"]}`)
	plain.expectOK(1)
	secure := wssDial(t, s, trust, "side.*")
	hc := httpsClient(cert.Generated)
	for i, pub := range []func() uint64{
		func() uint64 { return publish(t, s.Addr().String(), "side.a", `{"n":1}`) },
		func() uint64 { return httpsPublish(t, hc, s.TLSURL(), "side.a", `{"n":2}`) },
	} {
		seq := pub()
		a, b := plain.nextMsg(), secure.nextMsg()
		if a.Seq != seq || b.Seq != seq || a.Topic != "side.a" || b.Topic != "side.a" || string(a.Data) != string(b.Data) {
			t.Fatalf("publish %d (seq %d): plain %+v, tls %+v", i, seq, a, b)
		}
	}
	if n := s.Poller().Stats().TLSConns; n != 1 {
		t.Fatalf("TLS conns %d, want the wss one", n)
	}
}

// TestTLSReload: a new certificate is served to new connections after
// ReloadTLS, and after the watcher sees the files change; connections open
// through both reloads keep receiving. A bad pair keeps the old one.
func TestTLSReload(t *testing.T) {
	s, cert := tlsServer(t, func(c *server.Config) { c.TLS.ReloadInterval = -1 })
	first := cert.Generated
	old := wssDial(t, s, testutil.TrustConfig(first), "rl.x")
	if got := peerSerial(old); got != cert.Serial() {
		t.Fatalf("serial %s, want %s", got, cert.Serial())
	}
	want := cert.Rotate(t)
	trust := testutil.TrustConfig(first, cert.Generated)
	if got := peerSerial(wssDial(t, s, trust, "rl.x")); got == want {
		t.Fatal("the new certificate is served before a reload")
	}
	if err := s.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	fresh := wssDial(t, s, trust, "rl.x")
	if got := peerSerial(fresh); got != want {
		t.Fatalf("after ReloadTLS: serial %s, want %s", got, want)
	}
	seq := publish(t, s.Addr().String(), "rl.x", `1`)
	if m := old.nextMsg(); m.Seq != seq {
		t.Fatalf("the connection from before the reload got %+v", m)
	}
	if m := fresh.nextMsg(); m.Seq != seq {
		t.Fatalf("the new connection got %+v", m)
	}

	// a bad pair: refused, counted, the current certificate stays
	if err := writeFile(cert.KeyFile, "not a key"); err != nil {
		t.Fatal(err)
	}
	if err := s.ReloadTLS(); err == nil {
		t.Fatal("a bad key reloaded")
	}
	if got := peerSerial(wssDial(t, s, trust, "rl.x")); got != want {
		t.Fatalf("after a bad reload: serial %s, want %s", got, want)
	}
	m := string(getOK(t, httpsClient(first, cert.Generated), s.TLSURL()+"/metrics"))
	for _, w := range []string{`c1m_tls_cert_reloads_total{result="ok"} 1`, `c1m_tls_cert_reloads_total{result="error"} 1`} {
		if !strings.Contains(m, w) {
			t.Errorf("/metrics lacks %s", w)
		}
	}
}

func TestTLSReloadByWatch(t *testing.T) {
	s, cert := tlsServer(t, func(c *server.Config) { c.TLS.ReloadInterval = 5 * time.Millisecond })
	first := cert.Generated
	old := wssDial(t, s, testutil.TrustConfig(first), "w.x")
	want := cert.Rotate(t)
	trust := testutil.TrustConfig(first, cert.Generated)
	addr := s.TLSAddr().String()
	testutil.WaitFor(t, 10*time.Second, "a new handshake to get the new certificate", func() bool {
		c, err := tls.Dial("tcp", addr, trust)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return certs.SerialOf(c.ConnectionState().PeerCertificates[0]) == want
	})
	seq := publish(t, s.Addr().String(), "w.x", `2`)
	if m := old.nextMsg(); m.Seq != seq {
		t.Fatalf("the connection from before the reload got %+v", m)
	}
}

// TestTLSConfigErrors: a certificate without its key, or files that do not
// load, fail New; nothing is left listening.
func TestTLSConfigErrors(t *testing.T) {
	cert := testutil.NewTLSCert(t)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []server.TLSConfig{
		{CertFile: cert.CertFile},
		{KeyFile: cert.KeyFile},
		{CertFile: cert.CertFile, KeyFile: filepath.Join(t.TempDir(), "missing.pem")},
		{CertFile: cert.KeyFile, KeyFile: cert.CertFile},
	} {
		tc.Addr = "127.0.0.1:0"
		s, err := server.New(server.Config{Addr: "127.0.0.1:0", TLS: tc, Logger: quiet})
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			s.Shutdown(ctx)
			cancel()
			t.Errorf("%+v: started", tc)
		}
	}
	// without TLS: no listener, null in /stats, ReloadTLS says so
	s, addr := start(t, server.Config{})
	if s.TLSAddr() != nil || s.TLSURL() != "" || s.ReloadTLS() == nil {
		t.Fatalf("TLS without a certificate: %v %q", s.TLSAddr(), s.TLSURL())
	}
	var st map[string]json.RawMessage
	getJSON(t, http.DefaultClient, "http://"+addr+"/stats", &st)
	if string(st["tls"]) != "null" {
		t.Fatalf("tls %s", st["tls"])
	}
}

// TestTLSManyHandshakesAtOnce: more handshakes than workers queue and all
// complete.
func TestTLSManyHandshakesAtOnce(t *testing.T) {
	s, cert := tlsServer(t, func(c *server.Config) { c.TLS.HandshakeWorkers = 2 })
	trust := testutil.TrustConfig(cert.Generated)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- healthOverTLS(s.TLSAddr().String(), trust)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	testutil.WaitFor(t, 5*time.Second, "32 handshakes counted", func() bool { return s.Poller().Stats().TLSHandshakes >= 32 })
}

// ALPN: a client offering HTTP/1.1, or only HTTP/1.0 as curl --http1.0
// does, or nothing, is served; one that speaks only HTTP/2 is refused at
// the handshake with no_application_protocol.
func TestTLSALPN(t *testing.T) {
	s, cert := tlsServer(t, nil)
	addr := s.TLSAddr().String()
	for _, c := range []struct {
		offer []string
		want  string
	}{{nil, ""}, {[]string{"http/1.1"}, "http/1.1"}, {[]string{"http/1.0"}, "http/1.0"}, {[]string{"h2", "http/1.1"}, "http/1.1"}} {
		tc := testutil.TrustConfig(cert.Generated)
		tc.NextProtos = c.offer
		conn, err := tls.Dial("tcp", addr, tc)
		if err != nil {
			t.Fatalf("ALPN %q: %v", c.offer, err)
		}
		if got := conn.ConnectionState().NegotiatedProtocol; got != c.want {
			t.Errorf("ALPN %q: negotiated %q, want %q", c.offer, got, c.want)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(conn, "GET /healthz HTTP/1.0\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		r, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil || r.StatusCode != 200 {
			t.Fatalf("ALPN %q: GET /healthz HTTP/1.0: %v %v", c.offer, r, err)
		}
		conn.Close()
	}
	tc := testutil.TrustConfig(cert.Generated)
	tc.NextProtos = []string{"h2"}
	if conn, err := tls.Dial("tcp", addr, tc); err == nil {
		conn.Close()
		t.Fatal("an h2-only client was accepted")
	} else if !strings.Contains(err.Error(), "no application protocol") {
		t.Fatalf("h2 only: %v, want the no_application_protocol alert", err)
	}
}

// healthOverTLS makes a handshake and a GET /healthz on it (a request
// answered: the server finished its side of the handshake).
func healthOverTLS(addr string, trust *tls.Config) error {
	c, err := tls.Dial("tcp", addr, trust)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
		return err
	}
	r, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	r.Body.Close()
	if r.StatusCode != 200 {
		return fmt.Errorf("GET /healthz over TLS: %s", r.Status)
	}
	return nil
}

func writeFile(name, s string) error { return os.WriteFile(name, []byte(s), 0o600) }
