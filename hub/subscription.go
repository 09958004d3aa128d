package hub

import (
	"sync"
	"sync/atomic"

	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/wsframe"
)

// conn is the hub's record of one Subscriber.
type conn struct {
	s  Subscriber
	id uint64
	// nwild counts the wildcard subscriptions of this conn in the sublist
	// (sublist.mu). Matching dedupes only the conns with more than one.
	nwild int

	mu   sync.Mutex // serialises Subscribe/Unsubscribe/UnsubscribeAll of s
	dead bool       // removed by UnsubscribeAll; a new conn replaces it
	subs subSet
}

// smallSubs is how many subscriptions a conn holds in a plain slice before
// it indexes them with a map: most connections hold a few, and a map costs
// about 200 bytes even for one.
const smallSubs = 8

// subSet is a conn's subscriptions by pattern. Guarded by conn.mu.
type subSet struct {
	list []*subscription
	idx  map[string]int // pattern -> position in list; nil while len(list) <= smallSubs
}

func (ss *subSet) len() int { return len(ss.list) }

func (ss *subSet) find(pattern string) int {
	if ss.idx != nil {
		if i, ok := ss.idx[pattern]; ok {
			return i
		}
		return -1
	}
	for i, sub := range ss.list {
		if sub.pattern == pattern {
			return i
		}
	}
	return -1
}

func (ss *subSet) get(pattern string) *subscription {
	if i := ss.find(pattern); i >= 0 {
		return ss.list[i]
	}
	return nil
}

// add adds sub, whose pattern is not in the set.
func (ss *subSet) add(sub *subscription) {
	ss.list = append(ss.list, sub)
	switch {
	case ss.idx != nil:
		ss.idx[sub.pattern] = len(ss.list) - 1
	case len(ss.list) > smallSubs:
		ss.idx = make(map[string]int, len(ss.list))
		for i, s := range ss.list {
			ss.idx[s.pattern] = i
		}
	}
}

// remove removes the subscription of pattern and returns it (nil if none).
func (ss *subSet) remove(pattern string) *subscription {
	i := ss.find(pattern)
	if i < 0 {
		return nil
	}
	sub, last := ss.list[i], len(ss.list)-1
	ss.list[i] = ss.list[last]
	ss.list[last] = nil
	ss.list = ss.list[:last]
	if ss.idx != nil {
		delete(ss.idx, pattern)
		if i < last {
			ss.idx[ss.list[i].pattern] = i
		}
	}
	if len(ss.list) == 0 {
		ss.list, ss.idx = nil, nil
	}
	return sub
}

// subscription is one pattern of one conn. Its immutable fields are set
// before it becomes visible to publishers.
type subscription struct {
	c        *conn
	id       uint64 // hub-wide, increasing: earlier subscriptions win dedupe
	pattern  string
	wild     bool
	conflate int8   // -1 topic default (Config.ConflateDefault), 0 no, 1 yes
	interval int64  // min ns between deliveries per topic; 0 = unlimited
	format   Format // nil: native frames
	variant  string // the Format's variant (SubOptions.Variant)
	fkey     uint32 // Hub.fkeys number of (format, variant); 0 native

	// closed is set first thing on removal (before its state is released).
	closed atomic.Bool
	// priming is set while a wildcard Subscribe queues snapshots: publishers
	// then take the slow path and queue the topic's snapshot first if the
	// Subscribe has not reached that topic yet.
	priming atomic.Bool

	// Exact subscriptions: the topic and position in topic.exact (topic lock).
	topic *topic
	idx   int
	// Wildcard subscriptions: position in the sublist (sublist lock).
	slNode *slNode
	slGT   bool
	slIdx  int

	mu     sync.Mutex            // guards the fields below
	primed map[*topic]TopicState // topics already primed, while priming
	since  map[string]Position   // SubOptions.Since, while priming
	// others are the conn's other subscriptions, while priming (a view of
	// its subSet, which does not change while Subscribe holds conn.mu): topics they match
	// already stream to the conn and get no snapshot.
	others []*subscription
	states map[*topic]*subTopic // per-topic conflation/rate state
	one    *subTopic            // the state used last: a one-topic subscription skips the map
}

// subTopic is the delivery state of one (conflating subscription, topic).
// Guarded by its subscription's mu, apart from due and idx (rateTimer.mu).
type subTopic struct {
	sub     *subscription
	t       *topic
	slot    poller.Slot       // fields guarded by the Subscriber, not by us
	sent    bool              // a frame has been delivered through the limiter
	last    int64             // hub clock of that delivery
	pending *wsframe.Prepared // newest frame held back by the rate limit
	due     int64             // hub clock when pending may go (rateTimer.mu)
	idx     int               // index in the rate heap, -1 if not scheduled (rateTimer.mu)
}

// conflates reports whether deliveries of t to sub go through a Slot.
func (sub *subscription) conflates(t *topic) bool {
	return sub.interval > 0 || sub.conflate > 0 || (sub.conflate < 0 && t.conflate)
}

// deliver hands p (one reference, consumed in every case) to sub and reports
// whether it was passed to the Subscriber now (false: dropped or held back by
// the rate limit). now is the hub clock. The topic lock of t is held.
//
// A subscription removed while a publish still holds it keeps getting that
// publish as a plain Send: when another pattern of the same conn takes over
// the topic, the message is not lost.
func (sub *subscription) deliver(h *Hub, t *topic, e *pubEnc, now int64) int {
	p := e.frameFor(sub)
	if !sub.priming.Load() && !sub.conflates(t) {
		_ = sub.c.s.Send(p) // a failing Send is the transport's business
		return 1
	}
	return sub.deliverSlow(h, t, p, now)
}

func (sub *subscription) deliverSlow(h *Hub, t *topic, p *wsframe.Prepared, now int64) int {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.closed.Load() { // its conflation state is gone
		_ = sub.c.s.Send(p)
		return 1
	}
	n := 0
	if sub.priming.Load() {
		if _, ok := sub.primed[t]; !ok {
			st, k := h.prime(t, sub, sub.since, now)
			sub.primed[t] = st
			n += k
		}
	}
	if !sub.conflates(t) {
		_ = sub.c.s.Send(p)
		return n + 1
	}
	st := sub.state(t)
	if sub.interval == 0 {
		_ = sub.c.s.SendSlot(&st.slot, p)
		return n + 1
	}
	if st.pending == nil && (!st.sent || now-st.last >= sub.interval) {
		st.sent, st.last = true, now
		_ = sub.c.s.SendSlot(&st.slot, p)
		return n + 1
	}
	if st.pending != nil {
		st.pending.Release()
	}
	st.pending = p
	h.rt.schedule(st, st.last+sub.interval)
	return n
}

// state returns the conflation state of t, allocating it on first use.
// sub.mu is held.
func (sub *subscription) state(t *topic) *subTopic {
	if sub.one != nil && sub.one.t == t {
		return sub.one
	}
	st := sub.states[t]
	if st == nil {
		if sub.states == nil {
			sub.states = make(map[*topic]*subTopic)
		}
		st = &subTopic{sub: sub, t: t, idx: -1}
		sub.states[t] = st
	}
	sub.one = st
	return st
}

// fire delivers the pending frame of st if its time has come (called by the
// hub goroutine, no lock held).
func (h *Hub) fire(st *subTopic) {
	sub := st.sub
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.closed.Load() || st.pending == nil {
		return
	}
	now := h.now()
	if st.sent && now-st.last < sub.interval {
		h.rt.schedule(st, st.last+sub.interval)
		return
	}
	p := st.pending
	st.pending = nil
	st.sent, st.last = true, now
	_ = sub.c.s.SendSlot(&st.slot, p)
	h.deliveries.Add(1)
}

// releaseSubState drops the hub's per-topic state of a removed subscription.
func (h *Hub) releaseSubState(sub *subscription) {
	sub.mu.Lock()
	for _, st := range sub.states {
		if st.pending != nil {
			h.rt.remove(st)
			st.pending.Release()
			st.pending = nil
		}
	}
	sub.states, sub.one = nil, nil
	sub.mu.Unlock()
}
