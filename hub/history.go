package hub

import "github.com/c1mhq/c1m/wsframe"

// histEntry is one retained frame of a topic's history.
type histEntry struct {
	p      *wsframe.Prepared // the native frame; one reference owned by the history
	seq    uint64
	at     int64 // hub clock (Hub.now) when published
	ts     int64 // publish time, unix ns (re-encoding for other formats)
	dlen   int32 // length of the data at the end of p (nativeData)
	binary bool
}

// history is a topic's ring of recent frames, oldest first. It holds
// consecutive seqs: every publish pushes, eviction only drops the oldest.
// The ring grows by doubling up to Config.HistorySize, so idle topics cost
// little. Guarded by the topic's lock.
type history struct {
	buf  []histEntry
	head int // index of the oldest entry
	n    int
}

// push appends e, evicting the oldest entry first when limit are held.
func (r *history) push(h *Hub, e histEntry, limit int) {
	if r.n == limit {
		r.evictOldest(h)
	}
	if r.n == len(r.buf) {
		r.grow(limit)
	}
	r.buf[(r.head+r.n)%len(r.buf)] = e
	r.n++
	h.histFrames.Add(1)
	h.histBytes.Add(int64(e.p.Len()))
	// Global bound: this topic gives up its oldest entries, keeping the one
	// just pushed (the topic's last value).
	for r.n > 1 && h.histBytes.Load() > h.histMax {
		r.evictOldest(h)
		h.histCapped.Add(1)
	}
}

// pushFront inserts e before the oldest entry (e is older than every entry
// held); the caller checks that fewer than limit are held.
func (r *history) pushFront(h *Hub, e histEntry, limit int) {
	if r.n == len(r.buf) {
		r.grow(limit)
	}
	r.head = (r.head - 1 + len(r.buf)) % len(r.buf)
	r.buf[r.head] = e
	r.n++
	h.histFrames.Add(1)
	h.histBytes.Add(int64(e.p.Len()))
}

func (r *history) grow(limit int) {
	size := min(max(8, 2*len(r.buf)), limit)
	buf := make([]histEntry, size)
	for i := 0; i < r.n; i++ {
		buf[i] = r.buf[(r.head+i)%len(r.buf)]
	}
	r.buf, r.head = buf, 0
}

func (r *history) evictOldest(h *Hub) {
	e := &r.buf[r.head]
	h.histFrames.Add(-1)
	h.histBytes.Add(-int64(e.p.Len()))
	e.p.Release()
	*e = histEntry{}
	r.head = (r.head + 1) % len(r.buf)
	r.n--
}

// expire evicts entries published before cutoff (hub clock).
func (r *history) expire(h *Hub, cutoff int64) {
	for r.n > 0 && r.buf[r.head].at < cutoff {
		r.evictOldest(h)
	}
	if r.n == 0 && len(r.buf) > 0 {
		r.buf, r.head = nil, 0 // an idle topic gives its ring back
	}
}

// at returns the i-th entry, 0 being the oldest.
func (r *history) at(i int) *histEntry {
	return &r.buf[(r.head+i)%len(r.buf)]
}

// clear releases every entry.
func (r *history) clear(h *Hub) {
	for r.n > 0 {
		r.evictOldest(h)
	}
	r.buf, r.head = nil, 0
}
