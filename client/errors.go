package client

import (
	"errors"
	"fmt"
	"strconv"
)

// Error is an err reply of the server (docs/PROTOCOL.md, "Error codes"):
// the request was refused and the connection stays open. Test it with
// errors.Is against the Err* values below (which compare the code only) or
// with errors.As to read Msg, which is meant for people and may change.
type Error struct {
	Code int    // 400, 401, 403, 404, 413, 422, 429, 500, 503 or 507
	Msg  string // the server's explanation
}

func (e *Error) Error() string {
	if e.Msg == "" {
		return "c1m: error " + strconv.Itoa(e.Code) + " (" + codeText(e.Code) + ")"
	}
	return "c1m: error " + strconv.Itoa(e.Code) + ": " + e.Msg
}

// Is reports whether target is an *Error with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// The err reply codes. errors.Is(err, client.ErrBadTopic) is true for every
// *Error with code 422, whatever its message.
var (
	ErrBadRequest    = &Error{Code: 400} // not JSON, a field of the wrong type, too many topics in one request, ...
	ErrUnauthorized  = &Error{Code: 401} // publishing needs the publish token (Options.Token)
	ErrForbidden     = &Error{Code: 403} // the server runs without --client-publish
	ErrUnknownOp     = &Error{Code: 404} // the server does not know the operation
	ErrTooLarge      = &Error{Code: 413} // published data larger than the server's --max-publish-bytes
	ErrBadTopic      = &Error{Code: 422} // malformed topic or pattern
	ErrTooManySubs   = &Error{Code: 429} // more than the server's --max-subs subscriptions on this connection, or more operations per second than its --max-ops-per-sec
	ErrInternal      = &Error{Code: 500} // internal server error
	ErrUnavailable   = &Error{Code: 503} // shutting down, or the cluster's NATS is unreachable: retry shortly
	ErrTooManyTopics = &Error{Code: 507} // a publish to a new topic while --max-topics topics hold data
)

func codeText(code int) string {
	switch code {
	case 400:
		return "bad request"
	case 401:
		return "unauthorized"
	case 403:
		return "forbidden"
	case 404:
		return "unknown op"
	case 413:
		return "too large"
	case 422:
		return "malformed topic or pattern"
	case 429:
		return "too many subscriptions"
	case 500:
		return "internal error"
	case 503:
		return "unavailable"
	case 507:
		return "too many topics"
	}
	return "unknown code"
}

// CloseError is the end of a connection: the server's close frame (Code and
// Text as sent) or, with Code 1006, a connection that ended without one (a
// network failure, the server's process gone). The client reconnects after
// every CloseError; it is reported in EventDisconnected and returned by
// calls in flight on the connection. Compare with errors.Is against the
// Err* close values below.
type CloseError struct {
	Code int
	Text string
	Err  error // the underlying network error for 1006, else nil
}

func (e *CloseError) Error() string {
	s := "c1m: connection closed " + strconv.Itoa(e.Code) + " (" + closeText(e.Code) + ")"
	if e.Text != "" {
		s += ": " + e.Text
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is reports whether target is a *CloseError with the same code.
func (e *CloseError) Is(target error) bool {
	t, ok := target.(*CloseError)
	return ok && t.Code == e.Code
}

func (e *CloseError) Unwrap() error { return e.Err }

// The close codes of docs/PROTOCOL.md.
var (
	ErrGoingAway       = &CloseError{Code: 1001} // the server is shutting down
	ErrProtocolError   = &CloseError{Code: 1002} // the server saw a WebSocket protocol violation
	ErrAbnormalClosure = &CloseError{Code: 1006} // no close frame: the network or the server's process failed
	ErrInvalidUTF8     = &CloseError{Code: 1007} // invalid UTF-8 in a text message
	ErrSlowConsumer    = &CloseError{Code: 1008} // policy: "slow consumer" (a slow handler), or "operation rate exceeded" (Text says which)
	ErrMessageTooBig   = &CloseError{Code: 1009} // a message larger than the server's --max-message-bytes
	ErrTokenExpired    = &CloseError{Code: 4401} // the token's exp passed without a Refresh (--auth)
)

func closeText(code int) string {
	switch code {
	case 1000:
		return "normal"
	case 1001:
		return "going away"
	case 1002:
		return "protocol error"
	case 1006:
		return "abnormal closure"
	case 1007:
		return "invalid UTF-8"
	case 1008:
		return "slow consumer"
	case 1009:
		return "message too big"
	case 1011:
		return "internal error"
	case 4401:
		return "token expired"
	}
	return "other"
}

// HandshakeError is an upgrade the server refused with an HTTP answer: 503
// past --max-conns or while shutting down (RetryAfter set), 403 for an
// origin not allowed, 404 for another path, 400 or 426 for a malformed
// handshake. Dial returns it; after a connection was made, the client keeps
// retrying 503 and 5xx answers and gives up on the others (Client.Err).
type HandshakeError struct {
	Status     int
	Body       string // the server's plain-text reason
	RetryAfter string // the Retry-After header, if any
}

func (e *HandshakeError) Error() string {
	return "c1m: the server refused the WebSocket upgrade: HTTP " + strconv.Itoa(e.Status) + ": " + e.Body
}

// Is reports whether target is a *HandshakeError with the same status.
func (e *HandshakeError) Is(target error) bool {
	t, ok := target.(*HandshakeError)
	return ok && t.Status == e.Status
}

// Permanent reports whether retrying the same request cannot help.
func (e *HandshakeError) Permanent() bool {
	return e.Status < 500 && e.Status != 429 && e.Status != 408
}

// HTTPError is a refused POST /publish (PublishHTTP): the status and the
// server's {"error":...} message. Its Code() maps it to the err reply codes
// where they agree (401, 413, 503, 507; 400 for the rest of 4xx).
type HTTPError struct {
	Status int
	Msg    string
}

func (e *HTTPError) Error() string {
	return "c1m: publish refused: HTTP " + strconv.Itoa(e.Status) + ": " + e.Msg
}

// Is makes errors.Is(err, ErrUnauthorized) and the like true for the
// matching HTTP status.
func (e *HTTPError) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Status
}

var (
	// ErrClosed is returned by calls on a client after Close, and by calls
	// waiting when Close was called.
	ErrClosed = errors.New("c1m: client closed")
	// ErrBufferFull is returned at once by Publish while disconnected when
	// Options.PublishBuffer publishes already wait for the connection: the
	// message is not queued (nothing older is dropped). Retry later or
	// slow down.
	ErrBufferFull = errors.New("c1m: publish buffer full while disconnected")
	// ErrNotBuffered is returned at once by Publish while disconnected
	// when Options.PublishBuffer is negative (no buffering).
	ErrNotBuffered = errors.New("c1m: disconnected and publish buffering is off")
)

// ConnectionLostError is returned by a call whose request was written but
// whose reply never came because the connection ended. For a publish the
// outcome is unknown: the server may or may not have published it (the
// client does not resend it, so a publish is never duplicated). Cause is
// the connection's *CloseError.
type ConnectionLostError struct{ Cause error }

func (e *ConnectionLostError) Error() string {
	return fmt.Sprintf("c1m: connection lost before the reply (outcome unknown): %v", e.Cause)
}

func (e *ConnectionLostError) Unwrap() error { return e.Cause }
