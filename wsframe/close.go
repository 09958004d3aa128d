package wsframe

import (
	"strconv"
)

// StatusCode is a WebSocket close status code (RFC 6455 section 7.4).
type StatusCode uint16

// Close codes used by c1m.
const (
	StatusNormalClosure    StatusCode = 1000
	StatusGoingAway        StatusCode = 1001
	StatusProtocolError    StatusCode = 1002
	StatusUnsupportedData  StatusCode = 1003
	StatusNoStatusReceived StatusCode = 1005 // never sent on the wire
	StatusAbnormalClosure  StatusCode = 1006 // never sent on the wire
	StatusInvalidPayload   StatusCode = 1007
	StatusPolicyViolation  StatusCode = 1008
	StatusMessageTooBig    StatusCode = 1009
	StatusInternalError    StatusCode = 1011
	StatusTryAgainLater    StatusCode = 1013
)

// validOnWire reports whether c may appear in a close frame (RFC 6455 7.4.1
// and the IANA registry): 1000-1003, 1007-1014 and the 3000-4999 range for
// libraries and applications. 1004, 1005, 1006, 1015, codes below 1000 and
// 1016-2999 are invalid.
func (c StatusCode) validOnWire() bool {
	switch {
	case c >= 1000 && c <= 1003:
		return true
	case c >= 1007 && c <= 1014:
		return true
	case c >= 3000 && c <= 4999:
		return true
	}
	return false
}

// CloseError is the error for every way a WebSocket connection ends with a close
// code: a protocol violation detected by the Parser (Code 1002, 1007, 1009), a close
// frame received from the peer (Remote true; Code is the peer's code, 1005 if its
// close frame had no payload), or a close decided by the server (1001, 1008, ...).
type CloseError struct {
	Code   StatusCode
	Reason string
	Remote bool // the peer sent a close frame
}

// Error implements error: "websocket: close 1002 (remote): reason".
func (e *CloseError) Error() string {
	b := make([]byte, 0, 32+len(e.Reason))
	b = append(b, "websocket: close "...)
	b = strconv.AppendUint(b, uint64(e.Code), 10)
	if e.Remote {
		b = append(b, " (remote)"...)
	}
	if e.Reason != "" {
		b = append(b, ": "...)
		b = append(b, e.Reason...)
	}
	return string(b)
}

// Reasons of the violations the Parser reports. Short enough (<= 123 bytes) to
// be echoed in a close frame.
const (
	reasonUnmasked          = "unmasked client frame"
	reasonRSV               = "reserved bits set without extension"
	reasonReservedOp        = "reserved opcode"
	reasonControlFragmented = "fragmented control frame"
	reasonControlTooLong    = "control frame payload over 125 bytes"
	reasonContinuation      = "continuation frame without a message"
	reasonExpectedCont      = "new data frame inside a fragmented message"
	reasonNonMinimalLength  = "non-minimal payload length encoding"
	reasonLengthMSB         = "payload length with most significant bit set"
	reasonCloseOneByte      = "close frame with 1-byte payload"
	reasonCloseCode         = "invalid close code"
	reasonCloseUTF8         = "invalid UTF-8 in close reason"
	reasonTextUTF8          = "invalid UTF-8 in text message"
	reasonTooBig            = "message exceeds size limit"
	reasonInflate           = "invalid deflate data in compressed message"
	reasonRSV1              = "RSV1 set on a control or continuation frame"
	reasonReleased          = "parser fed after close or error"
)

func protocolError(reason string) *CloseError {
	return &CloseError{Code: StatusProtocolError, Reason: reason}
}

// parseClose decodes the payload of a close frame received from the peer.
// The 1-byte payload is rejected earlier, from the header.
func parseClose(payload []byte) *CloseError {
	if len(payload) < 2 {
		return &CloseError{Code: StatusNoStatusReceived, Remote: true}
	}
	code := StatusCode(uint16(payload[0])<<8 | uint16(payload[1]))
	if !code.validOnWire() {
		return protocolError(reasonCloseCode)
	}
	reason := payload[2:]
	if !validUTF8(reason) {
		return &CloseError{Code: StatusInvalidPayload, Reason: reasonCloseUTF8}
	}
	return &CloseError{Code: code, Reason: string(reason), Remote: true}
}
