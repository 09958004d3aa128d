package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/c1mhq/c1m/auth"
	"github.com/c1mhq/c1m/server"
)

// authFlags are the --auth* flags of the server.
type authFlags struct {
	mode, secret, secretFile, keys, jwks, cookie, issuer, audience, anonSubs, anonPubs *string
	jwksRefresh, leeway                                                                *time.Duration
}

func addAuthFlags(e *envFlags) *authFlags {
	return &authFlags{
		mode:        e.str("auth", "off", "JWT authentication: off, optional (a token is verified when given; without one a connection gets --auth-anon-subs/--auth-anon-pubs) or required (every connection, 401 without a valid token)"),
		secret:      e.str("auth-secret", "", "HS256 secret (32 bytes or more); prefer the environment or --auth-secret-file over the command line"),
		secretFile:  e.str("auth-secret-file", "", "file holding the HS256 secret (trailing newline ignored)"),
		keys:        e.str("auth-key", "", "comma-separated PEM files of RS256 (RSA) and ES256 (P-256) public keys or certificates"),
		jwks:        e.str("auth-jwks", "", "JWKS URL: RS256/ES256 keys by kid, fetched at start and again on an unknown kid"),
		jwksRefresh: e.duration("auth-jwks-refresh", 30*time.Second, "shortest time between two JWKS fetches caused by an unknown kid"),
		cookie:      e.str("auth-cookie", auth.DefaultCookie, "name of the cookie a token is read from"),
		issuer:      e.str("auth-issuer", "", "required iss claim (empty = not checked)"),
		audience:    e.str("auth-audience", "", "required aud claim (empty = not checked)"),
		leeway:      e.duration("auth-leeway", 0, "clock skew allowed on exp and nbf"),
		anonSubs:    e.str("auth-anon-subs", ">", "--auth=optional: comma-separated topic patterns a connection without a token may subscribe to"),
		anonPubs:    e.str("auth-anon-pubs", "", "--auth=optional: comma-separated topic patterns a connection without a token may publish to"),
	}
}

// config builds the server's AuthConfig, reading key files.
func (f *authFlags) config() (server.AuthConfig, error) {
	var c server.AuthConfig
	mode, err := auth.ParseMode(*f.mode)
	if err != nil {
		return c, err
	}
	c.Mode = mode
	if mode == auth.ModeOff {
		return c, nil
	}
	secret := []byte(*f.secret)
	if *f.secretFile != "" {
		if secret, err = os.ReadFile(*f.secretFile); err != nil {
			return c, fmt.Errorf("--auth-secret-file: %w", err)
		}
		secret = []byte(strings.TrimRight(string(secret), "\r\n"))
	}
	if len(secret) > 0 {
		if err := c.Keys.SetSecret(secret); err != nil {
			return c, err
		}
	}
	for _, file := range splitList(*f.keys) {
		if err := c.Keys.LoadFile(file); err != nil {
			return c, err
		}
	}
	c.JWKSURL, c.JWKSMinRefresh = *f.jwks, *f.jwksRefresh
	if c.Keys.Empty() && c.JWKSURL == "" {
		return c, errors.New("--auth=" + *f.mode + " needs a key: --auth-secret, --auth-secret-file, --auth-key or --auth-jwks")
	}
	c.Cookie, c.Issuer, c.Audience, c.Leeway = *f.cookie, *f.issuer, *f.audience, *f.leeway
	c.AnonSubs, c.AnonPubs = splitList(*f.anonSubs), splitList(*f.anonPubs)
	return c, nil
}
