package stomp

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/c1mhq/c1m/auth"
	"github.com/c1mhq/c1m/hub"
	"github.com/c1mhq/c1m/internal/oprate"
	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/wsframe"
)

// Subprotocols are the WebSocket subprotocols of STOMP, in the server's
// order of preference. A client that offers none is served too.
var Subprotocols = []string{"v12.stomp", "v11.stomp", "v10.stomp"}

// Handler serves STOMP over WebSocket. It is a poller.Handler; safe for
// concurrent use. Its one goroutine, started by New and stopped by Close,
// sends the heart-beats, closes silent clients and those that do not
// CONNECT in time.
type Handler struct {
	cfg    Config
	log    *slog.Logger
	format *format

	mu       sync.Mutex
	sessions map[*session]struct{}
	done     chan struct{}
	stopped  sync.WaitGroup
	closed   bool

	stats counters
}

// Config configures a Handler.
type Config struct {
	// Hub routes subscriptions and publishes. Required.
	Hub *hub.Hub
	// ClientPublish lets clients SEND; Connect can still refuse it per
	// session (Grant.Publish).
	ClientPublish bool
	// Connect, when set, authenticates a CONNECT (login, passcode, the
	// Authorization header of the CONNECT frame or of the upgrade): an
	// error refuses it with an ERROR frame whose body is the error's text.
	// Nil accepts every client and grants publishing.
	Connect func(c poller.Peer, info *ConnectInfo) (Grant, error)
	// MaxPublishBytes bounds a SEND's body. Zero means 1 MiB.
	MaxPublishBytes int
	// MaxSubs bounds the subscriptions of one session. Zero means
	// hub.DefaultMaxSubsPerConn.
	MaxSubs int
	// HeartBeatSend and HeartBeatRecv are the server's heart-beat offer:
	// it can send every HeartBeatSend and wants to hear from the client at
	// least every HeartBeatRecv. Zero means 10s each; negative turns that
	// direction off. A client silent for twice the negotiated interval is
	// closed.
	HeartBeatSend, HeartBeatRecv time.Duration
	// ConnectTimeout closes a connection that sends no CONNECT in time.
	// Zero means 30s.
	ConnectTimeout time.Duration
	// MaxUnacked bounds the unacknowledged MESSAGEs in flight per
	// subscription with client acks (the default and the ceiling of a
	// SUBSCRIBE's prefetch-count). Zero means 1024.
	MaxUnacked int
	// MaxPending bounds the MESSAGEs that wait for the prefetch window per
	// subscription; past it SlowPolicy applies. Zero means 4096.
	MaxPending int
	// SlowPolicy applies past MaxPending: close with 1008 (SlowDisconnect)
	// or drop the oldest waiting MESSAGE (SlowDrop).
	SlowPolicy poller.SlowPolicy
	// MaxTx bounds the open transactions of a session, MaxTxFrames the
	// SENDs, ACKs and NACKs of one. Zero means 16 and 1024.
	MaxTx, MaxTxFrames int
	// Limits bound the frames a client sends; zero fields are the defaults,
	// except that MaxFrameBytes is at least MaxPublishBytes plus 64 KiB.
	Limits Limits
	// Server is the CONNECTED frame's server header. Empty means "c1m".
	Server string
	// Logger gets debug lines for sessions and protocol errors. Nil means
	// slog.Default().
	Logger *slog.Logger
	// Auth, when set, authenticates every CONNECT with a token: the
	// passcode header, else an Authorization: Bearer header of the CONNECT
	// frame or of the upgrade request, else the upgrade's ?token=. A
	// refused one gets an ERROR frame ("authentication failed"). SUBSCRIBE
	// and SEND are checked against the token's permissions (ERROR
	// "forbidden"); a SEND to RefreshDestination replaces the token; a
	// session whose token expires gets an ERROR "token expired" and is
	// closed with 4401. Nil (auth off) allows everything.
	Auth *auth.Authenticator
	// Ops limits the operations (SUBSCRIBE, UNSUBSCRIBE, SEND, BEGIN,
	// COMMIT, ABORT; not ACK, NACK or heart-beats) one session may send
	// per second. STOMP has no error that keeps the connection, so one
	// past the rate ends the session with ERROR "too many operations".
	// Zero: no limit.
	Ops oprate.Limit
}

// ConnectInfo is what a CONNECT carries for authentication. Valid only
// during Config.Connect.
type ConnectInfo struct {
	Login, Passcode, Host string
	// Authorization is the CONNECT frame's authorization header, or else
	// the upgrade request's Authorization header.
	Authorization string
}

// Grant is what an authenticated session may do.
type Grant struct {
	Publish bool
}

// Stats are the Handler's counters.
type Stats struct {
	Sessions      int64  `json:"sessions"`      // connected STOMP sessions now
	Subscriptions int64  `json:"subscriptions"` // their subscriptions now
	Errors        uint64 `json:"errors"`        // ERROR frames sent (each closed its connection)
	HeartbeatLost uint64 `json:"heartbeat_lost"`
	SlowConsumers uint64 `json:"slow_consumers"` // closed past MaxPending (SlowDisconnect)
	Dropped       uint64 `json:"dropped"`        // MESSAGEs dropped past MaxPending (SlowDrop)
}

type counters struct {
	sessions, subs                atomic.Int64
	errors, hbLost, slow, dropped atomic.Uint64
}

// New returns a Handler for cfg and starts its heart-beat goroutine.
func New(cfg Config) *Handler {
	if cfg.MaxPublishBytes <= 0 {
		cfg.MaxPublishBytes = 1 << 20
	}
	if cfg.MaxSubs <= 0 {
		cfg.MaxSubs = hub.DefaultMaxSubsPerConn
	}
	if cfg.HeartBeatSend == 0 {
		cfg.HeartBeatSend = 10 * time.Second
	}
	if cfg.HeartBeatRecv == 0 {
		cfg.HeartBeatRecv = 10 * time.Second
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 30 * time.Second
	}
	if cfg.MaxUnacked <= 0 {
		cfg.MaxUnacked = 1024
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 4096
	}
	if cfg.MaxTx <= 0 {
		cfg.MaxTx = 16
	}
	if cfg.MaxTxFrames <= 0 {
		cfg.MaxTxFrames = 1024
	}
	cfg.Limits = cfg.Limits.withDefaults()
	if min := cfg.MaxPublishBytes + 64<<10; cfg.Limits.MaxFrameBytes < min {
		cfg.Limits.MaxFrameBytes = min
	}
	if cfg.Server == "" {
		cfg.Server = "c1m"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &Handler{
		cfg:      cfg,
		log:      cfg.Logger,
		format:   &format{epoch: cfg.Hub.Epoch()},
		sessions: make(map[*session]struct{}),
		done:     make(chan struct{}),
	}
	h.stopped.Add(1)
	go h.sweep(h.tick())
	return h
}

// Close stops the heart-beat goroutine. Connections are the poller's to close.
func (h *Handler) Close() {
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		close(h.done)
	}
	h.mu.Unlock()
	h.stopped.Wait()
}

// Stats returns the Handler's counters.
func (h *Handler) Stats() Stats {
	return Stats{
		Sessions:      h.stats.sessions.Load(),
		Subscriptions: h.stats.subs.Load(),
		Errors:        h.stats.errors.Load(),
		HeartbeatLost: h.stats.hbLost.Load(),
		SlowConsumers: h.stats.slow.Load(),
		Dropped:       h.stats.dropped.Load(),
	}
}

// Format returns the hub.Format of this Handler's MESSAGE frames.
func (h *Handler) Format() hub.Format { return h.format }

func (h *Handler) debug() bool { return h.log.Enabled(context.Background(), slog.LevelDebug) }

// OnOpen implements poller.Handler.
func (h *Handler) OnOpen(c *poller.Conn) { h.Open(c) }

// OnMessage implements poller.Handler: text and binary messages alike
// carry frames.
func (h *Handler) OnMessage(c *poller.Conn, _ ws.OpCode, data []byte) { h.Message(c, data) }

// OnClose implements poller.Handler.
func (h *Handler) OnClose(c *poller.Conn, _ poller.CloseReason) { h.Closed(c) }

// Open starts a STOMP session on peer c (which must wait for its CONNECT).
// Open, Message and Closed serve peers other than WebSocket connections (a
// SockJS session); calls for one peer must not be concurrent.
func (h *Handler) Open(c poller.Peer) {
	s := &session{h: h, c: c}
	s.p.Limits = h.cfg.Limits
	s.lastRecv.Store(time.Now().UnixNano())
	s.opened = time.Now().UnixNano()
	c.SetValue(s)
	h.mu.Lock()
	h.sessions[s] = struct{}{}
	h.mu.Unlock()
}

// Message parses data, the payload of one message from peer c; data is
// valid only until Message returns and may be modified.
func (h *Handler) Message(c poller.Peer, data []byte) {
	if s, ok := c.Value().(*session); ok {
		s.onData(data)
	}
}

// Closed ends peer c's session: call it once when c closed.
func (h *Handler) Closed(c poller.Peer) {
	s, ok := c.Value().(*session)
	if !ok {
		return
	}
	h.mu.Lock()
	delete(h.sessions, s)
	h.mu.Unlock()
	s.end()
}

// tick is the sweep period: a quarter of the shortest interval it enforces,
// between 10ms and 1s.
func (h *Handler) tick() time.Duration {
	d := h.cfg.ConnectTimeout
	for _, hb := range []time.Duration{h.cfg.HeartBeatSend, h.cfg.HeartBeatRecv} {
		if hb > 0 && hb < d {
			d = hb
		}
	}
	return min(max(d/4, 10*time.Millisecond), time.Second)
}

// sweep sends heart-beats and closes silent sessions every tick.
func (h *Handler) sweep(every time.Duration) {
	defer h.stopped.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	var due, lost, late []*session
	for {
		select {
		case <-h.done:
			return
		case now := <-t.C:
			n := now.UnixNano()
			due, lost, late = due[:0], lost[:0], late[:0]
			h.mu.Lock()
			for s := range h.sessions {
				switch s.sweepState(n) {
				case sweepBeat:
					due = append(due, s)
				case sweepLost:
					lost = append(lost, s)
				case sweepLate:
					late = append(late, s)
				}
			}
			h.mu.Unlock()
			if len(due) > 0 {
				p := wsframe.NewPrepared(ws.OpText, []byte{'\n'})
				p.Retain(int32(len(due)))
				for _, s := range due {
					_ = s.c.Send(p)
				}
				p.Release()
			}
			for _, s := range lost {
				h.stats.hbLost.Add(1)
				s.c.CloseWith(wsframe.StatusPolicyViolation, "STOMP heart-beat timeout: nothing received for "+strconv.FormatInt(s.hbRecv/int64(time.Millisecond)*2, 10)+"ms", poller.ReasonIdleTimeout)
			}
			for _, s := range late {
				s.c.CloseWith(wsframe.StatusPolicyViolation, "no CONNECT frame within "+h.cfg.ConnectTimeout.String(), poller.ReasonIdleTimeout)
			}
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
