package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestGenCert(t *testing.T) {
	for _, tc := range []struct {
		args []string
		rsa  bool
	}{{nil, false}, {[]string{"--rsa"}, true}} {
		dir := t.TempDir()
		cf, kf := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
		var out, errb bytes.Buffer
		args := append([]string{"--cert", cf, "--key", kf, "--hosts", "localhost,127.0.0.1,::1,c1m.test", "--valid", "48h"}, tc.args...)
		if code := runGenCert(args, &out, &errb); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errb.String())
		}
		if !strings.Contains(out.String(), "wrote "+cf) || !strings.Contains(out.String(), "wrote "+kf) {
			t.Errorf("output %q does not name the files", out.String())
		}
		pair, err := tls.LoadX509KeyPair(cf, kf)
		if err != nil {
			t.Fatal(err)
		}
		leaf := pair.Leaf
		switch leaf.PublicKey.(type) {
		case *rsa.PublicKey:
			if !tc.rsa || leaf.PublicKey.(*rsa.PublicKey).N.BitLen() != 2048 {
				t.Errorf("%v: RSA key", args)
			}
		case *ecdsa.PublicKey:
			if tc.rsa || leaf.PublicKey.(*ecdsa.PublicKey).Curve.Params().Name != "P-256" {
				t.Errorf("%v: ECDSA key", args)
			}
		}
		if !leaf.IsCA {
			t.Errorf("not a CA")
		}
		if d := time.Until(leaf.NotAfter); d < 47*time.Hour || d > 48*time.Hour {
			t.Errorf("valid for %v", d)
		}
		if fi, _ := os.Stat(kf); fi.Mode().Perm() != 0o600 {
			t.Errorf("key mode %v", fi.Mode())
		}
		// the certificate file as a CA file, as a client uses it
		b, _ := os.ReadFile(cf)
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			t.Fatal("not a PEM certificate")
		}
		for _, h := range []string{"localhost", "127.0.0.1", "::1", "c1m.test"} {
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: h}); err != nil {
				t.Errorf("%s: %v", h, err)
			}
		}
		if blk, _ := pem.Decode(b); blk == nil || blk.Type != "CERTIFICATE" {
			t.Errorf("cert PEM %q", b)
		}
	}
}

func TestGenCertBadInput(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"--hosts", ""},
		{"--valid", "-1h"},
		{"--cert", filepath.Join(dir, "x"), "--key", filepath.Join(dir, "x")},
		{"stray"},
	} {
		var out, errb bytes.Buffer
		if code := runGenCert(append([]string{"--cert", filepath.Join(dir, "c"), "--key", filepath.Join(dir, "k")}, args...), &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errb.String())
		}
	}
	var out, errb bytes.Buffer
	if code := runGenCert([]string{"--cert", filepath.Join(dir, "no", "such", "dir"), "--key", filepath.Join(dir, "k")}, &out, &errb); code != 1 {
		t.Errorf("unwritable: exit %d, want 1 (%s)", code, errb.String())
	}
}
