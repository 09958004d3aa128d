package hub

import "github.com/c1mhq/c1m/wsframe"

// Broker sequences and stores publishes for a cluster of hubs (the cluster
// package implements it on NATS JetStream). With Config.Broker set, a hub
// no longer numbers messages itself:
//
//   - Publish, PublishBinary and PublishBatch hand each message to
//     Broker.Publish, which gives it the topic's next seq cluster-wide and
//     stores it; the message reaches subscribers (on this node too) when
//     the broker hands it back through Apply.
//   - Subscribe calls Broker.Subscribe before it registers the subscription,
//     so that the broker can start receiving the pattern's topics and bring
//     their last values (and, for the topics opt.Since names, their history)
//     up to date through Apply and Backfill first. Every removal of a
//     subscription calls Broker.Unsubscribe with its pattern.
//
// The hub calls the Broker with no hub lock held, except Unsubscribe, which
// runs with the subscriber's lock held and must neither block nor call the
// hub.
type Broker interface {
	// Publish stores the message and returns its seq. ts is unix ns, never
	// 0. Errors are returned to the publisher as they are (ErrUnavailable
	// when the cluster cannot be reached).
	Publish(topic string, data []byte, ts int64, binary bool) (uint64, error)
	// Subscribe is called once per Subscribe call before anything is
	// registered; an error fails the Subscribe with it.
	Subscribe(pattern string, since map[string]Position) error
	// Unsubscribe is called once per subscription removed.
	Unsubscribe(pattern string)
}

// Remote is a message sequenced by a Broker, handed to Apply or Backfill.
type Remote struct {
	Topic  string
	Seq    uint64 // the topic's seq, contiguous per topic
	TS     int64  // publish time, unix ns
	Data   []byte // one JSON value, or any bytes when Binary; copied by the hub
	Binary bool
	// Ref is the broker's position of the message (JetStream: its stream
	// sequence). The hub remembers the Ref of each topic's latest message
	// and reports it in a GapError so that the broker can fetch what
	// follows.
	Ref uint64
	// Prev is the broker position of the topic's previous message, when
	// the broker knows it (JetStream's Nats-Last-Sequence on a live
	// message): 0 means unknown, or that m is the topic's first. A topic
	// that holds no data here takes m only if Prev is 0; otherwise the
	// messages before it were missed and Apply reports a gap from the start.
	Prev uint64
}

// GapError is returned by Apply when a message is ahead of its topic: the
// messages after Seq (Ref in the broker's terms) up to the one given must be
// applied first.
type GapError struct {
	Topic string
	Seq   uint64 // the topic's latest seq on this hub
	Ref   uint64 // the broker position of that message
}

func (e *GapError) Error() string { return "hub: gap after seq in topic " + e.Topic }

// Apply delivers a message the Broker sequenced, exactly like a local
// publish: to every subscriber, encoded once per wire format, into history
// and as the last value. A message at or below the topic's seq is a
// duplicate and is dropped (nil error, false). A message more than one
// ahead of a topic that holds data returns a *GapError unless jump is set,
// in which case the topic's history is dropped and the stream continues
// from m (subscribers see the seq jump). A topic that holds no data here
// takes any seq if m.Prev is 0, and otherwise reports a gap from the
// topic's start (Seq and Ref 0). Errors: *GapError, ErrBadTopic, ErrTooManyTopics,
// ErrClosed.
func (h *Hub) Apply(m *Remote, jump bool) (bool, error) {
	if _, err := checkTopic(m.Topic, false); err != nil {
		return false, err
	}
	for {
		if h.closed.Load() {
			return false, ErrClosed
		}
		t, err := h.topic(m.Topic, true)
		if err != nil {
			return false, err
		}
		t.mu.Lock()
		if t.dead {
			t.mu.Unlock()
			continue
		}
		if t.last != nil {
			switch {
			case m.Seq <= t.seq:
				t.mu.Unlock()
				return false, nil
			case m.Seq > t.seq+1 && !jump:
				gap := &GapError{Topic: t.name, Seq: t.seq, Ref: t.ref}
				t.mu.Unlock()
				return false, gap
			case m.Seq > t.seq+1:
				t.hist.clear(h)
			}
		} else if m.Prev != 0 && !jump {
			t.mu.Unlock()
			return false, &GapError{Topic: m.Topic}
		} else {
			t.hist.clear(h)
		}
		t.seq = m.Seq - 1
		t.ref = m.Ref
		_, err = h.publishLocked(t, m.Data, m.TS, m.Binary)
		return err == nil, err
	}
}

// Backfill adds to a topic's history the messages in msgs (ascending,
// consecutive seqs) that precede its oldest history entry and reach it
// without a hole, so that recovery from further back is served locally.
// Messages after the topic's latest are applied as by Apply. It returns how
// many messages it added or applied. A topic that does not exist is created
// from msgs.
func (h *Hub) Backfill(msgs []Remote) (int, error) {
	if len(msgs) == 0 || h.histSize == 0 {
		return 0, nil
	}
	name := msgs[0].Topic
	t, err := h.topic(name, true)
	if err != nil {
		return 0, err
	}
	n := 0
	t.mu.Lock()
	if !t.dead && t.last != nil {
		oldest := t.seq + 1 // the seq the history would need to reach
		if t.hist.n > 0 {
			oldest = t.hist.at(0).seq
		}
		now, wall := h.clock()
		cutoff := now - h.histTTL
		for i := len(msgs) - 1; i >= 0; i-- {
			m := &msgs[i]
			if m.Seq != oldest-1 || m.Seq > t.seq || t.hist.n >= h.histSize {
				continue
			}
			at := now - max(wall-m.TS, 0)
			if at < cutoff {
				break
			}
			p := wsframe.AcquirePrepared()
			nm := Msg{Topic: name, Seq: m.Seq, TS: m.TS, Data: m.Data, Binary: m.Binary}
			encodeNative(p, &nm)
			p.Topic, p.Seq = name, m.Seq
			t.hist.pushFront(h, histEntry{p: p, seq: m.Seq, at: at, ts: m.TS, dlen: int32(len(m.Data)), binary: m.Binary}, h.histSize)
			oldest = m.Seq
			n++
		}
	}
	t.mu.Unlock()
	for i := range msgs {
		if ok, err := h.Apply(&msgs[i], false); err != nil {
			if _, gap := err.(*GapError); !gap {
				return n, err
			}
		} else if ok {
			n++
		}
	}
	return n, nil
}

// Latest returns the seq and broker position of a topic's latest message
// on this hub, and whether the topic holds data here.
func (h *Hub) Latest(topic string) (seq, ref uint64, ok bool) {
	t := h.lookup(topic)
	if t == nil {
		return 0, 0, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.dead || t.last == nil {
		return 0, 0, false
	}
	return t.seq, t.ref, true
}

// Covers reports whether recovery of topic from seq (the last seq a client
// saw) can be served from this hub's history: the topic holds data here,
// and either nothing came after seq or every message after it is in
// history. A seq ahead of the topic is not covered (the hub may be behind).
func (h *Hub) Covers(topic string, seq uint64) bool {
	t := h.lookup(topic)
	if t == nil {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.dead || t.last == nil || seq > t.seq {
		return false
	}
	if seq == t.seq {
		return true
	}
	t.hist.expire(h, h.now()-h.histTTL)
	return t.hist.n > 0 && t.hist.at(0).seq <= seq+1
}
