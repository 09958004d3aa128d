package auth

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"fmt"

	"github.com/golang-jwt/jwt/v5"
)

// Sign returns a signed token for tc: alg HS256 with key a []byte secret,
// RS256 with an *rsa.PrivateKey, ES256 with a P-256 *ecdsa.PrivateKey; kid,
// when set, goes into the header. It is what gen-token and the tests use.
func Sign(tc *TokenClaims, alg string, key any, kid string) (string, error) {
	var m jwt.SigningMethod
	switch alg {
	case "HS256":
		b, ok := key.([]byte)
		if !ok || len(b) == 0 {
			return "", fmt.Errorf("auth: HS256 needs a secret")
		}
		m = jwt.SigningMethodHS256
	case "RS256":
		if _, ok := key.(*rsa.PrivateKey); !ok {
			return "", fmt.Errorf("auth: RS256 needs an RSA private key, got %T", key)
		}
		m = jwt.SigningMethodRS256
	case "ES256":
		if _, ok := key.(*ecdsa.PrivateKey); !ok {
			return "", fmt.Errorf("auth: ES256 needs an ECDSA private key, got %T", key)
		}
		m = jwt.SigningMethodES256
	default:
		return "", fmt.Errorf("auth: algorithm %q: want HS256, RS256 or ES256", alg)
	}
	t := jwt.NewWithClaims(m, tc)
	if kid != "" {
		t.Header["kid"] = kid
	}
	return t.SignedString(key)
}
