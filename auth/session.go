package auth

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Session is the authentication state of one connection: its claims (who
// and what it may do), replaced by Refresh, and the timer that ends the
// connection when its token expires. Allowed reads the claims without a
// lock. A nil *Session allows everything (auth off). Safe for concurrent
// use.
type Session struct {
	a      *Authenticator
	claims atomic.Pointer[Claims]

	mu     sync.Mutex
	timer  *time.Timer // nil until Watch, and for a token without exp
	expire func()      // Watch's callback
	done   bool        // Stop was called or the session expired
}

// Claims returns the session's current claims; nil for a nil Session.
func (s *Session) Claims() *Claims {
	if s == nil {
		return nil
	}
	return s.claims.Load()
}

// Sub returns the user: the token's sub, "" when anonymous or nil.
func (s *Session) Sub() string {
	if c := s.Claims(); c != nil {
		return c.Sub
	}
	return ""
}

// Allowed reports whether the session may subscribe to topic or pattern
// (pub false) or publish to topic (pub true): one of the token's subs
// (pubs) patterns covers it. A nil Session allows everything. It
// allocates nothing.
func (s *Session) Allowed(topic string, pub bool) bool {
	if s == nil {
		return true
	}
	c := s.claims.Load()
	if pub {
		return c.Pubs.Grants(topic)
	}
	return c.Subs.Grants(topic)
}

// Check is Allowed as an error: nil, or a KindForbidden *Error naming the
// topic.
func (s *Session) Check(topic string, pub bool) error {
	if s.Allowed(topic, pub) {
		return nil
	}
	return Forbidden(topic, pub)
}

// Forbidden is the error of a refused subscribe (pub false) or publish.
func Forbidden(topic string, pub bool) *Error {
	what := "subscribe to "
	if pub {
		what = "publish to "
	}
	return &Error{KindForbidden, "not allowed to " + what + strconv.Quote(topic)}
}

// Watch calls expire once, from a timer goroutine, when the session's token
// expires without a refresh (Refresh moves the deadline; a token without
// exp never expires). An expired session calls it at once. It costs one
// runtime timer, no goroutine, until Stop. Call it at most once.
func (s *Session) Watch(expire func()) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return
	}
	s.expire = expire
	s.armLocked()
}

// armLocked (re)starts the timer for the current claims' exp.
func (s *Session) armLocked() {
	if s.expire == nil {
		return
	}
	c := s.claims.Load()
	if c.Exp.IsZero() {
		if s.timer != nil {
			s.timer.Stop()
		}
		return
	}
	d := c.Exp.Sub(s.a.now())
	if s.timer == nil {
		s.timer = time.AfterFunc(d, s.fire)
		return
	}
	s.timer.Reset(d)
}

// fire runs when the timer does: the connection ends unless a refresh
// moved exp meanwhile.
func (s *Session) fire() {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return
	}
	if c := s.claims.Load(); !c.Expired(s.a.now()) {
		s.armLocked() // refreshed while the timer fired
		s.mu.Unlock()
		return
	}
	s.done = true
	f := s.expire
	s.mu.Unlock()
	s.a.stats.expired.Add(1)
	s.a.untrack(s.Sub())
	f()
}

// Stop ends the session when its connection closed: the timer stops and
// the user's connection count goes down. Later calls do nothing.
func (s *Session) Stop() {
	if s == nil {
		return
	}
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return
	}
	s.done = true
	if s.timer != nil {
		s.timer.Stop()
	}
	s.mu.Unlock()
	s.a.untrack(s.Sub())
}

// Refresh replaces the session's claims with those of token, which must be
// valid and for the same sub (an anonymous session may take any sub); the
// expiry timer moves to the new exp. A refused token leaves the session as
// it was. New permissions apply to later operations; subscriptions made
// before stay.
func (s *Session) Refresh(token string) error {
	if s == nil {
		return &Error{KindClaims, "authentication is off: nothing to refresh"}
	}
	c, err := s.a.verify(token)
	if err != nil {
		s.a.stats.refreshRefused.Add(1)
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return ErrExpired
	}
	old := s.claims.Load()
	if old.Sub != "" && c.Sub != old.Sub {
		s.a.stats.refreshRefused.Add(1)
		return &Error{KindClaims, "refresh token is for another user (sub " + quoteShort(c.Sub) + ", the connection is " + quoteShort(old.Sub) + ")"}
	}
	if old.Sub != c.Sub {
		s.a.untrack(old.Sub)
		s.a.track(c.Sub)
	}
	s.claims.Store(c)
	s.armLocked()
	s.a.stats.refreshed.Add(1)
	return nil
}
