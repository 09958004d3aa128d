package hub

import (
	"encoding/json"
	"math"
)

// SubOptions are per-subscription options from the client.
type SubOptions struct {
	Conflate *bool   // nil: per-topic default
	MaxRate  float64 // updates per second per topic, 0 = unlimited; implies conflation
	// Since maps concrete topics to the position the client last saw.
	Since map[string]Position
	// Format encodes this subscription's deliveries; nil means the native
	// WebSocket frames. Variant selects the format's variant ("" for none).
	Format  Format
	Variant string
}

// Position is a place in a topic's stream.
type Position struct {
	Epoch string `json:"epoch"`
	Seq   uint64 `json:"seq"`
}

// TopicState is reported per concrete topic in a subscribe result.
type TopicState struct {
	Epoch string `json:"epoch"`
	// Seq is the latest seq of the topic at subscribe time: the next live
	// message has Seq+1. For a topic never published to it is the seq the
	// topic started from (0, or more if topics were reclaimed). A topic that
	// Since named and a wildcard pattern matched, but that does not exist or
	// holds no data, is reported with Seq 0 and Recovered false.
	Seq       uint64 `json:"seq"`
	Recovered *bool  `json:"recovered,omitempty"` // set when Since named this topic
}

// Subscribe subscribes s to pattern (a topic or a wildcard pattern with '*' and
// '>'). Before returning it has queued on s, for each existing matching topic,
// either the missed messages (recovery) or the last value (marked "snap":true),
// with no gap and no duplicate against live deliveries that race it.
// Errors: ErrBadTopic, ErrTooManySubs.
//
// The result has one entry per existing matching topic that has a last value
// or is named in opt.Since; an exact pattern always has its entry. A wildcard
// pattern reports each topic named in opt.Since that it matches but that
// does not exist or has never been published to (since it was reclaimed)
// with Seq 0 and Recovered false: it does not keep such a topic, which may
// come back at a higher seq.
// Subscribing again to a pattern s already has replaces that subscription
// (new options, new snapshot). If s has several patterns matching a topic, it
// gets each message once, through its exact subscription if it has one, else
// through its earliest matching wildcard; a topic that s already receives
// through another pattern gets no snapshot or recovery (its stream continues;
// Recovered reports true if Since named it with this epoch). Also ErrClosed.
//
// An exact pattern creates its topic if needed, empty: that never fails and
// does not count against MaxTopics; the topic goes with its last exact
// subscription unless something has been published to it.
func (h *Hub) Subscribe(s Subscriber, pattern string, opt SubOptions) (map[string]TopicState, error) {
	wild, err := checkTopic(pattern, true)
	if err != nil {
		return nil, err
	}
	if h.closed.Load() {
		return nil, ErrClosed
	}
	c := h.lockConn(s)
	defer c.mu.Unlock()
	old := c.subs.get(pattern)
	if old == nil && c.subs.len() >= h.maxSubs {
		return nil, ErrTooManySubs
	}
	if h.broker != nil {
		// Before anything is registered: the broker brings the pattern's
		// topics up to date (Apply, Backfill) so that priming below sends
		// current snapshots and recovers from the cluster's history.
		if err := h.broker.Subscribe(pattern, opt.Since); err != nil {
			return nil, err
		}
	}
	if old != nil {
		h.removeSub(old)
		c.subs.remove(pattern)
	}
	sub := &subscription{
		c:        c,
		id:       h.ids.Add(1),
		pattern:  pattern,
		wild:     wild,
		conflate: -1,
		idx:      -1,
		format:   opt.Format,
		variant:  opt.Variant,
		fkey:     h.fkeys.key(opt.Format, opt.Variant),
	}
	if opt.Conflate != nil {
		sub.conflate = 0
		if *opt.Conflate {
			sub.conflate = 1
		}
	}
	if r := opt.MaxRate; r > 0 && !math.IsInf(r, 1) {
		sub.interval = max(int64(float64(1e9)/r), 1)
	}
	sub.others = c.subs.list // no copy: the set does not change until Subscribe returns
	c.subs.add(sub)
	h.nsubs.Add(1)
	states := make(map[string]TopicState)
	sent := 0
	if !wild {
		t := h.lockTopic(pattern)
		t.addExact(sub)
		st, n := h.prime(t, sub, opt.Since, h.now())
		sub.others = nil
		t.mu.Unlock()
		states[pattern] = st
		sent += n
	} else {
		sent += h.subscribeWild(sub, opt.Since, states)
	}
	h.deliveries.Add(uint64(sent))
	return states, nil
}

// subscribeWild inserts a wildcard subscription and primes every existing
// matching topic. A publish that reaches a topic before this walk does primes
// it itself (deliverSlow); the walk then skips it: each topic is primed once,
// under its lock, right before its first live delivery.
func (h *Hub) subscribeWild(sub *subscription, since map[string]Position, states map[string]TopicState) int {
	sub.primed = make(map[*topic]TopicState)
	sub.since = since
	sub.priming.Store(true)
	h.sl.insert(sub)
	sent := 0
	for _, t := range h.tt.match(sub.pattern, nil) {
		t.mu.Lock()
		if t.dead { // reclaimed after the walk found it
			t.mu.Unlock()
			continue
		}
		sub.mu.Lock()
		st, ok := sub.primed[t]
		if !ok {
			var n int
			st, n = h.prime(t, sub, since, h.now())
			sub.primed[t] = st
			sent += n
		}
		hasValue, empty := t.last != nil, !t.data.Load()
		sub.mu.Unlock()
		t.mu.Unlock()
		if st.Recovered != nil && empty {
			// Nothing was sent (there is nothing to send). A wildcard does
			// not keep an empty topic: it may go and come back at a higher
			// seq floor, so its state now promises nothing.
			no := false
			st = TopicState{Epoch: h.epoch, Recovered: &no}
		}
		if hasValue || st.Recovered != nil {
			states[t.name] = st
		}
	}
	sub.mu.Lock()
	sub.priming.Store(false)
	if len(since) > 0 {
		// Topics created during the walk were primed by their first publish.
		for t, st := range sub.primed {
			if _, named := since[t.name]; named {
				if _, ok := states[t.name]; !ok {
					states[t.name] = st
				}
			}
		}
	}
	sub.primed, sub.since, sub.others = nil, nil, nil
	sub.mu.Unlock()
	// A topic named in since that no longer exists (reclaimed) cannot be
	// recovered: say so rather than leave the client to guess.
	for name := range since {
		if _, ok := states[name]; ok {
			continue
		}
		if _, err := checkTopic(name, false); err != nil || !matchPattern(sub.pattern, name) {
			continue
		}
		no := false
		states[name] = TopicState{Epoch: h.epoch, Recovered: &no}
	}
	return sent
}

// lockConn returns the locked, live conn of s, creating it if needed.
func (h *Hub) lockConn(s Subscriber) *conn {
	for {
		v, ok := h.conns.Load(s)
		if !ok {
			v, _ = h.conns.LoadOrStore(s, &conn{s: s, id: h.ids.Add(1)})
		}
		c := v.(*conn)
		c.mu.Lock()
		if !c.dead {
			return c
		}
		c.mu.Unlock() // UnsubscribeAll removed it; LoadOrStore makes a new one
	}
}

// removeSub takes sub out of every structure publishers see and releases its
// pending frames. An exact subscription that was the last of a topic without
// data takes the topic with it. The conn lock is held. Deliveries that
// already hold sub (a publish in progress) drop their frame once closed is
// set.
func (h *Hub) removeSub(sub *subscription) {
	sub.closed.Store(true)
	if sub.wild {
		h.sl.remove(sub)
	} else {
		t := sub.topic
		t.mu.Lock()
		t.removeExact(sub)
		unused := len(t.exact) == 0 && !t.data.Load()
		t.mu.Unlock()
		if unused {
			h.reclaim(t, h.now())
		}
	}
	h.releaseSubState(sub)
	h.nsubs.Add(-1)
	if h.broker != nil {
		h.broker.Unsubscribe(sub.pattern)
	}
}

// Unsubscribe removes one pattern of s. Unknown patterns are not an error.
// A publish already in progress when Unsubscribe is called may still deliver
// one message of it.
func (h *Hub) Unsubscribe(s Subscriber, pattern string) error {
	v, ok := h.conns.Load(s)
	if !ok {
		return nil
	}
	c := v.(*conn)
	c.mu.Lock()
	defer c.mu.Unlock()
	if sub := c.subs.remove(pattern); sub != nil {
		h.removeSub(sub)
	}
	return nil
}

// UnsubscribeAll removes every subscription of s; call it when s closes.
// Its cost is proportional to the subscriptions of s.
func (h *Hub) UnsubscribeAll(s Subscriber) {
	v, ok := h.conns.LoadAndDelete(s)
	if !ok {
		return
	}
	c := v.(*conn)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dead = true
	for _, sub := range c.subs.list {
		h.removeSub(sub)
	}
	c.subs = subSet{}
}

// validJSON reports whether data is exactly one JSON value.
func validJSON(data []byte) bool { return json.Valid(data) }
