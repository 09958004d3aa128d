package server

import (
	"encoding/json"
	"errors"
	"strconv"

	"github.com/gobwas/ws"

	"github.com/c1mhq/c1m/hub"
	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/wsframe"
)

// Error codes of err replies (docs/PROTOCOL.md). They follow HTTP's meaning.
const (
	CodeBadRequest      = 400 // not JSON, or a field of the wrong type
	CodeUnauthorized    = 401 // publishing needs the publish token
	CodeForbidden       = 403 // client publishing is disabled
	CodeUnknownOp       = 404 // op is not sub, unsub, pub or ping
	CodeTooLarge        = 413 // pub data larger than the limit
	CodeBadTopic        = 422 // malformed topic or pattern
	CodeTooManySubs     = 429 // too many subscriptions on this connection
	CodeTooManyTopics   = 507 // the server holds its maximum number of topics
	CodeInternal        = 500
	CodeUnavailable     = 503 // the server is shutting down
	maxTopicsPerRequest = 256
)

// ProtocolError is an err reply: the connection stays open.
type ProtocolError struct {
	Code int
	Msg  string
}

func (e *ProtocolError) Error() string { return strconv.Itoa(e.Code) + " " + e.Msg }

// native serves the c1m protocol on /ws. It is a poller.Handler; every
// connection is a hub.Subscriber.
type native struct {
	srv *Server
}

func (n *native) OnOpen(c *poller.Conn) {}

func (n *native) OnClose(c *poller.Conn, _ poller.CloseReason) {
	n.srv.hub.UnsubscribeAll(c)
}

func (n *native) OnMessage(c *poller.Conn, op ws.OpCode, data []byte) {
	if op == ws.OpBinary {
		n.onBinary(c, data)
		return
	}
	var m clientOp
	if err := decodeOp(data, &m); err != nil {
		n.reply(c, m.ID, nil, err)
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
	case "":
		n.reply(c, m.ID, nil, &ProtocolError{CodeBadRequest, `missing "op" (one of sub, unsub, pub, ping)`})
	default:
		n.reply(c, m.ID, nil, &ProtocolError{CodeUnknownOp, "unknown op " + strconv.Quote(m.Op) + " (one of sub, unsub, pub, ping)"})
	}
}

func (n *native) subscribe(c *poller.Conn, m *clientOp) (map[string]hub.TopicState, error) {
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
	opt := hub.SubOptions{Conflate: m.Conflate, MaxRate: m.MaxRate, Since: m.Since}
	var all map[string]hub.TopicState
	for _, t := range m.Topics {
		states, err := n.srv.hub.Subscribe(c, t, opt)
		if err != nil {
			return all, n.srv.hubError(err, t, true)
		}
		if len(states) > 0 && all == nil {
			all = make(map[string]hub.TopicState, len(states))
		}
		for k, v := range states {
			all[k] = v
		}
	}
	if n.srv.debug() {
		n.srv.log.Debug("subscribe", "remote", remote(c), "topics", m.Topics, "conflate", m.Conflate, "maxRate", m.MaxRate, "since", len(m.Since))
	}
	return all, nil
}

func (n *native) unsubscribe(c *poller.Conn, m *clientOp) error {
	if len(m.Topics) == 0 {
		return &ProtocolError{CodeBadRequest, `unsub needs "topics": a non-empty array of topics or patterns`}
	}
	for _, t := range m.Topics {
		if err := n.srv.hub.Unsubscribe(c, t); err != nil {
			return n.srv.hubError(err, t, true)
		}
	}
	if n.srv.debug() {
		n.srv.log.Debug("unsubscribe", "remote", remote(c), "topics", m.Topics)
	}
	return nil
}

// mayPublish checks that c may publish: client publishing is on and, with a
// publish token, the upgrade request presented it.
func (n *native) mayPublish(c *poller.Conn) *ProtocolError {
	if !n.srv.cfg.ClientPublish {
		return errPublishDisabled
	}
	if n.srv.cfg.PublishToken != "" && !n.srv.tokenOK(c.Authorization(), c.Query()) {
		return errPublishToken
	}
	return nil
}

var (
	errPublishDisabled = &ProtocolError{CodeForbidden, "client publishing is disabled (the server runs without --client-publish)"}
	errPublishToken    = &ProtocolError{CodeUnauthorized, "publishing needs the publish token: connect with an Authorization: Bearer header or ?token= in the URL"}
)

func (n *native) publish(c *poller.Conn, m *clientOp) error {
	if err := n.mayPublish(c); err != nil {
		return err
	}
	if m.Topic == "" {
		return &ProtocolError{CodeBadRequest, `pub needs "topic": the topic to publish to`}
	}
	if len(m.Data) == 0 {
		return &ProtocolError{CodeBadRequest, `pub needs "data": any JSON value`}
	}
	if len(m.Data) > n.srv.cfg.MaxPublishBytes {
		return n.srv.tooLarge(len(m.Data))
	}
	_, err := n.srv.hub.Publish(m.Topic, m.Data, 0)
	return n.srv.hubError(err, m.Topic, false)
}

// onBinary handles a binary publish: byte 1, uvarint topic length, topic,
// payload (docs/PROTOCOL.md).
func (n *native) onBinary(c *poller.Conn, data []byte) {
	if err := n.mayPublish(c); err != nil {
		n.reply(c, nil, nil, err)
		return
	}
	topic, payload, err := parseBinaryPublish(data)
	if err == nil && len(payload) > n.srv.cfg.MaxPublishBytes {
		err = n.srv.tooLarge(len(payload))
	}
	if err == nil {
		_, err = n.srv.hub.PublishBinary(topic, payload, 0)
		err = n.srv.hubError(err, topic, false)
	}
	if err != nil {
		n.reply(c, nil, nil, err)
	}
}

var errBinaryPublish = &ProtocolError{CodeBadRequest, "binary publish: want byte 1, uvarint topic length, topic, payload"}

func parseBinaryPublish(b []byte) (topic string, payload []byte, err error) {
	if len(b) < 2 || b[0] != 1 {
		return "", nil, errBinaryPublish
	}
	var l uint64
	var i int
	for shift := uint(0); ; shift += 7 {
		i++
		if i >= len(b) || shift > 14 {
			return "", nil, errBinaryPublish
		}
		l |= uint64(b[i]&0x7f) << shift
		if b[i] < 0x80 {
			break
		}
	}
	i++
	if uint64(len(b)-i) < l {
		return "", nil, errBinaryPublish
	}
	return string(b[i : i+int(l)]), b[i+int(l):], nil
}

func (s *Server) tooLarge(n int) *ProtocolError {
	return &ProtocolError{CodeTooLarge, "data is " + strconv.Itoa(n) + " bytes, more than the limit of " +
		strconv.Itoa(s.cfg.MaxPublishBytes)}
}

// hubError turns a hub error about topic (a pattern when wild) into an err
// reply in the client's terms.
func (s *Server) hubError(err error, topic string, wild bool) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, hub.ErrBadTopic):
		what := "topic "
		if wild {
			what = "pattern "
		}
		return &ProtocolError{CodeBadTopic, "malformed " + what + strconv.Quote(topic) + ": " + hub.CheckTopic(topic, wild)}
	case errors.Is(err, hub.ErrTooManySubs):
		return &ProtocolError{CodeTooManySubs, "too many subscriptions on this connection (at most " + strconv.Itoa(s.maxSubs()) + ")"}
	case errors.Is(err, hub.ErrBadData):
		return &ProtocolError{CodeBadRequest, `"data" is not valid JSON`}
	case errors.Is(err, hub.ErrTooManyTopics):
		return &ProtocolError{CodeTooManyTopics, "the server holds its maximum number of topics (" + strconv.Itoa(s.maxTopics()) + ")"}
	case errors.Is(err, hub.ErrClosed):
		return &ProtocolError{CodeUnavailable, "the server is shutting down"}
	}
	return &ProtocolError{CodeInternal, "internal error"}
}

func (s *Server) maxSubs() int {
	if n := s.cfg.Hub.MaxSubsPerConn; n > 0 {
		return n
	}
	return hub.DefaultMaxSubsPerConn
}

func (s *Server) maxTopics() int {
	if n := s.cfg.Hub.MaxTopics; n > 0 {
		return n
	}
	return hub.DefaultMaxTopics
}

var noStates = map[string]hub.TopicState{}

// reply sends {"op":"ok","id":ID[,"topics":{...}]} or
// {"op":"err","id":ID,"code":C,"msg":"..."}.
func (n *native) reply(c *poller.Conn, id json.RawMessage, states map[string]hub.TopicState, err error) {
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
		if n.srv.debug() {
			n.srv.log.Debug("protocol error", "remote", remote(c), "code", pe.Code, "msg", pe.Msg)
		}
	} else {
		b = append(b, `{"op":"ok"`...)
		b = appendID(b, id)
		if states != nil {
			// A sub's ok names the hub's epoch even when no topic matched yet,
			// so the client can ask for recovery after a reconnect.
			b = append(b, `,"epoch":`...)
			b = strconv.AppendQuote(b, n.srv.hub.Epoch())
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

// echo answers every message with the same opcode and payload (/echo).
type echo struct{}

func (echo) OnOpen(*poller.Conn)                      {}
func (echo) OnClose(*poller.Conn, poller.CloseReason) {}
func (echo) OnMessage(c *poller.Conn, op ws.OpCode, data []byte) {
	_ = c.Send(wsframe.NewPrepared(op, data))
}
