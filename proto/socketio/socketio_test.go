package socketio_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/c1mhq/c1m/hub"
	"github.com/c1mhq/c1m/internal/testutil"
	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/proto/engineio"
	"github.com/c1mhq/c1m/proto/native"
	"github.com/c1mhq/c1m/proto/socketio"
	"github.com/c1mhq/c1m/wsframe"
)

const path = "/socket.io/"

type rig struct {
	hub     *hub.Hub
	eio     *engineio.Server
	http    string
	ws      string
	mu      sync.Mutex
	sockets []*socketio.Socket
}

// newRig serves Socket.IO with polling and WebSocket on one reactor, both
// on one path.
func newRig(t testing.TB, cfg socketio.Config, ecfg engineio.Config) *rig {
	t.Helper()
	return newRigHub(t, hub.Config{}, cfg, ecfg)
}

// newRigHub is newRig with a hub configured by hcfg.
func newRigHub(t testing.TB, hcfg hub.Config, cfg socketio.Config, ecfg engineio.Config) *rig {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := &rig{hub: hub.New(hcfg)}
	t.Cleanup(r.hub.Close)
	cfg.Hub = r.hub
	cfg.Errors = native.New(native.Config{Hub: r.hub})
	cfg.Logger = log
	user := cfg.OnSocket
	cfg.OnSocket = func(so *socketio.Socket) {
		if user != nil {
			user(so)
		}
		r.mu.Lock()
		r.sockets = append(r.sockets, so)
		r.mu.Unlock()
	}
	ecfg.Handler = socketio.New(cfg)
	ecfg.WebSocket = true
	ecfg.Logger = log
	r.eio = engineio.New(ecfg)
	t.Cleanup(r.eio.Close)
	start := func(pc poller.Config) string {
		pc.Logger = log
		return testutil.ServePoller(t, pc)
	}
	wsh := r.eio.WebSocket()
	addr := start(poller.Config{
		Handler:  wsh,
		Routes:   func(p string) poller.Handler { return wsh },
		Upgrader: wsframe.Upgrader{Route: func(p string) bool { return p == path }},
		HTTPRoutes: func(method, p string) poller.HTTPHandler {
			if p == path {
				return r.eio.Polling()
			}
			return nil
		},
	})
	r.http, r.ws = "http://"+addr+path, "ws://"+addr+path
	return r
}

// client speaks Engine.IO polling or WebSocket and hands out packets one by
// one (binary ones as "b" and base64, as polling writes them); it answers
// pings.
type client struct {
	t   *testing.T
	url string // polling: with sid
	ws  *websocket.Conn
	sid string
	got []string
}

func (r *rig) polling(t *testing.T) *client {
	t.Helper()
	body := get(t, r.http+"?EIO=4&transport=polling")
	var op struct{ SID string }
	if err := json.Unmarshal([]byte(body[1:]), &op); err != nil {
		t.Fatalf("open %q: %v", body, err)
	}
	return &client{t: t, url: r.http + "?EIO=4&transport=polling&sid=" + op.SID, sid: op.SID}
}

func (r *rig) websocket(t *testing.T) *client {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial(r.ws+"?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cl := &client{t: t, ws: c}
	open := cl.next()
	var op struct{ SID string }
	if err := json.Unmarshal([]byte(open[1:]), &op); err != nil {
		t.Fatalf("open %q: %v", open, err)
	}
	cl.sid = op.SID
	return cl
}

// httpClient bounds a GET, so that a packet that never comes fails the test
// instead of hanging it.
var httpClient = &http.Client{Timeout: 15 * time.Second}

func get(t *testing.T, u string) string {
	t.Helper()
	resp, err := httpClient.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// send sends packets: over polling in one POST; over WebSocket one frame
// each ("b..." as a binary frame).
func (c *client) send(packets ...string) {
	c.t.Helper()
	if c.ws != nil {
		for _, p := range packets {
			var err error
			if strings.HasPrefix(p, "b") {
				b, _ := base64.StdEncoding.DecodeString(p[1:])
				err = c.ws.WriteMessage(websocket.BinaryMessage, b)
			} else {
				err = c.ws.WriteMessage(websocket.TextMessage, []byte(p))
			}
			if err != nil {
				c.t.Fatal(err)
			}
		}
		return
	}
	resp, err := http.Post(c.url, "text/plain;charset=UTF-8", strings.NewReader(strings.Join(packets, "\x1e")))
	if err != nil {
		c.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "ok" {
		c.t.Fatalf("POST: %d %q", resp.StatusCode, b)
	}
}

// next returns the next packet other than ping and noop.
func (c *client) next() string {
	c.t.Helper()
	for {
		for len(c.got) > 0 {
			p := c.got[0]
			c.got = c.got[1:]
			switch p {
			case "2":
				c.send("3")
				continue
			case "6":
				continue
			}
			return p
		}
		if c.ws != nil {
			_ = c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
			typ, b, err := c.ws.ReadMessage()
			if err != nil {
				c.t.Fatalf("read: %v", err)
			}
			if typ == websocket.BinaryMessage {
				c.got = append(c.got, "b"+base64.StdEncoding.EncodeToString(b))
			} else {
				c.got = append(c.got, string(b))
			}
			continue
		}
		body := get(c.t, c.url)
		c.got = append(c.got, strings.Split(body, "\x1e")...)
	}
}

func (c *client) expect(want string) {
	c.t.Helper()
	if got := c.next(); got != want {
		c.t.Fatalf("got %q, want %q", got, want)
	}
}

// expectPrefix returns the packet after checking its prefix.
func (c *client) expectPrefix(prefix string) string {
	c.t.Helper()
	got := c.next()
	if !strings.HasPrefix(got, prefix) {
		c.t.Fatalf("got %q, want %q...", got, prefix)
	}
	return got
}

func (r *rig) publish(t testing.TB, topic, data string) {
	t.Helper()
	if _, err := r.hub.Publish(topic, []byte(data), 7); err != nil {
		t.Fatal(err)
	}
}

func transports(t *testing.T, r *rig, fn func(t *testing.T, c *client)) {
	t.Run("polling", func(t *testing.T) { fn(t, r.polling(t)) })
	t.Run("websocket", func(t *testing.T) { fn(t, r.websocket(t)) })
}

func TestSubscribeAndDeliver(t *testing.T) {
	r := newRig(t, socketio.Config{}, engineio.Config{})
	epoch := r.hub.Epoch()
	transports(t, r, func(t *testing.T, c *client) {
		c.send("40")
		c.expectPrefix(`40{"sid":"`)
		topic := "md." + c.sid[:4] + ".q"
		topic = strings.NewReplacer("-", "x", "_", "y").Replace(topic)
		r.publish(t, topic, `{"bid":1}`)
		c.send(`420["subscribe",{"topics":["` + topic + `"]}]`)
		c.expect(`42["msg",{"op":"msg","topic":"` + topic + `","seq":1,"ts":7,"snap":true,"data":{"bid":1}}]`)
		c.expect(`430[{"op":"ok","epoch":"` + epoch + `","topics":{"` + topic + `":{"epoch":"` + epoch + `","seq":1}}}]`)
		r.publish(t, topic, `{"bid":2}`)
		c.expect(`42["msg",{"op":"msg","topic":"` + topic + `","seq":2,"ts":7,"data":{"bid":2}}]`)
		c.send(`421["unsubscribe","` + topic + `"]`)
		c.expect(`431[{"op":"ok"}]`)
		r.publish(t, topic, `{"bid":3}`)
		c.send(`422["subscribe",["md..x"]]`)
		c.expect(`432[{"op":"err","code":422,"msg":"malformed pattern \"md..x\": ` + hub.CheckTopic("md..x", true) + `"}]`)
		c.send(`42["subscribe",{"topics":5}]`, `42["nobody listens",1]`, `4399[1]`)
		c.send(`423["subscribe",7]`)
		c.expect(`433[{"op":"err","code":400,"msg":"the argument must be a topic, an array of topics, or {\"topics\":[...]}"}]`)
	})
}

func TestPublish(t *testing.T) {
	r := newRig(t, socketio.Config{ClientPublish: true}, engineio.Config{})
	transports(t, r, func(t *testing.T, c *client) {
		topic := "pub." + strings.NewReplacer("-", "x", "_", "y").Replace(c.sid[:6])
		c.send("40")
		c.expectPrefix(`40{"sid":"`)
		c.send(`420["subscribe","` + topic + `"]`)
		c.expectPrefix(`430[{"op":"ok"`)
		c.send(`421["publish",{"topic":"` + topic + `","data":[1,"two"]}]`)
		if ev := c.expectPrefix(`42["msg",{"op":"msg","topic":"` + topic + `","seq":1,"ts":`); !strings.HasSuffix(ev, `,"data":[1,"two"]}]`) {
			t.Fatalf("delivery %q", ev)
		}
		c.expect(`431[{"op":"ok"}]`)
		// Binary: an attachment in, an attachment out.
		c.send(`451-2["publish",{"topic":"`+topic+`","data":{"_placeholder":true,"num":0}}]`, "bAAEC/w==")
		ev := c.expectPrefix(`451-["msg",{"op":"msg","topic":"` + topic + `","seq":2,"ts":`)
		if !strings.HasSuffix(ev, `,"binary":true,"data":{"_placeholder":true,"num":0}}]`) {
			t.Fatalf("binary delivery %q", ev)
		}
		c.expect("bAAEC/w==")
		c.expect(`432[{"op":"ok"}]`)
		c.send(`423["publish",{"topic":"x"}]`)
		c.expect(`433[{"op":"err","code":400,"msg":"publish needs \"data\": any JSON value, or binary data"}]`)
	})
	r2 := newRig(t, socketio.Config{}, engineio.Config{})
	c := r2.polling(t)
	c.send("40")
	c.expectPrefix(`40{`)
	c.send(`420["publish",{"topic":"a","data":1}]`)
	c.expect(`430[{"op":"err","code":403,"msg":"client publishing is disabled (the server runs without --client-publish)"}]`)
}

func TestNamespaces(t *testing.T) {
	r := newRig(t, socketio.Config{Namespaces: []string{"/", "/md"}}, engineio.Config{})
	transports(t, r, func(t *testing.T, c *client) {
		topic := "ns." + strings.NewReplacer("-", "x", "_", "y").Replace(c.sid[:6])
		c.send("40/nope,")
		c.expect(`44/nope,{"message":"Invalid namespace"}`)
		c.send("40/md,{\"x\":1}")
		c.expectPrefix(`40/md,{"sid":"`)
		c.send("40")
		c.expectPrefix(`40{"sid":"`)
		c.send(`42/md,0["subscribe","`+topic+`"]`, `421["subscribe","`+topic+`"]`)
		c.expectPrefix(`43/md,0[{"op":"ok"`)
		c.expectPrefix(`431[{"op":"ok"`)
		r.publish(t, topic, `1`)
		got := []string{c.next(), c.next()}
		want := []string{
			`42/md,["msg",{"op":"msg","topic":"` + topic + `","seq":1,"ts":7,"data":1}]`,
			`42["msg",{"op":"msg","topic":"` + topic + `","seq":1,"ts":7,"data":1}]`,
		}
		if !(got[0] == want[0] && got[1] == want[1] || got[0] == want[1] && got[1] == want[0]) {
			t.Fatalf("got %q, want %q in any order", got, want)
		}
		// Leaving /md keeps "/" and the connection.
		c.send("41/md,", `429["unsubscribe","zz.none"]`)
		c.expect(`439[{"op":"ok"}]`) // the DISCONNECT before it was handled
		r.publish(t, topic, `2`)
		c.expect(`42["msg",{"op":"msg","topic":"` + topic + `","seq":2,"ts":7,"data":2}]`)
		c.send(`42/md,["subscribe","x"]`) // /md is gone: invalid state, the connection closes
	})
}

func TestConnectHook(t *testing.T) {
	r := newRig(t, socketio.Config{Connect: func(nsp string, auth json.RawMessage) (socketio.Grant, error) {
		var a struct{ Token string }
		_ = json.Unmarshal(auth, &a)
		switch a.Token {
		case "good":
			return socketio.Grant{}, nil
		case "data":
			return socketio.Grant{}, &socketio.ConnectError{Message: "expired", Data: json.RawMessage(`{"retry":false}`)}
		}
		return socketio.Grant{}, errors.New("not authorized")
	}}, engineio.Config{})
	transports(t, r, func(t *testing.T, c *client) {
		c.send("40")
		c.expect(`44{"message":"not authorized"}`)
		c.send(`40{"token":"data"}`)
		c.expect(`44{"message":"expired","data":{"retry":false}}`)
		c.send(`40{"token":"good"}`)
		c.expectPrefix(`40{"sid":"`)
	})
}

// TestServerAck: the server emits with an ack; the client's ACK (and
// BINARY_ACK) reaches the callback; an ack never asked for is ignored.
func TestServerAck(t *testing.T) {
	r := newRig(t, socketio.Config{}, engineio.Config{})
	transports(t, r, func(t *testing.T, c *client) {
		c.send("40")
		c.expectPrefix(`40{"sid":"`)
		r.mu.Lock()
		so := r.sockets[len(r.sockets)-1]
		r.mu.Unlock()
		got := make(chan string, 2)
		_ = so.Emit(func(args []json.RawMessage) {
			b, _ := json.Marshal(args)
			got <- string(b)
		}, "question", map[string]int{"n": 1})
		c.expect(`421["question",{"n":1}]`)
		c.send(`4377["never asked"]`, `431["answer",42]`)
		if a := <-got; a != `["answer",42]` {
			t.Fatalf("ack args %s", a)
		}
		_ = so.Emit(func(args []json.RawMessage) {
			b, _ := json.Marshal(args)
			got <- string(b)
		}, "bin")
		c.expect(`422["bin"]`)
		c.send(`461-2[{"_placeholder":true,"num":0}]`, "bAQI=")
		if a := <-got; a != `[{"_placeholder":true,"num":0}]` {
			t.Fatalf("binary ack args %s", a)
		}
		errc := make(chan error, 1)
		if err := so.EmitTimeout(50*time.Millisecond, func(args []json.RawMessage, err error) { errc <- err }, "late", 1); err != nil {
			t.Fatal(err)
		}
		c.expect(`423["late",1]`)
		if err := <-errc; !errors.Is(err, socketio.ErrAckTimeout) {
			t.Fatalf("unanswered EmitTimeout: %v", err)
		}
		c.send(`433[]`) // too late: ignored, the callback ran once
		if err := so.EmitTimeout(5*time.Second, func(args []json.RawMessage, err error) { errc <- err }, "fast"); err != nil {
			t.Fatal(err)
		}
		c.expect(`424["fast"]`)
		c.send(`434["yes"]`)
		if err := <-errc; err != nil {
			t.Fatalf("answered EmitTimeout: %v", err)
		}
	})
}

// TestBadPacketsClose: every packet the reference parser refuses closes
// the connection, and only that one.
func TestBadPacketsClose(t *testing.T) {
	r := newRig(t, socketio.Config{}, engineio.Config{})
	bystander := r.polling(t)
	bystander.send("40")
	bystander.expectPrefix(`40{`)
	for _, bad := range [][]string{
		{"9"},
		{`42{"a":1}`},
		{`42["connect"]`},
		{`42[{}]`},
		{`41{}`},
		{`40[]`},
		{`42["x",`},
		{"bAQI="},
		{`451-["x",{"_placeholder":true,"num":0}]`, `42["y"]`},
		{`4abc-["x"]`},
		{`45-["x"]`},
		{`4999-["x"]`},
		{`43/other,1[]`},
		{`44{"message":"x"}`},
	} {
		name := strings.Join(bad, " then ")
		t.Run(name, func(t *testing.T) {
			c := r.polling(t)
			c.send("40")
			c.expectPrefix(`40{`)
			before := r.eio.Sessions()
			resp, err := http.Post(c.url, "text/plain", strings.NewReader(strings.Join(bad, "\x1e")))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			testutil.WaitFor(t, 5*time.Second, "session closed", func() bool { return r.eio.Sessions() == before-1 })
			if body := get(t, c.url); body != `{"code":1,"message":"Session ID unknown"}` && body != "1" {
				t.Fatalf("after %s: %q", name, body)
			}
		})
	}
	bystander.send(`420["subscribe","by.stander"]`)
	bystander.expectPrefix(`430[{"op":"ok"`)
}

func TestConnectTimeout(t *testing.T) {
	r := newRig(t, socketio.Config{ConnectTimeout: 100 * time.Millisecond}, engineio.Config{PingInterval: time.Second})
	c := r.polling(t)
	if body := get(t, c.url); body != "1" {
		t.Fatalf("held GET got %q, want the close packet", body)
	}
	if n := r.eio.Sessions(); n != 0 {
		t.Fatalf("%d sessions left", n)
	}
	// One that connects stays.
	c = r.polling(t)
	c.send("40")
	c.expectPrefix(`40{`)
	// One opened after it that does not connect is closed at its timeout:
	// by then the first would have been too.
	later := r.polling(t)
	if body := get(t, later.url); body != "1" {
		t.Fatalf("held GET got %q, want the close packet", body)
	}
	if n := r.eio.Sessions(); n != 1 {
		t.Fatalf("%d sessions, want 1", n)
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestAttachmentsBounded: the attachments of one packet may not exceed
// 1 MiB (or the publish limit) together; past it the connection closes.
func TestAttachmentsBounded(t *testing.T) {
	r := newRig(t, socketio.Config{}, engineio.Config{})
	c := r.polling(t)
	c.send("40")
	c.expectPrefix(`40{`)
	big := "b" + base64.StdEncoding.EncodeToString(make([]byte, 600_000))
	c.send(`452-["x",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, big)
	if n := r.eio.Sessions(); n != 1 {
		t.Fatalf("closed after the first attachment: %d sessions", n)
	}
	c.send(big)
	testutil.WaitFor(t, 5*time.Second, "session closed", func() bool { return r.eio.Sessions() == 0 })
}

// TestConflatePolling: a conflating subscription over polling keeps one
// pending delivery per topic until the next GET takes the newest.
func TestConflatePolling(t *testing.T) {
	r := newRig(t, socketio.Config{}, engineio.Config{})
	c := r.polling(t)
	c.send("40")
	c.expectPrefix(`40{`)
	c.send(`420["subscribe",{"topics":["cf.a","cf.b"],"conflate":true}]`)
	c.expectPrefix(`430[{"op":"ok"`)
	for i := 1; i <= 100; i++ {
		r.publish(t, "cf.a", itoa(int64(i)))
		if i%10 == 0 {
			r.publish(t, "cf.b", itoa(int64(i)))
		}
	}
	body := get(t, c.url)
	want := `42["msg",{"op":"msg","topic":"cf.a","seq":100,"ts":7,"data":100}]` + "\x1e" +
		`42["msg",{"op":"msg","topic":"cf.b","seq":10,"ts":7,"data":100}]`
	if body != want {
		t.Fatalf("GET after 100 conflated publishes:\n got %q\nwant %q", body, want)
	}
}
