package stomp

import (
	"strconv"
	"strings"

	"github.com/c1mhq/c1m/auth"
	"github.com/c1mhq/c1m/wsframe"
)

// RefreshDestination is the reserved destination of a token refresh: a
// SEND to it whose body (or token header) is the new token replaces the
// session's token (with Config.Auth). It is not a topic: nothing is
// published, and a receipt is answered as for any SEND.
const RefreshDestination = "/c1m/refresh"

// CloseAuth is the WebSocket close code after the ERROR of an expired
// token (4401, as HTTP's 401).
const CloseAuth wsframe.StatusCode = 4401

// authenticate opens the session's auth session from CONNECT frame f: the
// passcode, else a Bearer Authorization (the frame's, "authorization" or
// "Authorization", or the upgrade's), else the upgrade's ?token=. A refused
// token is an ERROR.
func (s *session) authenticate(f *Frame, info *ConnectInfo) *refusal {
	a := s.h.cfg.Auth
	if a == nil {
		return nil
	}
	tok := info.Passcode
	if tok == "" {
		tok = auth.FromAuthorization(header(f, "Authorization"))
	}
	if tok == "" {
		tok = auth.FromAuthorization(info.Authorization)
	}
	if tok == "" {
		tok = auth.FromQuery(s.c.Query())
	}
	sess, err := a.Open(tok)
	if err != nil {
		r := refuse("authentication failed", err.Error()+" (send the token as the CONNECT's passcode or Authorization: Bearer header)")
		r.Code = wsframe.StatusPolicyViolation
		return r
	}
	s.auth = sess
	return nil
}

// permit refuses a SUBSCRIBE (pub false) or SEND the token does not allow.
func (s *session) permit(topic string, pub bool) *refusal {
	a := s.h.cfg.Auth
	if a == nil {
		return nil
	}
	if err := a.Check(s.auth, topic, pub); err != nil {
		claim := "subs"
		if pub {
			claim = "pubs"
		}
		r := refuse("forbidden", err.Error()+" (the token's "+claim+" do not cover it)")
		r.Code = wsframe.StatusPolicyViolation
		return r
	}
	return nil
}

// refresh handles a SEND to RefreshDestination: the token is its token
// header or its body.
func (s *session) refresh(f *Frame) *refusal {
	tok := header(f, "token")
	if tok == "" {
		tok = strings.TrimSpace(string(f.Body))
	}
	if tok == "" {
		return refuse("refresh refused", "a SEND to "+strconv.Quote(RefreshDestination)+" carries the new token as its body or token header")
	}
	if err := s.auth.Refresh(tok); err != nil {
		r := refuse("refresh refused", err.Error())
		r.Code = wsframe.StatusPolicyViolation
		return r
	}
	return nil
}

// expire runs when the session's token expired without a refresh: an
// ERROR "token expired", then close 4401.
func (s *session) expire() {
	r := refuse("token expired", "the token expired: connect again with a new one, or refresh before exp with a SEND to "+RefreshDestination)
	r.Code = CloseAuth
	s.fail(r)
}
