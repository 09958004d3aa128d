package cluster

import (
	"context"
	"errors"
	"hash/maphash"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/c1mhq/c1m/hub"
)

// publishTimeout bounds one JetStream publish round trip.
const publishTimeout = 5 * time.Second

// maxAttempts bounds the compare-and-set retries of one publish (within
// publishTimeout); past it the publish fails with hub.ErrUnavailable. Two
// nodes publishing one topic back to back each win about every other
// attempt, so this is never reached short of a stream that misbehaves.
const maxAttempts = 1000

// pubCache holds, per topic this node published to, the seq and stream
// sequence of the topic's latest message as far as the node knows, with a
// lock that serialises the node's publishes to the topic.
type pubCache struct {
	seed   maphash.Seed
	shards [64]pubShard
}

type pubShard struct {
	mu sync.Mutex
	m  map[string]*pubState
}

type pubState struct {
	mu    sync.Mutex
	known bool
	seq   uint64 // c1m seq of the latest message
	ref   uint64 // its stream sequence (0: the subject holds none)
}

func (c *pubCache) init() {
	c.seed = maphash.MakeSeed()
	for i := range c.shards {
		c.shards[i].m = make(map[string]*pubState)
	}
}

func (c *pubCache) get(topic string) *pubState {
	sh := &c.shards[maphash.String(c.seed, topic)&63]
	sh.mu.Lock()
	ps := sh.m[topic]
	if ps == nil {
		ps = &pubState{}
		sh.m[topic] = ps
	}
	sh.mu.Unlock()
	return ps
}

// Publish implements hub.Broker: it stores the message as the topic's next
// seq with a compare-and-set on the subject's last stream sequence (see the
// package doc) and returns the seq.
func (n *Node) Publish(topic string, data []byte, ts int64, binary bool) (uint64, error) {
	if !n.nc.IsConnected() {
		n.stats.pubErrors.Add(1)
		return 0, hub.ErrUnavailable
	}
	ps := n.pubs.get(topic)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	subject := n.prefix + topic
	for range maxAttempts {
		// A node that receives the topic (its clients subscribe to it)
		// knows its latest message from the stream itself: another node's
		// publish then costs no failed compare-and-set.
		if seq, ref, ok := n.hub.Latest(topic); ok && ref > ps.ref {
			ps.seq, ps.ref, ps.known = seq, ref, true
		}
		if !ps.known {
			if err := n.loadLatest(ctx, topic, ps); err != nil {
				n.stats.pubErrors.Add(1)
				return 0, unavailable(err)
			}
		}
		m := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
		seq := ps.seq + 1
		m.Header.Set(hdrSeq, strconv.FormatUint(seq, 10))
		m.Header.Set(hdrTS, strconv.FormatInt(ts, 10))
		if binary {
			m.Header.Set(hdrBin, "1")
		}
		m.Header.Set(hdrExpect, strconv.FormatUint(ps.ref, 10))
		ack, err := n.js.PublishMsg(ctx, m)
		if err == nil {
			ps.seq, ps.ref = seq, ack.Sequence
			n.stats.msgsOut.Add(1)
			return seq, nil
		}
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
			// Another node published to the topic since: reload and retry.
			ps.known = false
			n.stats.retries.Add(1)
			continue
		}
		ps.known = false
		n.stats.pubErrors.Add(1)
		return 0, unavailable(err)
	}
	n.stats.pubErrors.Add(1)
	return 0, hub.ErrUnavailable
}

// loadLatest reads the topic's latest stored message into ps; a topic with
// none starts after the stream's last sequence (its seq never goes back).
func (n *Node) loadLatest(ctx context.Context, topic string, ps *pubState) error {
	m, err := n.lastMsg(ctx, n.prefix+topic)
	if err != nil && !errors.Is(err, errNotFound) {
		return err
	}
	if m != nil {
		ps.seq, ps.ref, ps.known = m.Seq, m.Ref, true
		return nil
	}
	floor, err := n.floor(ctx)
	if err != nil {
		return err
	}
	ps.seq, ps.ref, ps.known = floor, 0, true
	return nil
}

// floorTTL is how long the stream's last sequence, read for the first
// seq of topics without a message, is reused. A topic's old messages
// cannot have gone from the stream within it (they last MaxAge), so a
// value this fresh is still above every seq the topic had.
const floorTTL = time.Second

// floor returns the stream's last sequence as of at most floorTTL ago (one
// STREAM.INFO request per floorTTL, whatever the number of new topics).
func (n *Node) floor(ctx context.Context) (uint64, error) {
	n.floorMu.Lock()
	defer n.floorMu.Unlock()
	if time.Since(n.floorAt) < floorTTL {
		return n.floorSeq, nil
	}
	s, err := n.js.Stream(ctx, n.cfg.Stream)
	if err != nil {
		return 0, err
	}
	n.floorSeq, n.floorAt = s.CachedInfo().State.LastSeq, time.Now()
	return n.floorSeq, nil
}

// unavailable wraps a NATS error as hub.ErrUnavailable for the publisher.
func unavailable(err error) error {
	return errors.Join(hub.ErrUnavailable, err)
}
