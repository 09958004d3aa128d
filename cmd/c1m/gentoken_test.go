package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/c1mhq/c1m/auth"
)

const genSecret = "gen-token-secret-gen-token-secre"

func genToken(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runGenToken(args, &out, &errb)
	return code, strings.TrimSpace(out.String()), errb.String()
}

func TestGenTokenHS256(t *testing.T) {
	code, tok, stderr := genToken(t, "--secret", genSecret, "--sub", "alice", "--subs", "md.>,news.*", "--pubs", "orders.*", "--ttl", "1h")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	v, _ := auth.NewVerifier(auth.VerifierConfig{Keys: auth.Keys{Secret: []byte(genSecret)}})
	c, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Sub != "alice" || !c.Subs.Grants("md.*.quote") || !c.Subs.Grants("news.x") || !c.Pubs.Grants("orders.new") || c.Pubs.Grants("md.x") {
		t.Fatalf("claims %+v", c)
	}
	if d := time.Until(c.Exp); d < 59*time.Minute || d > time.Hour {
		t.Fatalf("exp in %v", d)
	}
	// --ttl 0: no exp.
	_, tok, _ = genToken(t, "--secret", genSecret, "--sub", "svc", "--ttl", "0")
	if c, err := v.Verify(tok); err != nil || !c.Exp.IsZero() {
		t.Fatalf("ttl 0: %+v %v", c, err)
	}
}

func TestGenTokenES256KeyFile(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalECPrivateKey(k)
	file := filepath.Join(t.TempDir(), "ec.pem")
	os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
	code, tok, stderr := genToken(t, "--key", file, "--sub", "bob", "--subs", ">", "--kid", "k1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// The server verifies it with the same PEM file (the public half).
	var keys auth.Keys
	if err := keys.LoadFile(file); err != nil {
		t.Fatal(err)
	}
	v, _ := auth.NewVerifier(auth.VerifierConfig{Keys: keys})
	if c, err := v.Verify(tok); err != nil || c.Sub != "bob" {
		t.Fatalf("%+v %v", c, err)
	}
}

func TestGenTokenBadInput(t *testing.T) {
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--sub", "a"}, "no key"},
		{[]string{"--secret", "short", "--sub", "a"}, "at least 32"},
		{[]string{"--secret", genSecret}, "--sub is required"},
		{[]string{"--secret", genSecret, "--sub", "a", "--subs", "md.>.x"}, `--subs[0] "md.>.x"`},
		{[]string{"--secret", genSecret, "--sub", "a", "--alg", "RS256"}, "RS256 needs an RSA private key"},
		{[]string{"--secret", genSecret, "--sub", "a", "--ttl", "-1h"}, "negative"},
		{[]string{"--key", "/nonexistent", "--sub", "a"}, "no such file"},
	} {
		code, out, stderr := genToken(t, c.args...)
		if code != 2 || out != "" || !strings.Contains(stderr, c.msg) {
			t.Errorf("%v: exit %d, out %q, stderr %q; want 2 and %q", c.args, code, out, stderr, c.msg)
		}
	}
}

func TestAuthFlagsNeedAKey(t *testing.T) {
	var errb bytes.Buffer
	if code := run([]string{"--auth=required", "--addr=127.0.0.1:0"}, &errb); code != 2 || !strings.Contains(errb.String(), "needs a key") {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	errb.Reset()
	if code := run([]string{"--auth=on"}, &errb); code != 2 || !strings.Contains(errb.String(), "want off, optional or required") {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
}
