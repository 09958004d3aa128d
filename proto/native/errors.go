package native

import (
	"errors"
	"strconv"

	"github.com/c1mhq/c1m/hub"
)

// Error codes of err replies (docs/PROTOCOL.md). They follow HTTP's meaning.
const (
	CodeBadRequest      = 400 // not JSON, or a field of the wrong type
	CodeUnauthorized    = 401 // publishing needs the publish token; no token, or a refused refresh (--auth)
	CodeForbidden       = 403 // client publishing is disabled; the token does not grant the topic (--auth)
	CodeUnknownOp       = 404 // op is not sub, unsub, pub or ping
	CodeTooLarge        = 413 // pub data larger than the limit
	CodeBadTopic        = 422 // malformed topic or pattern
	CodeTooManySubs     = 429 // too many subscriptions on this connection, or operations per second (--max-ops-per-sec)
	CodeTooManyTopics   = 507 // the server holds its maximum number of topics
	CodeInternal        = 500
	CodeUnavailable     = 503 // the server is shutting down, or its cluster (NATS) is unreachable
	maxTopicsPerRequest = 256
)

// ProtocolError is an err reply: the connection stays open.
type ProtocolError struct {
	Code int
	Msg  string
}

func (e *ProtocolError) Error() string { return strconv.Itoa(e.Code) + " " + e.Msg }

// TooLarge is the error for a payload of n bytes over the limit.
func (h *Handler) TooLarge(n int) *ProtocolError {
	return &ProtocolError{CodeTooLarge, "data is " + strconv.Itoa(n) + " bytes, more than the limit of " +
		strconv.Itoa(h.cfg.MaxPublishBytes)}
}

// HubError turns a hub error about topic (a pattern when wild) into an err
// reply in the client's terms; nil stays nil.
func (h *Handler) HubError(err error, topic string, wild bool) error {
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
		return &ProtocolError{CodeTooManySubs, "too many subscriptions on this connection (at most " + strconv.Itoa(h.cfg.MaxSubs) + ")"}
	case errors.Is(err, hub.ErrBadData):
		return &ProtocolError{CodeBadRequest, `"data" is not valid JSON`}
	case errors.Is(err, hub.ErrTooManyTopics):
		return &ProtocolError{CodeTooManyTopics, "the server holds its maximum number of topics (" + strconv.Itoa(h.cfg.MaxTopics) + ")"}
	case errors.Is(err, hub.ErrClosed):
		return &ProtocolError{CodeUnavailable, "the server is shutting down"}
	case errors.Is(err, hub.ErrUnavailable):
		return &ProtocolError{CodeUnavailable, "the cluster is unavailable (NATS unreachable): retry shortly"}
	}
	return &ProtocolError{CodeInternal, "internal error"}
}
