package server

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/c1mhq/c1m/auth"
	"github.com/c1mhq/c1m/hub"
	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/wsframe"
)

// AuthConfig configures JWT authentication and per-topic permissions
// (package auth, docs/PROTOCOL.md "Authentication"). The zero value is
// auth off: everything behaves as without it.
type AuthConfig struct {
	// Mode is off, optional (a token is verified when given; without one a
	// connection has AnonSubs/AnonPubs) or required.
	Mode auth.Mode
	// Keys are the static verification keys (HS256 secret, RS256 and
	// ES256 public keys).
	Keys auth.Keys
	// JWKSURL, when set, is fetched for RS256/ES256 keys by kid.
	JWKSURL string
	// JWKSMinRefresh is the shortest time between two fetches caused by an
	// unknown kid. Zero means 30 s.
	JWKSMinRefresh time.Duration
	// Cookie is the name of the token cookie; "" means "c1m_token".
	Cookie string
	// Issuer and Audience, when set, must match iss and aud.
	Issuer, Audience string
	// Leeway is the clock skew allowed on exp and nbf.
	Leeway time.Duration
	// AnonSubs and AnonPubs are the topic patterns a connection without a
	// token may subscribe and publish to under optional.
	AnonSubs, AnonPubs []string
}

// openAuth builds the Authenticator (nil when auth is off). The publish
// token, when set, is accepted as a token with every permission, so that
// publishers keep working when auth is turned on.
func (s *Server) openAuth() error {
	c := s.cfg.Auth
	if c.Mode == auth.ModeOff {
		return nil
	}
	vc := auth.VerifierConfig{Keys: c.Keys, Issuer: c.Issuer, Audience: c.Audience, Leeway: c.Leeway}
	if c.JWKSURL != "" {
		j, err := auth.NewJWKS(auth.JWKSConfig{URL: c.JWKSURL, MinRefresh: c.JWKSMinRefresh})
		if err != nil {
			// The IdP may come up later: the first token that needs a key
			// fetches again.
			s.log.Warn("auth: JWKS not fetched at start", "url", c.JWKSURL, "err", err)
		}
		vc.JWKS = j
	}
	var v *auth.Verifier
	if !c.Keys.Empty() || vc.JWKS != nil {
		var err error
		if v, err = auth.NewVerifier(vc); err != nil {
			return err
		}
	}
	anonSubs, err := auth.ParsePerms("--auth-anon-subs", c.AnonSubs)
	if err != nil {
		return err
	}
	anonPubs, err := auth.ParsePerms("--auth-anon-pubs", c.AnonPubs)
	if err != nil {
		return err
	}
	ac := auth.Config{Mode: c.Mode, Verifier: v, Cookie: c.Cookie, AnonSubs: anonSubs, AnonPubs: anonPubs}
	if s.cfg.PublishToken != "" {
		ac.Static = []auth.StaticToken{{Token: s.cfg.PublishToken,
			Claims: &auth.Claims{Sub: "publish-token", Subs: auth.Perms{">"}, Pubs: auth.Perms{">"}}}}
	}
	s.auth, err = auth.New(ac)
	if err != nil {
		return err
	}
	s.log.Info("auth on", "mode", c.Mode.String(), "jwks", c.JWKSURL != "", "cookie", s.auth.Cookie())
	return nil
}

// Auth returns the server's Authenticator, nil when auth is off.
func (s *Server) Auth() *auth.Authenticator { return s.auth }

// authorizeUpgrade is the Upgrader.Authorize of /ws: the token (Bearer,
// ?token=, cookie) is verified before the 101, and a refused one gets 401
// with WWW-Authenticate; the session becomes the connection's Value.
// Socket.IO and STOMP authenticate in their CONNECT instead, and SockJS
// when its session opens, so their upgrades pass.
func (s *Server) authorizeUpgrade(path, query, authorization, cookie string) (any, error) {
	if path != "/ws" {
		return nil, nil
	}
	sess, err := s.auth.OpenCreds(auth.Creds{Authorization: authorization, Query: query, Cookie: cookie})
	if err != nil {
		s.log.Debug("upgrade refused: token", "err", err)
		return nil, wsframe.RejectWith(auth.StatusOf(err), authHeader(err), authBody(err))
	}
	if sess == nil {
		return nil, nil
	}
	return sess, nil
}

// authHeader is the header lines of a 401 or 403 answer.
func authHeader(err error) string {
	h := "Content-Type: application/json\r\nCache-Control: no-store\r\n"
	if auth.StatusOf(err) == http.StatusUnauthorized {
		h += `WWW-Authenticate: Bearer realm="c1m", error="invalid_token"` + "\r\n"
	}
	return h
}

// authBody is the JSON body of a 401 or 403: {"error":..,"status":..}.
func authBody(err error) string {
	b, _ := json.Marshal(map[string]any{"error": err.Error(), "status": auth.StatusOf(err)})
	return string(b)
}

// httpAuth authenticates an HTTP request (POST /publish): its session, or
// false after answering 401. The session must be stopped after use.
func (s *Server) httpAuth(w http.ResponseWriter, r *http.Request) (*auth.Session, bool) {
	sess, err := s.auth.OpenCreds(auth.Creds{Authorization: r.Header.Get("Authorization"), Query: r.URL.RawQuery, Cookie: r.Header.Get("Cookie")})
	if err != nil {
		s.refused(r, http.StatusUnauthorized)
		w.Header().Set("WWW-Authenticate", `Bearer realm="c1m", error="invalid_token"`)
		httpError(w, http.StatusUnauthorized, err.Error())
		return nil, false
	}
	return sess, true
}

// httpPermit answers 403 (401 without a token) and returns false when sess
// may not publish to topic.
func (s *Server) httpPermit(w http.ResponseWriter, r *http.Request, sess *auth.Session, topic string) bool {
	if hub.CheckTopic(topic, false) != "" {
		return true // malformed: the hub's answer (422) says why
	}
	err := s.auth.Check(sess, topic, true)
	if err == nil {
		return true
	}
	status := http.StatusForbidden
	msg := err.Error()
	if sess.Sub() == "" {
		status = http.StatusUnauthorized
		msg += " without a token"
		w.Header().Set("WWW-Authenticate", `Bearer realm="c1m"`)
	}
	s.refused(r, status)
	httpError(w, status, msg)
	return false
}

// authStats is /stats' auth section: nil when auth is off.
func (s *Server) authStats() any {
	if s.auth == nil {
		return nil
	}
	return s.auth.Stats()
}

// sessionOf returns the auth session kept in a peer's Value.
func sessionOf(c poller.Peer) *auth.Session {
	sess, _ := c.Value().(*auth.Session)
	return sess
}
