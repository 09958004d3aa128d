package hub

import "sync"

// rateTimer is a min-heap of rate-limited (subscription, topic) states that
// hold a pending frame, ordered by the time it may be delivered. The hub
// goroutine sleeps on one timer until the earliest; each state is in the heap
// at most once, so memory is bounded by one entry per subscription-topic.
type rateTimer struct {
	mu   sync.Mutex
	heap []*subTopic
	wake chan struct{} // capacity 1: the earliest due time moved earlier
}

// schedule puts st in the heap, due at the given hub clock time, unless it is
// already there. Callers hold st.sub.mu.
func (r *rateTimer) schedule(st *subTopic, due int64) {
	r.mu.Lock()
	if st.idx >= 0 {
		r.mu.Unlock()
		return
	}
	st.due = due
	st.idx = len(r.heap)
	r.heap = append(r.heap, st)
	r.up(st.idx)
	first := st.idx == 0
	r.mu.Unlock()
	if first {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// remove takes st out of the heap if it is there. Callers hold st.sub.mu.
func (r *rateTimer) remove(st *subTopic) {
	r.mu.Lock()
	if i := st.idx; i >= 0 {
		last := len(r.heap) - 1
		if i != last {
			r.swap(i, last)
		}
		r.heap[last] = nil
		r.heap = r.heap[:last]
		st.idx = -1
		if i != last {
			r.down(i)
			r.up(i)
		}
	}
	r.mu.Unlock()
}

// popDue appends to out every state due at or before now and returns the
// wait until the next one (-1: none).
func (r *rateTimer) popDue(now int64, out []*subTopic) ([]*subTopic, int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.heap) > 0 && r.heap[0].due <= now {
		st := r.heap[0]
		last := len(r.heap) - 1
		r.swap(0, last)
		r.heap[last] = nil
		r.heap = r.heap[:last]
		r.down(0)
		st.idx = -1
		out = append(out, st)
	}
	if len(r.heap) == 0 {
		return out, -1
	}
	return out, r.heap[0].due - now
}

// drain empties the heap and returns its states.
func (r *rateTimer) drain() []*subTopic {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.heap
	for _, st := range out {
		st.idx = -1
	}
	r.heap = nil
	return out
}

func (r *rateTimer) swap(i, j int) {
	r.heap[i], r.heap[j] = r.heap[j], r.heap[i]
	r.heap[i].idx = i
	r.heap[j].idx = j
}

func (r *rateTimer) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if r.heap[p].due <= r.heap[i].due {
			return
		}
		r.swap(i, p)
		i = p
	}
}

func (r *rateTimer) down(i int) {
	n := len(r.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if rr := l + 1; rr < n && r.heap[rr].due < r.heap[l].due {
			m = rr
		}
		if r.heap[i].due <= r.heap[m].due {
			return
		}
		r.swap(i, m)
		i = m
	}
}
