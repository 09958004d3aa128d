package hub

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
)

// sublist is a token trie of wildcard subscriptions, after nats-server's
// Sublist. Matching a topic walks at most the literal, '*' and '>' children
// of each level it reaches, so its cost depends on the topic's tokens and on
// the patterns that share its prefixes, never on the number of topics or of
// unrelated patterns. Topics cache their match result; gen changes on every
// insert and removal so that caches know when to rebuild.
type sublist struct {
	mu    sync.RWMutex
	root  slNode
	count int
	// gen is written under mu (write lock) and read either under mu or, by
	// a topic checking its cache, without it.
	gen atomic.Uint64
}

type slNode struct {
	parent *slNode
	tok    string // token under which parent holds this node ("*" for star)
	next   map[string]*slNode
	star   *slNode
	subs   []*subscription // patterns ending at this node
	gtSubs []*subscription // patterns ending with '>' after this node
}

func newSublist() *sublist {
	sl := &sublist{}
	sl.gen.Store(1) // topics start with cache generation 0: stale
	return sl
}

func (n *slNode) empty() bool {
	return len(n.next) == 0 && n.star == nil && len(n.subs) == 0 && len(n.gtSubs) == 0
}

// insert adds the wildcard subscription sub (sub.pattern is validated).
func (sl *sublist) insert(sub *subscription) {
	sl.mu.Lock()
	sub.c.nwild++
	n := &sl.root
	rest, more := sub.pattern, true
	for more {
		var tok string
		tok, rest, more = nextToken(rest)
		switch {
		case tok == ">":
			sub.slNode, sub.slGT, sub.slIdx = n, true, len(n.gtSubs)
			n.gtSubs = append(n.gtSubs, sub)
			sl.count++
			sl.gen.Add(1)
			sl.mu.Unlock()
			return
		case tok == "*":
			if n.star == nil {
				n.star = &slNode{parent: n, tok: "*"}
			}
			n = n.star
		default:
			c := n.next[tok]
			if c == nil {
				if n.next == nil {
					n.next = make(map[string]*slNode)
				}
				c = &slNode{parent: n, tok: tok}
				n.next[tok] = c
			}
			n = c
		}
	}
	sub.slNode, sub.slGT, sub.slIdx = n, false, len(n.subs)
	n.subs = append(n.subs, sub)
	sl.count++
	sl.gen.Add(1)
	sl.mu.Unlock()
}

// remove deletes sub, which must have been inserted, in O(1) plus pruning.
func (sl *sublist) remove(sub *subscription) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	n := sub.slNode
	if n == nil {
		return
	}
	list := &n.subs
	if sub.slGT {
		list = &n.gtSubs
	}
	s := *list
	i, last := sub.slIdx, len(s)-1
	s[i] = s[last]
	s[i].slIdx = i
	s[last] = nil
	*list = s[:last]
	sub.slNode = nil
	sub.c.nwild--
	sl.count--
	sl.gen.Add(1)
	for n.parent != nil && n.empty() {
		p := n.parent
		if n.tok == "*" && p.star == n {
			p.star = nil
		} else {
			delete(p.next, n.tok)
		}
		n = p
	}
}

// match appends to out the wildcard subscriptions whose pattern matches the
// concrete topic, at most one per conn (the earliest subscribed), and returns
// the generation the result belongs to.
func (sl *sublist) match(topic string, out []*subscription) ([]*subscription, uint64) {
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	if sl.count == 0 {
		return out, sl.gen.Load()
	}
	start := len(out)
	out = sl.root.match(topic, out)
	// Subscriptions of conns with several wildcard patterns go to the tail,
	// sorted by (conn, id) to keep the earliest of each conn. nwild is
	// written under the write lock, so it agrees with the trie here.
	w := out[start:]
	m := len(w)
	for i := 0; i < m; {
		if w[i].c.nwild > 1 {
			m--
			w[i], w[m] = w[m], w[i]
		} else {
			i++
		}
	}
	if tail := w[m:]; len(tail) > 1 {
		slices.SortFunc(tail, func(a, b *subscription) int {
			if c := cmp.Compare(a.c.id, b.c.id); c != 0 {
				return c
			}
			return cmp.Compare(a.id, b.id)
		})
		n := m
		var prev *conn
		for _, s := range tail {
			if s.c != prev {
				prev = s.c
				w[n] = s
				n++
			}
		}
		out = out[:start+n]
	}
	return out, sl.gen.Load()
}

// match matches rest, the non-empty remaining tokens of a topic, below n.
func (n *slNode) match(rest string, out []*subscription) []*subscription {
	out = append(out, n.gtSubs...) // '>' takes one or more tokens: rest has some
	tok, tail, more := nextToken(rest)
	if c := n.next[tok]; c != nil {
		if more {
			out = c.match(tail, out)
		} else {
			out = append(out, c.subs...)
		}
	}
	if c := n.star; c != nil {
		if more {
			out = c.match(tail, out)
		} else {
			out = append(out, c.subs...)
		}
	}
	return out
}
