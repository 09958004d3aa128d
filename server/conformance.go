package server

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/c1mhq/c1m/hub"
	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/proto/engineio"
	"github.com/c1mhq/c1m/proto/native"
	"github.com/c1mhq/c1m/proto/socketio"
	"github.com/c1mhq/c1m/proto/sockjs"
)

// conformance is the --conformance-addr listener: it behaves like the
// reference servers the protocols' own test suites are written against, as
// /echo does for WebSocket. /engine.io/ is an Engine.IO v4 server that echoes
// every message; /socket.io/ is a Socket.IO server with the suite's
// behaviour (socketio.Conformance). Both use the suites' timing: ping every
// 300ms, 200ms to answer, 1s to CONNECT. The SockJS services are those of
// sockjs-node's test server (sockjsConformance). It has a hub of its own,
// which nothing publishes to.
type conformance struct {
	p        *poller.Server
	hub      *hub.Hub
	eio, sio *engineio.Server
	sockjs   []*sockjs.Server
}

// sockjsConformance builds the SockJS services of sockjs-node's test
// server: /echo (streaming responses closed after 4,096 bytes), /close
// (c[3000,"Go away!"] at once), /disabled_websocket_echo (no websocket
// transports) and /cookie_needed_echo (JSESSIONID set).
func sockjsConformance(log *slog.Logger) []*sockjs.Server {
	base := sockjs.Config{Protocol: sockjs.Echo{}, WebSocket: true, ResponseLimit: 4096, Logger: log}
	echo := base
	echo.Prefix = "/echo"
	closer := base
	closer.Prefix, closer.Protocol = "/close", sockjs.Closer{}
	noWS := base
	noWS.Prefix, noWS.WebSocket = "/disabled_websocket_echo", false
	cookie := base
	cookie.Prefix, cookie.CookieNeeded = "/cookie_needed_echo", true
	return []*sockjs.Server{sockjs.New(echo), sockjs.New(closer), sockjs.New(noWS), sockjs.New(cookie)}
}

// sockjsService returns the conformance SockJS service that path is under.
func (c *conformance) sockjsService(path string) *sockjs.Server {
	for _, sj := range c.sockjs {
		if sj.Owns(path) {
			return sj
		}
	}
	return nil
}

func newConformance(addr string, log *slog.Logger) (*conformance, error) {
	c := &conformance{hub: hub.New(hub.Config{}), sockjs: sockjsConformance(log)}
	timing := engineio.Config{PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond,
		WebSocket: true, Origins: []string{"*"}, Logger: log}
	ecfg := timing
	ecfg.Handler = engineio.Echo{}
	c.eio = engineio.New(ecfg)
	scfg := socketio.Config{Hub: c.hub, Errors: native.New(native.Config{Hub: c.hub}), ConnectTimeout: time.Second, Logger: log}
	socketio.Conformance(&scfg)
	scfg2 := timing
	scfg2.Handler = socketio.New(scfg)
	c.sio = engineio.New(scfg2)
	route := func(path string) *engineio.Server {
		switch {
		case strings.HasPrefix(path, "/engine.io/"):
			return c.eio
		case strings.HasPrefix(path, "/socket.io/"):
			return c.sio
		}
		return nil
	}
	pc := poller.Config{
		Logger: slog.New(quietListening{log.Handler()}),
		Routes: func(path string) poller.Handler {
			if e := route(path); e != nil {
				return e.WebSocket()
			}
			if sj := c.sockjsService(path); sj != nil {
				return sj.Route(path)
			}
			return nil
		},
		HTTPRoutes: func(method, path string) poller.HTTPHandler {
			if e := route(path); e != nil {
				return e.Polling()
			}
			if sj := c.sockjsService(path); sj != nil {
				return sj.HTTP()
			}
			return nil
		},
	}
	pc.Handler = c.eio.WebSocket()
	pc.Upgrader.Route = func(path string) bool {
		if sj := c.sockjsService(path); sj != nil {
			return sj.Route(path) != nil
		}
		return route(path) != nil
	}
	pc.Upgrader.Check = func(path, query string) error {
		if e := route(path); e != nil {
			return e.CheckUpgrade(path, query)
		}
		return nil
	}
	p, err := poller.New(pc)
	if err == nil {
		err = p.Listen(addr)
	}
	if err != nil {
		c.close()
		return nil, err
	}
	c.p = p
	return c, nil
}

func (c *conformance) close() {
	c.eio.Close()
	c.sio.Close()
	for _, sj := range c.sockjs {
		sj.Close()
	}
	c.hub.Close()
}

func (c *conformance) shutdown(ctx context.Context) error {
	err := c.p.Shutdown(ctx)
	c.close()
	return err
}

// quietListening drops the reactor's "listening" line, which scripts read
// as the main listener's address; the conformance listener logs its own.
type quietListening struct{ slog.Handler }

func (q quietListening) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "listening" {
		return nil
	}
	return q.Handler.Handle(ctx, r)
}

func (q quietListening) WithAttrs(as []slog.Attr) slog.Handler {
	return quietListening{q.Handler.WithAttrs(as)}
}

func (q quietListening) WithGroup(name string) slog.Handler {
	return quietListening{q.Handler.WithGroup(name)}
}

// openConformance binds the conformance listener when configured.
func (s *Server) openConformance() error {
	if s.cfg.ConformanceAddr == "" {
		return nil
	}
	c, err := newConformance(s.cfg.ConformanceAddr, s.log)
	if err != nil {
		return err
	}
	s.conf = c
	return nil
}

// startConformance serves the conformance listener in the background.
func (s *Server) startConformance() {
	if s.conf == nil {
		return
	}
	go func() {
		if err := s.conf.p.Serve(); err != nil {
			s.log.Error("conformance listener stopped", "err", err)
		}
	}()
	s.log.Info("conformance listener: Engine.IO echo at /engine.io/, Socket.IO at /socket.io/, "+
		"SockJS at /echo, /close, /disabled_websocket_echo, /cookie_needed_echo",
		"conformance_addr", s.conf.p.Addr().String())
}

// shutdownConformance stops the conformance listener.
func (s *Server) shutdownConformance(ctx context.Context) {
	if s.conf != nil {
		_ = s.conf.shutdown(ctx)
	}
}

// ConformanceAddr returns the conformance listener's address, nil when it
// is off.
func (s *Server) ConformanceAddr() net.Addr {
	if s.conf == nil {
		return nil
	}
	return s.conf.p.Addr()
}
