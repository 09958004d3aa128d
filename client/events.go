package client

// EventKind tells what an Event reports.
type EventKind int

const (
	// EventConnected: a connection is up (Reconnect is false for the one
	// Dial made). Subscriptions are being written again.
	EventConnected EventKind = iota + 1
	// EventDisconnected: the connection ended; Err is its *CloseError. The
	// client reconnects after a backoff.
	EventDisconnected
	// EventReconnectFailed: a reconnection attempt failed (Err, Attempt).
	// A refused upgrade that retrying cannot fix (a 4xx
	// *HandshakeError) ends the client: see Client.Err.
	EventReconnectFailed
	// EventResumed: a topic the client had a position for was subscribed
	// again (after a reconnection, or SubOptions.Since). Recovered true:
	// every message after PrevSeq was delivered, none lost, none twice.
	// Recovered false: the server could not (a new Epoch after a restart,
	// history expired, ...): the topic's snapshot, if it has a value, was
	// delivered instead and the application must treat its state of the
	// topic as replaced; Seq is the topic's seq in Epoch. The deliveries of
	// the resumed topic may come before this event (the server sends them
	// before its reply).
	EventResumed
	// EventGap: seqs From..To of Topic were not delivered. Expected with
	// conflation or a rate limit (Conflated set when the subscription
	// asked for them; a server-side --conflate default shows as a gap with
	// Conflated false), and with the server's "drop" slow-consumer policy.
	EventGap
	// EventSubscribeFailed: subscribing Patterns again on a new connection
	// was refused (Err); they are tried again on the next connection.
	EventSubscribeFailed
	// EventError: an err reply that answers no request of the client, or
	// a frame the client could not decode (Err).
	EventError
)

func (k EventKind) String() string {
	switch k {
	case EventConnected:
		return "connected"
	case EventDisconnected:
		return "disconnected"
	case EventReconnectFailed:
		return "reconnect failed"
	case EventResumed:
		return "resumed"
	case EventGap:
		return "gap"
	case EventSubscribeFailed:
		return "subscribe failed"
	case EventError:
		return "error"
	}
	return "unknown"
}

// Event is something that happened to the connection, reported through
// Options.OnEvent. Which fields are set depends on Kind.
type Event struct {
	Kind      EventKind
	Err       error
	URL       string // EventConnected
	Reconnect bool   // EventConnected
	Attempt   int    // EventReconnectFailed
	Topic     string // EventResumed, EventGap
	Recovered bool   // EventResumed
	Epoch     string // EventResumed: the server's epoch now
	Seq       uint64 // EventResumed: the topic's latest seq in Epoch at the resume
	PrevEpoch string // EventResumed: the position resumed from
	PrevSeq   uint64
	From, To  uint64   // EventGap: the missing seqs, inclusive
	Conflated bool     // EventGap
	Patterns  []string // EventSubscribeFailed
}
