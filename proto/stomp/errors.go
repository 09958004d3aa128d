package stomp

// ErrorKind classifies why a Parser refused a byte stream. Every kind is a
// fatal protocol error: the server answers with an ERROR frame and closes the
// connection.
type ErrorKind uint8

// Kinds of parse errors.
const (
	ErrUnknownCommand   ErrorKind = iota + 1 // command line is not a STOMP 1.2 command (matching is exact and case-sensitive)
	ErrMissingNUL                            // the octet after a content-length body is not NUL
	ErrBadContentLength                      // content-length is not a non-negative decimal integer
	ErrBadEscape                             // undefined escape sequence (\t, ...) or a trailing backslash in a header
	ErrBadHeader                             // header line without ':', with an empty name, or with a bare CR
	ErrFrameTooLarge                         // frame longer than Limits.MaxFrameBytes
	ErrTooManyHeaders                        // more header lines than Limits.MaxHeaders
	ErrHeaderTooLong                         // header line longer than Limits.MaxHeaderBytes
)

var kindNames = [...]string{
	ErrUnknownCommand:   "unknown command",
	ErrMissingNUL:       "missing NUL",
	ErrBadContentLength: "bad content-length",
	ErrBadEscape:        "bad escape",
	ErrBadHeader:        "bad header",
	ErrFrameTooLarge:    "frame too large",
	ErrTooManyHeaders:   "too many headers",
	ErrHeaderTooLong:    "header too long",
}

// String returns a short lowercase phrase, suitable for the message header
// of an ERROR frame: "unknown command", "frame too large", ...
func (k ErrorKind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "protocol error"
}

// Error is the error a Parser returns for a malformed or oversized frame.
// Msg is one English sentence naming the offending item or the limit and its
// value; it is meant for the body of the ERROR frame. Use errors.As to get
// at Kind.
type Error struct {
	Kind ErrorKind
	Msg  string
}

// Error returns Msg.
func (e *Error) Error() string { return e.Msg }
