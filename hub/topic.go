package hub

import (
	"sync"
	"sync/atomic"

	"github.com/c1mhq/c1m/wsframe"
)

// topic is one concrete topic: its sequence, last value, history and the
// subscriptions it delivers to.
type topic struct {
	name     string
	conflate bool // matches Config.ConflateDefault
	// data is set (under mu) when the topic first counts against MaxTopics,
	// right before its first publish, and never cleared. Read without mu
	// by publishers looking for a data topic.
	data atomic.Bool

	mu sync.Mutex // guards everything below
	// dead is set when the topic is reclaimed (shard lock held too): it is
	// no longer in its shard or the topic tree, and whoever locked it after
	// a lookup must look the name up again.
	dead bool
	// seq is the seq of the latest publish; before the first, the seq floor
	// of the shard when the topic was created (0 unless a topic was reclaimed
	// from that shard).
	seq uint64
	// ref is the Broker position of the latest message (Remote.Ref); 0
	// without a Broker.
	ref uint64
	// lastAt is the hub clock of the latest publish (or of the promotion to
	// a data topic): LastValueTTL counts from it.
	lastAt int64
	// last is the latest frame (one hub reference), lastBinary its kind,
	// lastTS its ts and lastDataLen the length of its data, which ends the
	// payload (binary) or precedes the final '}' (JSON).
	last        *wsframe.Prepared
	lastBinary  bool
	lastTS      int64
	lastDataLen int
	// snap is the last value re-encoded as a snapshot, built on first need
	// and dropped at the next publish (one hub reference).
	snap *wsframe.Prepared
	hist history
	// pub is the state of the publish in progress (its encodings' scratch
	// slice is reused by the next).
	pub pubEnc

	// exact are the exact subscriptions (one per conn), exactBy indexes them.
	exact   []*subscription
	exactBy map[*conn]*subscription
	// wild caches the matching wildcard subscriptions, at most one per conn
	// and none for a conn that has an exact one. It is valid while wildGen
	// equals the sublist generation and wildDirty is false.
	wild      []*subscription
	wildGen   uint64
	wildDirty bool
}

// refresh rebuilds the wildcard cache if the sublist changed since it was
// built or an exact subscription came or went. t.mu is held.
func (t *topic) refresh(h *Hub) {
	if !t.wildDirty && t.wildGen == h.sl.gen.Load() {
		return
	}
	w, gen := h.sl.match(t.name, t.wild[:0])
	// Drop conns that have an exact subscription here: it delivers.
	if len(t.exactBy) > 0 {
		n := 0
		for _, s := range w {
			if _, ok := t.exactBy[s.c]; !ok {
				w[n] = s
				n++
			}
		}
		w = w[:n]
	}
	clear(w[len(w):cap(w)]) // no stale pointers keep removed subscriptions alive
	t.wild, t.wildGen, t.wildDirty = w, gen, false
}

// addExact adds an exact subscription. t.mu is held.
func (t *topic) addExact(sub *subscription) {
	sub.topic, sub.idx = t, len(t.exact)
	t.exact = append(t.exact, sub)
	if t.exactBy == nil {
		t.exactBy = make(map[*conn]*subscription)
	}
	t.exactBy[sub.c] = sub
	t.wildDirty = true // a wildcard of the same conn must stop delivering
}

// removeExact removes an exact subscription. t.mu is held.
func (t *topic) removeExact(sub *subscription) {
	i, last := sub.idx, len(t.exact)-1
	if i < 0 || i > last || t.exact[i] != sub {
		return
	}
	t.exact[i] = t.exact[last]
	t.exact[i].idx = i
	t.exact[last] = nil
	t.exact = t.exact[:last]
	sub.idx = -1
	delete(t.exactBy, sub.c)
	t.wildDirty = true // a wildcard of the same conn may take over
}

// publish assigns the next seq, encodes the frame once and enqueues it on
// every target, all under t.mu so that concurrent publishers of one topic
// deliver in seq order. t is a data topic (Hub.topic with create); if it was
// reclaimed since, publish returns errReclaimed and does nothing.
func (h *Hub) publish(t *topic, data []byte, ts int64, binary bool) (uint64, error) {
	t.mu.Lock()
	if t.dead {
		t.mu.Unlock()
		return 0, errReclaimed
	}
	return h.publishLocked(t, data, ts, binary)
}

// publishLocked is publish with t.mu held and t live; it unlocks t.mu. The
// message gets seq t.seq+1.
func (h *Hub) publishLocked(t *topic, data []byte, ts int64, binary bool) (uint64, error) {
	if h.closed.Load() {
		t.mu.Unlock()
		return 0, ErrClosed
	}
	now, wall := h.clock()
	if ts == 0 {
		ts = wall
	}
	seq := t.seq + 1
	// The publish state lives in the topic (guarded by t.mu): a pointer to
	// it may reach Format.Encode without moving it to the heap.
	e := &t.pub
	*e = pubEnc{
		m:    Msg{Topic: t.name, Seq: seq, TS: ts, Data: data, Binary: binary},
		encs: e.encs,
	}
	p := wsframe.AcquirePrepared()
	encodeNative(p, &e.m)
	p.Topic, p.Seq = t.name, seq
	e.native = p
	t.refresh(h)
	// References of the native frame: one per target (those left unused are
	// dropped below), one for the history; the creator's own becomes the last
	// value's. Other formats are encoded on first need (pubEnc).
	e.targets = int32(len(t.exact) + len(t.wild))
	refs := e.targets
	if h.histSize > 0 {
		refs++
	}
	p.Retain(refs)
	sent := 0
	for _, sub := range t.exact {
		sent += sub.deliver(h, t, e, now)
	}
	for _, sub := range t.wild {
		sent += sub.deliver(h, t, e, now)
	}
	p.ReleaseN(e.targets - e.nused)
	e.encs = e.finish()
	e.m.Data, e.native = nil, nil // keep no reference to the caller's data
	// Priming (in deliver) used the previous state; now advance it.
	t.seq = seq
	if h.histSize > 0 {
		t.hist.expire(h, now-h.histTTL)
		t.hist.push(h, histEntry{p: p, seq: seq, at: now, ts: ts, dlen: int32(len(data)), binary: binary}, h.histSize)
	}
	if t.last != nil {
		t.last.Release()
	}
	if t.snap != nil {
		t.snap.Release()
		t.snap = nil
	}
	t.last, t.lastBinary, t.lastTS, t.lastDataLen = p, binary, ts, len(data)
	t.lastAt = now
	t.mu.Unlock()
	h.published.Add(1)
	h.deliveries.Add(uint64(sent))
	return seq, nil
}

// snapFrame returns the last value encoded as a snapshot (the hub keeps the
// reference; callers Retain what they hand out). t.mu is held, t.last != nil.
func (t *topic) snapFrame() *wsframe.Prepared {
	if t.snap != nil {
		return t.snap
	}
	m := t.lastMsg()
	p := wsframe.AcquirePrepared()
	encodeNative(p, &m)
	p.Topic, p.Seq = t.name, t.seq
	t.snap = p
	return p
}

// lastMsg returns the last value as a snapshot Msg (Data points into the
// last frame). t.mu is held, t.last != nil.
func (t *topic) lastMsg() Msg {
	return Msg{
		Topic:  t.name,
		Seq:    t.seq,
		TS:     t.lastTS,
		Data:   nativeData(t.last.Bytes(), t.lastDataLen, t.lastBinary),
		Binary: t.lastBinary,
		Snap:   true,
	}
}

// recoverable reports whether every message after pos is still in t's
// history (or there is none after it). t.mu is held.
func (t *topic) recoverable(h *Hub, pos Position, now int64) bool {
	if pos.Epoch != h.epoch || pos.Seq > t.seq {
		return false
	}
	if pos.Seq == t.seq {
		return true
	}
	t.hist.expire(h, now-h.histTTL)
	return t.hist.n > 0 && t.hist.at(0).seq <= pos.Seq+1
}

// prime queues on sub's Subscriber what it needs before live updates of t:
// the messages after since[t.name] if they are all in history, otherwise the
// last value as a snapshot. If another pattern of the conn (sub.others)
// matches t, the conn already receives t's stream and gets nothing. It
// returns the topic's state and the number of frames queued. t.mu is held
// (and sub.mu when called from a publish).
func (h *Hub) prime(t *topic, sub *subscription, since map[string]Position, now int64) (TopicState, int) {
	st := TopicState{Epoch: h.epoch, Seq: t.seq}
	s := sub.c.s
	pos, named := since[t.name]
	for _, o := range sub.others {
		if matchPattern(o.pattern, t.name) {
			if named {
				rec := pos.Epoch == h.epoch && pos.Seq <= t.seq
				st.Recovered = &rec
			}
			return st, 0
		}
	}
	if named {
		rec := t.recoverable(h, pos, now)
		st.Recovered = &rec
		if rec {
			missed := int(t.seq - pos.Seq)
			for i := t.hist.n - missed; i < t.hist.n; i++ {
				he := t.hist.at(i)
				p := he.p
				if sub.format != nil {
					m := Msg{Topic: t.name, Seq: he.seq, TS: he.ts, Binary: he.binary,
						Data: nativeData(p.Bytes(), int(he.dlen), he.binary)}
					p = encodeFor(sub, &m)
				} else {
					p.Retain(1)
				}
				_ = s.Send(p)
			}
			return st, missed
		}
	}
	if t.last == nil {
		return st, 0
	}
	var p *wsframe.Prepared
	if sub.format != nil {
		m := t.lastMsg()
		p = encodeFor(sub, &m)
	} else {
		p = t.snapFrame()
		p.Retain(1)
	}
	_ = s.Send(p)
	return st, 1
}

// clear releases every frame t holds. t.mu is held.
func (t *topic) clear(h *Hub) {
	t.hist.clear(h)
	if t.last != nil {
		t.last.Release()
		t.last = nil
	}
	if t.snap != nil {
		t.snap.Release()
		t.snap = nil
	}
}
