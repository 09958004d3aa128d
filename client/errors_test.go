package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/c1mhq/c1m/client"
	"github.com/c1mhq/c1m/internal/testutil"
	"github.com/c1mhq/c1m/server"
)

func wantCode(t *testing.T, what string, err error, target *client.Error) {
	t.Helper()
	var e *client.Error
	if !errors.Is(err, target) || !errors.As(err, &e) || e.Code != target.Code || e.Msg == "" {
		t.Fatalf("%s: got %v, want error %d", what, err, target.Code)
	}
}

// Every err reply code the real server gives a client's requests.
func TestErrorRepliesFromTheServer(t *testing.T) {
	_, addr, _ := startServer(t, "127.0.0.1:0", func(c *server.Config) {
		c.MaxPublishBytes = 16
		c.Hub.MaxSubsPerConn = 2
		c.Hub.MaxTopics = 1
	})
	var r rec
	c := dial(t, addr, &r, nil)
	ctx := ctx5(t)

	_, err := c.Subscribe(ctx, []string{"ok.a", "md..x"}, client.SubOptions{Handler: r.handle})
	wantCode(t, "malformed pattern", err, client.ErrBadTopic)

	_, err = c.Subscribe(ctx, []string{"s.1", "s.2", "s.3"}, client.SubOptions{Handler: r.handle})
	wantCode(t, "three subscriptions", err, client.ErrTooManySubs)
	// the refused request left nothing subscribed: two fit again
	if _, err := c.Subscribe(ctx, []string{"s.1", "s.2"}, client.SubOptions{Handler: r.handle}); err != nil {
		t.Fatalf("after 429: %v", err)
	}

	wantCode(t, "no topic", c.Publish(ctx, "", []byte(`1`)), client.ErrBadRequest)
	wantCode(t, "invalid JSON (checked by the client)", c.Publish(ctx, "t.a", []byte(`{`)), client.ErrBadRequest)
	wantCode(t, "wildcard publish", c.Publish(ctx, "t.*", []byte(`1`)), client.ErrBadTopic)
	wantCode(t, "too large", c.Publish(ctx, "t.a", []byte(`"0123456789abcdefgh"`)), client.ErrTooLarge)
	wantCode(t, "too large binary (err without id)", c.PublishBinary(ctx, "t.a", make([]byte, 17)), client.ErrTooLarge)
	if err := c.PublishBinary(ctx, "t.a", []byte("ok")); err != nil {
		t.Fatalf("binary publish after a refused one: %v", err)
	}
	wantCode(t, "a second topic past --max-topics", c.Publish(ctx, "t.b", []byte(`1`)), client.ErrTooManyTopics)
	if err := c.Publish(ctx, "t.a", []byte(`2`)); err != nil {
		t.Fatalf("publish to the existing topic: %v", err)
	}
	_, err = client.PublishHTTP(ctx, nil, "http://"+addr, "", "t.c", []byte(`1`), false)
	var he *client.HTTPError
	if !errors.As(err, &he) || he.Status != 507 || !errors.Is(err, client.ErrTooManyTopics) {
		t.Fatalf("HTTP 507: %v", err)
	}
}

func TestPublishPermissions(t *testing.T) {
	_, addr, _ := startServer(t, "127.0.0.1:0", func(c *server.Config) { c.ClientPublish = false })
	var r rec
	c := dial(t, addr, &r, nil)
	wantCode(t, "without --client-publish", c.Publish(ctx5(t), "t.a", []byte(`1`)), client.ErrForbidden)
	wantCode(t, "binary without --client-publish", c.PublishBinary(ctx5(t), "t.a", []byte(`1`)), client.ErrForbidden)

	_, addr, _ = startServer(t, "127.0.0.1:0", func(c *server.Config) { c.PublishToken = "s3cret" })
	c = dial(t, addr, &r, nil)
	wantCode(t, "without the token", c.Publish(ctx5(t), "t.a", []byte(`1`)), client.ErrUnauthorized)
	c = dial(t, addr, &r, func(o *client.Options) { o.Token = "s3cret" })
	if err := c.Publish(ctx5(t), "t.a", []byte(`1`)); err != nil {
		t.Fatalf("with the token: %v", err)
	}
	_, err := client.PublishHTTP(ctx5(t), nil, "http://"+addr, "wrong", "t.a", []byte(`1`), false)
	var he *client.HTTPError
	if !errors.As(err, &he) || he.Status != 401 || !errors.Is(err, client.ErrUnauthorized) || he.Msg == "" {
		t.Fatalf("HTTP without the token: %v", err)
	}
	if seq, err := client.PublishHTTP(ctx5(t), nil, "http://"+addr, "s3cret", "t.a", []byte(`2`), false); err != nil || seq != 2 {
		t.Fatalf("HTTP with the token: %d %v", seq, err)
	}
}

func TestHandshakeRefusals(t *testing.T) {
	_, addr, _ := startServer(t, "127.0.0.1:0", func(c *server.Config) {
		c.Origins = []string{"https://good.example"}
		c.Poller.MaxConns = 1
	})
	var r rec
	_, err := client.Dial(ctx5(t), "http://"+addr+"/nope", client.Options{})
	var he *client.HandshakeError
	if !errors.As(err, &he) || he.Status != 404 || !he.Permanent() {
		t.Fatalf("other path: %v", err)
	}
	_, err = client.Dial(ctx5(t), "http://"+addr, client.Options{Header: http.Header{"Origin": {"https://evil.example"}}})
	if !errors.As(err, &he) || he.Status != 403 || !errors.Is(err, &client.HandshakeError{Status: 403}) {
		t.Fatalf("bad origin: %v", err)
	}
	dial(t, addr, &r, nil)
	_, err = client.Dial(ctx5(t), "http://"+addr, client.Options{})
	if !errors.As(err, &he) || he.Status != 503 || he.Permanent() || he.RetryAfter == "" {
		t.Fatalf("past --max-conns: %v", err)
	}
	_, err = client.Dial(ctx5(t), "http://127.0.0.1:1", client.Options{})
	if err == nil || errors.As(err, &he) {
		t.Fatalf("nothing listening: %v", err)
	}
	if _, err := client.Dial(ctx5(t), "ftp://x", client.Options{}); err == nil {
		t.Fatal("ftp URL accepted")
	}
}

func TestCloseCodesFromTheServer(t *testing.T) {
	// 1009: a message larger than --max-message-bytes
	_, addr, stop := startServer(t, "127.0.0.1:0", func(c *server.Config) {
		c.Poller.Parser.MaxMessageSize = 1000
		c.MaxPublishBytes = 1 << 20
	})
	var r rec
	c := dial(t, addr, &r, nil)
	err := c.Publish(ctx5(t), "t.a", []byte(`"`+strings.Repeat("x", 2000)+`"`))
	var lost *client.ConnectionLostError
	if !errors.As(err, &lost) || !errors.Is(err, client.ErrMessageTooBig) {
		t.Fatalf("oversized message: %v", err)
	}
	testutil.WaitFor(t, 5*time.Second, "reconnect", func() bool { return len(r.eventsOf(client.EventConnected)) == 2 })
	if err := c.Publish(ctx5(t), "t.a", []byte(`1`)); err != nil {
		t.Fatalf("after reconnecting: %v", err)
	}
	// 1001: the server shuts down
	stop()
	testutil.WaitFor(t, 5*time.Second, "going away", func() bool {
		d := r.eventsOf(client.EventDisconnected)
		return len(d) == 2 && errors.Is(d[1].Err, client.ErrGoingAway)
	})
	testutil.WaitFor(t, 5*time.Second, "failed reconnects", func() bool { return len(r.eventsOf(client.EventReconnectFailed)) > 0 })
	c.Close()
	if err := c.Publish(ctx5(t), "t.a", []byte(`1`)); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if !errors.Is(c.Err(), client.ErrClosed) {
		t.Fatalf("Err %v", c.Err())
	}
}

// fakeServer answers every request with err code ?code=N, or closes the
// connection with ?close=N: the codes the real server cannot be made to
// give on demand.
func fakeServer(t *testing.T) string {
	up := websocket.Upgrader{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		if cl, _ := strconv.Atoi(r.URL.Query().Get("close")); cl != 0 {
			conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(cl, "bye"))
			conn.ReadMessage()
			return
		}
		code := r.URL.Query().Get("code")
		for {
			_, b, err := conn.ReadMessage()
			if err != nil {
				return
			}
			id := strings.TrimSuffix(strings.SplitN(string(b), `"id":`, 2)[1], "}")
			id = strings.SplitN(id, ",", 2)[0]
			conn.WriteMessage(websocket.TextMessage, []byte(`{"op":"err","id":`+id+`,"code":`+code+`,"msg":"refused"}`))
		}
	}))
	t.Cleanup(hs.Close)
	return hs.URL
}

func TestEveryErrorCode(t *testing.T) {
	url := fakeServer(t)
	for _, want := range []*client.Error{client.ErrBadRequest, client.ErrUnauthorized, client.ErrForbidden, client.ErrUnknownOp,
		client.ErrTooLarge, client.ErrBadTopic, client.ErrTooManySubs, client.ErrInternal, client.ErrUnavailable, client.ErrTooManyTopics} {
		c, err := client.Dial(ctx5(t), url+"/ws?code="+strconv.Itoa(want.Code), client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Subscribe(ctx5(t), []string{"a"}, client.SubOptions{Handler: func(*client.Message) {}})
		wantCode(t, "subscribe", err, want)
		wantCode(t, "publish", c.Publish(ctx5(t), "a", []byte(`1`)), want)
		for _, other := range []*client.Error{client.ErrBadRequest, client.ErrInternal} {
			if other.Code != want.Code && errors.Is(err, other) {
				t.Errorf("%v matches %v", err, other)
			}
		}
		c.Close()
	}
}

func TestEveryCloseCode(t *testing.T) {
	url := fakeServer(t)
	for _, want := range []*client.CloseError{client.ErrGoingAway, client.ErrProtocolError, client.ErrInvalidUTF8,
		client.ErrSlowConsumer, client.ErrMessageTooBig, client.ErrTokenExpired} {
		var r rec
		c, err := client.Dial(ctx5(t), url+"/ws?close="+strconv.Itoa(want.Code), client.Options{OnEvent: r.event, MinBackoff: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		testutil.WaitFor(t, 5*time.Second, "disconnect", func() bool { return len(r.eventsOf(client.EventDisconnected)) > 0 })
		e := r.eventsOf(client.EventDisconnected)[0]
		var ce *client.CloseError
		if !errors.Is(e.Err, want) || !errors.As(e.Err, &ce) || ce.Text != "bye" {
			t.Errorf("close %d: got %v", want.Code, e.Err)
		}
		c.Close()
	}
}

func TestSubscribeWhileDisconnectedWaits(t *testing.T) {
	_, addr, _ := startServer(t, "127.0.0.1:0", nil)
	p := newProxy(t, addr)
	var r rec
	c := dial(t, p.addr(), &r, nil)
	p.setDown(true)
	p.cut()
	testutil.WaitFor(t, 5*time.Second, "disconnect", func() bool { return len(r.eventsOf(client.EventDisconnected)) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Subscribe(ctx, []string{"w.a"}, client.SubOptions{Handler: r.handle}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("while offline: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.Subscribe(context.Background(), []string{"w.b"}, client.SubOptions{Handler: r.handle})
		done <- err
	}()
	p.setDown(false)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	httpPub(t, addr, "w.a", `1`)
	httpPub(t, addr, "w.b", `2`)
	testutil.WaitFor(t, 5*time.Second, "delivery", func() bool { return r.count() == 1 })
	if m, _ := r.snapshot(); m[0].Topic != "w.b" {
		t.Fatalf("got %+v (the abandoned subscription must not deliver)", m)
	}
	if s := c.Stats(); s.NotRouted != 0 {
		t.Fatalf("stats %+v", s)
	}
}
