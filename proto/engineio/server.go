package engineio

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/gobwas/ws"

	"github.com/c1mhq/c1m/internal/registry"
	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/wsframe"
)

// Handler is the layer above Engine.IO (Socket.IO). Its methods are called
// without a Session lock held, never concurrently for one session.
type Handler interface {
	// OnOpen is called once for a new session, before any of its messages:
	// over polling before the open packet is answered, over WebSocket after
	// it is queued.
	OnOpen(s *Session)
	// OnMessage is called for every message packet, text or binary. data is
	// valid only until OnMessage returns.
	OnMessage(s *Session, data []byte, binary bool)
	// OnClose is called once when the session ends, with the reference
	// server's reason ("transport close", "ping timeout", "parse error",
	// "transport error", "forced close", "server shutting down").
	OnClose(s *Session, reason string)
}

// Config configures a Server. Zero values mean the documented defaults,
// which are the reference server's.
type Config struct {
	// Handler gets the sessions' messages. Required.
	Handler Handler
	// PingInterval is the time between the server's pings. Zero means 25s.
	PingInterval time.Duration
	// PingTimeout is how long the server waits for a pong after a ping before
	// it closes the session. Zero means 20s.
	PingTimeout time.Duration
	// UpgradeTimeout bounds an upgrade from the WebSocket's arrival to its
	// "upgrade" packet. Zero means 10s.
	UpgradeTimeout time.Duration
	// MaxPayload bounds a POST body and a WebSocket message; past it the
	// session closes. Zero means 1,000,000 bytes.
	MaxPayload int
	// MaxQueueBytes bounds what a polling session holds for its next GET;
	// past it the session closes. Zero means 4 MiB.
	MaxQueueBytes int
	// WebSocket offers the WebSocket transport ("upgrades":["websocket"]):
	// set it when the WebSocket handler is routed on the same path.
	WebSocket bool
	// Origins lists the origins allowed to poll cross-origin (CORS with
	// credentials); "*" allows any. Empty sends no CORS headers, so browsers
	// allow only same-origin pages; a disallowed origin gets 403.
	Origins []string
	// AllowRequest, when set, is asked before a session opens; an error
	// refuses the handshake with 403 {"code":4,"message":err.Error()}.
	AllowRequest func(r *poller.Request) error
	// Logger gets debug lines. Nil means slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.PingInterval <= 0 {
		c.PingInterval = 25 * time.Second
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = 20 * time.Second
	}
	if c.UpgradeTimeout <= 0 {
		c.UpgradeTimeout = 10 * time.Second
	}
	if c.MaxPayload <= 0 {
		c.MaxPayload = 1_000_000
	}
	if c.MaxQueueBytes <= 0 {
		c.MaxQueueBytes = 4 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// ErrClosed is returned by Session.Send on a closed session.
var ErrClosed = errors.New("engineio: session closed")

// errSlow closes a polling session whose client does not fetch its packets.
var errSlow = errors.New("engineio: polling queue full")

// Server owns the Engine.IO sessions of one path. Polling returns its
// HTTP long-polling handler and WebSocket its WebSocket handler; both must be
// routed on the same path. Safe for concurrent use.
type Server struct {
	cfg Config
	log *slog.Logger
	h   Handler
	reg *registry.Map[*Session]

	poll   pollingHandler
	wsh    wsHandler
	pingF  *wsframe.Prepared // "2", shared, never released
	noopF  *wsframe.Prepared // "6"
	closeF *wsframe.Prepared // "1"
	tick   time.Duration

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// New returns a Server for cfg and starts its sweeper; stop it with Close.
func New(cfg Config) *Server {
	cfg.setDefaults()
	s := &Server{cfg: cfg, log: cfg.Logger, h: cfg.Handler, reg: registry.New[*Session](),
		stop: make(chan struct{}), done: make(chan struct{})}
	s.poll.srv, s.wsh.srv = s, s
	s.pingF = wsframe.NewPrepared(ws.OpText, []byte{TypePing})
	s.noopF = wsframe.NewPrepared(ws.OpText, []byte{TypeNoop})
	s.closeF = wsframe.NewPrepared(ws.OpText, []byte{TypeClose})
	s.tick = min(cfg.PingInterval, cfg.PingTimeout, cfg.UpgradeTimeout) / 40
	s.tick = max(min(s.tick, 250*time.Millisecond), 5*time.Millisecond)
	// The Server's one timer: every tick the sweeper sends the pings that
	// are due, closes the sessions whose pong is late or whose CloseAfter
	// deadline passed, and ends stalled upgrades (Session.onTick). Requests
	// check the pong deadline themselves (Session.pongLate), so the tick
	// bounds only how late a silent session is closed.
	go s.reg.Sweep(s.tick, s.stop, s.done, (*Session).onTick)
	return s
}

// Polling returns the HTTP long-polling transport, for poller.Config.HTTPRoutes.
func (s *Server) Polling() poller.HTTPHandler { return &s.poll }

// WebSocket returns the WebSocket transport, for poller.Config.Routes.
func (s *Server) WebSocket() poller.Handler { return &s.wsh }

// Config returns the configuration in effect (defaults filled in).
func (s *Server) Config() Config { return s.cfg }

// Sessions returns the number of open sessions.
func (s *Server) Sessions() int { return s.reg.Len() }

// Close stops the sweeper and closes every session with "server shutting
// down". Safe to call more than once.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.stop)
		<-s.done
	})
	for _, ss := range s.reg.Append(nil) {
		ss.close("server shutting down", TypeClose)
	}
}

func (s *Server) lookup(id string) *Session { return s.reg.Get(id) }

func (s *Server) remove(ss *Session) { s.reg.Remove(ss.id, ss) }

// newSession registers a new session with a fresh id.
func (s *Server) newSession(transport string) *Session {
	var raw [15]byte
	for {
		_, _ = rand.Read(raw[:])
		id := base64.URLEncoding.EncodeToString(raw[:])
		now := nowNano()
		ss := &Session{srv: s, id: id, transport: transport, pingDue: now + int64(s.cfg.PingInterval)}
		if s.reg.Add(id, ss) {
			return ss
		}
	}
}

// openPacket returns the text of the open packet for ss.
func (s *Server) openPacket(ss *Session, upgrades bool) []byte {
	b := make([]byte, 0, 128)
	b = append(b, TypeOpen)
	b = append(b, `{"sid":"`...)
	b = append(b, ss.id...)
	b = append(b, `","upgrades":[`...)
	if upgrades {
		b = append(b, `"websocket"`...)
	}
	b = append(b, `],"pingInterval":`...)
	b = strconv.AppendInt(b, s.cfg.PingInterval.Milliseconds(), 10)
	b = append(b, `,"pingTimeout":`...)
	b = strconv.AppendInt(b, s.cfg.PingTimeout.Milliseconds(), 10)
	b = append(b, `,"maxPayload":`...)
	b = strconv.AppendInt(b, int64(s.cfg.MaxPayload), 10)
	return append(b, '}')
}

func nowNano() int64 { return time.Now().UnixNano() }

func (s *Server) debug() bool { return s.log.Enabled(context.Background(), slog.LevelDebug) }
