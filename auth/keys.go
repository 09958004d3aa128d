package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// Keys are the static verification keys: an HS256 secret, an RS256 public
// key and an ES256 (P-256) public key, each optional. A token without a
// kid (or with one when no JWKS is configured) is verified with the key of
// its alg.
type Keys struct {
	Secret []byte           // HS256
	RSA    *rsa.PublicKey   // RS256
	EC     *ecdsa.PublicKey // ES256 (P-256)
}

// Empty reports whether no key is set.
func (k *Keys) Empty() bool { return len(k.Secret) == 0 && k.RSA == nil && k.EC == nil }

// minSecret is the shortest HS256 secret accepted: RFC 7518 wants a key at
// least as long as the hash (32 bytes); a shorter one is guessable.
const minSecret = 32

// SetSecret sets the HS256 secret after checking its length.
func (k *Keys) SetSecret(secret []byte) error {
	if len(secret) < minSecret {
		return fmt.Errorf("auth: the HS256 secret is %d bytes, it must be at least %d", len(secret), minSecret)
	}
	k.Secret = secret
	return nil
}

// AddPEM adds the public key in pemData (a PUBLIC KEY, a CERTIFICATE, or a
// private key whose public half is taken): RSA as the RS256 key, a P-256
// ECDSA key as the ES256 key.
func (k *Keys) AddPEM(pemData []byte) error {
	pub, err := ParsePublicKey(pemData)
	if err != nil {
		return err
	}
	switch p := pub.(type) {
	case *rsa.PublicKey:
		k.RSA = p
	case *ecdsa.PublicKey:
		k.EC = p
	}
	return nil
}

// LoadFile adds the key in the PEM file at path (AddPEM).
func (k *Keys) LoadFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("auth: key file: %w", err)
	}
	if err := k.AddPEM(b); err != nil {
		return fmt.Errorf("auth: key file %s: %w", path, err)
	}
	return nil
}

// ParsePublicKey returns the RSA or P-256 ECDSA public key in the first PEM
// block of data: PUBLIC KEY (PKIX), RSA PUBLIC KEY (PKCS #1), CERTIFICATE,
// or a private key (PKCS #1, SEC 1, PKCS #8) whose public half it returns.
func ParsePublicKey(data []byte) (crypto.PublicKey, error) {
	blk, _ := pem.Decode(data)
	if blk == nil {
		return nil, errors.New("no PEM block")
	}
	var pub crypto.PublicKey
	var err error
	switch blk.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(blk.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(blk.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(blk.Bytes); err == nil {
			pub = cert.PublicKey
		}
	default:
		var priv crypto.Signer
		if priv, err = parsePrivate(blk); err == nil {
			pub = priv.Public()
		}
	}
	if err != nil {
		return nil, err
	}
	return checkPublic(pub)
}

// checkPublic accepts RSA keys of 2048 bits or more and P-256 ECDSA keys.
func checkPublic(pub crypto.PublicKey) (crypto.PublicKey, error) {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if p.N.BitLen() < 2048 {
			return nil, fmt.Errorf("RSA key of %d bits (RS256 needs 2048 or more)", p.N.BitLen())
		}
		return p, nil
	case *ecdsa.PublicKey:
		if p.Curve != elliptic.P256() {
			return nil, fmt.Errorf("ECDSA key on %s (ES256 needs P-256)", p.Curve.Params().Name)
		}
		return p, nil
	}
	return nil, fmt.Errorf("unsupported key type %T (RSA for RS256 or P-256 ECDSA for ES256)", pub)
}

// ParsePrivateKey returns the RSA or ECDSA private key in the first PEM
// block of data (PKCS #1, SEC 1 or PKCS #8): the signing key of gen-token
// and of tests.
func ParsePrivateKey(data []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(data)
	if blk == nil {
		return nil, errors.New("no PEM block")
	}
	return parsePrivate(blk)
}

func parsePrivate(blk *pem.Block) (crypto.Signer, error) {
	switch blk.Type {
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		return x509.ParseECPrivateKey(blk.Bytes)
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, err
		}
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
		return nil, fmt.Errorf("unsupported private key type %T", k)
	}
	return nil, fmt.Errorf("unsupported PEM block %q", blk.Type)
}
