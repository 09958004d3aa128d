package server

import (
	"time"

	"github.com/gobwas/ws"

	"github.com/c1mhq/c1m/auth"
	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/proto/native"
	"github.com/c1mhq/c1m/proto/sockjs"
)

// SockJSConfig configures SockJS on the reactor: the native protocol at
// /sockjs and STOMP at /stomp-sockjs (when STOMP is on). The zero value
// serves both with the reference server's timing.
type SockJSConfig struct {
	// Off turns SockJS off.
	Off bool
	// Heartbeat is the interval of the "h" frames. Zero means 25s.
	Heartbeat time.Duration
	// DisconnectDelay is how long a session lives without a receiving
	// request. Zero means 5s.
	DisconnectDelay time.Duration
	// ResponseLimit ends a streaming response after this many bytes. Zero
	// means 128 KiB.
	ResponseLimit int
	// CookieNeeded sets JSESSIONID for sticky load balancers.
	CookieNeeded bool
	// ClientURL is the sockjs-client script the iframe page loads. Empty
	// means "/vendor/sockjs.min.js" (served by c1m).
	ClientURL string
}

// SockJS paths.
const (
	sockjsNativePrefix = "/sockjs"
	sockjsStompPrefix  = "/stomp-sockjs"
)

// nativeOverSockJS carries the native protocol over SockJS: every SockJS
// message is one text message of the protocol (a JSON operation).
type nativeOverSockJS struct {
	h    *native.Handler
	auth *auth.Authenticator // nil when auth is off
}

// Open authenticates the session with the token of the request that
// opened it (Bearer or ?token=; SockJS keeps no cookie): a refused token
// closes it with 4401 and the reason.
func (a nativeOverSockJS) Open(c poller.Peer) {
	if a.auth == nil {
		return
	}
	sess, err := a.auth.OpenCreds(auth.Creds{Authorization: c.Authorization(), Query: c.Query()})
	if err != nil {
		c.CloseWith(native.CloseAuth, err.Error(), poller.ReasonServer)
		return
	}
	c.SetValue(sess)
	a.h.Opened(c)
}

func (a nativeOverSockJS) Message(c poller.Peer, data []byte) { a.h.Message(c, ws.OpText, data) }

func (a nativeOverSockJS) Closed(c poller.Peer) { a.h.Closed(c) }

// newSockJS builds the SockJS servers: native, and STOMP when it is on.
func (s *Server) newSockJS() {
	if s.cfg.SockJS.Off {
		return
	}
	c := s.cfg.SockJS
	cfg := sockjs.Config{
		WebSocket:       true,
		CookieNeeded:    c.CookieNeeded,
		Heartbeat:       c.Heartbeat,
		DisconnectDelay: c.DisconnectDelay,
		ResponseLimit:   c.ResponseLimit,
		MaxQueueBytes:   s.cfg.Poller.MaxQueueBytes,
		ClientURL:       c.ClientURL,
		Logger:          s.log,
	}
	nc := cfg
	nc.Prefix, nc.Protocol = sockjsNativePrefix, nativeOverSockJS{s.native, s.auth}
	s.sockjs = append(s.sockjs, sockjs.New(nc))
	if s.stomp != nil {
		sc := cfg
		sc.Prefix, sc.Protocol = sockjsStompPrefix, s.stomp
		s.sockjs = append(s.sockjs, sockjs.New(sc))
	}
}

// sockjsFor returns the SockJS server whose prefix path is under, nil if
// none.
func (s *Server) sockjsFor(path string) *sockjs.Server {
	for _, sj := range s.sockjs {
		if sj.Owns(path) {
			return sj
		}
	}
	return nil
}

// sockjsRoute returns the WebSocket handler of a SockJS websocket path.
func (s *Server) sockjsRoute(path string) poller.Handler {
	if sj := s.sockjsFor(path); sj != nil {
		return sj.Route(path)
	}
	return nil
}

// closeSockJS stops the SockJS sweepers and closes their sessions.
func (s *Server) closeSockJS() {
	for _, sj := range s.sockjs {
		sj.Close()
	}
}

// SockJS returns the SockJS servers (native first, then STOMP), for tests
// and embedding.
func (s *Server) SockJS() []*sockjs.Server { return s.sockjs }

// sockjsSessions returns the open SockJS sessions of both prefixes.
func (s *Server) sockjsSessions() int64 {
	var n int64
	for _, sj := range s.sockjs {
		n += sj.Sessions()
	}
	return n
}
