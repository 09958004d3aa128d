package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"sync"
	"time"
)

// JWKS is a JSON Web Key Set fetched from a URL: RSA (RS256) and P-256 EC
// (ES256) keys by kid, cached. A kid it does not know makes it fetch the set
// again (key rotation), at most once per MinRefresh: a flood of tokens with
// made-up kids costs one fetch per MinRefresh, and meanwhile they are
// refused at once. One fetch runs at a time; verifications that need it
// wait for it (bounded by the fetch's timeout). Safe for concurrent use.
type JWKS struct {
	url        string
	client     *http.Client
	minRefresh time.Duration

	mu       sync.Mutex
	keys     map[string]crypto.PublicKey // guarded by mu
	fetched  time.Time                   // start of the last fetch, guarded by mu
	lastErr  error                       // of the last fetch, guarded by mu
	inFlight chan struct{}               // closed when the running fetch ends; nil when none
}

// JWKSConfig configures a JWKS.
type JWKSConfig struct {
	URL string
	// Client fetches the set. Nil: a client with a 5 s timeout.
	Client *http.Client
	// MinRefresh is the shortest time between two fetches caused by an
	// unknown kid. Zero means 30 s.
	MinRefresh time.Duration
}

// maxJWKSBytes bounds a fetched key set.
const maxJWKSBytes = 1 << 20

// NewJWKS returns a JWKS for cfg and fetches it once; a failed first fetch
// is returned as an error along with the JWKS, which fetches again on the
// first token that needs it.
func NewJWKS(cfg JWKSConfig) (*JWKS, error) {
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 5 * time.Second}
	}
	if cfg.MinRefresh <= 0 {
		cfg.MinRefresh = 30 * time.Second
	}
	j := &JWKS{url: cfg.URL, client: cfg.Client, minRefresh: cfg.MinRefresh, keys: map[string]crypto.PublicKey{}}
	return j, j.refresh(true)
}

// Key returns the key with id kid, fetching the set again when kid is
// unknown and the last fetch is older than MinRefresh.
func (j *JWKS) Key(kid string) (crypto.PublicKey, error) {
	j.mu.Lock()
	k, ok := j.keys[kid]
	j.mu.Unlock()
	if ok {
		return k, nil
	}
	if err := j.refresh(false); err != nil {
		return nil, &Error{KindUnknownKey, "unknown key id " + quoteShort(kid) + " (the key set could not be fetched)"}
	}
	j.mu.Lock()
	k, ok = j.keys[kid]
	j.mu.Unlock()
	if !ok {
		return nil, &Error{KindUnknownKey, "unknown key id " + quoteShort(kid)}
	}
	return k, nil
}

// refresh fetches the set unless one was fetched less than MinRefresh ago
// (force skips that check); when a fetch is running it waits for that one.
func (j *JWKS) refresh(force bool) error {
	j.mu.Lock()
	if ch := j.inFlight; ch != nil {
		j.mu.Unlock()
		<-ch
		j.mu.Lock()
		err := j.lastErr
		j.mu.Unlock()
		return err
	}
	if !force && time.Since(j.fetched) < j.minRefresh {
		err := j.lastErr
		j.mu.Unlock()
		return err
	}
	ch := make(chan struct{})
	j.inFlight = ch
	j.fetched = time.Now()
	j.mu.Unlock()

	keys, err := j.fetch()

	j.mu.Lock()
	if err == nil {
		j.keys = keys // a rotated-out key goes with the old set
	}
	j.lastErr = err
	j.inFlight = nil
	j.mu.Unlock()
	close(ch)
	return err
}

func (j *JWKS) fetch() (map[string]crypto.PublicKey, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, j.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := j.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("auth: fetching JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("auth: fetching JWKS %s: HTTP %d", j.url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes))
	if err != nil {
		return nil, fmt.Errorf("auth: fetching JWKS: %w", err)
	}
	return ParseJWKS(body)
}

// jwk is one JSON Web Key: the members c1m reads.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// ParseJWKS parses a key set ({"keys":[...]}) into its RSA and P-256 EC
// keys by kid. Keys of other types, for encryption (use "enc"), or
// without a kid are skipped; a malformed RSA or EC key is an error.
func ParseJWKS(body []byte) (map[string]crypto.PublicKey, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("auth: JWKS is not a JSON key set: %w", err)
	}
	keys := make(map[string]crypto.PublicKey, len(set.Keys))
	for i, k := range set.Keys {
		if k.Kid == "" || k.Use == "enc" {
			continue
		}
		var pub crypto.PublicKey
		var err error
		switch k.Kty {
		case "RSA":
			pub, err = rsaJWK(&k)
		case "EC":
			pub, err = ecJWK(&k)
		default:
			continue
		}
		if err == nil {
			pub, err = checkPublic(pub)
		}
		if err != nil {
			return nil, fmt.Errorf("auth: JWKS key %d (kid %q): %w", i, k.Kid, err)
		}
		keys[k.Kid] = pub
	}
	return keys, nil
}

func b64int(s string) (*big.Int, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, errors.New("bad base64url number")
	}
	return new(big.Int).SetBytes(b), nil
}

func rsaJWK(k *jwk) (crypto.PublicKey, error) {
	n, err := b64int(k.N)
	if err != nil {
		return nil, fmt.Errorf("n: %w", err)
	}
	e, err := b64int(k.E)
	if err != nil || !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 {
		return nil, errors.New("bad exponent e")
	}
	return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
}

func ecJWK(k *jwk) (crypto.PublicKey, error) {
	if k.Crv != "P-256" {
		return nil, fmt.Errorf("curve %q (ES256 needs P-256)", k.Crv)
	}
	x, err := b64int(k.X)
	if err != nil {
		return nil, fmt.Errorf("x: %w", err)
	}
	y, err := b64int(k.Y)
	if err != nil {
		return nil, fmt.Errorf("y: %w", err)
	}
	// Validate the point via the uncompressed encoding (ecdh checks it).
	buf := make([]byte, 65)
	buf[0] = 4
	if len(x.Bytes()) > 32 || len(y.Bytes()) > 32 {
		return nil, errors.New("coordinate too long")
	}
	x.FillBytes(buf[1:33])
	y.FillBytes(buf[33:])
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), buf)
	if err != nil {
		return nil, fmt.Errorf("point not on P-256: %w", err)
	}
	return pub, nil
}

// JWK returns the public JWK of pub (RSA or P-256 ECDSA) with id kid, as a
// JWKS serves it: for tests and tools.
func JWK(kid string, pub crypto.PublicKey) map[string]string {
	enc := base64.RawURLEncoding.EncodeToString
	switch p := pub.(type) {
	case *rsa.PublicKey:
		return map[string]string{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
			"n": enc(p.N.Bytes()), "e": enc(big.NewInt(int64(p.E)).Bytes())}
	case *ecdsa.PublicKey:
		b, _ := p.Bytes()
		return map[string]string{"kty": "EC", "kid": kid, "use": "sig", "alg": "ES256", "crv": "P-256",
			"x": enc(b[1:33]), "y": enc(b[33:])}
	}
	return nil
}

// quoteShort quotes s, cut to 64 bytes: a client's kid goes into messages.
func quoteShort(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	b, _ := json.Marshal(s)
	return string(b)
}
