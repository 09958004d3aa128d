package engineio

import (
	"strconv"

	"github.com/c1mhq/c1m/poller"
)

// Code is an Engine.IO error code, as the reference server answers a
// refused HTTP request: 400 (403 for CodeForbidden) with the JSON body
// {"code":N,"message":"..."}.
type Code int

// The reference server's error codes.
const (
	CodeUnknownTransport   Code = 0
	CodeUnknownSID         Code = 1
	CodeBadHandshakeMethod Code = 2
	CodeBadRequest         Code = 3
	CodeForbidden          Code = 4
	CodeUnsupportedVersion Code = 5
)

var codeMessages = [...]string{
	"Transport unknown",
	"Session ID unknown",
	"Bad handshake method",
	"Bad request",
	"Forbidden",
	"Unsupported protocol version",
}

// Message returns the reference server's message for c.
func (c Code) Message() string {
	if c >= 0 && int(c) < len(codeMessages) {
		return codeMessages[c]
	}
	return "Unknown error"
}

// Status returns the HTTP status of c.
func (c Code) Status() int {
	if c == CodeForbidden {
		return 403
	}
	return 400
}

// refuse answers a request with code's status and JSON body; msg replaces
// the code's message when not empty.
func refuse(c *poller.Conn, code Code, msg, cors string) {
	if msg == "" {
		msg = code.Message()
	}
	b := make([]byte, 0, 48+len(msg))
	b = append(b, `{"code":`...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, msg)
	b = append(b, '}')
	_ = c.Respond(code.Status(), []byte("Content-Type: application/json\r\n"+cors), b)
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
