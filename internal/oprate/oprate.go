// Package oprate limits the operations one client connection may ask for
// per second (subscribe, unsubscribe, publish, refresh, ... whatever its
// protocol calls them), the same way for every protocol: a token bucket of
// Rate per second with a burst, an error answer for an operation over it,
// and the connection closed once it keeps going.
//
// A Bucket is a small value meant to be embedded in a connection's state;
// it is not safe for concurrent use (protocol handlers see one connection's
// input in order) and allocates nothing.
package oprate

// Limit is a connection's allowance.
type Limit struct {
	// Rate is the operations allowed per second; zero or less turns the
	// limit off.
	Rate float64
	// Burst is the operations allowed at once. Zero means max(Rate, 1).
	Burst float64
	// Strikes is how many refused operations in a row close the
	// connection ("persistent abuse"). Zero means 2*Burst, at least 10.
	Strikes int
}

// Verdict is what the handler does with an operation.
type Verdict uint8

const (
	// Allow: carry the operation out.
	Allow Verdict = iota
	// Refuse: answer it with the protocol's error (e.g. native err 429).
	Refuse
	// Close: the client kept going past Strikes refusals: close the
	// connection (WebSocket 1008, STOMP ERROR, ...).
	Close
)

// Bucket is one connection's state. The zero value is a full bucket.
type Bucket struct {
	tokens  float64
	at      int64 // unix ns of the last refill; 0: never used (full)
	strikes int32
}

// On reports what to do with an operation at now (unix ns).
func (b *Bucket) On(l *Limit, now int64) Verdict {
	if l.Rate <= 0 {
		return Allow
	}
	burst := l.Burst
	if burst <= 0 {
		burst = max(l.Rate, 1)
	}
	if b.at == 0 {
		b.tokens, b.at = burst, now
	}
	b.tokens = min(burst, b.tokens+float64(now-b.at)/1e9*l.Rate)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		b.strikes = 0
		return Allow
	}
	b.strikes++
	strikes := l.Strikes
	if strikes <= 0 {
		strikes = max(int(2*burst), 10)
	}
	if int(b.strikes) >= strikes {
		return Close
	}
	return Refuse
}
