package auth

import (
	"strings"
	"testing"
	"time"
)

func newAuth(t *testing.T, mode Mode) *Authenticator {
	t.Helper()
	a, err := New(Config{Mode: mode, Verifier: allVerifier(t), AnonSubs: Perms{"public.>"},
		Static: []StaticToken{{Token: "pub-secret", Claims: &Claims{Sub: "publisher", Subs: Perms{">"}, Pubs: Perms{">"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestModes(t *testing.T) {
	if a, err := New(Config{Mode: ModeOff}); a != nil || err != nil {
		t.Fatalf("off: %v %v", a, err)
	}
	var off *Authenticator
	if s, err := off.Open(""); s != nil || err != nil || !off.Allowed(nil, "x", true) || !s.Allowed("x", true) {
		t.Fatal("nil Authenticator must allow everything")
	}
	if _, err := New(Config{Mode: ModeRequired}); err == nil {
		t.Fatal("required without keys")
	}
	for _, m := range []string{"off", "optional", "required"} {
		if got, err := ParseMode(m); err != nil || got.String() != m {
			t.Fatalf("%s: %v %v", m, got, err)
		}
	}
	if _, err := ParseMode("on"); err == nil {
		t.Fatal("mode on accepted")
	}

	req := newAuth(t, ModeRequired)
	if _, err := req.Open(""); err != ErrMissing {
		t.Fatalf("required, no token: %v", err)
	}
	if req.Allowed(nil, "public.x", false) {
		t.Fatal("required: a connection without a session gets nothing")
	}
	opt := newAuth(t, ModeOptional)
	s, err := opt.Open("")
	if err != nil || s.Sub() != "" || !s.Allowed("public.news", false) || s.Allowed("md.x", false) || s.Allowed("public.x", true) {
		t.Fatalf("optional, anonymous: %v", err)
	}
	if !opt.Allowed(nil, "public.x", false) || opt.Allowed(nil, "public.x", true) {
		t.Fatal("optional: no session = anonymous permissions")
	}
	// A bad token is refused in optional mode too: it is not anonymous.
	if _, err := opt.Open("garbage"); !IsKind(err, KindMalformed) {
		t.Fatalf("optional, bad token: %v", err)
	}
	// A static token.
	ps, err := opt.Open("pub-secret")
	if err != nil || ps.Sub() != "publisher" || !ps.Allowed("any.thing", true) {
		t.Fatalf("static: %v", err)
	}
	ps.Stop()
	s.Stop()
}

func TestSessionPermissions(t *testing.T) {
	a := newAuth(t, ModeRequired)
	s, err := a.OpenCreds(Creds{Query: "token=" + sign(t, claims("alice", time.Hour, []string{"md.>"}, []string{"orders.*"}), "HS256", testSecret, "")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	for _, c := range []struct {
		topic string
		pub   bool
		want  bool
	}{
		{"md.AAPL.quote", false, true}, {"md.*.quote", false, true}, {"md.>", false, true}, {">", false, false},
		{"orders.new", false, false}, {"orders.new", true, true}, {"orders.new.x", true, false}, {"md.x", true, false},
	} {
		if got := a.Allowed(s, c.topic, c.pub); got != c.want {
			t.Errorf("Allowed(%q, pub=%v) = %v", c.topic, c.pub, got)
		}
	}
	err = a.Check(s, ">", false)
	if err == nil || StatusOf(err) != 403 || !strings.Contains(err.Error(), `not allowed to subscribe to ">"`) {
		t.Fatalf("Check: %v", err)
	}
	if n := testing.AllocsPerRun(100, func() { _ = a.Allowed(s, "md.x.quote", false) }); n != 0 {
		t.Fatalf("Allowed allocates %v", n)
	}
}

func waitClosed(t *testing.T, ch <-chan struct{}, d time.Duration) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(d):
		t.Fatal("not expired in time")
	}
}

func TestSessionExpires(t *testing.T) {
	a := newAuth(t, ModeRequired)
	s, err := a.Open(sign(t, claims("alice", 1500*time.Millisecond, []string{">"}, nil), "HS256", testSecret, ""))
	if err != nil {
		t.Fatal(err)
	}
	expired := make(chan struct{})
	start := time.Now()
	s.Watch(func() { close(expired) })
	waitClosed(t, expired, 5*time.Second)
	// exp has a one-second resolution: it fired within a second of 1.5 s.
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Fatalf("expired after %v", d)
	}
	if err := s.Refresh(sign(t, claims("alice", time.Hour, nil, nil), "HS256", testSecret, "")); err != ErrExpired {
		t.Fatalf("refresh after expiry: %v", err)
	}
	st := a.Stats()
	if st.Expired != 1 || st.Users != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSessionRefreshKeepsItOpen(t *testing.T) {
	a := newAuth(t, ModeRequired)
	s, err := a.Open(sign(t, claims("alice", 1*time.Second, []string{"md.>"}, nil), "HS256", testSecret, ""))
	if err != nil {
		t.Fatal(err)
	}
	expired := make(chan struct{})
	s.Watch(func() { close(expired) })
	// Refused refreshes change nothing.
	if err := s.Refresh("garbage"); !IsKind(err, KindMalformed) {
		t.Fatalf("bad refresh: %v", err)
	}
	if err := s.Refresh(sign(t, claims("mallory", time.Hour, []string{">"}, nil), "HS256", testSecret, "")); !IsKind(err, KindClaims) || !strings.Contains(err.Error(), "another user") {
		t.Fatalf("refresh for another sub: %v", err)
	}
	if err := s.Refresh(sign(t, claims("alice", -time.Second, nil, nil), "HS256", testSecret, "")); err != ErrExpired {
		t.Fatalf("expired refresh: %v", err)
	}
	// A good one moves exp and replaces the permissions.
	if err := s.Refresh(sign(t, claims("alice", 3*time.Second, []string{"news.>"}, nil), "HS256", testSecret, "")); err != nil {
		t.Fatal(err)
	}
	if s.Allowed("md.x", false) || !s.Allowed("news.x", false) {
		t.Fatal("permissions not replaced")
	}
	select {
	case <-expired:
		t.Fatal("expired despite the refresh")
	case <-time.After(2 * time.Second): // past the first token's exp
	}
	waitClosed(t, expired, 5*time.Second) // the refreshed token's exp
	st := a.Stats()
	if st.Refreshed != 1 || st.RefreshRefused != 3 || st.Expired != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSessionStopAndStats(t *testing.T) {
	a := newAuth(t, ModeOptional)
	var ss []*Session
	for _, sub := range []string{"alice", "alice", "bob", ""} {
		tok := ""
		if sub != "" {
			tok = sign(t, claims(sub, time.Hour, nil, nil), "HS256", testSecret, "")
		}
		s, err := a.Open(tok)
		if err != nil {
			t.Fatal(err)
		}
		expired := make(chan struct{})
		s.Watch(func() { close(expired) })
		ss = append(ss, s)
	}
	_, _ = a.Open("garbage")
	st := a.Stats()
	if st.Users != 3 || st.TopUsers[0] != (UserConns{"alice", 2}) || st.Sessions != 4 || st.Refused != 1 || st.RefusedBy["malformed"] != 1 {
		t.Fatalf("stats %+v", st)
	}
	for _, s := range ss {
		s.Stop()
		s.Stop() // twice is harmless
	}
	if st := a.Stats(); st.Users != 0 {
		t.Fatalf("after stop %+v", st)
	}
	// An anonymous session may refresh into a user.
	s, _ := a.Open("")
	if err := s.Refresh(sign(t, claims("carol", time.Hour, nil, nil), "HS256", testSecret, "")); err != nil || s.Sub() != "carol" {
		t.Fatalf("anonymous refresh: %v", err)
	}
	if st := a.Stats(); st.Users != 1 || st.TopUsers[0].Sub != "carol" {
		t.Fatalf("after anonymous refresh %+v", st)
	}
}
