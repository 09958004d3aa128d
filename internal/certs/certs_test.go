package certs_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/c1mhq/c1m/internal/certs"
	"github.com/c1mhq/c1m/internal/testutil"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestNewFailsWithoutALoadablePair(t *testing.T) {
	c := testutil.NewTLSCert(t)
	if _, err := certs.New(c.CertFile, filepath.Join(t.TempDir(), "missing.pem"), quiet); err == nil {
		t.Fatal("a missing key loaded")
	}
	other := testutil.NewTLSCert(t)
	if _, err := certs.New(c.CertFile, other.KeyFile, quiet); err == nil {
		t.Fatal("a certificate with another's key loaded")
	}
	r, err := certs.New(c.CertFile, c.KeyFile, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if r.Serial() != c.Serial() || !r.NotAfter().Equal(c.Leaf.NotAfter) {
		t.Fatalf("serial %s not_after %v, want %s %v", r.Serial(), r.NotAfter(), c.Serial(), c.Leaf.NotAfter)
	}
	got, err := r.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil || !bytes.Equal(got.Certificate[0], c.Leaf.Raw) {
		t.Fatalf("GetCertificate: %v", err)
	}
}

func TestReloadServesTheNewPair(t *testing.T) {
	c := testutil.NewTLSCert(t)
	r, err := certs.New(c.CertFile, c.KeyFile, quiet)
	if err != nil {
		t.Fatal(err)
	}
	old := r.Serial()
	if err := r.Reload(); err != nil || r.Serial() != old || r.Reloads() != 1 {
		t.Fatalf("reload of the same files: %v, serial %s, reloads %d", err, r.Serial(), r.Reloads())
	}
	want := c.Rotate(t)
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if r.Serial() != want || want == old || r.Reloads() != 2 || r.ReloadErrors() != 0 {
		t.Fatalf("serial %s (want %s, old %s), reloads %d, errors %d", r.Serial(), want, old, r.Reloads(), r.ReloadErrors())
	}
	// a real handshake gets it
	if got := handshakeSerial(t, r); got != want {
		t.Fatalf("handshake got serial %s, want %s", got, want)
	}
}

func TestBadPairKeepsTheCurrentCertificate(t *testing.T) {
	c := testutil.NewTLSCert(t)
	var logs bytes.Buffer
	r, err := certs.New(c.CertFile, c.KeyFile, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	old := r.Serial()
	if err := os.WriteFile(c.CertFile, []byte("-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(); err == nil {
		t.Fatal("a garbage certificate reloaded")
	}
	other := testutil.NewTLSCert(t) // a valid certificate with the wrong key
	b, _ := os.ReadFile(other.CertFile)
	if err := os.WriteFile(c.CertFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(); err == nil {
		t.Fatal("a certificate with another's key reloaded")
	}
	if r.Serial() != old || r.ReloadErrors() != 2 || r.Reloads() != 0 {
		t.Fatalf("serial %s (want the old %s), errors %d, reloads %d", r.Serial(), old, r.ReloadErrors(), r.Reloads())
	}
	if st := r.Stats(); st.LastError == "" || st.Serial != old {
		t.Fatalf("stats %+v", st)
	}
	if !bytes.Contains(logs.Bytes(), []byte("keeping the current certificate")) {
		t.Fatalf("failure not logged: %s", logs.String())
	}
	if got := handshakeSerial(t, r); got != old {
		t.Fatalf("handshake got serial %s, want the old %s", got, old)
	}
	// and a good pair after that loads
	want := c.Rotate(t)
	if err := r.Reload(); err != nil || r.Serial() != want || r.Stats().LastError != "" {
		t.Fatalf("good pair after bad: %v, serial %s, want %s", err, r.Serial(), want)
	}
}

func TestWatchReloadsOnChange(t *testing.T) {
	c := testutil.NewTLSCert(t)
	r, err := certs.New(c.CertFile, c.KeyFile, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Watch(ctx, 5*time.Millisecond) }()
	defer func() { cancel(); <-done }()
	want := c.Rotate(t)
	testutil.WaitFor(t, 5*time.Second, "the watcher to load the new pair", func() bool { return r.Serial() == want })
	if r.Reloads() != 1 || r.ReloadErrors() != 0 {
		t.Fatalf("reloads %d, errors %d", r.Reloads(), r.ReloadErrors())
	}
	// a bad change is counted once, not at every tick, and keeps the cert
	if err := os.WriteFile(c.KeyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "the watcher to try the bad pair", func() bool { return r.ReloadErrors() == 1 })
	if r.Serial() != want {
		t.Fatalf("serial %s after a bad change, want %s", r.Serial(), want)
	}
	want = c.Rotate(t)
	testutil.WaitFor(t, 5*time.Second, "the watcher to load the fixed pair", func() bool { return r.Serial() == want })
	if n := r.ReloadErrors(); n != 1 {
		t.Fatalf("reload errors %d, want 1", n)
	}
}

// TestWatchFollowsSymlinkSwaps does what Kubernetes does to a mounted
// secret: the files are symlinks through ..data, a symlink to a directory
// that is replaced by renaming a new symlink over it. The files' own
// names, sizes and (often) times stay the same.
func TestWatchFollowsSymlinkSwaps(t *testing.T) {
	dir := t.TempDir()
	a := testutil.NewTLSCert(t)
	b := testutil.NewTLSCert(t)
	link := func(target string) {
		tmp := filepath.Join(dir, "..data_tmp")
		if err := os.Symlink(target, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	link(filepath.Dir(a.CertFile))
	for _, f := range []string{"cert.pem", "key.pem"} {
		if err := os.Symlink(filepath.Join("..data", f), filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := certs.New(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), quiet)
	if err != nil {
		t.Fatal(err)
	}
	if r.Serial() != a.Serial() {
		t.Fatal("not loaded through the links")
	}
	// the same mtime on the new files: only the inode tells them apart
	mt := time.Now().Add(-time.Hour).Truncate(time.Second)
	for _, f := range []string{a.CertFile, a.KeyFile, b.CertFile, b.KeyFile} {
		if err := os.Chtimes(f, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Watch(ctx, 5*time.Millisecond) }()
	defer func() { cancel(); <-done }()
	link(filepath.Dir(b.CertFile))
	testutil.WaitFor(t, 5*time.Second, "the watcher to follow the swap", func() bool { return r.Serial() == b.Serial() })
}

func TestGenerate(t *testing.T) {
	for _, rsaKey := range []bool{false, true} {
		g, err := certs.Generate(certs.GenOptions{Hosts: []string{"localhost", "127.0.0.1", "::1", "example.test"}, RSA: rsaKey, Valid: 48 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		l := g.Leaf
		if !l.IsCA || !l.BasicConstraintsValid || l.KeyUsage&x509.KeyUsageCertSign == 0 {
			t.Errorf("rsa=%v: not a CA: %+v", rsaKey, l)
		}
		switch l.PublicKey.(type) {
		case *rsa.PublicKey:
			if !rsaKey {
				t.Errorf("RSA key without RSA")
			}
		case *ecdsa.PublicKey:
			if rsaKey {
				t.Errorf("ECDSA key with RSA")
			}
		}
		if d := time.Until(l.NotAfter); d < 47*time.Hour || d > 49*time.Hour {
			t.Errorf("valid for %v", d)
		}
		pool := x509.NewCertPool()
		pool.AddCert(l)
		for _, h := range []string{"localhost", "127.0.0.1", "::1", "example.test"} {
			if _, err := l.Verify(x509.VerifyOptions{Roots: pool, DNSName: h}); err != nil {
				t.Errorf("rsa=%v: %s: %v", rsaKey, h, err)
			}
		}
		if _, err := tls.X509KeyPair(g.CertPEM, g.KeyPEM); err != nil {
			t.Errorf("rsa=%v: pair: %v", rsaKey, err)
		}
	}
	if _, err := certs.Generate(certs.GenOptions{}); err == nil {
		t.Error("no hosts generated")
	}
}

// handshakeSerial makes a TLS handshake served by r and returns the serial
// the client saw.
func handshakeSerial(t *testing.T, r *certs.Reloader) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: r.GetCertificate})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		_ = conn.(*tls.Conn).Handshake()
		conn.Close()
	}()
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return certs.SerialOf(conn.ConnectionState().PeerCertificates[0])
}

// Serials print in whole bytes, as openssl x509 -serial prints them.
func TestSerialWholeBytes(t *testing.T) {
	for n, want := range map[int64]string{0x883: "0883", 0xABCD: "ABCD", 1: "01"} {
		if got := certs.SerialOf(&x509.Certificate{SerialNumber: big.NewInt(n)}); got != want {
			t.Errorf("serial %x: %q, want %q", n, got, want)
		}
	}
}
