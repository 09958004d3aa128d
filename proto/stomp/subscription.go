package stomp

import (
	"sync"

	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/wsframe"
)

// subscription is one SUBSCRIBE of a session and its own hub.Subscriber, so
// that two subscriptions matching one topic each get their MESSAGE, as
// STOMP requires. Send and SendSlot are called by the hub, with its locks
// held, concurrently with the session's goroutine (ACK, NACK, UNSUBSCRIBE);
// mu guards the flow-control state.
//
// With ack auto, deliveries go straight to the connection's queue (and its
// conflation slots). With client or client-individual, at most limit
// MESSAGEs are unacknowledged at a time (the prefetch-count); further ones
// wait in waiting, at most Config.MaxPending of them, one per topic when the
// subscription conflates. Past that bound the slow-consumer policy applies:
// the oldest waiting one is dropped, or the connection is closed with 1008.
type subscription struct {
	s        *session
	id       string
	pattern  string
	mode     byte // ackAuto, ackClient, ackIndividual
	conflate bool
	limit    int // unacknowledged MESSAGEs allowed in flight (client modes)

	mu       sync.Mutex
	closed   bool
	inflight []msgPos            // sent, not yet acknowledged, in order
	waiting  []*wsframe.Prepared // held back by limit, in order; owned references
}

// msgPos identifies a delivered message.
type msgPos struct {
	topic string
	seq   uint64
}

// Send implements hub.Subscriber.
func (sub *subscription) Send(p *wsframe.Prepared) error {
	if sub.mode == ackAuto {
		return sub.s.c.Send(p)
	}
	return sub.hold(p)
}

// SendSlot implements hub.Subscriber. With client acks, a conflated
// delivery must not be replaced once sent (the client acknowledges what it
// saw), so it is conflated in waiting instead.
func (sub *subscription) SendSlot(slot *poller.Slot, p *wsframe.Prepared) error {
	if sub.mode == ackAuto {
		return sub.s.c.SendSlot(slot, p)
	}
	return sub.hold(p)
}

// hold sends p if the prefetch window has room, else queues it.
func (sub *subscription) hold(p *wsframe.Prepared) error {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.closed {
		p.Release()
		return poller.ErrClosed
	}
	if len(sub.waiting) == 0 && len(sub.inflight) < sub.limit {
		sub.inflight = append(sub.inflight, msgPos{p.Topic, p.Seq})
		return sub.s.c.Send(p)
	}
	if sub.conflate {
		for i, w := range sub.waiting {
			if w.Topic == p.Topic {
				w.Release()
				sub.waiting[i] = p // keeps its place
				return nil
			}
		}
	}
	sub.waiting = append(sub.waiting, p)
	if len(sub.waiting) <= sub.s.h.cfg.MaxPending {
		return nil
	}
	if sub.s.h.cfg.SlowPolicy == poller.SlowDrop {
		sub.waiting[0].Release()
		sub.waiting[0] = nil
		sub.waiting = sub.waiting[1:]
		sub.s.h.stats.dropped.Add(1)
		return nil
	}
	sub.s.h.stats.slow.Add(1)
	sub.s.c.CloseWith(wsframe.StatusPolicyViolation, "slow consumer: more than "+itoa(sub.s.h.cfg.MaxPending)+" unacknowledged messages waiting", poller.ReasonSlowConsumer)
	return poller.ErrSlowConsumer
}

// ack acknowledges the message at pos: it and, when cumulative (ack mode
// client), every message delivered before it. It reports false when pos is
// not in flight. The freed window is refilled from waiting.
func (sub *subscription) ack(pos msgPos, cumulative bool) bool {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	i := 0
	for ; i < len(sub.inflight) && sub.inflight[i] != pos; i++ {
	}
	if i == len(sub.inflight) {
		return false
	}
	if cumulative {
		n := copy(sub.inflight, sub.inflight[i+1:])
		sub.inflight = sub.inflight[:n]
	} else {
		sub.inflight = append(sub.inflight[:i], sub.inflight[i+1:]...)
	}
	for len(sub.waiting) > 0 && len(sub.inflight) < sub.limit && !sub.closed {
		p := sub.waiting[0]
		sub.waiting[0] = nil
		sub.waiting = sub.waiting[1:]
		sub.inflight = append(sub.inflight, msgPos{p.Topic, p.Seq})
		_ = sub.s.c.Send(p)
	}
	return true
}

// pending reports whether pos is in flight.
func (sub *subscription) pending(pos msgPos) bool {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	for _, q := range sub.inflight {
		if q == pos {
			return true
		}
	}
	return false
}

// close drops what waits; the hub no longer delivers to sub afterwards.
func (sub *subscription) close() {
	sub.mu.Lock()
	sub.closed = true
	for i, p := range sub.waiting {
		p.Release()
		sub.waiting[i] = nil
	}
	sub.waiting, sub.inflight = nil, nil
	sub.mu.Unlock()
}

// variant returns sub's hub.Format variant (see format).
func (sub *subscription) variant(kind byte) string {
	return string([]byte{sub.mode, kind}) + sub.id
}
