package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

var (
	keysOnce sync.Once
	rsaKey   *rsa.PrivateKey
	ecKey    *ecdsa.PrivateKey
)

func testKeys(t testing.TB) (*rsa.PrivateKey, *ecdsa.PrivateKey) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
	})
	return rsaKey, ecKey
}

// claims returns token claims for sub expiring in ttl (no exp when 0).
func claims(sub string, ttl time.Duration, subs, pubs []string) *TokenClaims {
	tc := &TokenClaims{Subs: subs, Pubs: pubs}
	tc.Subject = sub
	if ttl != 0 {
		tc.ExpiresAt = jwt.NewNumericDate(time.Now().Add(ttl))
	}
	return tc
}

func sign(t testing.TB, tc *TokenClaims, alg string, key any, kid string) string {
	t.Helper()
	s, err := Sign(tc, alg, key, kid)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// hsVerifier verifies HS256 with testSecret and RS256/ES256 with the test
// keys.
func allVerifier(t testing.TB) *Verifier {
	rk, ek := testKeys(t)
	v, err := NewVerifier(VerifierConfig{Keys: Keys{Secret: testSecret, RSA: &rk.PublicKey, EC: &ek.PublicKey}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}
