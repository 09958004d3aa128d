package hub

import (
	"errors"
	"hash/maphash"
)

// Topic lifetime (see the Hub doc comment).
//
// A topic is empty (data false) from its creation until its first publish
// promotes it; only data topics count in ntopics and against MaxTopics, so a
// subscriber, who can only create empty topics, cannot make a publish fail.
// An empty topic is removed when its last exact subscription goes; a data
// topic when the sweep finds it idle (topic.idle) and no wildcard
// subscription matching it. Removal (kill) holds the shard lock and the
// topic lock, marks the topic dead and takes it out of the shard map and the
// topic tree; whoever looked the topic up before that finds dead set once it
// holds the topic lock and looks the name up again.

// errReclaimed is returned by publish when its topic was reclaimed after the
// lookup; publishTo retries with the topic now under that name.
var errReclaimed = errors.New("hub: topic reclaimed")

// shardOf returns the shard that holds the topic name.
func (h *Hub) shardOf(name string) *shard {
	return &h.shards[maphash.String(h.seed, name)&(numShards-1)]
}

// topic returns the topic named name (validated). With create unset it only
// looks it up (nil if it does not exist; the topic may be dead by the time
// the caller locks it). With create set it returns a data topic, creating
// the topic or promoting an empty one (the step that counts against
// MaxTopics and may fail with ErrTooManyTopics); it may still be reclaimed
// before the caller locks it, which then sees dead and calls again.
func (h *Hub) topic(name string, create bool) (*topic, error) {
	for {
		t := h.lookup(name)
		if t == nil {
			if !create {
				return nil, nil
			}
			t = h.create(name)
		}
		if !create || t.data.Load() {
			return t, nil
		}
		t.mu.Lock()
		if t.dead {
			t.mu.Unlock()
			continue
		}
		if !t.data.Load() {
			if h.ntopics.Add(1) > h.maxTops {
				h.ntopics.Add(-1)
				unused := len(t.exact) == 0
				t.mu.Unlock()
				if unused {
					h.reclaim(t, h.now()) // created for this publish: do not leave it behind
				}
				return nil, ErrTooManyTopics
			}
			t.lastAt = h.now()
			t.data.Store(true)
			h.nempty.Add(-1)
		}
		t.mu.Unlock()
		return t, nil
	}
}

// lockTopic returns the live topic named name (validated), creating it empty
// if needed, with its lock held. Exact subscriptions use it: it never fails
// and never counts against MaxTopics.
func (h *Hub) lockTopic(name string) *topic {
	for {
		t := h.lookup(name)
		if t == nil {
			t = h.create(name)
		}
		t.mu.Lock()
		if !t.dead {
			return t
		}
		t.mu.Unlock()
	}
}

func (h *Hub) lookup(name string) *topic {
	sh := h.shardOf(name)
	sh.mu.RLock()
	t := sh.topics[name]
	sh.mu.RUnlock()
	return t
}

// create returns the topic named name, creating it empty if it does not
// exist. A new topic starts at its shard's seq floor.
func (h *Hub) create(name string) *topic {
	sh := h.shardOf(name)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if t := sh.topics[name]; t != nil {
		return t
	}
	t := &topic{name: name, conflate: h.conflateDefault(name), seq: sh.seqFloor}
	sh.topics[name] = t
	sh.peak = max(sh.peak, len(sh.topics))
	h.tt.insert(t) // before any publish can see t: wildcard Subscribe finds it
	h.nempty.Add(1)
	return t
}

// sweep expires history older than HistoryTTL on every topic and reclaims
// the topics that nothing keeps any more, as of now (hub clock). ts is
// scratch space, returned for reuse. The hub goroutine calls it
// periodically; tests call it with a clock of their choice.
func (h *Hub) sweep(ts []*topic, now int64) []*topic {
	for i := range h.shards {
		ts = h.shards[i].appendTopics(ts[:0])
		for _, t := range ts {
			t.mu.Lock()
			if h.histSize > 0 {
				t.hist.expire(h, now-h.histTTL)
			}
			idle := t.idle(h, now)
			t.mu.Unlock()
			if idle {
				h.reclaim(t, now)
			}
		}
	}
	clear(ts)
	return ts[:0]
}

// compact rebuilds the shard's map once it holds less than a quarter of its
// peak, so that the memory of topics that came and went (a burst of
// subscriptions to made-up topics) is given back. Its cost is paid by the
// three quarters of the peak that were removed. sh.mu is held.
func (sh *shard) compact() {
	if sh.peak <= 64 || len(sh.topics) >= sh.peak/4 {
		return
	}
	m := make(map[string]*topic, len(sh.topics))
	for name, t := range sh.topics {
		m[name] = t
	}
	sh.topics, sh.peak = m, len(m)
}

// idle reports whether t may be reclaimed as of now, wildcard subscriptions
// aside: it has no exact subscription and either holds no data, or its last
// publish is older than LastValueTTL and its history has expired. t.mu is
// held.
func (t *topic) idle(h *Hub, now int64) bool {
	if t.dead || len(t.exact) > 0 {
		return false
	}
	if !t.data.Load() {
		return true
	}
	return h.lvTTL >= 0 && now-t.lastAt >= h.lvTTL && t.hist.n == 0
}

// reclaim removes t if, under the shard and topic locks, it is idle as of
// now and, if it holds data, no wildcard subscription matches it (a wildcard
// subscriber must never see a topic's stream restart). It reports whether t
// was removed.
func (h *Hub) reclaim(t *topic, now int64) bool {
	sh := h.shardOf(t.name)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	if h.histSize > 0 {
		t.hist.expire(h, now-h.histTTL)
	}
	if !t.idle(h, now) {
		return false
	}
	if t.data.Load() {
		// A wildcard Subscribe inserts into the sublist before it walks the
		// topic tree: either this match sees it, or its walk finds t dead
		// or gone.
		t.refresh(h)
		if len(t.wild) > 0 {
			return false
		}
		h.ntopics.Add(-1)
		h.reclaimed.Add(1)
	} else {
		h.nempty.Add(-1)
	}
	t.dead = true
	delete(sh.topics, t.name)
	sh.compact()
	h.tt.remove(t)
	sh.seqFloor = max(sh.seqFloor, t.seq)
	t.clear(h)
	clear(t.wild)
	t.wild = nil
	return true
}
