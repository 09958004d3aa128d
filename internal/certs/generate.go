package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// GenOptions describe a self-signed certificate for Generate.
type GenOptions struct {
	// Hosts are the DNS names and IP addresses the certificate is for.
	Hosts []string
	// RSA makes an RSA 2048 key; the default is ECDSA P-256.
	RSA bool
	// Valid is the validity from now. Zero: 30 days.
	Valid time.Duration
	// CommonName of the subject. Empty: "c1m self-signed".
	CommonName string
}

// Generated is a self-signed certificate and its key.
type Generated struct {
	CertPEM, KeyPEM []byte // CERTIFICATE; PRIVATE KEY (PKCS #8)
	Leaf            *x509.Certificate
}

// Generate makes a self-signed certificate for opts.Hosts that is its own
// CA (clients can trust the certificate file as a CA file: Node's ca:
// option, Go's RootCAs, curl --cacert).
func Generate(opts GenOptions) (*Generated, error) {
	if len(opts.Hosts) == 0 {
		return nil, errNoHosts
	}
	if opts.Valid <= 0 {
		opts.Valid = 30 * 24 * time.Hour
	}
	if opts.CommonName == "" {
		opts.CommonName = "c1m self-signed"
	}
	var key crypto.Signer
	var err error
	usage := x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign
	if opts.RSA {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
		usage |= x509.KeyUsageKeyEncipherment // RSA key exchange (TLS 1.2 without ECDHE)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	sn, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: opts.CommonName, Organization: []string{"c1m"}},
		NotBefore:             now.Add(-time.Hour), // clock skew
		NotAfter:              now.Add(opts.Valid),
		KeyUsage:              usage,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, h := range opts.Hosts {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	if len(tmpl.IPAddresses)+len(tmpl.DNSNames) == 0 {
		return nil, errNoHosts
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse the new certificate: %w", err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal key: %w", err)
	}
	return &Generated{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}),
		Leaf:    leaf,
	}, nil
}

// WriteFiles writes the certificate (mode 0644) and the key (0600), each
// to a temporary file renamed over the target, so that a Reloader watching
// them never reads half a file. The key is written first: a watcher that
// sees the new certificate sees its key too.
func (g *Generated) WriteFiles(certFile, keyFile string) error {
	if err := writeAtomic(keyFile, g.KeyPEM, 0o600); err != nil {
		return err
	}
	return writeAtomic(certFile, g.CertPEM, 0o644)
}

func writeAtomic(name string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}
