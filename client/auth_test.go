package client_test

import (
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/c1mhq/c1m/auth"
	"github.com/c1mhq/c1m/client"
	"github.com/c1mhq/c1m/internal/testutil"
	"github.com/c1mhq/c1m/server"
)

var secret = []byte("client-test-secret-client-test-s")

func jwtFor(t *testing.T, exp time.Time, subs, pubs []string) string {
	t.Helper()
	tc := &auth.TokenClaims{Subs: subs, Pubs: pubs}
	tc.Subject = "alice"
	if !exp.IsZero() {
		tc.ExpiresAt = jwt.NewNumericDate(exp)
	}
	s, err := auth.Sign(tc, "HS256", secret, "")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// With --auth: a token's permissions give 403, Refresh keeps a connection
// past its first token's exp, and without it the connection ends with 4401
// and the client, refused the expired token, ends with a 401.
func TestAuthTokens(t *testing.T) {
	_, addr, _ := startServer(t, "127.0.0.1:0", func(c *server.Config) {
		c.Auth.Mode = auth.ModeRequired
		c.Auth.Keys.Secret = secret
	})
	if _, err := client.Dial(ctx5(t), "http://"+addr, client.Options{}); !errors.Is(err, &client.HandshakeError{Status: 401}) {
		t.Fatalf("without a token: %v", err)
	}
	exp := time.Now().Add(1500 * time.Millisecond)
	short := jwtFor(t, exp, []string{"a.>"}, []string{"a.>"})
	var r1, r2 rec
	refreshed := dial(t, addr, &r1, func(o *client.Options) { o.Token = short })
	expiring := dial(t, addr, &r2, func(o *client.Options) { o.Token = short })
	_, err := refreshed.Subscribe(ctx5(t), []string{"b.x"}, client.SubOptions{Handler: r1.handle})
	wantCode(t, "a topic the token does not cover", err, client.ErrForbidden)
	wantCode(t, "publish outside the token", refreshed.Publish(ctx5(t), "b.x", []byte(`1`)), client.ErrForbidden)
	if _, err := refreshed.Subscribe(ctx5(t), []string{"a.x"}, client.SubOptions{Handler: r1.handle}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "a bad refresh", refreshed.Refresh(ctx5(t), "not.a.jwt"), client.ErrUnauthorized)
	if err := refreshed.Refresh(ctx5(t), jwtFor(t, time.Now().Add(time.Hour), []string{"a.>"}, []string{"a.>"})); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	testutil.WaitFor(t, 10*time.Second, "the short token's expiry", func() bool {
		d := r2.eventsOf(client.EventDisconnected)
		return len(d) == 1 && errors.Is(d[0].Err, client.ErrTokenExpired)
	})
	select {
	case <-expiring.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the client with an expired token did not end")
	}
	if err := expiring.Err(); !errors.Is(err, &client.HandshakeError{Status: 401}) {
		t.Fatalf("expired client's Err: %v", err)
	}
	// past the first exp, the refreshed connection still works
	testutil.WaitFor(t, 5*time.Second, "the first exp to pass", func() bool { return time.Now().After(exp.Add(200 * time.Millisecond)) })
	if err := refreshed.Publish(ctx5(t), "a.x", []byte(`1`)); err != nil {
		t.Fatalf("after the first exp: %v", err)
	}
	testutil.WaitFor(t, 5*time.Second, "delivery", func() bool { return r1.count() == 1 })
	if d := r1.eventsOf(client.EventDisconnected); len(d) != 0 {
		t.Fatalf("refreshed client disconnected: %+v", d)
	}
}
