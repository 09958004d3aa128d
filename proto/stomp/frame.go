package stomp

import "strconv"

// Command is a frame's command.
type Command uint8

// Commands of STOMP 1.2.
const (
	CmdUnknown Command = iota

	// Client frames.
	CmdConnect
	CmdStomp
	CmdSend
	CmdSubscribe
	CmdUnsubscribe
	CmdAck
	CmdNack
	CmdBegin
	CmdCommit
	CmdAbort
	CmdDisconnect

	// Server frames (parsed too, for clients and tests).
	CmdConnected
	CmdMessage
	CmdReceipt
	CmdError
)

var commandNames = [...]string{
	CmdUnknown:     "UNKNOWN",
	CmdConnect:     "CONNECT",
	CmdStomp:       "STOMP",
	CmdSend:        "SEND",
	CmdSubscribe:   "SUBSCRIBE",
	CmdUnsubscribe: "UNSUBSCRIBE",
	CmdAck:         "ACK",
	CmdNack:        "NACK",
	CmdBegin:       "BEGIN",
	CmdCommit:      "COMMIT",
	CmdAbort:       "ABORT",
	CmdDisconnect:  "DISCONNECT",
	CmdConnected:   "CONNECTED",
	CmdMessage:     "MESSAGE",
	CmdReceipt:     "RECEIPT",
	CmdError:       "ERROR",
}

// maxCommandLen is the length of the longest command, UNSUBSCRIBE. A command
// line longer than that is an unknown command before its EOL arrives.
const maxCommandLen = len("UNSUBSCRIBE")

// String returns the command as it appears on the wire ("CONNECT", ...);
// CmdUnknown is "UNKNOWN".
func (c Command) String() string {
	if int(c) < len(commandNames) {
		return commandNames[c]
	}
	return "Command(" + strconv.Itoa(int(c)) + ")"
}

// BodyAllowed reports whether frames of c may carry a body: STOMP 1.2 allows
// one only in SEND, MESSAGE and ERROR frames. The Parser accepts a body in
// any frame; enforcing this is up to the session.
func (c Command) BodyAllowed() bool {
	return c == CmdSend || c == CmdMessage || c == CmdError
}

// escaped reports whether header names and values of c frames are escaped.
// CONNECT, STOMP and CONNECTED frames are not, for compatibility with STOMP
// 1.0 peers: a backslash there is a literal backslash.
func (c Command) escaped() bool {
	return c != CmdConnect && c != CmdStomp && c != CmdConnected
}

// lookupCommand returns the command spelled exactly b, or CmdUnknown.
func lookupCommand(b []byte) Command {
	switch string(b) { // compiled without allocation
	case "CONNECT":
		return CmdConnect
	case "STOMP":
		return CmdStomp
	case "SEND":
		return CmdSend
	case "SUBSCRIBE":
		return CmdSubscribe
	case "UNSUBSCRIBE":
		return CmdUnsubscribe
	case "ACK":
		return CmdAck
	case "NACK":
		return CmdNack
	case "BEGIN":
		return CmdBegin
	case "COMMIT":
		return CmdCommit
	case "ABORT":
		return CmdAbort
	case "DISCONNECT":
		return CmdDisconnect
	case "CONNECTED":
		return CmdConnected
	case "MESSAGE":
		return CmdMessage
	case "RECEIPT":
		return CmdReceipt
	case "ERROR":
		return CmdError
	}
	return CmdUnknown
}

// Header is one header line. Name and Value are unescaped (except in
// CONNECT, STOMP and CONNECTED frames, where STOMP 1.2 applies no escaping)
// and alias the Parser's buffer: they are valid only while the Frame is.
type Header struct{ Name, Value []byte }

// Frame is one parsed frame. Headers keep wire order, repeated names
// included; Get returns the first occurrence, which STOMP 1.2 says is the one
// that counts. A Frame handed out by a Parser and everything it points to are
// valid only until the callback returns.
type Frame struct {
	Command Command
	Headers []Header
	Body    []byte
}

// Get returns the value of the first header called name. It does not
// allocate; the value aliases the frame's buffer.
func (f *Frame) Get(name string) ([]byte, bool) {
	for i := range f.Headers {
		if string(f.Headers[i].Name) == name {
			return f.Headers[i].Value, true
		}
	}
	return nil, false
}

// GetString returns a copy of the value of the first header called name, or
// "" when there is none.
func (f *Frame) GetString(name string) string {
	v, _ := f.Get(name)
	return string(v)
}

// Default limits of a Parser, used for the zero fields of Limits.
const (
	DefaultMaxFrameBytes  = 1<<20 + 64<<10 // 1 MiB of body plus room for headers
	DefaultMaxHeaders     = 64
	DefaultMaxHeaderBytes = 8192
)

// Limits bound what a Parser accepts. Zero (or negative) fields mean the
// defaults. Limits are enforced while a frame is still incomplete: a frame
// that never ends fails as soon as it passes MaxFrameBytes, a header line as
// soon as it passes MaxHeaderBytes.
type Limits struct {
	MaxFrameBytes  int // whole frame: command, headers, body and NUL; default DefaultMaxFrameBytes
	MaxHeaders     int // header lines per frame; default DefaultMaxHeaders
	MaxHeaderBytes int // one header line (name:value, without its EOL); default DefaultMaxHeaderBytes
}

// withDefaults returns l with zero fields set to the defaults.
func (l Limits) withDefaults() Limits {
	if l.MaxFrameBytes <= 0 {
		l.MaxFrameBytes = DefaultMaxFrameBytes
	}
	if l.MaxHeaders <= 0 {
		l.MaxHeaders = DefaultMaxHeaders
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	return l
}
