package cluster

import (
	"context"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/c1mhq/c1m/hub"
)

// interest counts the patterns local clients hold and the NATS
// subscriptions that carry them: one per pattern that no other held
// wildcard covers.
type interest struct {
	mu    sync.Mutex
	pats  map[string]*want
	subs  map[string]*nats.Subscription // active NATS subscriptions by pattern
	wild  map[string]struct{}           // the wildcard patterns among subs
	bySub map[*nats.Subscription]string
}

// want is one held pattern: its holders and its first sync.
type want struct {
	refs  int
	ready chan struct{} // closed once the first holder's sync is done
	err   error         // the first sync's error (read after ready)
}

func (in *interest) init() {
	in.pats = make(map[string]*want)
	in.subs = make(map[string]*nats.Subscription)
	in.wild = make(map[string]struct{})
	in.bySub = make(map[*nats.Subscription]string)
}

// acquire counts one more holder of pattern; first reports whether it is
// the first, which must then call begin and close w.ready.
func (in *interest) acquire(pattern string) (w *want, first bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if w = in.pats[pattern]; w != nil {
		w.refs++
		return w, false
	}
	w = &want{refs: 1, ready: make(chan struct{})}
	in.pats[pattern] = w
	return w, true
}

// coverer returns an active wildcard subscription other than pattern that
// covers it, or "". in.mu is held.
func (in *interest) coverer(pattern string) string {
	for w := range in.wild {
		if w != pattern && covers(w, pattern) {
			return w
		}
	}
	return ""
}

// subscribe opens the NATS subscription of pattern. in.mu is held.
func (n *Node) subscribeLocked(pattern string) error {
	sub, err := n.nc.Subscribe(n.live+pattern, n.onMsg)
	if err != nil {
		return err
	}
	_ = sub.SetPendingLimits(n.cfg.PendingMsgs, n.cfg.PendingBytes)
	n.in.subs[pattern] = sub
	n.in.bySub[sub] = pattern
	if isWild(pattern) {
		n.in.wild[pattern] = struct{}{}
	}
	return nil
}

// unsubscribeLocked drains and forgets the NATS subscription of pattern:
// messages it already received are still applied. in.mu is held.
func (n *Node) unsubscribeLocked(pattern string) {
	sub := n.in.subs[pattern]
	if sub == nil {
		return
	}
	delete(n.in.subs, pattern)
	delete(n.in.bySub, sub)
	delete(n.in.wild, pattern)
	_ = sub.Drain()
}

// begin makes a newly held pattern live: a NATS subscription unless a held
// wildcard covers it, confirmed by the server, then its topics caught up
// from the stream; then subscriptions the pattern covers are dropped.
func (n *Node) begin(ctx context.Context, pattern string) error {
	n.in.mu.Lock()
	cover := n.in.coverer(pattern)
	if cover != "" {
		cw := n.in.pats[cover]
		n.in.mu.Unlock()
		if cw != nil {
			select { // the covering pattern may still be catching up
			case <-cw.ready:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
	err := n.subscribeLocked(pattern)
	n.in.mu.Unlock()
	if err != nil {
		return err
	}
	if err := n.nc.FlushWithContext(ctx); err != nil {
		return err
	}
	if err := n.sync(ctx, pattern); err != nil {
		return err
	}
	if isWild(pattern) {
		n.in.mu.Lock()
		for p := range n.in.subs {
			if p != pattern && covers(pattern, p) {
				n.unsubscribeLocked(p)
			}
		}
		n.in.mu.Unlock()
	}
	return nil
}

// release counts one holder of pattern less; the last one's going closes
// the pattern's NATS subscription, after opening those of the patterns it
// covered that nothing else covers (in that order on the wire, so the
// server never holds neither).
func (n *Node) release(pattern string) {
	n.in.mu.Lock()
	defer n.in.mu.Unlock()
	w := n.in.pats[pattern]
	if w == nil {
		return
	}
	if w.refs--; w.refs > 0 {
		return
	}
	delete(n.in.pats, pattern)
	if n.in.subs[pattern] == nil {
		return
	}
	delete(n.in.wild, pattern) // no longer a coverer
	if isWild(pattern) {
		for p := range n.in.pats {
			if n.in.subs[p] == nil && covers(pattern, p) && n.in.coverer(p) == "" {
				if err := n.subscribeLocked(p); err != nil {
					n.log.Warn("resubscribing a pattern a wildcard covered", "pattern", p, "err", err)
				}
			}
		}
	}
	n.unsubscribeLocked(pattern)
}

// active returns the patterns with a NATS subscription.
func (in *interest) active() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make([]string, 0, len(in.subs))
	for p := range in.subs {
		out = append(out, p)
	}
	return out
}

func (in *interest) patternOf(sub *nats.Subscription) (string, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	p, ok := in.bySub[sub]
	return p, ok
}

// counts returns the NATS subscriptions held, the patterns held and the
// messages nats.go dropped on those subscriptions.
func (in *interest) counts() (subs, pats int, dropped uint64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, s := range in.subs {
		if d, err := s.Dropped(); err == nil {
			dropped += uint64(d)
		}
	}
	return len(in.subs), len(in.pats), dropped
}

// Subscribe implements hub.Broker: the first holder of a pattern makes it
// live and caught up (begin), later ones wait for that; then the topics
// since resumes from further back than this node's history are loaded
// from the stream.
func (n *Node) Subscribe(pattern string, since map[string]hub.Position) error {
	if !n.nc.IsConnected() {
		return hub.ErrUnavailable
	}
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	defer cancel()
	w, first := n.in.acquire(pattern)
	if first {
		err := n.begin(ctx, pattern)
		w.err = err
		close(w.ready)
		if err != nil {
			n.release(pattern)
			return unavailable(err)
		}
	} else {
		select {
		case <-w.ready:
		case <-ctx.Done():
			n.release(pattern)
			return unavailable(ctx.Err())
		}
		if w.err != nil {
			n.release(pattern)
			return unavailable(w.err)
		}
	}
	if err := n.recoverSince(ctx, pattern, since); err != nil {
		n.release(pattern)
		return unavailable(err)
	}
	return nil
}

// Unsubscribe implements hub.Broker.
func (n *Node) Unsubscribe(pattern string) { n.release(pattern) }

// isWild reports whether a pattern has a wildcard token.
func isWild(p string) bool {
	for _, t := range strings.Split(p, ".") {
		if t == "*" || t == ">" {
			return true
		}
	}
	return false
}

// covers reports whether every topic pattern p matches is matched by w;
// with p a topic, whether w matches it.
func covers(w, p string) bool {
	wt, pt := strings.Split(w, "."), strings.Split(p, ".")
	for i, t := range wt {
		if t == ">" {
			return len(pt) > i
		}
		if i >= len(pt) || pt[i] == ">" {
			return false
		}
		if t != "*" && (t != pt[i] || pt[i] == "*") {
			return false
		}
	}
	return len(pt) == len(wt)
}
