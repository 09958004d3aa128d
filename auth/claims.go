package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"errors"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TokenClaims is the JSON of a c1m token: the registered claims (sub, exp,
// nbf, iat, iss, aud) and c1m's permissions.
type TokenClaims struct {
	jwt.RegisteredClaims
	// Subs are the topic patterns the holder may subscribe to.
	Subs []string `json:"subs,omitempty"`
	// Pubs are the topic patterns the holder may publish to.
	Pubs []string `json:"pubs,omitempty"`
}

// Claims are a verified token's claims as c1m uses them.
type Claims struct {
	Sub  string    // the user; "" for an anonymous connection
	Exp  time.Time // zero: the token does not expire
	Subs Perms
	Pubs Perms
}

// Expired reports whether the claims expired at now.
func (c *Claims) Expired(now time.Time) bool { return !c.Exp.IsZero() && !now.Before(c.Exp) }

// Verifier checks a token's signature and claims. Safe for concurrent use.
type Verifier struct {
	keys   Keys
	jwks   *JWKS // nil without a JWKS URL
	parser *jwt.Parser
}

// VerifierConfig configures a Verifier.
type VerifierConfig struct {
	Keys Keys
	// JWKS, when set, verifies RS256/ES256 tokens that carry a kid.
	JWKS *JWKS
	// Issuer and Audience, when set, must match the token's iss and aud.
	Issuer, Audience string
	// Leeway is the clock skew allowed on exp and nbf.
	Leeway time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// maxTokenBytes bounds a token: a longer one is refused before parsing.
const maxTokenBytes = 8 << 10

// NewVerifier returns a Verifier; it needs at least one key or a JWKS.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	var methods []string
	if len(cfg.Keys.Secret) > 0 {
		methods = append(methods, "HS256")
	}
	if cfg.Keys.RSA != nil || cfg.JWKS != nil {
		methods = append(methods, "RS256")
	}
	if cfg.Keys.EC != nil || cfg.JWKS != nil {
		methods = append(methods, "ES256")
	}
	if len(methods) == 0 {
		return nil, errors.New("auth: no verification key: give a secret, a key file or a JWKS URL")
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods(methods), jwt.WithLeeway(cfg.Leeway)}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	if cfg.Now != nil {
		opts = append(opts, jwt.WithTimeFunc(cfg.Now))
	}
	return &Verifier{keys: cfg.Keys, jwks: cfg.JWKS, parser: jwt.NewParser(opts...)}, nil
}

// Verify checks token and returns its claims, or an *Error saying what is
// wrong in words for the client (malformed, bad signature, unknown kid,
// expired, not yet valid, wrong issuer or audience, bad permissions).
func (v *Verifier) Verify(token string) (*Claims, error) {
	if token == "" {
		return nil, ErrMissing
	}
	if len(token) > maxTokenBytes {
		return nil, &Error{KindMalformed, "malformed token: longer than 8 KiB"}
	}
	var tc TokenClaims
	_, err := v.parser.ParseWithClaims(token, &tc, v.key)
	if err != nil {
		return nil, classify(err)
	}
	subs, err := ParsePerms("subs", tc.Subs)
	if err != nil {
		return nil, err
	}
	pubs, err := ParsePerms("pubs", tc.Pubs)
	if err != nil {
		return nil, err
	}
	c := &Claims{Sub: tc.Subject, Subs: subs, Pubs: pubs}
	if tc.ExpiresAt != nil {
		c.Exp = tc.ExpiresAt.Time
	}
	return c, nil
}

// key is the jwt.Keyfunc: the JWKS key of the token's kid when a JWKS is
// configured and the token names one, else the static key of its alg.
func (v *Verifier) key(t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	kid, _ := t.Header["kid"].(string)
	if kid != "" && v.jwks != nil && alg != "HS256" {
		k, err := v.jwks.Key(kid)
		if err != nil {
			return nil, err
		}
		return matchAlg(alg, k)
	}
	switch alg {
	case "HS256":
		if len(v.keys.Secret) > 0 {
			return v.keys.Secret, nil
		}
	case "RS256":
		if v.keys.RSA != nil {
			return v.keys.RSA, nil
		}
	case "ES256":
		if v.keys.EC != nil {
			return v.keys.EC, nil
		}
	}
	if kid != "" {
		return nil, &Error{KindUnknownKey, "unknown key id " + quoteShort(kid)}
	}
	return nil, &Error{KindSignature, "no key for algorithm " + alg + " (and the token names no kid)"}
}

// matchAlg refuses a JWKS key of the wrong type for alg.
func matchAlg(alg string, k crypto.PublicKey) (any, error) {
	switch k.(type) {
	case *rsa.PublicKey:
		if alg == "RS256" {
			return k, nil
		}
	case *ecdsa.PublicKey:
		if alg == "ES256" {
			return k, nil
		}
	}
	return nil, &Error{KindSignature, "the key of this kid is not for " + alg}
}

// classify turns a jwt error into an *Error for the client.
func classify(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e // from key: unknown kid, no key
	}
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return &Error{KindMalformed, "malformed token: " + strings.TrimPrefix(innermost(err), "token is malformed: ")}
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		if errors.Is(err, jwt.ErrSignatureInvalid) || errors.Is(err, jwt.ErrECDSAVerification) || errors.Is(err, rsa.ErrVerification) {
			return &Error{KindSignature, "token signature is invalid"}
		}
		return &Error{KindSignature, "token signature is invalid: " + innermost(err)}
	case errors.Is(err, jwt.ErrTokenExpired):
		return ErrExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return &Error{KindClaims, "token not valid yet (nbf)"}
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return &Error{KindClaims, "token has the wrong issuer (iss)"}
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return &Error{KindClaims, "token has the wrong audience (aud)"}
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return &Error{KindSignature, "token unverifiable: " + innermost(err)}
	}
	return &Error{KindClaims, "invalid token: " + innermost(err)}
}

// innermost is the text of err's last wrapped error, short and without Go
// type names.
func innermost(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && i+2 < len(s) {
		s = s[i+2:]
	}
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}
