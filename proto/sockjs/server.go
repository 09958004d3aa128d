package sockjs

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/c1mhq/c1m/hub"
	"github.com/c1mhq/c1m/internal/registry"
	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/wsframe"
)

// Protocol is the protocol SockJS carries: every SockJS message from the
// client is one Message call, in order, never concurrently for one peer;
// Open comes before the first and Closed once after the last. c is a
// *Session (or, on the raw <prefix>/websocket endpoint, the *poller.Conn).
// data is valid only until Message returns. The methods must not block.
type Protocol interface {
	Open(c poller.Peer)
	Message(c poller.Peer, data []byte)
	Closed(c poller.Peer)
}

// Config configures a Server. Zero values mean the reference server's
// defaults.
type Config struct {
	// Prefix is the path SockJS is served under, without a final slash
	// ("/sockjs"). Required.
	Prefix string
	// Protocol gets the sessions' messages. Required.
	Protocol Protocol
	// WebSocket offers the websocket transports (/info says so); false
	// answers them 404.
	WebSocket bool
	// CookieNeeded sets the JSESSIONID cookie (the client's, or "dummy")
	// for sticky load balancers, and /info says so.
	CookieNeeded bool
	// Heartbeat is the interval of the "h" frames on an otherwise silent
	// receiving request. Zero means 25s.
	Heartbeat time.Duration
	// DisconnectDelay is how long a session lives without a receiving
	// request (after the last one ended), and how long a closed session
	// keeps answering with its close frame. Zero means 5s.
	DisconnectDelay time.Duration
	// ResponseLimit ends an xhr_streaming, eventsource or htmlfile response
	// after this many bytes, so that the client opens a new one and the
	// browser frees what it kept. Zero means 128 KiB.
	ResponseLimit int
	// MaxQueueBytes bounds what a session queues while no receiving request
	// can take it (between polls); past it the session is closed as a slow
	// consumer. The receiving request's own connection is bounded by the
	// reactor's MaxQueueBytes and slow-consumer policy. Zero means 4 MiB.
	MaxQueueBytes int
	// ClientURL is the sockjs-client script the iframe page loads. Empty
	// means "/vendor/sockjs.min.js".
	ClientURL string
	// Logger gets debug lines. Nil means slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	c.Prefix = strings.TrimSuffix(c.Prefix, "/")
	if c.Heartbeat <= 0 {
		c.Heartbeat = 25 * time.Second
	}
	if c.DisconnectDelay <= 0 {
		c.DisconnectDelay = 5 * time.Second
	}
	if c.ResponseLimit <= 0 {
		c.ResponseLimit = 128 << 10
	}
	if c.MaxQueueBytes <= 0 {
		c.MaxQueueBytes = 4 << 20
	}
	if c.ClientURL == "" {
		c.ClientURL = "/vendor/sockjs.min.js"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Server serves SockJS under one prefix: its HTTP transports as a
// poller.HTTPHandler (HTTP), its WebSocket transports as poller.Handlers
// (WebSocket for <prefix>/<server>/<session>/websocket, RawWebSocket for
// <prefix>/websocket). Safe for concurrent use.
type Server struct {
	cfg   Config
	log   *slog.Logger
	proto Protocol
	reg   *registry.Map[*Session]

	http         httpHandler
	wsh          wsHandler
	raw          rawHandler
	tick         time.Duration
	iframe, etag []byte

	// Shared frames.
	hbWS, hbXHR, hbES *wsframe.Prepared

	wrapMu sync.Mutex
	wraps  map[wrapKey]*wrapped

	sessions atomic.Int64
	closes   [numReasons]atomic.Uint64
	wsSeq    atomic.Uint64 // numbers the WebSocket sessions (websocket.go)

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// New returns a Server for cfg and starts its sweeper; stop it with Close.
func New(cfg Config) *Server {
	cfg.setDefaults()
	s := &Server{cfg: cfg, log: cfg.Logger, proto: cfg.Protocol, reg: registry.New[*Session](),
		wraps: make(map[wrapKey]*wrapped), stop: make(chan struct{}), done: make(chan struct{})}
	s.http.srv, s.wsh.srv, s.raw.srv = s, s, s
	s.iframe = iframePage(cfg.ClientURL)
	sum := md5.Sum(s.iframe)
	s.etag = []byte(`"` + hex.EncodeToString(sum[:]) + `"`)
	s.hbWS = encWS.encode(frameHeartbeat)
	s.hbXHR = encXHRChunk.encode(frameHeartbeat)
	s.hbES = encESChunk.encode(frameHeartbeat)
	s.tick = min(cfg.Heartbeat, cfg.DisconnectDelay) / 20
	s.tick = max(min(s.tick, 250*time.Millisecond), 5*time.Millisecond)
	go s.reg.Sweep(s.tick, s.stop, s.done, (*Session).onTick)
	return s
}

// HTTP returns the HTTP transports, /info and the iframe page, for
// poller.Config.HTTPRoutes: route every path under Prefix to it.
func (s *Server) HTTP() poller.HTTPHandler { return &s.http }

// WebSocket returns the framed websocket transport, for poller.Config.Routes
// (paths <prefix>/<server>/<session>/websocket; IsWebSocketPath says which).
func (s *Server) WebSocket() poller.Handler { return &s.wsh }

// RawWebSocket returns the raw WebSocket endpoint <prefix>/websocket: a
// plain WebSocket whose every message is one message of the Protocol.
func (s *Server) RawWebSocket() poller.Handler { return &s.raw }

// Route returns the WebSocket handler for path, nil when path is not a
// WebSocket endpoint of this server (or the websocket transports are off).
func (s *Server) Route(path string) poller.Handler {
	if !s.cfg.WebSocket {
		return nil
	}
	rest, ok := s.under(path)
	if !ok {
		return nil
	}
	if rest == "/websocket" {
		return &s.raw
	}
	if _, _, t, ok := splitSession(rest); ok && t == "websocket" {
		return &s.wsh
	}
	return nil
}

// Owns reports whether path is under the server's prefix (for
// poller.Config.HTTPRoutes).
func (s *Server) Owns(path string) bool {
	_, ok := s.under(path)
	return ok
}

// under returns path after the prefix ("" or "/...").
func (s *Server) under(path string) (string, bool) {
	p := s.cfg.Prefix
	if !strings.HasPrefix(path, p) {
		return "", false
	}
	rest := path[len(p):]
	if rest != "" && rest[0] != '/' {
		return "", false
	}
	return rest, true
}

// splitSession splits "/<server>/<session>/<transport>"; server and
// session ids are non-empty and have no dots.
func splitSession(rest string) (server, session, transport string, ok bool) {
	if len(rest) == 0 || rest[0] != '/' {
		return "", "", "", false
	}
	parts := strings.SplitN(rest[1:], "/", 4)
	if len(parts) != 3 {
		return "", "", "", false
	}
	for _, id := range parts[:2] {
		if id == "" || strings.IndexByte(id, '.') >= 0 {
			return "", "", "", false
		}
	}
	return parts[0], parts[1], parts[2], true
}

// Config returns the configuration in effect (defaults filled in).
func (s *Server) Config() Config { return s.cfg }

// Stats are a Server's counters.
type Stats struct {
	Sessions int64             `json:"sessions"` // open sessions now
	Closes   map[string]uint64 `json:"closes"`   // closed sessions by reason
}

// Sessions returns the number of open sessions (not counting closed ones
// that still answer with their close frame).
func (s *Server) Sessions() int64 { return s.sessions.Load() }

// Stats returns the counters.
func (s *Server) Stats() Stats {
	st := Stats{Sessions: s.sessions.Load(), Closes: make(map[string]uint64, numReasons)}
	for r := range s.closes {
		st.Closes[CloseReason(r).String()] = s.closes[r].Load()
	}
	return st
}

// Closes returns how many sessions closed for reason r.
func (s *Server) Closes(r CloseReason) uint64 { return s.closes[r].Load() }

// Close stops the sweeper and closes every session (c[3000,"Go away!"],
// ReasonShutdown). Safe to call more than once.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.stop)
		<-s.done
	})
	for _, ss := range s.reg.Append(nil) {
		ss.close(int(CodeGoAway), textGoAway, ReasonShutdown)
		ss.runClosed()
		s.remove(ss)
	}
}

func (s *Server) lookup(id string) *Session { return s.reg.Get(id) }

// lookupOrCreate returns the session id, creating it for a receiving
// request when there is none; created reports that it is new. A new
// session's Protocol.Open has been called when it returns.
func (s *Server) lookupOrCreate(id, auth, query string, remote net.Addr, e enc) (ss *Session, created bool) {
	ss, created = s.reg.LoadOrCreate(id, func() *Session {
		ss := newSession(s, id, auth, query, remote, e)
		// No message is delivered before Open: deliver waits for inMu.
		ss.inMu.Lock()
		return ss
	})
	if !created {
		return ss, false
	}
	s.sessions.Add(1)
	s.proto.Open(ss)
	ss.inMu.Unlock()
	if s.debug() {
		s.log.Debug("sockjs open", "prefix", s.cfg.Prefix, "session", id)
	}
	return ss, true
}

func (s *Server) remove(ss *Session) { s.reg.Remove(ss.id, ss) }

// The sweeper (registry.Map.Sweep, the Server's one timer) calls
// Session.onTick for every session each tick: it sends the heart-beats
// that are due, closes the sessions without a receiving request for
// DisconnectDelay, calls Protocol.Closed for sessions closed where it
// could not be called (under the hub's locks), and forgets closed sessions
// after DisconnectDelay.

func nowNano() int64 { return time.Now().UnixNano() }

func (s *Server) debug() bool { return s.log.Enabled(context.Background(), slog.LevelDebug) }

// heartbeat returns the shared heart-beat frame for encoding e with one
// reference, nil when there is none to share.
func (s *Server) heartbeat(e enc) *wsframe.Prepared {
	var p *wsframe.Prepared
	switch e {
	case encWS:
		p = s.hbWS
	case encXHRChunk:
		p = s.hbXHR
	case encESChunk:
		p = s.hbES
	default:
		return nil
	}
	p.Retain(1)
	return p
}

var _ hub.Wrapper = (*Session)(nil)
