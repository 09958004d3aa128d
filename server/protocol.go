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
	CodeForbidden       = 403 // client publishing is disabled
	CodeUnknownOp       = 404 // op is not sub, unsub, pub or ping
	CodeTooLarge        = 413 // pub data larger than the limit
	CodeBadTopic        = 422 // malformed topic or pattern
	CodeTooManySubs     = 429 // too many subscriptions on this connection
	CodeTooManyTopics   = 507 // the server holds its maximum number of topics
	CodeInternal        = 500
	maxTopicsPerRequest = 256
)

// ProtocolError is an err reply: the connection stays open.
type ProtocolError struct {
	Code int
	Msg  string
}

func (e *ProtocolError) Error() string { return strconv.Itoa(e.Code) + " " + e.Msg }

// clientOp is one client -> server operation.
type clientOp struct {
	Op       string                  `json:"op"`
	ID       json.RawMessage         `json:"id"`
	Topics   []string                `json:"topics"`
	Topic    string                  `json:"topic"`
	Data     json.RawMessage         `json:"data"`
	Since    map[string]hub.Position `json:"since"`
	Conflate *bool                   `json:"conflate"`
	MaxRate  float64                 `json:"maxRate"`
}

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
	if err := json.Unmarshal(data, &m); err != nil {
		n.reply(c, nil, nil, &ProtocolError{CodeBadRequest, "invalid JSON: " + err.Error()})
		return
	}
	if string(m.ID) == "null" {
		m.ID = nil
	}
	if len(m.ID) > 0 && !validID(m.ID) {
		n.reply(c, nil, nil, &ProtocolError{CodeBadRequest, "id must be a number or a string"})
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
		n.reply(c, m.ID, nil, n.publish(&m))
	case "ping":
		n.reply(c, m.ID, nil, nil)
	case "":
		n.reply(c, m.ID, nil, &ProtocolError{CodeBadRequest, "missing op"})
	default:
		n.reply(c, m.ID, nil, &ProtocolError{CodeUnknownOp, "unknown op " + strconv.Quote(m.Op)})
	}
}

func validID(id json.RawMessage) bool {
	switch id[0] {
	case '"', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return true
	}
	return false
}

func (n *native) subscribe(c *poller.Conn, m *clientOp) (map[string]hub.TopicState, error) {
	if len(m.Topics) == 0 {
		return nil, &ProtocolError{CodeBadRequest, "sub needs a non-empty topics array"}
	}
	if len(m.Topics) > maxTopicsPerRequest {
		return nil, &ProtocolError{CodeBadRequest, "too many topics in one request"}
	}
	opt := hub.SubOptions{Conflate: m.Conflate, MaxRate: m.MaxRate, Since: m.Since}
	if m.MaxRate < 0 {
		return nil, &ProtocolError{CodeBadRequest, "maxRate must be >= 0"}
	}
	var all map[string]hub.TopicState
	for _, t := range m.Topics {
		states, err := n.srv.hub.Subscribe(c, t, opt)
		if err != nil {
			return all, hubError(err, t)
		}
		if len(states) > 0 && all == nil {
			all = make(map[string]hub.TopicState, len(states))
		}
		for k, v := range states {
			all[k] = v
		}
	}
	return all, nil
}

func (n *native) unsubscribe(c *poller.Conn, m *clientOp) error {
	if len(m.Topics) == 0 {
		return &ProtocolError{CodeBadRequest, "unsub needs a non-empty topics array"}
	}
	for _, t := range m.Topics {
		if err := n.srv.hub.Unsubscribe(c, t); err != nil {
			return hubError(err, t)
		}
	}
	return nil
}

func (n *native) publish(m *clientOp) error {
	if !n.srv.cfg.ClientPublish {
		return &ProtocolError{CodeForbidden, "client publishing is disabled"}
	}
	if len(m.Data) == 0 {
		return &ProtocolError{CodeBadRequest, "pub needs data"}
	}
	if len(m.Data) > n.srv.cfg.MaxPublishBytes {
		return &ProtocolError{CodeTooLarge, "data too large"}
	}
	_, err := n.srv.hub.Publish(m.Topic, m.Data, 0)
	return hubError(err, m.Topic)
}

// onBinary handles a binary publish: byte 1, uvarint topic length, topic,
// payload (docs/PROTOCOL.md).
func (n *native) onBinary(c *poller.Conn, data []byte) {
	if !n.srv.cfg.ClientPublish {
		n.reply(c, nil, nil, &ProtocolError{CodeForbidden, "client publishing is disabled"})
		return
	}
	topic, payload, err := parseBinaryPublish(data)
	if err == nil && len(payload) > n.srv.cfg.MaxPublishBytes {
		err = &ProtocolError{CodeTooLarge, "data too large"}
	}
	if err == nil {
		_, err = n.srv.hub.PublishBinary(topic, payload, 0)
		err = hubError(err, topic)
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

func hubError(err error, topic string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, hub.ErrBadTopic):
		return &ProtocolError{CodeBadTopic, "malformed topic " + strconv.Quote(topic)}
	case errors.Is(err, hub.ErrTooManySubs):
		return &ProtocolError{CodeTooManySubs, "too many subscriptions on this connection"}
	case errors.Is(err, hub.ErrBadData):
		return &ProtocolError{CodeBadRequest, "data is not valid JSON"}
	case errors.Is(err, hub.ErrTooManyTopics):
		return &ProtocolError{CodeTooManyTopics, "too many topics"}
	}
	return &ProtocolError{CodeInternal, err.Error()}
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
			pe = &ProtocolError{CodeInternal, err.Error()}
		}
		b = append(b, `{"op":"err"`...)
		b = appendID(b, id)
		b = append(b, `,"code":`...)
		b = strconv.AppendInt(b, int64(pe.Code), 10)
		b = append(b, `,"msg":`...)
		msg, _ := json.Marshal(pe.Msg)
		b = append(b, msg...)
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
