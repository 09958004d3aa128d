package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/c1mhq/c1m/internal/certs"
	"github.com/c1mhq/c1m/internal/testutil"
)

// logAddr waits for the JSON log line with msg and returns its addr.
func logAddr(t *testing.T, b *bg, msg string) string {
	t.Helper()
	var addr string
	testutil.WaitFor(t, 20*time.Second, "the log line "+msg, func() bool {
		_, stderr := b.output()
		for _, line := range strings.Split(stderr, "\n") {
			var l struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == msg && l.Addr != "" {
				addr = l.Addr
				return true
			}
		}
		select {
		case <-b.done:
			t.Fatalf("c1m exited; stderr:\n%s", stderr)
		default:
		}
		return false
	})
	return addr
}

func logged(b *bg, s string) bool {
	_, stderr := b.output()
	return strings.Contains(stderr, s)
}

func genCert(t *testing.T, cf, kf string) {
	t.Helper()
	var out, errb bytes.Buffer
	if code := runGenCert([]string{"--cert", cf, "--key", kf, "--hosts", "127.0.0.1"}, &out, &errb); code != 0 {
		t.Fatalf("gen-cert: %d %s", code, errb.String())
	}
}

// trustFiles trusts the certificate files as CA files, as clients do.
func trustFiles(t *testing.T, files ...string) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil || !pool.AppendCertsFromPEM(b) {
			t.Fatalf("CA file %s: %v", f, err)
		}
	}
	return &tls.Config{RootCAs: pool}
}

func servedSerial(t *testing.T, addr string, trust *tls.Config) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, trust)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return certs.SerialOf(c.ConnectionState().PeerCertificates[0])
}

// TestTLSAndSIGHUP runs c1m with a gen-cert certificate: wss and https
// (c1m pub and sub with --ca) on the TLS listener beside the plain one;
// SIGHUP loads a new certificate for new connections while an open wss
// connection keeps receiving, and the process stays up.
func TestTLSAndSIGHUP(t *testing.T) {
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	genCert(t, cf, kf)
	old := filepath.Join(dir, "old.pem")
	b0, _ := os.ReadFile(cf)
	if err := os.WriteFile(old, b0, 0o644); err != nil {
		t.Fatal(err)
	}
	b := startC1M(t, "--addr", "127.0.0.1:0", "--tls-addr", "127.0.0.1:0", "--tls-cert", cf, "--tls-key", kf,
		"--tls-reload-interval", "0", "--demo=false", "--log-format", "json")
	plain := logAddr(t, b, "listening")
	tlsAddr := logAddr(t, b, "listening tls")
	if plain == tlsAddr {
		t.Fatalf("one address for both listeners: %s", plain)
	}
	first := servedSerial(t, tlsAddr, trustFiles(t, cf))

	// an open wss subscription
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, TLSClientConfig: trustFiles(t, cf)}
	ws, _, err := d.Dial("wss://"+tlsAddr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"op":"sub","id":1,"topics":["hup.x"]}`)); err != nil {
		t.Fatal(err)
	}
	readOp := func(op string) map[string]any {
		t.Helper()
		for {
			_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, m, err := ws.ReadMessage()
			if err != nil {
				t.Fatalf("wss read: %v", err)
			}
			var v map[string]any
			_ = json.Unmarshal(m, &v)
			if v["op"] == op {
				return v
			}
		}
	}
	readOp("ok")

	// a new certificate, then SIGHUP
	genCert(t, cf, kf)
	if err := b.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "the reload's log line", func() bool { return logged(b, "tls certificate reloaded") })
	both := trustFiles(t, old, cf)
	if got := servedSerial(t, tlsAddr, both); got == first {
		t.Fatalf("after SIGHUP a new connection still gets serial %s", first)
	}

	// the CLI over https with --ca (the new certificate), plain http too
	tlsURL := "https://" + tlsAddr
	if r := runC1M(t, "", "pub", "--url", tlsURL, "--ca", cf, "hup.x", `"after"`); r.code != 0 || r.stdout != "hup.x seq=1\n" {
		t.Fatalf("pub over https: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if m := readOp("msg"); m["seq"] != 1.0 || m["data"] != "after" {
		t.Fatalf("the wss connection from before the reload got %v", m)
	}
	if r := runC1M(t, "", "sub", "--url", tlsURL, "--ca", cf, "--count", "1", "hup.x"); r.code != 0 || !strings.HasSuffix(r.stdout, " hup.x seq=1 snap \"after\"\n") {
		t.Fatalf("sub over wss: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := runC1M(t, "", "pub", "--url", "http://"+plain, "hup.x", "2"); r.code != 0 {
		t.Fatalf("pub over http: %d %q", r.code, r.stderr)
	}
	if m := readOp("msg"); m["seq"] != 2.0 {
		t.Fatalf("a plain publish reached wss as %v", m)
	}

	// a bad pair on SIGHUP: logged, the process and the certificate stay
	if err := os.WriteFile(kf, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	second := servedSerial(t, tlsAddr, both)
	if err := b.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "the failed reload's log line", func() bool { return logged(b, "keeping the current certificate") })
	if got := servedSerial(t, tlsAddr, both); got != second {
		t.Fatalf("after a bad reload: serial %s, want %s", got, second)
	}

	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := b.wait(t); code != 0 {
		_, e := b.output()
		t.Fatalf("exit %d after SIGTERM:\n%s", code, e)
	}
}

// TestSIGHUPWithoutTLS: SIGHUP does not stop a server without TLS.
func TestSIGHUPWithoutTLS(t *testing.T) {
	b := startC1M(t, "--addr", "127.0.0.1:0", "--demo=false", "--log-format", "json")
	logAddr(t, b, "listening")
	if err := b.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "the SIGHUP log line", func() bool { return logged(b, "nothing to reload") })
	select {
	case <-b.done:
		t.Fatal("SIGHUP stopped c1m")
	default:
	}
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := b.wait(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
}

func TestTLSFlagErrors(t *testing.T) {
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	genCert(t, cf, kf)
	for _, args := range [][]string{
		{"--tls-cert", cf},
		{"--tls-key", kf},
		{"--tls-addr", ":8443"},
		{"--tls-cert", cf, "--tls-key", kf, "--tls-handshake-workers", "0"},
	} {
		var out bytes.Buffer
		if code := run(append([]string{"--addr", "127.0.0.1:0", "--demo=false"}, args...), &out); code != 2 || !strings.Contains(out.String(), "--tls-") {
			t.Errorf("%v: exit %d, %q", args, code, out.String())
		}
	}
	// files that do not load: the server does not start
	var out bytes.Buffer
	if code := run([]string{"--addr", "127.0.0.1:0", "--demo=false", "--tls-addr", "127.0.0.1:0", "--tls-cert", kf, "--tls-key", cf}, &out); code != 1 || !strings.Contains(out.String(), "tls") {
		t.Errorf("swapped files: exit %d, %q", code, out.String())
	}
}
