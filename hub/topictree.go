package hub

import "sync"

// topicTree is a token trie of every existing topic, so that a wildcard
// Subscribe finds the topics it matches (for snapshots and recovery) by
// walking only the branches its pattern selects. A reclaimed topic is
// removed with the nodes only it used.
type topicTree struct {
	mu   sync.RWMutex
	root ttNode
}

type ttNode struct {
	next  map[string]*ttNode
	topic *topic
}

// insert adds t. Called once per topic, when it is created.
func (tt *topicTree) insert(t *topic) {
	tt.mu.Lock()
	n := &tt.root
	rest, more := t.name, true
	for more {
		var tok string
		tok, rest, more = nextToken(rest)
		c := n.next[tok]
		if c == nil {
			if n.next == nil {
				n.next = make(map[string]*ttNode)
			}
			c = &ttNode{}
			n.next[tok] = c
		}
		n = c
	}
	n.topic = t
	tt.mu.Unlock()
}

// remove deletes t if it is the topic at its name, and the nodes left
// without topic or children.
func (tt *topicTree) remove(t *topic) {
	type step struct {
		n   *ttNode
		tok string
	}
	var buf [8]step
	path := buf[:0]
	tt.mu.Lock()
	defer tt.mu.Unlock()
	n := &tt.root
	rest, more := t.name, true
	for more {
		var tok string
		tok, rest, more = nextToken(rest)
		c := n.next[tok]
		if c == nil {
			return
		}
		path = append(path, step{n, tok})
		n = c
	}
	if n.topic != t {
		return
	}
	n.topic = nil
	for i := len(path) - 1; i >= 0 && n.topic == nil && len(n.next) == 0; i-- {
		p := path[i].n
		delete(p.next, path[i].tok)
		if len(p.next) == 0 {
			p.next = nil // a map keeps its buckets: let an emptied one go
		}
		n = p
	}
}

// match appends to out every existing topic that pattern matches.
func (tt *topicTree) match(pattern string, out []*topic) []*topic {
	tt.mu.RLock()
	out = tt.root.match(pattern, out)
	tt.mu.RUnlock()
	return out
}

func (n *ttNode) match(pattern string, out []*topic) []*topic {
	tok, rest, more := nextToken(pattern)
	switch tok {
	case ">":
		for _, c := range n.next {
			out = c.all(out)
		}
		return out
	case "*":
		for _, c := range n.next {
			out = c.matchNext(rest, more, out)
		}
		return out
	}
	if c := n.next[tok]; c != nil {
		out = c.matchNext(rest, more, out)
	}
	return out
}

func (n *ttNode) matchNext(rest string, more bool, out []*topic) []*topic {
	if more {
		return n.match(rest, out)
	}
	if n.topic != nil {
		out = append(out, n.topic)
	}
	return out
}

// all appends n's topic and every topic below n.
func (n *ttNode) all(out []*topic) []*topic {
	if n.topic != nil {
		out = append(out, n.topic)
	}
	for _, c := range n.next {
		out = c.all(out)
	}
	return out
}
