package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestVerifyAlgorithms(t *testing.T) {
	rk, ek := testKeys(t)
	v := allVerifier(t)
	for _, c := range []struct {
		alg string
		key any
	}{{"HS256", testSecret}, {"RS256", rk}, {"ES256", ek}} {
		tok := sign(t, claims("alice", time.Hour, []string{"md.>"}, []string{"orders.*"}), c.alg, c.key, "")
		got, err := v.Verify(tok)
		if err != nil {
			t.Fatalf("%s: %v", c.alg, err)
		}
		if got.Sub != "alice" || !got.Subs.Grants("md.x") || !got.Pubs.Grants("orders.new") || got.Pubs.Grants("md.x") {
			t.Fatalf("%s: claims %+v", c.alg, got)
		}
		if d := time.Until(got.Exp); d < 59*time.Minute || d > time.Hour {
			t.Fatalf("%s: exp in %v", c.alg, d)
		}
	}
}

func TestVerifyRefusals(t *testing.T) {
	rk, ek := testKeys(t)
	v := allVerifier(t)
	otherRSA, _ := rsa.GenerateKey(rand.Reader, 2048)
	otherEC, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	good := sign(t, claims("alice", time.Hour, nil, nil), "HS256", testSecret, "")
	parts := strings.Split(good, ".")
	noneTok, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims("alice", time.Hour, nil, nil)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	hs384, _ := jwt.NewWithClaims(jwt.SigningMethodHS384, claims("alice", time.Hour, nil, nil)).SignedString(testSecret)
	// Algorithm confusion: HS256 signed with the RSA public key's bytes.
	pubDER, _ := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	confused := sign(t, claims("alice", time.Hour, nil, nil), "HS256", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), "")
	nbf := claims("alice", time.Hour, nil, nil)
	nbf.NotBefore = jwt.NewNumericDate(time.Now().Add(time.Hour))

	cases := []struct {
		name, tok string
		kind      Kind
		msg       string
	}{
		{"empty", "", KindMissing, "authentication required"},
		{"garbage", "not-a-jwt", KindMalformed, "malformed token"},
		{"two parts", parts[0] + "." + parts[1], KindMalformed, "malformed token"},
		{"bad base64", parts[0] + ".%%%." + parts[2], KindMalformed, "malformed token"},
		{"payload not JSON", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte("nope")) + "." + parts[2], KindMalformed, "malformed"},
		{"huge", strings.Repeat("a", 9000), KindMalformed, "8 KiB"},
		{"expired", sign(t, claims("alice", -time.Minute, nil, nil), "HS256", testSecret, ""), KindExpired, "token expired"},
		{"not yet valid", sign(t, nbf, "HS256", testSecret, ""), KindClaims, "not valid yet"},
		{"wrong secret", sign(t, claims("alice", time.Hour, nil, nil), "HS256", []byte("another-secret-another-secret-xx"), ""), KindSignature, "signature is invalid"},
		{"wrong RSA key", sign(t, claims("alice", time.Hour, nil, nil), "RS256", otherRSA, ""), KindSignature, "signature is invalid"},
		{"wrong EC key", sign(t, claims("alice", time.Hour, nil, nil), "ES256", otherEC, ""), KindSignature, "signature is invalid"},
		{"tampered payload", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"mallory"}`)) + "." + parts[2], KindSignature, "signature is invalid"},
		{"alg none", noneTok, KindSignature, "signing method"},
		{"alg HS384", hs384, KindSignature, "signing method"},
		{"alg confusion", confused, KindSignature, "signature is invalid"},
		{"kid, no JWKS, wrong key", sign(t, claims("alice", time.Hour, nil, nil), "RS256", otherRSA, "k9"), KindSignature, "signature is invalid"},
		{"bad subs pattern", sign(t, claims("alice", time.Hour, []string{"md.>.x"}, nil), "HS256", testSecret, ""), KindClaims, `subs[0] "md.>.x"`},
		{"bad pubs pattern", sign(t, claims("alice", time.Hour, nil, []string{"a b"}), "HS256", testSecret, ""), KindClaims, "pubs[0]"},
	}
	_ = ek
	for _, c := range cases {
		_, err := v.Verify(c.tok)
		if err == nil {
			t.Errorf("%s: verified", c.name)
			continue
		}
		if !IsKind(err, c.kind) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: error %v (kind %v), want kind %v containing %q", c.name, err, kindOf(err), c.kind, c.msg)
		}
		if StatusOf(err) != 401 {
			t.Errorf("%s: status %d", c.name, StatusOf(err))
		}
	}
}

func kindOf(err error) Kind {
	if e, ok := err.(*Error); ok {
		return e.Kind
	}
	return 0
}

func TestVerifyUnknownKidWithoutJWKS(t *testing.T) {
	// With static keys only, a kid is ignored when the alg has a key...
	rk, _ := testKeys(t)
	v := allVerifier(t)
	if _, err := v.Verify(sign(t, claims("a", time.Hour, nil, nil), "RS256", rk, "any")); err != nil {
		t.Fatal(err)
	}
	// ...and names the problem when it has none.
	hsOnly, _ := NewVerifier(VerifierConfig{Keys: Keys{Secret: testSecret}})
	_, err := hsOnly.Verify(sign(t, claims("a", time.Hour, nil, nil), "RS256", rk, "k1"))
	if err == nil || !strings.Contains(err.Error(), "signing method") {
		t.Fatalf("err %v", err)
	}
}

func TestVerifyIssuerAudienceLeeway(t *testing.T) {
	now := time.Now()
	v, err := NewVerifier(VerifierConfig{Keys: Keys{Secret: testSecret}, Issuer: "idp", Audience: "c1m",
		Leeway: time.Minute, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	tc := claims("alice", -30*time.Second, nil, nil) // expired, within the leeway
	tc.Issuer, tc.Audience = "idp", jwt.ClaimStrings{"c1m"}
	if _, err := v.Verify(sign(t, tc, "HS256", testSecret, "")); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
	tc.Issuer = "other"
	if _, err := v.Verify(sign(t, tc, "HS256", testSecret, "")); !IsKind(err, KindClaims) || !strings.Contains(err.Error(), "issuer") {
		t.Fatalf("wrong iss: %v", err)
	}
	tc.Issuer, tc.Audience = "idp", jwt.ClaimStrings{"else"}
	if _, err := v.Verify(sign(t, tc, "HS256", testSecret, "")); !IsKind(err, KindClaims) || !strings.Contains(err.Error(), "audience") {
		t.Fatalf("wrong aud: %v", err)
	}
}

func TestNoExpNeverExpires(t *testing.T) {
	v := allVerifier(t)
	c, err := v.Verify(sign(t, claims("svc", 0, []string{">"}, nil), "HS256", testSecret, ""))
	if err != nil || !c.Exp.IsZero() || c.Expired(time.Now().Add(1000*time.Hour)) {
		t.Fatalf("%+v %v", c, err)
	}
}

func TestKeysFromPEM(t *testing.T) {
	rk, ek := testKeys(t)
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rsaPub, _ := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	ecPriv, _ := x509.MarshalECPrivateKey(ek)
	pk8, _ := x509.MarshalPKCS8PrivateKey(rk)
	for _, c := range []struct {
		file string
		rsa  bool
	}{
		{write("rsa.pub", "PUBLIC KEY", rsaPub), true},
		{write("rsa1.pub", "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&rk.PublicKey)), true},
		{write("rsa.key", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rk)), true},
		{write("rsa8.key", "PRIVATE KEY", pk8), true},
		{write("ec.key", "EC PRIVATE KEY", ecPriv), false},
	} {
		var k Keys
		if err := k.LoadFile(c.file); err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if (k.RSA != nil) != c.rsa || (k.EC != nil) == c.rsa {
			t.Fatalf("%s: keys %+v", c.file, k)
		}
	}
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	var k Keys
	if err := k.LoadFile(write("small.key", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(small))); err == nil {
		t.Fatal("1024-bit RSA key accepted")
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	der, _ := x509.MarshalECPrivateKey(p384)
	if err := k.LoadFile(write("p384.key", "EC PRIVATE KEY", der)); err == nil {
		t.Fatal("P-384 key accepted for ES256")
	}
	if err := k.LoadFile(write("junk", "", nil)); err == nil {
		t.Fatal("junk accepted")
	}
	if err := k.SetSecret([]byte("short")); err == nil {
		t.Fatal("short secret accepted")
	}
	if _, err := NewVerifier(VerifierConfig{}); err == nil {
		t.Fatal("verifier without keys")
	}
}
