package main

import "sync"

// topicSet is a concurrent topic -> subscriber set for the peers whose
// libraries fan out from the publishing goroutine (gws, nbio).
type topicSet[C comparable] struct {
	mu   sync.RWMutex
	subs map[string]map[C]struct{}
}

func (t *topicSet[C]) add(topic string, c C) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.subs == nil {
		t.subs = map[string]map[C]struct{}{}
	}
	if t.subs[topic] == nil {
		t.subs[topic] = map[C]struct{}{}
	}
	t.subs[topic][c] = struct{}{}
}

func (t *topicSet[C]) removeAll(c C, topics []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, topic := range topics {
		delete(t.subs[topic], c)
	}
}

// each calls f for every subscriber of topic under the read lock.
func (t *topicSet[C]) each(topic string, f func(C)) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for c := range t.subs[topic] {
		f(c)
	}
}
