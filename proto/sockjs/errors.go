package sockjs

import "errors"

// Errors of the client's frames, with the reference server's texts: an
// xhr_send or jsonp_send that has them is answered 500 with the text.
var (
	ErrBrokenJSON      = errors.New("Broken JSON encoding.")
	ErrPayloadExpected = errors.New("Payload expected.")
)

// Errors of Session.Send and SendSlot; the frame's reference is consumed
// in every case.
var (
	// ErrClosed: the session is closed.
	ErrClosed = errors.New("sockjs: session closed")
	// ErrSlowConsumer: the session's queue passed Config.MaxQueueBytes; the
	// session is being closed.
	ErrSlowConsumer = errors.New("sockjs: slow consumer")
)

// CloseCode is a code of a SockJS close frame c[code,"reason"].
type CloseCode int

// The close codes of the SockJS protocol; CloseWith passes any other code
// through as it is.
const (
	// CodeGoAway: the server closed the session (c[3000,"Go away!"]).
	CodeGoAway CloseCode = 3000
	// CodeAnotherConnection: a receiving request came for a session that
	// has one already; only that request gets it, the session goes on.
	CodeAnotherConnection CloseCode = 2010
	// CodeInterrupted: the client aborted a receiving request, which closed
	// the session; later requests for it get this frame.
	CodeInterrupted CloseCode = 1002
)

// Texts of the close frames.
const (
	textGoAway            = "Go away!"
	textAnotherConnection = "Another connection still open"
	textInterrupted       = "Connection interrupted"
)

// CloseReason says why a session ended; every close is counted by reason
// (Stats.Closes).
type CloseReason uint8

// Close reasons.
const (
	ReasonTimeout       CloseReason = iota // no receiving request for DisconnectDelay (the client vanished)
	ReasonInterrupted                      // the client aborted a receiving request, or its WebSocket went
	ReasonServer                           // closed by the protocol or the application (CloseWith)
	ReasonSlowConsumer                     // the queue passed MaxQueueBytes
	ReasonBrokenFraming                    // a WebSocket client sent a frame that is not JSON
	ReasonShutdown                         // Server.Close
	numReasons
)

var reasonNames = [numReasons]string{"timeout", "interrupted", "server", "slow_consumer", "broken_framing", "shutdown"}

func (r CloseReason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "unknown"
}
