package server_test

// JWT authentication and per-topic permissions (issue 14): the native
// protocol on /ws, SockJS, and HTTP /publish. SSE, Socket.IO and STOMP are
// in auth_protocols_test.go.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"

	"github.com/c1mhq/c1m/auth"
	"github.com/c1mhq/c1m/server"
)

var authSecret = []byte("test-secret-test-secret-test-sec")

// authCfg is a server config with --auth=mode and an HS256 secret; the
// anonymous may subscribe to public.> under optional.
func authCfg(mode auth.Mode) server.Config {
	cfg := server.Config{ClientPublish: true}
	cfg.Auth.Mode = mode
	cfg.Auth.Keys.Secret = authSecret
	cfg.Auth.AnonSubs = []string{"public.>"}
	return cfg
}

// token signs an HS256 token for sub with ttl (none when 0).
func token(t testing.TB, sub string, ttl time.Duration, subs, pubs []string) string {
	t.Helper()
	tc := &auth.TokenClaims{Subs: subs, Pubs: pubs}
	tc.Subject = sub
	if ttl != 0 {
		tc.ExpiresAt = jwt.NewNumericDate(time.Now().Add(ttl))
	}
	s, err := auth.Sign(tc, "HS256", authSecret, "")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// dialRaw dials /ws with h and returns the connection or the refusal.
func dialRaw(addr, rawQuery string, h http.Header) (*websocket.Conn, int, string, http.Header) {
	u := "ws://" + addr + "/ws"
	if rawQuery != "" {
		u += "?" + rawQuery
	}
	c, resp, err := websocket.DefaultDialer.Dial(u, h)
	if err != nil {
		if resp == nil {
			return nil, 0, err.Error(), nil
		}
		b, _ := io.ReadAll(resp.Body)
		return nil, resp.StatusCode, string(b), resp.Header
	}
	return c, 101, "", resp.Header
}

func dialToken(t testing.TB, addr, tok string) *client {
	t.Helper()
	c, status, body, _ := dialRaw(addr, "", http.Header{"Authorization": {"Bearer " + tok}})
	if c == nil {
		t.Fatalf("dial: %d %s", status, body)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, ws: c}
}

func TestAuthUpgradeTokenSources(t *testing.T) {
	_, addr := start(t, authCfg(auth.ModeRequired))
	good := token(t, "alice", time.Hour, []string{"md.>"}, nil)
	for name, c := range map[string]struct {
		query string
		h     http.Header
	}{
		"bearer": {"", http.Header{"Authorization": {"Bearer " + good}}},
		"query":  {"token=" + url.QueryEscape(good), nil},
		"cookie": {"", http.Header{"Cookie": {"theme=dark; c1m_token=" + good}}},
	} {
		ws, status, body, _ := dialRaw(addr, c.query, c.h)
		if ws == nil {
			t.Fatalf("%s: %d %s", name, status, body)
		}
		cl := &client{t: t, ws: ws}
		cl.send(`{"op":"sub","id":1,"topics":["md.AAPL.quote"]}`)
		cl.expectOK(1)
		ws.Close()
	}
}

func TestAuthUpgradeRefusals(t *testing.T) {
	_, addr := start(t, authCfg(auth.ModeRequired))
	wrongKey, _ := auth.Sign(&auth.TokenClaims{RegisteredClaims: jwt.RegisteredClaims{Subject: "alice"}}, "HS256", []byte("another-secret-another-secret-xx"), "")
	cases := []struct {
		name, query string
		h           http.Header
		msg         string
	}{
		{"no token", "", nil, "authentication required"},
		{"malformed", "", http.Header{"Authorization": {"Bearer not.a.jwt"}}, "malformed token"},
		{"expired", "", http.Header{"Authorization": {"Bearer " + token(t, "alice", -time.Minute, nil, nil)}}, "token expired"},
		{"wrong signature", "token=" + wrongKey, nil, "signature is invalid"},
		{"unknown kid", "", http.Header{"Authorization": {"Bearer " + mustSignKid(t, "k7")}}, "signing method"},
		{"wrong cookie name", "", http.Header{"Cookie": {"token=" + token(t, "alice", time.Hour, nil, nil)}}, "authentication required"},
	}
	for _, c := range cases {
		ws, status, body, h := dialRaw(addr, c.query, c.h)
		if ws != nil {
			ws.Close()
			t.Fatalf("%s: upgraded", c.name)
		}
		var e struct {
			Error  string
			Status int
		}
		if status != 401 || json.Unmarshal([]byte(body), &e) != nil || !strings.Contains(e.Error, c.msg) || e.Status != 401 {
			t.Fatalf("%s: %d %s, want 401 with %q", c.name, status, body, c.msg)
		}
		if !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("%s: WWW-Authenticate %q", c.name, h.Get("WWW-Authenticate"))
		}
	}
	// The refusals harmed nobody: a good token still connects.
	c := dialToken(t, addr, token(t, "alice", time.Hour, []string{">"}, nil))
	c.send(`{"op":"ping","id":1}`)
	c.expectOK(1)
}

// mustSignKid signs an RS256 token with a kid no key has (the server has
// only an HS256 secret).
func mustSignKid(t testing.TB, kid string) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, &auth.TokenClaims{RegisteredClaims: jwt.RegisteredClaims{Subject: "x"}})
	tok.Header["alg"] = "RS256"
	tok.Header["kid"] = kid
	s, err := tok.SignedString(authSecret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAuthNativePermissions(t *testing.T) {
	_, addr := start(t, authCfg(auth.ModeRequired))
	c := dialToken(t, addr, token(t, "alice", time.Hour, []string{"md.>", "news.*"}, []string{"orders.*"}))
	epoch := ""
	for i, cs := range []struct {
		req  string
		code int // 0: ok
		msg  string
	}{
		{`{"op":"sub","id":1,"topics":["md.AAPL.quote"]}`, 0, ""},
		{`{"op":"sub","id":2,"topics":["md.*.quote"]}`, 0, ""}, // wildcard covered by md.>
		{`{"op":"sub","id":3,"topics":["news.x"]}`, 0, ""},
		{`{"op":"sub","id":4,"topics":["news.>"]}`, 403, `not allowed to subscribe to "news.>"`}, // news.* does not cover news.>
		{`{"op":"sub","id":5,"topics":[">"]}`, 403, "subs do not cover it"},
		{`{"op":"sub","id":6,"topics":["md.X","orders.new"]}`, 403, `"orders.new"`},                                    // whole request refused
		{`{"op":"sub","id":7,"topics":["orders.new"],"since":{"orders.new":{"epoch":"e","seq":1}}}`, 403, "subscribe"}, // resume
		{`{"op":"pub","id":8,"topic":"orders.new","data":1}`, 0, ""},
		{`{"op":"pub","id":9,"topic":"md.AAPL.quote","data":1}`, 403, `not allowed to publish to "md.AAPL.quote"`},
		{`{"op":"sub","id":10,"topics":["md..x"]}`, 422, "malformed"}, // syntax first
	} {
		c.send(cs.req)
		r := c.next()
		if cs.code == 0 {
			if r.Op != "ok" {
				t.Fatalf("case %d: %+v", i, r)
			}
			continue
		}
		if r.Op != "err" || r.Code != cs.code || !strings.Contains(r.Msg, cs.msg) {
			t.Fatalf("case %d: %+v, want %d %q", i, r, cs.code, cs.msg)
		}
	}
	_ = epoch
	// md.X was not subscribed by the refused request 6.
	if _, err := http.Post("http://"+addr+"/publish?topic=md.X", "application/json", strings.NewReader("1")); err != nil {
		t.Fatal(err)
	}
	// A binary publish to a topic outside pubs.
	bin := append([]byte{1, byte(len("md.Y"))}, "md.Y"...)
	bin = append(bin, "x"...)
	if err := c.ws.WriteMessage(websocket.BinaryMessage, bin); err != nil {
		t.Fatal(err)
	}
	if r := c.next(); r.Op != "err" || r.Code != 403 {
		t.Fatalf("binary publish: %+v", r)
	}
	c.send(`{"op":"ping","id":11}`)
	c.expectOK(11)
}

func TestAuthOptionalAnonymous(t *testing.T) {
	_, addr := start(t, authCfg(auth.ModeOptional))
	c := dial(t, addr) // no token
	c.send(`{"op":"sub","id":1,"topics":["public.news"]}`)
	c.expectOK(1)
	c.send(`{"op":"sub","id":2,"topics":["md.x"]}`)
	if r := c.next(); r.Op != "err" || r.Code != 401 || !strings.Contains(r.Msg, "without a token") {
		t.Fatalf("anonymous: %+v", r)
	}
	c.send(`{"op":"pub","id":3,"topic":"public.news","data":1}`)
	if r := c.next(); r.Op != "err" || r.Code != 401 {
		t.Fatalf("anonymous publish: %+v", r)
	}
	// A refresh turns the anonymous connection into alice's.
	c.send(`{"op":"refresh","id":4,"token":"` + token(t, "alice", time.Hour, []string{"md.>"}, nil) + `"}`)
	c.expectOK(4)
	c.send(`{"op":"sub","id":5,"topics":["md.x"]}`)
	c.expectOK(5)
	// A bad token is refused even though one is optional.
	if ws, status, _, _ := dialRaw(addr, "token=garbage", nil); ws != nil || status != 401 {
		t.Fatalf("optional, bad token: %d", status)
	}
}

// waitClose reads until the connection closes and returns the close
// frame's code and text.
func waitClose(t testing.TB, ws *websocket.Conn, d time.Duration) (int, string) {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(d))
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, ce.Text
		}
		t.Fatalf("no close frame: %v", err)
	}
}

func TestAuthNativeExpiry(t *testing.T) {
	s, addr := start(t, authCfg(auth.ModeRequired))
	c := dialToken(t, addr, token(t, "alice", 2*time.Second, []string{"md.>"}, nil))
	c.send(`{"op":"sub","id":1,"topics":["md.x"]}`)
	c.expectOK(1)
	code, text := waitClose(t, c.ws, 10*time.Second)
	if code != 4401 || text != "token expired" {
		t.Fatalf("close %d %q, want 4401 token expired", code, text)
	}
	if st := s.Auth().Stats(); st.Expired != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestAuthNativeRefresh(t *testing.T) {
	_, addr := start(t, authCfg(auth.ModeRequired))
	exp := time.Now().Add(2 * time.Second)
	c := dialToken(t, addr, token(t, "alice", 2*time.Second, []string{"md.>"}, nil))
	for i, cs := range []struct {
		tok, msg string
	}{
		{"garbage", "malformed token"},
		{token(t, "mallory", time.Hour, []string{">"}, nil), "another user"},
		{token(t, "alice", -time.Minute, nil, nil), "token expired"},
	} {
		c.send(`{"op":"refresh","id":` + string(rune('1'+i)) + `,"token":"` + cs.tok + `"}`)
		if r := c.next(); r.Op != "err" || r.Code != 401 || !strings.Contains(r.Msg, cs.msg) {
			t.Fatalf("refresh %d: %+v", i, r)
		}
	}
	c.send(`{"op":"refresh","id":5}`)
	if r := c.next(); r.Op != "err" || r.Code != 400 {
		t.Fatalf("refresh without token: %+v", r)
	}
	c.send(`{"op":"refresh","id":6,"token":"` + token(t, "alice", time.Hour, []string{"news.>"}, nil) + `"}`)
	c.expectOK(6)
	// The new permissions apply.
	c.send(`{"op":"sub","id":7,"topics":["md.y"]}`)
	if r := c.next(); r.Op != "err" || r.Code != 403 {
		t.Fatalf("after refresh: %+v", r)
	}
	// Still open well past the first token's exp: nothing arrives until
	// the read deadline.
	c.ws.SetReadDeadline(exp.Add(1500 * time.Millisecond))
	if _, m, err := c.ws.ReadMessage(); err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("after the old exp: %s %v", m, err)
	}
}

func TestAuthRefreshWithAuthOff(t *testing.T) {
	_, addr := start(t, server.Config{})
	c := dial(t, addr)
	c.send(`{"op":"refresh","id":1,"token":"x"}`)
	if r := c.next(); r.Op != "err" || r.Code != 400 || !strings.Contains(r.Msg, "authentication is off") {
		t.Fatalf("%+v", r)
	}
}

func TestAuthHTTPPublish(t *testing.T) {
	cfg := authCfg(auth.ModeRequired)
	cfg.PublishToken = "static-publisher"
	_, addr := start(t, cfg)
	sub := dialToken(t, addr, token(t, "reader", time.Hour, []string{">"}, nil))
	sub.send(`{"op":"sub","id":1,"topics":["orders.*"]}`)
	sub.expectOK(1)
	base := "http://" + addr + "/publish"
	alice := "Bearer " + token(t, "alice", time.Hour, nil, []string{"orders.*"})
	for i, c := range []struct {
		url, auth, body string
		status          int
		msg             string
	}{
		{base + "?topic=orders.a", "", "1", 401, "authentication required"},
		{base + "?topic=orders.a", "Bearer junk", "1", 401, "malformed token"},
		{base + "?topic=orders.a", "Bearer " + token(t, "alice", -time.Hour, nil, []string{">"}), "1", 401, "token expired"},
		{base + "?topic=md.a", alice, "1", 403, `not allowed to publish to "md.a"`},
		{base, alice, `[{"topic":"orders.b","data":1},{"topic":"md.b","data":2}]`, 403, `"md.b"`},
		{base + "?topic=orders..a", alice, "1", 400, "malformed topic"},
		{base + "?topic=orders.a", alice, `"first"`, 202, ""},
		{base + "?topic=orders.a&token=" + token(t, "alice", time.Hour, nil, []string{"orders.a"}), "", `"second"`, 202, ""},
		{base + "?topic=orders.a", "Bearer static-publisher", `"third"`, 202, ""},
	} {
		status, body := postJSON(t, c.url, c.auth, c.body)
		if status != c.status || !strings.Contains(body, c.msg) {
			t.Fatalf("case %d: %d %s, want %d %q", i, status, body, c.status, c.msg)
		}
	}
	// Only the accepted publishes arrived; the refused batch published
	// nothing.
	for i, want := range []string{`"first"`, `"second"`, `"third"`} {
		if r := sub.nextMsg(); string(r.Data) != want || r.Topic != "orders.a" {
			t.Fatalf("delivery %d: %+v", i, r)
		}
	}
}

func TestAuthStats(t *testing.T) {
	_, addr := start(t, authCfg(auth.ModeRequired))
	dialToken(t, addr, token(t, "alice", time.Hour, nil, nil))
	dialToken(t, addr, token(t, "alice", time.Hour, nil, nil))
	dialToken(t, addr, token(t, "bob", time.Hour, nil, nil))
	dialRaw(addr, "token=junk", nil)
	var st struct {
		Auth auth.Stats
	}
	r, err := http.Get("http://" + addr + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	if err := json.NewDecoder(r.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	a := st.Auth
	if a.Mode != "required" || a.Users != 2 || len(a.TopUsers) != 2 || a.TopUsers[0] != (auth.UserConns{Sub: "alice", Conns: 2}) || a.RefusedBy["malformed"] != 1 {
		t.Fatalf("auth stats %+v", a)
	}
}

// TestAuthJWKSRotation runs the server against a small JWKS server: tokens
// signed with its keys connect, a rotated-in key is fetched on its first
// unknown kid, a made-up kid is refused with 401, and a rotated-out key no
// longer works.
func TestAuthJWKSRotation(t *testing.T) {
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var mu sync.Mutex
	keys := map[string]*ecdsa.PrivateKey{"k1": k1}
	var fetches atomic.Int32
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		mu.Lock()
		defer mu.Unlock()
		var set struct {
			Keys []map[string]string `json:"keys"`
		}
		for kid, k := range keys {
			set.Keys = append(set.Keys, auth.JWK(kid, &k.PublicKey))
		}
		_ = json.NewEncoder(w).Encode(set)
	}))
	defer idp.Close()
	cfg := server.Config{}
	cfg.Auth.Mode = auth.ModeRequired
	cfg.Auth.JWKSURL = idp.URL
	cfg.Auth.JWKSMinRefresh = time.Nanosecond // every unknown kid may fetch
	_, addr := start(t, cfg)
	es := func(kid string, k *ecdsa.PrivateKey) string {
		tc := &auth.TokenClaims{Subs: []string{">"}}
		tc.Subject, tc.ExpiresAt = "alice", jwt.NewNumericDate(time.Now().Add(time.Hour))
		s, err := auth.Sign(tc, "ES256", k, kid)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	try := func(tok string) (int, string) {
		ws, status, body, _ := dialRaw(addr, "token="+tok, nil)
		if ws != nil {
			ws.Close()
		}
		return status, body
	}
	if status, body := try(es("k1", k1)); status != 101 {
		t.Fatalf("k1: %d %s", status, body)
	}
	if status, body := try(es("nope", k2)); status != 401 || !strings.Contains(body, `unknown key id \"nope\"`) {
		t.Fatalf("made-up kid: %d %s", status, body)
	}
	// Rotation: k2 in, k1 out.
	mu.Lock()
	keys = map[string]*ecdsa.PrivateKey{"k2": k2}
	mu.Unlock()
	before := fetches.Load()
	if status, body := try(es("k2", k2)); status != 101 {
		t.Fatalf("rotated-in k2: %d %s", status, body)
	}
	if fetches.Load() != before+1 {
		t.Fatalf("fetches %d -> %d, want one more", before, fetches.Load())
	}
	if status, body := try(es("k1", k1)); status != 401 || !strings.Contains(body, "unknown key id") {
		t.Fatalf("rotated-out k1: %d %s", status, body)
	}
	// A k2 token signed by another key: bad signature.
	if status, body := try(es("k2", k1)); status != 401 || !strings.Contains(body, "signature is invalid") {
		t.Fatalf("wrong key for k2: %d %s", status, body)
	}
}
