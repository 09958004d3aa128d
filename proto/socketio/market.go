package socketio

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"

	"github.com/c1mhq/c1m/hub"
	"github.com/c1mhq/c1m/proto/native"
)

// maxTopicsPerRequest bounds the topics of one subscribe or unsubscribe.
const maxTopicsPerRequest = 256

// subRequest is the argument of "subscribe" and "unsubscribe": an object
// with the native sub's fields, or the topics alone (a string or an array).
type subRequest struct {
	Topics   json.RawMessage         `json:"topics"`
	Since    map[string]hub.Position `json:"since"`
	Conflate *bool                   `json:"conflate"`
	MaxRate  *float64                `json:"maxRate"`
}

// topicsOf decodes the topics of a subscribe or unsubscribe argument.
func topicsOf(raw json.RawMessage, req *subRequest) ([]string, error) {
	switch firstByte(raw) {
	case '"', '[':
		req.Topics = raw
	case '{':
		if err := json.Unmarshal(raw, req); err != nil {
			return nil, badRequest(`the argument must be {"topics":[...],"since":{...},"conflate":bool,"maxRate":number}: ` + err.Error())
		}
	default:
		return nil, badRequest(`the argument must be a topic, an array of topics, or {"topics":[...]}`)
	}
	var topics []string
	switch firstByte(req.Topics) {
	case '"':
		var t string
		if json.Unmarshal(req.Topics, &t) != nil {
			return nil, badRequest(`"topics" must be a string or an array of strings`)
		}
		topics = []string{t}
	case '[':
		if json.Unmarshal(req.Topics, &topics) != nil {
			return nil, badRequest(`"topics" must be an array of strings`)
		}
	}
	if len(topics) == 0 {
		return nil, badRequest(`"topics" is missing or empty: give a topic or pattern, or an array of them`)
	}
	if len(topics) > maxTopicsPerRequest {
		return nil, badRequest("too many topics in one request: " + strconv.Itoa(len(topics)) + " (at most " + strconv.Itoa(maxTopicsPerRequest) + ")")
	}
	for _, t := range topics {
		if why := hub.CheckTopic(t, true); why != "" {
			return nil, &native.ProtocolError{Code: native.CodeBadTopic, Msg: "malformed pattern " + strconv.Quote(t) + ": " + why}
		}
	}
	return topics, nil
}

func badRequest(msg string) error {
	return &native.ProtocolError{Code: native.CodeBadRequest, Msg: msg}
}

// subscribe handles "subscribe" and returns the ack's argument: the native
// ok reply (epoch, and per-topic positions and recovered) or err reply.
func (so *Socket) subscribe(args []json.RawMessage) []byte {
	if len(args) == 0 {
		return errReply(badRequest(`subscribe needs an argument: a topic, an array of topics, or {"topics":[...]}`))
	}
	var req subRequest
	topics, err := topicsOf(args[0], &req)
	if err != nil {
		return errReply(err)
	}
	for _, t := range topics {
		if err := so.permit(t, false); err != nil {
			return errReply(err)
		}
	}
	opt := hub.SubOptions{Conflate: req.Conflate, Since: req.Since, Format: Format, Variant: so.nsp}
	if req.MaxRate != nil {
		if r := *req.MaxRate; r < 0 || math.IsNaN(r) {
			return errReply(badRequest(`"maxRate" must be a number >= 0`))
		}
		opt.MaxRate = *req.MaxRate
	}
	so.mu.Lock()
	gone := so.gone
	so.mu.Unlock()
	if gone {
		return errReply(badRequest("the socket left its namespace"))
	}
	opt.Format = so.srv.format
	all := map[string]hub.TopicState{}
	h := so.srv.cfg.Hub
	for _, t := range topics {
		states, err := h.Subscribe(so, t, opt)
		if err != nil {
			return errReply(so.srv.cfg.Errors.HubError(err, t, true))
		}
		for k, v := range states {
			all[k] = v
		}
		if so.rec {
			so.mu.Lock()
			if so.tr != nil { // not persisted
				so.subs.set(subSpec{pattern: t, conflate: req.Conflate, maxRate: opt.MaxRate})
				for k, v := range states {
					so.tr.note(k, v.Seq)
				}
			}
			so.mu.Unlock()
		}
	}
	so.mu.Lock()
	gone = so.gone
	so.mu.Unlock()
	if gone {
		// The socket left while subscribing (its session closed): what
		// this request added must not outlive it.
		h.UnsubscribeAll(so)
		return errReply(badRequest("the socket left its namespace"))
	}
	b := append(make([]byte, 0, 64), `{"op":"ok","epoch":`...)
	b = strconv.AppendQuote(b, h.Epoch())
	if len(all) > 0 {
		ts, _ := json.Marshal(all)
		b = append(b, `,"topics":`...)
		b = append(b, ts...)
	}
	return append(b, '}')
}

// unsubscribe handles "unsubscribe".
func (so *Socket) unsubscribe(args []json.RawMessage) []byte {
	if len(args) == 0 {
		return errReply(badRequest(`unsubscribe needs an argument: a topic, an array of topics, or {"topics":[...]}`))
	}
	var req subRequest
	topics, err := topicsOf(args[0], &req)
	if err != nil {
		return errReply(err)
	}
	for _, t := range topics {
		if err := so.srv.cfg.Hub.Unsubscribe(so, t); err != nil {
			return errReply(so.srv.cfg.Errors.HubError(err, t, true))
		}
		if so.rec {
			so.mu.Lock()
			so.subs.del(t)
			so.mu.Unlock()
		}
	}
	return okReply
}

var okReply = []byte(`{"op":"ok"}`)

var (
	errPublishDisabled = &native.ProtocolError{Code: native.CodeForbidden, Msg: "client publishing is disabled (the server runs without --client-publish)"}
	errPublishToken    = &native.ProtocolError{Code: native.CodeUnauthorized, Msg: "publishing needs the publish token: connect with auth {\"token\":\"...\"}"}
)

// publish handles "publish": {"topic":T,"data":JSON} or, with a binary
// attachment as data, a binary publish.
func (so *Socket) publish(args []json.RawMessage, atts [][]byte) []byte {
	s := so.srv
	switch {
	case !s.cfg.ClientPublish:
		return errReply(errPublishDisabled)
	case !so.grant.Publish:
		return errReply(errPublishToken)
	case len(args) == 0 || firstByte(args[0]) != '{':
		return errReply(badRequest(`publish needs {"topic":"...","data":...}`))
	}
	var m struct {
		Topic *string         `json:"topic"`
		Data  json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(args[0], &m); err != nil {
		return errReply(badRequest(`publish needs {"topic":"...","data":...}: ` + err.Error()))
	}
	if m.Topic == nil || *m.Topic == "" {
		return errReply(badRequest(`publish needs "topic": the topic to publish to`))
	}
	if len(m.Data) == 0 {
		return errReply(badRequest(`publish needs "data": any JSON value, or binary data`))
	}
	if hub.CheckTopic(*m.Topic, false) == "" { // a malformed one gets the hub's answer
		if err := so.permit(*m.Topic, true); err != nil {
			return errReply(err)
		}
	}
	var err error
	if bin, ok := attachment(m.Data, atts); ok {
		if len(bin) > s.cfg.MaxPublishBytes {
			return errReply(s.cfg.Errors.TooLarge(len(bin)))
		}
		_, err = s.cfg.Hub.PublishBinary(*m.Topic, bin, 0)
	} else {
		if len(m.Data) > s.cfg.MaxPublishBytes {
			return errReply(s.cfg.Errors.TooLarge(len(m.Data)))
		}
		_, err = s.cfg.Hub.Publish(*m.Topic, m.Data, 0)
	}
	if err != nil {
		return errReply(s.cfg.Errors.HubError(err, *m.Topic, false))
	}
	return okReply
}

// errReply is the native err reply for err.
func errReply(err error) []byte {
	var pe *native.ProtocolError
	if !errors.As(err, &pe) {
		pe = &native.ProtocolError{Code: native.CodeInternal, Msg: "internal error"}
	}
	b := append(make([]byte, 0, 64), `{"op":"err","code":`...)
	b = strconv.AppendInt(b, int64(pe.Code), 10)
	b = append(b, `,"msg":`...)
	m, _ := json.Marshal(pe.Msg)
	b = append(b, m...)
	return append(b, '}')
}
