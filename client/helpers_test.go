package client_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/c1mhq/c1m/client"
	"github.com/c1mhq/c1m/internal/testutil"
	"github.com/c1mhq/c1m/server"
)

// startServer starts the real server on addr ("127.0.0.1:0" for any port)
// with the demo off and client publishing on; mod adjusts the config. It
// returns the server, its address and an idempotent stop.
func startServer(t testing.TB, addr string, mod func(*server.Config)) (*server.Server, string, func()) {
	t.Helper()
	cfg := server.Config{Addr: addr, ClientPublish: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	cfg.SocketIO.Off = true
	cfg.Stomp.Off = true
	cfg.SockJS.Off = true
	if mod != nil {
		mod(&cfg)
	}
	var s *server.Server
	var err error
	// the address of a server that just stopped may take a moment to free
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, err = server.New(cfg)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	s.Start()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := s.Shutdown(ctx); err != nil {
				t.Errorf("shutdown: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	a := s.Addr().String()
	testutil.WaitFor(t, 5*time.Second, "healthz", func() bool {
		r, err := http.Get("http://" + a + "/healthz")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == 200
	})
	return s, a, stop
}

// rec records deliveries (copied) and events.
type rec struct {
	mu     sync.Mutex
	msgs   []client.Message
	events []client.Event
}

func (r *rec) handle(m *client.Message) {
	c := *m
	c.Data = bytes.Clone(m.Data)
	r.mu.Lock()
	r.msgs = append(r.msgs, c)
	r.mu.Unlock()
}

func (r *rec) event(e client.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *rec) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

func (r *rec) snapshot() ([]client.Message, []client.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]client.Message(nil), r.msgs...), append([]client.Event(nil), r.events...)
}

func (r *rec) eventsOf(k client.EventKind) []client.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []client.Event
	for _, e := range r.events {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// dial connects a client to addr recording into r.
func dial(t testing.TB, addr string, r *rec, mod func(*client.Options)) *client.Client {
	t.Helper()
	opts := client.Options{OnEvent: r.event, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
	if mod != nil {
		mod(&opts)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "http://"+addr, opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctx5(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// proxy forwards TCP connections to a backend and can cut them all, or
// refuse new ones, to make a client lose its connection.
type proxy struct {
	ln      net.Listener
	backend string
	mu      sync.Mutex
	conns   []net.Conn
	down    bool
	accepts int
}

func newProxy(t testing.TB, backend string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, backend: backend}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go p.serve()
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.accepts++
		if p.down {
			p.mu.Unlock()
			c.Close()
			continue
		}
		b, err := net.Dial("tcp", p.backend)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns = append(p.conns, c, b)
		p.mu.Unlock()
		go func() { io.Copy(b, c); b.Close() }()
		go func() { io.Copy(c, b); c.Close() }()
	}
}

// cut closes every open connection (both sides) without a close frame.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) setDown(d bool) {
	p.mu.Lock()
	p.down = d
	p.mu.Unlock()
}

// httpPub publishes data to topic over HTTP and returns its seq.
func httpPub(t testing.TB, addr, topic, data string) uint64 {
	t.Helper()
	seq, err := client.PublishHTTP(context.Background(), nil, "http://"+addr, "", topic, []byte(data), false)
	if err != nil {
		t.Fatalf("publish %s: %v", topic, err)
	}
	return seq
}
