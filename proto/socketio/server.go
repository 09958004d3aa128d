package socketio

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/gobwas/ws"

	"github.com/c1mhq/c1m/auth"
	"github.com/c1mhq/c1m/hub"
	"github.com/c1mhq/c1m/internal/oprate"
	"github.com/c1mhq/c1m/proto/engineio"
	"github.com/c1mhq/c1m/proto/native"
	"github.com/c1mhq/c1m/wsframe"
)

// ConnectError refuses a CONNECT: the client gets connect_error with
// Message (and Data, when not nil, as the error's data).
type ConnectError struct {
	Message string
	Data    json.RawMessage
}

func (e *ConnectError) Error() string { return e.Message }

// Grant is what a CONNECT hook allows a socket.
type Grant struct {
	// Publish lets the socket emit "publish" (when client publishing is on).
	Publish bool
}

// Config configures a Server.
type Config struct {
	// Hub routes subscriptions and publishes. Required.
	Hub *hub.Hub
	// Errors words hub errors and oversize publishes as the native protocol
	// does (its err replies). Required.
	Errors *native.Handler
	// Namespaces lists the namespaces clients may connect to. Empty means
	// "/" only. Each is an independent market-data view: its sockets
	// subscribe on their own.
	Namespaces []string
	// Connect, when set, is the auth hook: it gets the namespace and the
	// CONNECT payload (nil when the client sent none) and returns the
	// socket's Grant, or an error that refuses the CONNECT with
	// connect_error (a *ConnectError chooses the data too). Nil grants
	// everything.
	Connect func(nsp string, auth json.RawMessage) (Grant, error)
	// OnSocket, when set, is called for every socket that connected, after
	// its CONNECT was answered (for embedding: Socket.Emit).
	OnSocket func(so *Socket)
	// OnEvent, when set, is offered every event from a client before the
	// market-data events; it returns true when it handled the event.
	OnEvent func(so *Socket, e *Event) bool
	// ClientPublish enables the "publish" event.
	ClientPublish bool
	// MaxPublishBytes bounds one published payload. Zero means 1 MiB.
	MaxPublishBytes int
	// ConnectTimeout closes an Engine.IO session that connected to no
	// namespace in time. Zero means 45s (the reference's).
	ConnectTimeout time.Duration
	// Recovery turns on connection state recovery (Socket.IO 4.6+'s
	// connectionStateRecovery) and is its maxDisconnectionDuration: how
	// long a disconnected socket's state waits for its client. Zero means
	// off: no pid, no offsets.
	Recovery time.Duration
	// RecoveryLog bounds the deliveries a socket remembers (16 bytes each,
	// grown on demand): recovery is exact while fewer were queued after
	// the last one the client got. Zero means 1024.
	RecoveryLog int
	// RecoverySessions bounds the disconnected sockets kept at once, and
	// RecoveryMaxBytes the memory their logs hold (estimated). Zero means
	// 100,000 and 256 MiB. A socket past either bound is not kept.
	RecoverySessions int
	RecoveryMaxBytes int64
	// Logger, nil means slog.Default().
	Logger *slog.Logger
	// Auth, when set, authenticates every CONNECT with the token of its
	// auth payload ({"token":"..."}): a refused one gets connect_error
	// (data {"status":401}). Subscribes (recovered ones too) and
	// publishes are checked against the token's permissions (ack error
	// 403, 401 without a token); the "refresh" event replaces the token;
	// a socket whose token expires gets a "token_expired" event and is
	// disconnected from its namespace. Nil (auth off) allows everything.
	Auth *auth.Authenticator
	// Ops limits the market-data events (subscribe, unsubscribe, publish,
	// refresh) one socket may emit per second: past it an event gets the
	// ack error 429 (nothing without an ack), and a socket that goes on
	// past Ops.Strikes refusals in a row is disconnected. Zero: no limit.
	Ops oprate.Limit
}

// Server is the Socket.IO layer: an engineio.Handler. Safe for concurrent
// use.
type Server struct {
	cfg    Config
	log    *slog.Logger
	nsps   map[string]bool
	format hub.Format

	recMu    sync.Mutex
	records  map[string]*record // disconnected sockets, by pid
	recBytes int64              // their recordSize
	live     map[string]*Socket // connected sockets, by pid
}

// New returns a Server for cfg.
func New(cfg Config) *Server {
	if len(cfg.Namespaces) == 0 {
		cfg.Namespaces = []string{"/"}
	}
	if cfg.MaxPublishBytes <= 0 {
		cfg.MaxPublishBytes = 1 << 20
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 45 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RecoveryLog <= 0 {
		cfg.RecoveryLog = 1024
	}
	if cfg.RecoverySessions <= 0 {
		cfg.RecoverySessions = 100_000
	}
	if cfg.RecoveryMaxBytes <= 0 {
		cfg.RecoveryMaxBytes = 256 << 20
	}
	s := &Server{cfg: cfg, log: cfg.Logger, nsps: make(map[string]bool), format: Format}
	if cfg.Recovery > 0 {
		s.format = format{epoch: cfg.Hub.Epoch()}
		s.records = make(map[string]*record)
		s.live = make(map[string]*Socket)
	}
	for _, n := range cfg.Namespaces {
		s.nsps[n] = true
	}
	return s
}

// client is the Socket.IO state of one Engine.IO session.
type client struct {
	sess *engineio.Session

	mu      sync.Mutex
	closed  bool    // the session ended: no socket may join
	sockets sockets // by namespace
	// A binary packet waiting for its attachments.
	pending *packet
	pjson   []byte
	atts    [][]byte
	attLen  int // bytes in atts
}

// OnOpen implements engineio.Handler: the session must CONNECT within
// ConnectTimeout.
func (s *Server) OnOpen(sess *engineio.Session) {
	sess.SetValue(&client{sess: sess})
	sess.CloseAfter(s.cfg.ConnectTimeout, "connect timeout")
}

// OnClose implements engineio.Handler: every socket of the session leaves.
func (s *Server) OnClose(sess *engineio.Session, reason string) {
	cl, ok := sess.Value().(*client)
	if !ok {
		return
	}
	cl.mu.Lock()
	cl.closed = true
	socks := cl.sockets
	cl.sockets = nil
	cl.pending, cl.pjson, cl.atts = nil, nil, nil
	cl.mu.Unlock()
	for _, so := range socks {
		s.leave(so, true)
	}
	if s.debug() {
		s.log.Debug("socket.io close", "sid", sess.ID(), "reason", reason)
	}
}

// OnMessage implements engineio.Handler: a Socket.IO packet, or an
// attachment of the binary packet before it. A packet the reference parser
// refuses closes the connection.
func (s *Server) OnMessage(sess *engineio.Session, data []byte, binary bool) {
	cl, ok := sess.Value().(*client)
	if !ok {
		return
	}
	cl.mu.Lock()
	if binary {
		if cl.pending == nil {
			cl.mu.Unlock()
			s.fail(sess, "binary data when not reconstructing a packet")
			return
		}
		cl.attLen += len(data)
		if cl.attLen > s.maxAttachBytes() {
			cl.pending, cl.pjson, cl.atts, cl.attLen = nil, nil, nil, 0
			cl.mu.Unlock()
			s.fail(sess, "attachments too large")
			return
		}
		cl.atts = append(cl.atts, append([]byte(nil), data...))
		if len(cl.atts) < cl.pending.attachments {
			cl.mu.Unlock()
			return
		}
		p, atts := *cl.pending, cl.atts
		p.data = cl.pjson
		cl.pending, cl.pjson, cl.atts, cl.attLen = nil, nil, nil, 0
		cl.mu.Unlock()
		s.onPacket(cl, &p, atts)
		return
	}
	if cl.pending != nil {
		cl.mu.Unlock()
		s.fail(sess, "plain text data when reconstructing a packet")
		return
	}
	p, err := decode(data)
	if err != nil {
		cl.mu.Unlock()
		s.fail(sess, "invalid packet")
		return
	}
	if p.attachments > 0 {
		pc := p
		pc.data = nil
		cl.pending, cl.pjson = &pc, append([]byte(nil), p.data...)
		cl.mu.Unlock()
		return
	}
	cl.mu.Unlock()
	s.onPacket(cl, &p, nil)
}

// maxAttachBytes bounds the attachments of one packet together: a publish's
// data at most, and never less than 1 MiB.
func (s *Server) maxAttachBytes() int { return max(s.cfg.MaxPublishBytes, 1<<20) }

func (s *Server) fail(sess *engineio.Session, why string) {
	if s.debug() {
		s.log.Debug("socket.io parse error", "sid", sess.ID(), "why", why)
	}
	sess.Close()
}

// onPacket dispatches a complete packet, as the reference's Client does: a
// CONNECT to a namespace the session is not in connects; anything else but
// CONNECT and CONNECT_ERROR goes to the namespace's socket; the rest closes
// the connection.
func (s *Server) onPacket(cl *client, p *packet, atts [][]byte) {
	cl.mu.Lock()
	so := cl.sockets.get(p.nsp)
	cl.mu.Unlock()
	switch {
	case so == nil && p.typ == TypeConnect:
		s.connect(cl, p)
	case so != nil && p.typ != TypeConnect && p.typ != TypeConnectError:
		so.onPacket(p, atts)
	default:
		s.fail(cl.sess, "invalid state")
	}
}

// connect answers a CONNECT: connect_error for an unknown namespace or a
// refusal of the hook, else the socket's sid.
func (s *Server) connect(cl *client, p *packet) {
	if !s.nsps[p.nsp] {
		s.connectError(cl.sess, p.nsp, &ConnectError{Message: "Invalid namespace"})
		return
	}
	grant := Grant{Publish: true}
	if s.cfg.Connect != nil {
		g, err := s.cfg.Connect(p.nsp, json.RawMessage(p.data))
		if err != nil {
			ce, ok := err.(*ConnectError)
			if !ok {
				ce = &ConnectError{Message: err.Error()}
			}
			s.connectError(cl.sess, p.nsp, ce)
			return
		}
		grant = g
	}
	var asess *auth.Session
	if s.cfg.Auth != nil {
		var err error
		if asess, err = s.cfg.Auth.Open(tokenOf(p.data)); err != nil {
			s.connectError(cl.sess, p.nsp, &ConnectError{Message: err.Error(), Data: json.RawMessage(`{"status":401}`)})
			return
		}
	}
	so := &Socket{srv: s, cl: cl, nsp: p.nsp, id: newID(), grant: grant, auth: append(json.RawMessage(nil), p.data...), sess: asess}
	var rec *record
	var cp connectPayload
	if s.cfg.Recovery > 0 {
		so.rec, so.pid = true, newID()
		so.tr = &tracker{max: s.cfg.RecoveryLog}
		if cp = parseConnectPayload(p.data); cp.Pid != "" {
			if rec = s.takeRecord(cp.Pid, p.nsp, cl); rec != nil {
				so.id, so.tr, so.holding = rec.id, rec.tr, true
			} else {
				so.tr.stale = cp.Offset
			}
		}
	}
	cl.mu.Lock()
	if cl.sockets.get(p.nsp) != nil || cl.closed {
		cl.mu.Unlock()
		asess.Stop()
		return
	}
	cl.sockets = append(cl.sockets, so)
	cl.mu.Unlock()
	cl.sess.CancelClose()
	recovered := false
	if rec != nil {
		// A recovered subscription is a subscribe: the new token must
		// allow every one, else the client starts afresh.
		recovered = so.permitsAll(rec.subs) && s.restore(so, rec, cp.Offset)
		if !recovered {
			// Start afresh: what the restore subscribed goes, and the
			// client subscribes again.
			s.cfg.Hub.UnsubscribeAll(so)
		}
	}
	if so.rec {
		so.mu.Lock()
		if so.gone || so.tr == nil {
			// The session ended meanwhile: nothing this CONNECT did may
			// outlive it.
			so.mu.Unlock()
			s.cfg.Hub.UnsubscribeAll(so)
			so.release(false)
			asess.Stop()
			return
		}
		switch {
		case recovered:
			so.pid = rec.pid
		case rec != nil:
			so.id = newID()
			so.tr = &tracker{max: s.cfg.RecoveryLog, stale: cp.Offset}
			so.subs = nil
		}
		s.recMu.Lock()
		s.live[so.pid] = so
		s.recMu.Unlock()
		so.mu.Unlock()
	}
	b := appendHead(make([]byte, 0, 64), TypeConnect, 0, p.nsp, 0, false)
	b = append(b, `{"sid":"`...)
	b = append(b, so.id...)
	if so.rec {
		b = append(b, `","pid":"`...)
		b = append(b, so.pid...)
	}
	b = append(b, `"}`...)
	so.sendText(b)
	if rec != nil {
		so.release(recovered)
	}
	asess.Watch(so.expire)
	if s.cfg.OnSocket != nil {
		s.cfg.OnSocket(so)
	}
	if s.debug() {
		s.log.Debug("socket.io connect", "sid", cl.sess.ID(), "nsp", p.nsp, "socket", so.id, "recovered", recovered, "sub", asess.Sub())
	}
}

func (s *Server) connectError(sess *engineio.Session, nsp string, ce *ConnectError) {
	b := appendHead(make([]byte, 0, 64), TypeConnectError, 0, nsp, 0, false)
	v := struct {
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data,omitempty"`
	}{ce.Message, ce.Data}
	j, _ := json.Marshal(v)
	b = append(b, j...)
	_ = sess.Send(wsframe.NewPrepared(ws.OpText, b))
}

// leave ends a socket: its subscriptions go, its pending acks are dropped.
// With recovery, a socket whose session ended (keep) waits for its client
// (persist); one that left its namespace is forgotten.
func (s *Server) leave(so *Socket, keep bool) {
	so.mu.Lock()
	so.gone = true
	clear(so.acks)
	pid := so.pid
	so.mu.Unlock()
	s.cfg.Hub.UnsubscribeAll(so)
	so.sess.Stop()
	if !so.rec {
		return
	}
	if keep {
		s.persist(so)
		return
	}
	s.recMu.Lock()
	if s.live[pid] == so {
		delete(s.live, pid)
	}
	s.recMu.Unlock()
}

func newID() string {
	var raw [15]byte
	_, _ = rand.Read(raw[:])
	return base64.URLEncoding.EncodeToString(raw[:])
}

func (s *Server) debug() bool { return s.log.Enabled(context.Background(), slog.LevelDebug) }

// sockets are a session's sockets, one per namespace: a short slice (a
// session joins one namespace or a few; a map would cost some 200 bytes
// per idle session).
type sockets []*Socket

func (ss sockets) get(nsp string) *Socket {
	for _, so := range ss {
		if so.nsp == nsp {
			return so
		}
	}
	return nil
}

// remove removes so, reporting whether it was there.
func (ss *sockets) remove(so *Socket) bool {
	for i, s := range *ss {
		if s == so {
			*ss = append((*ss)[:i], (*ss)[i+1:]...)
			(*ss)[:len(*ss)+1][len(*ss)] = nil
			return true
		}
	}
	return false
}
