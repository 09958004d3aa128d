package native

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/gobwas/ws"

	"github.com/c1mhq/c1m/auth"
	"github.com/c1mhq/c1m/hub"
	"github.com/c1mhq/c1m/internal/oprate"
	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/wsframe"
)

// Handler serves the native protocol on WebSocket connections. It is a
// poller.Handler; every connection is a hub.Subscriber. Safe for concurrent
// use; the poller never calls it concurrently for one connection.
type Handler struct {
	cfg Config
	log *slog.Logger
}

// Config configures a Handler.
type Config struct {
	// Hub routes the subscriptions and publishes. Required.
	Hub *hub.Hub
	// ClientPublish enables {"op":"pub"} and binary publishes.
	ClientPublish bool
	// PublishAllowed, when set, reports whether connection c may publish
	// (e.g. its upgrade request presented the publish token); a refused
	// publish gets err 401. Nil allows every connection.
	PublishAllowed func(c poller.Peer) bool
	// MaxPublishBytes bounds one published payload. Zero means 1 MiB.
	MaxPublishBytes int
	// Auth, when set, checks every subscribe and publish against the
	// permissions of the connection's *auth.Session, kept in the peer's
	// Value (put there when the connection opened: Upgrader.Authorize for
	// /ws); a peer without one has the anonymous permissions. It also
	// enables the refresh op. Nil (auth off) allows everything.
	Auth *auth.Authenticator
	// Ops limits the operations (sub, unsub, pub, refresh, ping, binary
	// publishes) one connection may send per second: past it an operation
	// gets err 429, and a connection that goes on past Ops.Strikes
	// refusals in a row is closed with 1008. The zero value is no limit.
	// Peers without an operation bucket (poller.Conn has one) are not
	// limited.
	Ops oprate.Limit
	// MaxSubs and MaxTopics are the hub's limits, named in error messages.
	// Zero means the hub's defaults.
	MaxSubs, MaxTopics int
	// Logger gets debug lines for subscriptions and protocol errors. Nil
	// means slog.Default().
	Logger *slog.Logger
}

// New returns a Handler for cfg.
func New(cfg Config) *Handler {
	if cfg.MaxPublishBytes <= 0 {
		cfg.MaxPublishBytes = 1 << 20
	}
	if cfg.MaxSubs <= 0 {
		cfg.MaxSubs = hub.DefaultMaxSubsPerConn
	}
	if cfg.MaxTopics <= 0 {
		cfg.MaxTopics = hub.DefaultMaxTopics
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Handler{cfg: cfg, log: cfg.Logger}
}

func (n *Handler) debug() bool { return n.log.Enabled(context.Background(), slog.LevelDebug) }

// remote returns the peer address of c as text.
func remote(c poller.Peer) string {
	if a := c.RemoteAddr(); a != nil {
		return a.String()
	}
	return ""
}

// OnOpen implements poller.Handler.
func (n *Handler) OnOpen(c *poller.Conn) { n.Opened(c) }

// OnClose implements poller.Handler.
func (n *Handler) OnClose(c *poller.Conn, _ poller.CloseReason) { n.Closed(c) }

// CloseAuth is the close code of a connection whose token expired without
// a refresh ("token expired"), or whose token was refused after it opened
// (SockJS): 4401, as HTTP's 401.
const CloseAuth wsframe.StatusCode = 4401

// Opened starts peer c's session (its Value, when an *auth.Session):
// when its token expires without a refresh, c is closed with CloseAuth
// and the reason "token expired". Call it once when c opened.
func (n *Handler) Opened(c poller.Peer) {
	if s := session(c); s != nil {
		s.Watch(func() {
			if n.debug() {
				n.log.Debug("token expired", "remote", remote(c), "sub", s.Sub())
			}
			c.CloseWith(CloseAuth, "token expired", poller.ReasonServer)
		})
	}
}

// session returns the *auth.Session kept in c's Value, nil if none.
func session(c poller.Peer) *auth.Session {
	s, _ := c.Value().(*auth.Session)
	return s
}

// permit checks that c's session may subscribe to (pub false) or publish
// to topic: nil, or err 403 (401 for a connection without a token, which
// a token might allow).
func (n *Handler) permit(c poller.Peer, topic string, pub bool) *ProtocolError {
	if n.cfg.Auth == nil {
		return nil
	}
	s := session(c)
	if err := n.cfg.Auth.Check(s, topic, pub); err != nil {
		return AuthError(err, s, pub)
	}
	return nil
}

// AuthError is the err reply of a refused subscribe (pub false) or publish
// (auth.Authenticator.Check's error) for session s: 403, or 401 when s has
// no token (anonymous), since a token might allow it. Socket.IO's acks
// and STOMP's ERROR frames use the same words.
func AuthError(err error, s *auth.Session, pub bool) *ProtocolError {
	if s.Sub() == "" {
		return &ProtocolError{CodeUnauthorized, err.Error() + " without a token (connect with one, or refresh)"}
	}
	claim := "subs"
	if pub {
		claim = "pubs"
	}
	return &ProtocolError{CodeForbidden, err.Error() + " (the token's " + claim + " do not cover it)"}
}

// refresh replaces c's token: {"op":"refresh","token":T}.
func (n *Handler) refresh(c poller.Peer, m *clientOp) error {
	if n.cfg.Auth == nil {
		return &ProtocolError{CodeBadRequest, "refresh: authentication is off on this server"}
	}
	if m.Token == "" {
		return &ProtocolError{CodeBadRequest, `refresh needs "token": the new token`}
	}
	s := session(c)
	if s == nil {
		return &ProtocolError{CodeUnauthorized, "refresh: this connection has no session"}
	}
	if err := s.Refresh(m.Token); err != nil {
		return &ProtocolError{CodeUnauthorized, "refresh refused: " + err.Error()}
	}
	if n.debug() {
		n.log.Debug("token refreshed", "remote", remote(c), "sub", s.Sub())
	}
	return nil
}

// overRate charges one operation of c to its bucket; past the rate it
// answers err 429 (id is the operation's) or, after persistent abuse,
// closes c with 1008, and reports true.
func (n *Handler) overRate(c poller.Peer, id json.RawMessage) bool {
	if n.cfg.Ops.Rate <= 0 {
		return false
	}
	ob, ok := c.(interface{ OpBucket() *oprate.Bucket })
	if !ok {
		return false
	}
	switch ob.OpBucket().On(&n.cfg.Ops, time.Now().UnixNano()) {
	case oprate.Refuse:
		n.reply(c, id, nil, &ProtocolError{CodeTooManySubs, "too many operations: at most " +
			strconv.FormatFloat(n.cfg.Ops.Rate, 'f', -1, 64) + " per second on a connection"})
		return true
	case oprate.Close:
		c.CloseWith(wsframe.StatusPolicyViolation, "operation rate exceeded", poller.ReasonOpRate)
		return true
	}
	return false
}

// OnMessage implements poller.Handler.
func (n *Handler) OnMessage(c *poller.Conn, op ws.OpCode, data []byte) { n.Message(c, op, data) }

// Closed ends peer c's subscriptions and session: call it once when c
// closed.
func (n *Handler) Closed(c poller.Peer) {
	n.cfg.Hub.UnsubscribeAll(c)
	session(c).Stop()
}

// Message handles one message from peer c (a text message: a JSON
// operation; a binary one: a binary publish). Calls for one peer must not
// be concurrent; data is valid only until Message returns.
func (n *Handler) Message(c poller.Peer, op ws.OpCode, data []byte) {
	if op == ws.OpBinary {
		if n.overRate(c, nil) {
			return
		}
		n.onBinary(c, data)
		return
	}
	var m clientOp
	if err := decodeOp(data, &m); err != nil {
		n.reply(c, m.ID, nil, err)
		return
	}
	if n.overRate(c, m.ID) {
		return
	}
	switch m.Op {
	case "sub":
		states, err := n.subscribe(c, &m)
		if err == nil && states == nil {
			states = noStates // the ok still carries the epoch
		}
		n.reply(c, m.ID, states, err)
	case "unsub":
		n.reply(c, m.ID, nil, n.unsubscribe(c, &m))
	case "pub":
		n.reply(c, m.ID, nil, n.publish(c, &m))
	case "ping":
		n.reply(c, m.ID, nil, nil)
	case "refresh":
		n.reply(c, m.ID, nil, n.refresh(c, &m))
	case "":
		n.reply(c, m.ID, nil, &ProtocolError{CodeBadRequest, `missing "op" (one of sub, unsub, pub, ping)`})
	default:
		n.reply(c, m.ID, nil, &ProtocolError{CodeUnknownOp, "unknown op " + strconv.Quote(m.Op) + " (one of sub, unsub, pub, ping)"})
	}
}

func (n *Handler) subscribe(c poller.Peer, m *clientOp) (map[string]hub.TopicState, error) {
	if len(m.Topics) == 0 {
		return nil, &ProtocolError{CodeBadRequest, `sub needs "topics": a non-empty array of topics or patterns`}
	}
	if len(m.Topics) > maxTopicsPerRequest {
		return nil, &ProtocolError{CodeBadRequest, "too many topics in one request: " +
			strconv.Itoa(len(m.Topics)) + " (at most " + strconv.Itoa(maxTopicsPerRequest) + ")"}
	}
	// Every pattern is checked before any is subscribed: a malformed one
	// refuses the whole request.
	for _, t := range m.Topics {
		if why := hub.CheckTopic(t, true); why != "" {
			return nil, &ProtocolError{CodeBadTopic, "malformed pattern " + strconv.Quote(t) + ": " + why}
		}
	}
	// And every pattern must be allowed: a wildcard only when the token's
	// patterns cover all it can match.
	for _, t := range m.Topics {
		if err := n.permit(c, t, false); err != nil {
			return nil, err
		}
	}
	opt := hub.SubOptions{Conflate: m.Conflate, MaxRate: m.MaxRate, Since: m.Since, Format: hub.FormatFor(c, nil)}
	var all map[string]hub.TopicState
	for _, t := range m.Topics {
		states, err := n.cfg.Hub.Subscribe(c, t, opt)
		if err != nil {
			return all, n.HubError(err, t, true)
		}
		if len(states) > 0 && all == nil {
			all = make(map[string]hub.TopicState, len(states))
		}
		for k, v := range states {
			all[k] = v
		}
	}
	if n.debug() {
		n.log.Debug("subscribe", "remote", remote(c), "sub", session(c).Sub(), "topics", m.Topics, "conflate", m.Conflate, "maxRate", m.MaxRate, "since", len(m.Since))
	}
	return all, nil
}

func (n *Handler) unsubscribe(c poller.Peer, m *clientOp) error {
	if len(m.Topics) == 0 {
		return &ProtocolError{CodeBadRequest, `unsub needs "topics": a non-empty array of topics or patterns`}
	}
	for _, t := range m.Topics {
		if err := n.cfg.Hub.Unsubscribe(c, t); err != nil {
			return n.HubError(err, t, true)
		}
	}
	if n.debug() {
		n.log.Debug("unsubscribe", "remote", remote(c), "topics", m.Topics)
	}
	return nil
}

// mayPublish checks that c may publish: client publishing is on and, with a
// publish token, the upgrade request presented it.
func (n *Handler) mayPublish(c poller.Peer) *ProtocolError {
	if !n.cfg.ClientPublish {
		return errPublishDisabled
	}
	if n.cfg.PublishAllowed != nil && !n.cfg.PublishAllowed(c) {
		return errPublishToken
	}
	return nil
}

var (
	errPublishDisabled = &ProtocolError{CodeForbidden, "client publishing is disabled (the server runs without --client-publish)"}
	errPublishToken    = &ProtocolError{CodeUnauthorized, "publishing needs the publish token: connect with an Authorization: Bearer header or ?token= in the URL"}
)

func (n *Handler) publish(c poller.Peer, m *clientOp) error {
	if err := n.mayPublish(c); err != nil {
		return err
	}
	if m.Topic == "" {
		return &ProtocolError{CodeBadRequest, `pub needs "topic": the topic to publish to`}
	}
	if len(m.Data) == 0 {
		return &ProtocolError{CodeBadRequest, `pub needs "data": any JSON value`}
	}
	if len(m.Data) > n.cfg.MaxPublishBytes {
		return n.TooLarge(len(m.Data))
	}
	if err := n.permit(c, m.Topic, true); err != nil {
		return err
	}
	_, err := n.cfg.Hub.Publish(m.Topic, m.Data, 0)
	return n.HubError(err, m.Topic, false)
}

// onBinary handles a binary publish: byte 1, uvarint topic length, topic,
// payload (docs/PROTOCOL.md).
func (n *Handler) onBinary(c poller.Peer, data []byte) {
	if err := n.mayPublish(c); err != nil {
		n.reply(c, nil, nil, err)
		return
	}
	topic, payload, err := parseBinaryPublish(data)
	if err == nil && len(payload) > n.cfg.MaxPublishBytes {
		err = n.TooLarge(len(payload))
	}
	if err == nil {
		if pe := n.permit(c, topic, true); pe != nil {
			err = pe
		}
	}
	if err == nil {
		_, err = n.cfg.Hub.PublishBinary(topic, payload, 0)
		err = n.HubError(err, topic, false)
	}
	if err != nil {
		n.reply(c, nil, nil, err)
	}
}

var noStates = map[string]hub.TopicState{}

// reply sends {"op":"ok","id":ID[,"topics":{...}]} or
// {"op":"err","id":ID,"code":C,"msg":"..."}.
func (n *Handler) reply(c poller.Peer, id json.RawMessage, states map[string]hub.TopicState, err error) {
	p := wsframe.AcquirePrepared()
	b := p.B
	if err != nil {
		var pe *ProtocolError
		if !errors.As(err, &pe) {
			pe = &ProtocolError{CodeInternal, "internal error"}
		}
		b = append(b, `{"op":"err"`...)
		b = appendID(b, id)
		b = append(b, `,"code":`...)
		b = strconv.AppendInt(b, int64(pe.Code), 10)
		b = append(b, `,"msg":`...)
		b = appendString(b, pe.Msg)
		if n.debug() {
			n.log.Debug("protocol error", "remote", remote(c), "code", pe.Code, "msg", pe.Msg)
		}
	} else {
		b = append(b, `{"op":"ok"`...)
		b = appendID(b, id)
		if states != nil {
			// A sub's ok names the hub's epoch even when no topic matched yet,
			// so the client can ask for recovery after a reconnect.
			b = append(b, `,"epoch":`...)
			b = strconv.AppendQuote(b, n.cfg.Hub.Epoch())
		}
		if len(states) > 0 {
			ts, _ := json.Marshal(states)
			b = append(b, `,"topics":`...)
			b = append(b, ts...)
		}
	}
	b = append(b, '}')
	p.B = b
	p.Seal(ws.OpText)
	_ = c.Send(p)
}

func appendID(b []byte, id json.RawMessage) []byte {
	if len(id) == 0 {
		return b
	}
	b = append(b, `,"id":`...)
	return append(b, id...)
}
