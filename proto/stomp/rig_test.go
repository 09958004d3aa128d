package stomp_test

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/c1mhq/c1m/hub"
	"github.com/c1mhq/c1m/internal/testutil"
	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/proto/stomp"
	"github.com/c1mhq/c1m/wsframe"
)

// rig is a hub and a STOMP handler on a real reactor on 127.0.0.1.
type rig struct {
	hub *hub.Hub
	h   *stomp.Handler
	url string
}

func newRig(t testing.TB, cfg stomp.Config) *rig {
	t.Helper()
	return newRigHub(t, hub.Config{}, cfg, poller.Config{})
}

func newRigHub(t testing.TB, hcfg hub.Config, cfg stomp.Config, pc poller.Config) *rig {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := &rig{hub: hub.New(hcfg)}
	t.Cleanup(r.hub.Close)
	cfg.Hub = r.hub
	cfg.Logger = log
	r.h = stomp.New(cfg)
	t.Cleanup(r.h.Close)
	pc.Handler = r.h
	pc.Logger = log
	pc.Upgrader = wsframe.Upgrader{Route: func(p string) bool { return p == "/stomp" }, Protocols: stomp.Subprotocols}
	r.url = "ws://" + testutil.ServePoller(t, pc) + "/stomp"
	return r
}

// frame is a frame the client received.
type frame struct {
	cmd    string
	h      map[string]string
	body   string
	binary bool // arrived in a binary WebSocket message
}

// client is a raw STOMP client over gorilla/websocket: it sends bytes as
// given and parses what it receives.
type client struct {
	t      testing.TB
	ws     *websocket.Conn
	frames chan frame
	beats  atomic.Int32
	closed chan struct{}

	mu        sync.Mutex
	closeCode int
	closeText string
}

func (r *rig) dial(t testing.TB) *client {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"v12.stomp", "v11.stomp", "v10.stomp"}}
	ws, resp, err := d.Dial(r.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != "v12.stomp" {
		t.Fatalf("subprotocol %q, want v12.stomp", got)
	}
	c := &client{t: t, ws: ws, frames: make(chan frame, 100000), closed: make(chan struct{})}
	t.Cleanup(func() { _ = ws.Close() })
	go c.read()
	return c
}

func (c *client) read() {
	defer close(c.closed)
	var p stomp.Parser
	for {
		op, data, err := c.ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				c.mu.Lock()
				c.closeCode, c.closeText = ce.Code, ce.Text
				c.mu.Unlock()
			}
			return
		}
		err = p.Feed(data, func(f *stomp.Frame) error {
			fr := frame{cmd: f.Command.String(), h: map[string]string{}, body: string(f.Body), binary: op == websocket.BinaryMessage}
			for _, h := range f.Headers {
				if _, dup := fr.h[string(h.Name)]; !dup {
					fr.h[string(h.Name)] = string(h.Value)
				}
			}
			c.frames <- fr
			return nil
		}, func() { c.beats.Add(1) })
		if err != nil {
			c.t.Errorf("client parser: %v", err)
			return
		}
	}
}

// send sends each string as one text message.
func (c *client) send(msgs ...string) {
	c.t.Helper()
	for _, m := range msgs {
		if err := c.ws.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
			c.t.Fatal(err)
		}
	}
}

// next returns the next frame, failing after 5 s.
func (c *client) next() frame {
	c.t.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-time.After(5 * time.Second):
		c.t.Fatal("no frame within 5s")
	}
	return frame{}
}

// expect returns the next frame, which must be cmd.
func (c *client) expect(cmd string) frame {
	c.t.Helper()
	f := c.next()
	if f.cmd != cmd {
		c.t.Fatalf("got %s %v %q, want %s", f.cmd, f.h, f.body, cmd)
	}
	return f
}

// connect sends CONNECT and expects CONNECTED.
func (c *client) connect(headers ...string) frame {
	c.t.Helper()
	c.send("CONNECT\naccept-version:1.2\nhost:test\n" + lines(headers) + "\n\x00")
	return c.expect("CONNECTED")
}

// expectError expects an ERROR whose message header is message, then the
// close of the connection; it returns the ERROR.
func (c *client) expectError(message string) frame {
	c.t.Helper()
	f := c.expect("ERROR")
	if f.h["message"] != message {
		c.t.Fatalf("ERROR message %q (%q), want %q", f.h["message"], f.body, message)
	}
	select {
	case <-c.closed:
	case <-time.After(5 * time.Second):
		c.t.Fatal("connection not closed after ERROR")
	}
	return f
}

// closeCode waits for the close and returns its code and text.
func (c *client) waitClose() (int, string) {
	c.t.Helper()
	select {
	case <-c.closed:
	case <-time.After(5 * time.Second):
		c.t.Fatal("connection not closed")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeCode, c.closeText
}

func lines(h []string) string {
	if len(h) == 0 {
		return ""
	}
	return strings.Join(h, "\n") + "\n"
}

// frameText builds a frame: command, header lines, body.
func frameText(cmd string, body string, headers ...string) string {
	return cmd + "\n" + lines(headers) + "\n" + body + "\x00"
}
