package cluster

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/c1mhq/c1m/hub"
)

// onMsg receives a republished message (one goroutine per NATS
// subscription) and applies it.
func (n *Node) onMsg(m *nats.Msg) {
	n.stats.msgsIn.Add(1)
	if n.dropLive.Load() > 0 && n.dropLive.Add(-1) >= 0 {
		return // a test made the node miss this one
	}
	r, err := n.decode(strings.TrimPrefix(m.Subject, LivePrefix), m.Header, m.Data, 0)
	if err != nil {
		n.log.Warn("skipping a live message", "err", err)
		return
	}
	// The republished copy says where the subject's previous message is:
	// a node that holds nothing of the topic yet learns that it missed
	// its start.
	r.Prev, _ = strconv.ParseUint(m.Header.Get(hdrLastSeq), 10, 64)
	n.apply(&r)
}

// apply hands r to the hub; if the hub is behind, the messages in between
// are fetched from the stream and applied first (a gap fill). What the
// stream no longer holds is skipped: the topic jumps to r.
func (n *Node) apply(r *hub.Remote) {
	_, err := n.hub.Apply(r, false)
	var gap *hub.GapError
	if !errors.As(err, &gap) {
		if err != nil && !errors.Is(err, hub.ErrClosed) {
			n.log.Warn("applying a message", "topic", r.Topic, "seq", r.Seq, "err", err)
		}
		return
	}
	n.stats.gapFills.Add(1)
	if r.Ref > gap.Ref+1 {
		ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
		err = n.rangeOf(ctx, n.prefix+r.Topic, gap.Ref+1, r.Ref-1, func(m hub.Remote) error {
			ok, err := n.hub.Apply(&m, false)
			if errors.As(err, &gap) {
				n.stats.unrecoverable.Add(1) // the stream dropped messages before m
				ok, err = n.hub.Apply(&m, true)
			}
			if ok {
				n.stats.gapsFilled.Add(1)
			}
			if errors.Is(err, hub.ErrClosed) {
				return err
			}
			return nil
		})
		cancel()
		if err != nil && !errors.Is(err, hub.ErrClosed) {
			n.log.Warn("filling a gap from the stream", "topic", r.Topic, "err", err)
		}
	}
	if _, err := n.hub.Apply(r, false); errors.As(err, &gap) {
		n.stats.unrecoverable.Add(1)
		_, _ = n.hub.Apply(r, true)
	}
}

// sync brings the topics a pattern matches up to date with the stream:
// each one's latest stored message is applied (filling any gap before it).
func (n *Node) sync(ctx context.Context, pattern string) error {
	each := func(r hub.Remote) error {
		n.stats.resynced.Add(1)
		n.apply(&r)
		return nil
	}
	if !isWild(pattern) {
		m, err := n.lastMsg(ctx, n.prefix+pattern)
		if errors.Is(err, errNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return each(*m)
	}
	return n.lastPerSubject(ctx, n.prefix+pattern, each)
}

// recoverSince loads from the stream the history of every topic that since
// names (in this epoch), that the pattern matches and whose missed messages
// this node's history does not hold, so that the hub recovers it exactly.
func (n *Node) recoverSince(ctx context.Context, pattern string, since map[string]hub.Position) error {
	for topic, pos := range since {
		if pos.Epoch != n.epoch || !covers(pattern, topic) || n.hub.Covers(topic, pos.Seq) {
			continue
		}
		err := n.fills.do(topic, func() error {
			if n.hub.Covers(topic, pos.Seq) {
				return nil
			}
			var msgs []hub.Remote
			err := n.rangeOf(ctx, n.prefix+topic, 1, 0, func(r hub.Remote) error {
				msgs = append(msgs, r)
				return nil
			})
			if err != nil {
				return err
			}
			k, err := n.hub.Backfill(msgs)
			n.stats.backfilled.Add(uint64(k))
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// flights runs one backfill per topic at a time; callers that come while
// one runs wait for it and share its result.
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

type flight struct {
	done chan struct{}
	err  error
}

func (f *flights) do(key string, fn func() error) error {
	f.mu.Lock()
	if c := f.m[key]; c != nil {
		f.mu.Unlock()
		<-c.done
		return c.err
	}
	c := &flight{done: make(chan struct{})}
	f.m[key] = c
	f.mu.Unlock()
	c.err = fn()
	f.mu.Lock()
	delete(f.m, key)
	f.mu.Unlock()
	close(c.done)
	return c.err
}
