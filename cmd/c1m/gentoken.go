package main

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/c1mhq/c1m/auth"
)

// runGenToken is `c1m gen-token`: it prints a signed token for the given
// claims, to try --auth out.
//
//	c1m gen-token --secret S --sub alice --subs 'md.>' --pubs 'orders.*' --ttl 1h
//	c1m gen-token --key rsa.pem --sub alice --subs 'md.>'      (RS256; ES256 for an EC key)
func runGenToken(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("c1m gen-token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	secret := fs.String("secret", "", "HS256 secret (32 bytes or more; or env C1M_AUTH_SECRET)")
	secretFile := fs.String("secret-file", "", "file holding the HS256 secret")
	keyFile := fs.String("key", "", "PEM private key: RSA signs RS256, P-256 ECDSA signs ES256")
	alg := fs.String("alg", "", "HS256, RS256 or ES256 (default: from the key given)")
	kid := fs.String("kid", "", "key id put in the header (for a JWKS)")
	sub := fs.String("sub", "", "the user (sub claim)")
	subs := fs.String("subs", "", "comma-separated topic patterns the holder may subscribe to, e.g. 'md.>,news.*'")
	pubs := fs.String("pubs", "", "comma-separated topic patterns the holder may publish to")
	ttl := fs.Duration("ttl", time.Hour, "lifetime (exp = now + ttl); 0 = no exp")
	iss := fs.String("iss", "", "issuer (iss claim)")
	aud := fs.String("aud", "", "audience (aud claim)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "c1m gen-token: print a signed token for the given claims\n\nUsage: c1m gen-token (--secret S | --secret-file F | --key FILE) [--alg A] --sub USER [--subs P,...] [--pubs P,...] [--ttl 1h]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "c1m gen-token: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument %q", fs.Arg(0))
	}
	if *secret == "" {
		*secret = os.Getenv("C1M_AUTH_SECRET")
	}
	if *secretFile != "" {
		b, err := os.ReadFile(*secretFile)
		if err != nil {
			return fail("%v", err)
		}
		*secret = strings.TrimRight(string(b), "\r\n")
	}
	var key any
	switch {
	case *keyFile != "" && *secret != "":
		return fail("give either a secret or --key, not both")
	case *keyFile != "":
		b, err := os.ReadFile(*keyFile)
		if err != nil {
			return fail("%v", err)
		}
		k, err := auth.ParsePrivateKey(b)
		if err != nil {
			return fail("--key %s: %v", *keyFile, err)
		}
		key = k
		if *alg == "" {
			switch k.(type) {
			case *rsa.PrivateKey:
				*alg = "RS256"
			case *ecdsa.PrivateKey:
				*alg = "ES256"
			}
		}
	case *secret != "":
		var ks auth.Keys
		if err := ks.SetSecret([]byte(*secret)); err != nil {
			return fail("%v", err)
		}
		key = []byte(*secret)
		if *alg == "" {
			*alg = "HS256"
		}
	default:
		return fail("no key: give --secret, --secret-file or --key (see --help)")
	}
	if *sub == "" {
		return fail("--sub is required: the user the token names")
	}
	tc := &auth.TokenClaims{Subs: splitList(*subs), Pubs: splitList(*pubs)}
	for what, ps := range map[string][]string{"--subs": tc.Subs, "--pubs": tc.Pubs} {
		if _, err := auth.ParsePerms(what, ps); err != nil {
			return fail("%v", err)
		}
	}
	now := time.Now()
	tc.Subject, tc.Issuer = *sub, *iss
	tc.IssuedAt = jwt.NewNumericDate(now)
	if *aud != "" {
		tc.Audience = jwt.ClaimStrings{*aud}
	}
	if *ttl < 0 {
		return fail("--ttl %v is negative", *ttl)
	}
	if *ttl > 0 {
		tc.ExpiresAt = jwt.NewNumericDate(now.Add(*ttl))
	}
	tok, err := auth.Sign(tc, *alg, key, *kid)
	if err != nil {
		return fail("%v", err)
	}
	fmt.Fprintln(stdout, tok)
	return 0
}
