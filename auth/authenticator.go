package auth

import (
	"crypto/subtle"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Mode is how connections without a token are treated.
type Mode uint8

// Modes of --auth.
const (
	ModeOff      Mode = iota // no authentication: everything is allowed (New returns nil)
	ModeOptional             // a token is verified when given; without one the connection has the anonymous permissions
	ModeRequired             // every connection needs a valid token
)

// ParseMode parses "off", "optional" or "required".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "off", "":
		return ModeOff, nil
	case "optional":
		return ModeOptional, nil
	case "required":
		return ModeRequired, nil
	}
	return ModeOff, fmt.Errorf("auth: mode %q: want off, optional or required", s)
}

func (m Mode) String() string {
	return [...]string{"off", "optional", "required"}[m]
}

// StaticToken is an opaque token that stands for fixed claims (the
// server's --publish-token works this way when auth is on).
type StaticToken struct {
	Token  string
	Claims *Claims
}

// Config configures an Authenticator.
type Config struct {
	Mode     Mode
	Verifier *Verifier // required unless Mode is ModeOff
	// Cookie is the name of the cookie a token is read from; "" means
	// DefaultCookie.
	Cookie string
	// AnonSubs and AnonPubs are the permissions of a connection without a
	// token under ModeOptional.
	AnonSubs, AnonPubs Perms
	// Static tokens are accepted as they are, before JWT verification.
	Static []StaticToken
	// Now is the clock of expiry timers; nil means time.Now. (The
	// Verifier has its own.)
	Now func() time.Time
}

// Authenticator turns tokens into Sessions under a Mode and counts what it
// does. A nil *Authenticator is auth off: Open returns nil Sessions, which
// allow everything. Safe for concurrent use.
type Authenticator struct {
	cfg  Config
	anon *Claims

	mu    sync.Mutex
	users map[string]int // open sessions per sub; guarded by mu

	stats struct {
		opened, refused, expired, refreshed, refreshRefused atomic.Uint64
		byKind                                              [KindForbidden + 1]atomic.Uint64
	}
}

// New returns an Authenticator for cfg, or nil for ModeOff.
func New(cfg Config) (*Authenticator, error) {
	if cfg.Mode == ModeOff {
		return nil, nil
	}
	if cfg.Verifier == nil && len(cfg.Static) == 0 {
		return nil, fmt.Errorf("auth: --auth=%s needs a key (secret, key file or JWKS URL)", cfg.Mode)
	}
	if cfg.Cookie == "" {
		cfg.Cookie = DefaultCookie
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &Authenticator{cfg: cfg, users: map[string]int{}}
	a.anon = &Claims{}
	if cfg.Mode == ModeOptional {
		a.anon.Subs, a.anon.Pubs = cfg.AnonSubs, cfg.AnonPubs
	}
	return a, nil
}

func (a *Authenticator) now() time.Time { return a.cfg.Now() }

// Mode returns the mode; ModeOff for nil.
func (a *Authenticator) Mode() Mode {
	if a == nil {
		return ModeOff
	}
	return a.cfg.Mode
}

// Cookie returns the name of the token cookie.
func (a *Authenticator) Cookie() string { return a.cfg.Cookie }

// Token returns the token creds carry (Creds.Token with the configured
// cookie).
func (a *Authenticator) Token(c Creds) string { return c.Token(a.cfg.Cookie) }

// verify checks token: a static token, else a JWT.
func (a *Authenticator) verify(token string) (*Claims, error) {
	for _, st := range a.cfg.Static {
		if subtle.ConstantTimeCompare([]byte(token), []byte(st.Token)) == 1 {
			return st.Claims, nil
		}
	}
	if a.cfg.Verifier == nil {
		return nil, &Error{KindSignature, "token not accepted"}
	}
	return a.cfg.Verifier.Verify(token)
}

// Open authenticates a connection that presented token ("" for none) and
// returns its Session: the token's, or under ModeOptional without a token
// an anonymous one. A refused token (or none under ModeRequired) is an
// *Error (status 401). On a nil Authenticator it returns nil, nil.
func (a *Authenticator) Open(token string) (*Session, error) {
	if a == nil {
		return nil, nil
	}
	var c *Claims
	if token == "" {
		if a.cfg.Mode == ModeRequired {
			a.refused(ErrMissing)
			return nil, ErrMissing
		}
		c = a.anon
	} else {
		var err error
		if c, err = a.verify(token); err != nil {
			a.refused(err)
			return nil, err
		}
	}
	s := &Session{a: a}
	s.claims.Store(c)
	a.track(c.Sub)
	a.stats.opened.Add(1)
	return s, nil
}

// OpenCreds is Open with the token creds carry.
func (a *Authenticator) OpenCreds(c Creds) (*Session, error) {
	if a == nil {
		return nil, nil
	}
	return a.Open(a.Token(c))
}

// Allowed is s.Allowed when s is set; for a connection without a session
// it allows everything when a is nil (auth off) and otherwise gives the
// anonymous permissions (none under ModeRequired), so that a way in that
// did not authenticate fails closed.
func (a *Authenticator) Allowed(s *Session, topic string, pub bool) bool {
	if a == nil {
		return true
	}
	if s == nil {
		if pub {
			return a.anon.Pubs.Grants(topic)
		}
		return a.anon.Subs.Grants(topic)
	}
	return s.Allowed(topic, pub)
}

// Check is Allowed as an error (Forbidden), counted.
func (a *Authenticator) Check(s *Session, topic string, pub bool) error {
	if a.Allowed(s, topic, pub) {
		return nil
	}
	e := Forbidden(topic, pub)
	a.refused(e)
	return e
}

func (a *Authenticator) refused(err error) {
	a.stats.refused.Add(1)
	if e, ok := err.(*Error); ok && int(e.Kind) < len(a.stats.byKind) {
		a.stats.byKind[e.Kind].Add(1)
	}
}

func (a *Authenticator) track(sub string) {
	a.mu.Lock()
	a.users[sub]++
	a.mu.Unlock()
}

func (a *Authenticator) untrack(sub string) {
	a.mu.Lock()
	if n := a.users[sub] - 1; n > 0 {
		a.users[sub] = n
	} else {
		delete(a.users, sub)
	}
	a.mu.Unlock()
}

// Stats are an Authenticator's counters, for /stats.
type Stats struct {
	Mode           string            `json:"mode"`
	Sessions       uint64            `json:"sessions"`        // sessions opened (connections authenticated, anonymous included)
	Refused        uint64            `json:"refused"`         // tokens and operations refused
	RefusedBy      map[string]uint64 `json:"refused_by"`      // ... by kind
	Expired        uint64            `json:"expired"`         // connections closed because their token expired
	Refreshed      uint64            `json:"refreshed"`       // refreshes accepted
	RefreshRefused uint64            `json:"refresh_refused"` // refreshes refused
	Users          int               `json:"users"`           // distinct subs connected now ("" for anonymous included)
	TopUsers       []UserConns       `json:"top_users"`       // the users with the most connections now, at most 20
}

// UserConns is one user's connection count.
type UserConns struct {
	Sub   string `json:"sub"` // "" for anonymous connections
	Conns int    `json:"conns"`
}

var kindNames = [...]string{KindMissing: "missing", KindMalformed: "malformed", KindSignature: "signature",
	KindUnknownKey: "unknown_kid", KindExpired: "expired", KindClaims: "claims", KindForbidden: "forbidden"}

// Stats returns the counters; nil for a nil Authenticator.
func (a *Authenticator) Stats() *Stats {
	if a == nil {
		return nil
	}
	st := &Stats{Mode: a.cfg.Mode.String(), Sessions: a.stats.opened.Load(), Refused: a.stats.refused.Load(),
		Expired: a.stats.expired.Load(), Refreshed: a.stats.refreshed.Load(), RefreshRefused: a.stats.refreshRefused.Load(),
		RefusedBy: map[string]uint64{}, TopUsers: []UserConns{}}
	for k := KindMissing; k <= KindForbidden; k++ {
		if n := a.stats.byKind[k].Load(); n > 0 {
			st.RefusedBy[kindNames[k]] = n
		}
	}
	a.mu.Lock()
	st.Users = len(a.users)
	for sub, n := range a.users {
		st.TopUsers = append(st.TopUsers, UserConns{sub, n})
	}
	a.mu.Unlock()
	sort.Slice(st.TopUsers, func(i, j int) bool {
		if st.TopUsers[i].Conns != st.TopUsers[j].Conns {
			return st.TopUsers[i].Conns > st.TopUsers[j].Conns
		}
		return st.TopUsers[i].Sub < st.TopUsers[j].Sub
	})
	if len(st.TopUsers) > 20 {
		st.TopUsers = st.TopUsers[:20]
	}
	return st
}
