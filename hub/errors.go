package hub

import "errors"

// Errors returned by the Hub. Compare with errors.Is.
var (
	// ErrBadTopic: a topic or pattern is empty, longer than 256 bytes, has an
	// empty token, a character outside [A-Za-z0-9_:-], or a misplaced wildcard
	// (any wildcard in a publish topic; '>' not as the last token; '*' or '>'
	// inside a token).
	ErrBadTopic = errors.New("hub: bad topic")
	// ErrTooManySubs: the subscriber already has Config.MaxSubsPerConn patterns.
	ErrTooManySubs = errors.New("hub: too many subscriptions")
	// ErrTooManyTopics: a publish to a topic that holds no data yet would
	// exceed Config.MaxTopics. Only publishes count: Subscribe never returns
	// it.
	ErrTooManyTopics = errors.New("hub: too many topics")
	// ErrBadData: Publish was given data that is not a valid JSON value.
	ErrBadData = errors.New("hub: data is not valid JSON")
	// ErrUnavailable: the hub's Broker cannot reach the cluster's store (a
	// NATS outage); the publish or subscription did not happen and may be
	// retried.
	ErrUnavailable = errors.New("hub: cluster unavailable")
	// ErrClosed: the Hub is closed.
	ErrClosed = errors.New("hub: closed")
)
