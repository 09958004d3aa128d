package sse

import (
	"sync"

	"github.com/c1mhq/c1m/auth"
	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/wsframe"
)

// stream is one open event stream: the hub.Subscriber of its connection.
//
// An exact stream (no conflation, no maxRate) of several topics follows
// every delivery with its own small frame, "id: <positions>\n\n", written
// under mu in queue order, so the id the browser last saw names exactly what
// it received: the delivery itself is the hub's shared encoding, only the id
// is per stream. A stream of one exact topic gets events that carry their id
// (the position is the message's own seq), and a conflating stream events
// without ids: neither adds anything per stream.
type stream struct {
	c       *poller.Conn
	chunked bool
	exact   bool
	sess    *auth.Session // nil with auth off

	mu      sync.Mutex
	holding bool                // while subscribing: frames wait in held
	held    []*wsframe.Prepared // one reference each
	pos     positions
}

// Send implements hub.Subscriber.
func (s *stream) Send(p *wsframe.Prepared) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.holding {
		s.held = append(s.held, p)
		return nil
	}
	return s.sendLocked(p)
}

// SendSlot implements hub.Subscriber (conflating streams only). While the
// stream is holding, the frame waits like any other.
func (s *stream) SendSlot(slot *poller.Slot, p *wsframe.Prepared) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.holding {
		s.held = append(s.held, p)
		return nil
	}
	return s.c.SendSlot(slot, p)
}

// sendLocked queues p and, on an exact stream, its id. s.mu is held.
func (s *stream) sendLocked(p *wsframe.Prepared) error {
	if !s.exact || p.Topic == "" {
		return s.c.Send(p)
	}
	s.pos.set(p.Topic, p.Seq)
	id := wsframe.AcquirePrepared()
	id.B = append(id.B, "id: "...)
	id.B = s.pos.appendID(id.B)
	id.B = append(id.B, "\n\n"...)
	seal(id, s.chunked)
	if err := s.c.Send(p); err != nil {
		id.Release()
		return err
	}
	return s.c.Send(id)
}

// release queues first (the sub event), then every held frame in order, and
// stops holding.
func (s *stream) release(first *wsframe.Prepared) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holding = false
	err := s.c.Send(first)
	for i, p := range s.held {
		if err != nil {
			p.Release()
		} else {
			err = s.sendLocked(p)
		}
		s.held[i] = nil
	}
	s.held = nil
	return err
}

// tracked reports whether the stream has queued a frame of topic.
func (s *stream) tracked(topic string) bool {
	for _, t := range s.pos.topics {
		if t == topic {
			return true
		}
	}
	for _, p := range s.held {
		if p.Topic == topic {
			return true
		}
	}
	return false
}
