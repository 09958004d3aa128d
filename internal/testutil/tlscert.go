package testutil

import (
	"crypto/tls"
	"crypto/x509"
	"path/filepath"
	"testing"

	"github.com/c1mhq/c1m/internal/certs"
)

// TLSCert is a self-signed certificate for localhost, 127.0.0.1 and ::1
// written to files, for tests of TLS listeners.
type TLSCert struct {
	CertFile, KeyFile string
	*certs.Generated
}

// NewTLSCert generates a TLSCert (ECDSA P-256) in a new temporary
// directory.
func NewTLSCert(t testing.TB) *TLSCert {
	t.Helper()
	dir := t.TempDir()
	c := &TLSCert{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem")}
	c.Rotate(t)
	return c
}

// Rotate writes a new certificate and key over the files (each renamed
// into place) and returns the new certificate's serial as
// certs.Reloader.Serial formats it.
func (c *TLSCert) Rotate(t testing.TB) string {
	t.Helper()
	g, err := certs.Generate(certs.GenOptions{Hosts: []string{"localhost", "127.0.0.1", "::1"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.WriteFiles(c.CertFile, c.KeyFile); err != nil {
		t.Fatal(err)
	}
	c.Generated = g
	return certs.SerialOf(g.Leaf)
}

// Serial is the current certificate's serial, as certs.Reloader.Serial
// formats it.
func (c *TLSCert) Serial() string { return certs.SerialOf(c.Leaf) }

// TrustConfig returns a client tls.Config that trusts the given
// certificates (each is its own CA).
func TrustConfig(cs ...*certs.Generated) *tls.Config {
	pool := x509.NewCertPool()
	for _, g := range cs {
		pool.AddCert(g.Leaf)
	}
	return &tls.Config{RootCAs: pool}
}
