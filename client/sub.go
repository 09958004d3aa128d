package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Message is one delivery.
type Message struct {
	Topic    string // the concrete topic, also for a wildcard subscription
	Seq      uint64 // the topic's publish counter: +1 per publish, restarts with a new epoch
	TS       int64  // publish time, Unix nanoseconds
	Snapshot bool   // the topic's last value, sent on subscribe (or after a resume that did not recover)
	Binary   bool   // a binary publish: Data is the payload as published
	// Data is the published JSON, byte for byte (or the binary payload).
	// Given to a Handler, it is valid only until the Handler returns.
	Data []byte
}

// Time is TS as a time.Time.
func (m *Message) Time() time.Time { return time.Unix(0, m.TS) }

// SubOptions are a subscription's options. Exactly one of Handler and Chan
// must be set.
type SubOptions struct {
	// Conflate: true asks for the newest value only when the connection
	// falls behind; false overrides a server default (--conflate); nil
	// leaves the server's default.
	Conflate *bool
	// MaxRate limits deliveries per topic to this many per second (it
	// implies conflation); 0 is unlimited.
	MaxRate float64
	// Since resumes topics from known positions (e.g. saved from
	// Client.Positions by an earlier process): each gets an EventResumed.
	Since map[string]Position
	// Handler is called on the client's reading goroutine for every
	// delivery of the subscription, one at a time; the *Message and its
	// Data are reused after it returns (copy what you keep). A slow
	// Handler delays every subscription of the client and, past the
	// server's queue bound, gets the connection closed (1008) and resumed.
	// It must not wait for other calls of this client (Subscribe,
	// Unsubscribe, Publish), whose replies it would hold up.
	Handler func(*Message)
	// Chan receives a copy of every delivery (Data copied: one allocation
	// per delivery). The client blocks until the channel takes it, with
	// the same consequences as a slow Handler.
	Chan chan<- Message
}

// Subscription is the result of Subscribe. Its patterns are subscribed
// again on every new connection until Unsubscribe.
type Subscription struct {
	c         *Client
	patterns  []string
	opts      SubOptions
	conflates bool
	sentGen   uint64 // connection it was last written on; c.mu
	removed   bool   // c.mu
	once      sync.Once
	readyC    chan struct{}
	err       error
	confirmed bool // c.mu
}

// Patterns returns the subscription's patterns.
func (s *Subscription) Patterns() []string { return append([]string(nil), s.patterns...) }

func (s *Subscription) confirm(err error) {
	s.once.Do(func() {
		s.err = err
		close(s.readyC)
	})
}

// Subscribe subscribes to topics and patterns (at most 256, wildcards *
// and >) and returns once the server confirmed it: after the snapshots
// (deliveries with Snapshot set) went to the handler. While disconnected
// it waits for the next connection. A refusal is an *Error (422 for a
// malformed pattern, 429 past the server's --max-subs, ...), and nothing
// stays subscribed. If ctx ends first, the subscription is withdrawn and
// ctx.Err() returned.
//
// A topic that several subscriptions match is delivered once, to the
// subscription with that exact topic, else to the earliest wildcard one
// (the server's rule). Subscribing again to a pattern another
// Subscription has moves the pattern to the new one.
func (c *Client) Subscribe(ctx context.Context, patterns []string, opts SubOptions) (*Subscription, error) {
	if len(patterns) == 0 || len(patterns) > 256 {
		return nil, &Error{Code: 400, Msg: "Subscribe needs 1 to 256 topics or patterns"}
	}
	if (opts.Handler == nil) == (opts.Chan == nil) {
		return nil, errors.New("c1m: SubOptions needs exactly one of Handler and Chan")
	}
	if opts.MaxRate < 0 {
		return nil, &Error{Code: 400, Msg: "MaxRate must be >= 0"}
	}
	s := &Subscription{c: c, patterns: append([]string(nil), patterns...), opts: opts, readyC: make(chan struct{}),
		conflates: (opts.Conflate != nil && *opts.Conflate) || opts.MaxRate > 0}
	c.writeMu.Lock()
	c.mu.Lock()
	if c.closed {
		err := c.err
		c.mu.Unlock()
		c.writeMu.Unlock()
		return nil, err
	}
	for _, o := range c.subs {
		o.patterns = slicesDelete(o.patterns, s.patterns)
	}
	c.subs = append(c.subs, s)
	c.routeGen++
	for name, pos := range opts.Since {
		t := c.topics[name]
		if t == nil {
			t = &topicState{name: name}
			c.topics[name] = t
		}
		t.epoch, t.seq, t.known = pos.Epoch, pos.Seq, true
	}
	var conn *websocket.Conn
	var frame []byte
	if c.ready {
		conn = c.conn
		frame = c.subFrameLocked(s, c.gen)
	}
	c.mu.Unlock()
	if conn != nil {
		_ = c.writeLocked(conn, websocket.TextMessage, frame)
	}
	c.writeMu.Unlock()

	select {
	case <-s.readyC:
		if s.err != nil {
			c.withdraw(s)
			return nil, s.err
		}
		return s, nil
	case <-ctx.Done():
		c.withdraw(s)
		return nil, ctx.Err()
	}
}

func slicesDelete(have, drop []string) []string {
	out := have[:0]
	for _, p := range have {
		keep := true
		for _, d := range drop {
			keep = keep && p != d
		}
		if keep {
			out = append(out, p)
		}
	}
	return out
}

// withdraw removes s without waiting for the server (a refused or
// abandoned Subscribe): patterns a partial 429 left subscribed go too.
func (c *Client) withdraw(s *Subscription) {
	c.unsubscribe(s, false)
}

// Unsubscribe ends the subscription: its patterns are unsubscribed and no
// longer subscribed again after a reconnection. A message published at
// that moment may still arrive (the server's rule), at most one per topic.
// While disconnected it returns at once.
func (s *Subscription) Unsubscribe(ctx context.Context) error {
	p := s.c.unsubscribe(s, true)
	if p == nil {
		return nil
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Client) unsubscribe(s *Subscription, wait bool) *call {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.mu.Lock()
	if s.removed {
		c.mu.Unlock()
		return nil
	}
	s.removed = true
	for i, o := range c.subs {
		if o == s {
			c.subs = append(c.subs[:i], c.subs[i+1:]...)
			break
		}
	}
	c.routeGen++
	for name, t := range c.topics {
		if t.sub == s || t.sub == nil {
			t.sub, t.routeGen = c.routeLocked(name), c.routeGen
			if t.sub == nil {
				delete(c.topics, name)
			}
		}
	}
	if c.conn == nil || s.sentGen != c.gen || len(s.patterns) == 0 {
		c.mu.Unlock()
		return nil
	}
	conn := c.conn
	p := &call{kind: callUnsub, done: make(chan error, 1)}
	id := c.registerLocked(p)
	c.mu.Unlock()
	b, _ := json.Marshal(struct {
		Op     string   `json:"op"`
		ID     uint64   `json:"id"`
		Topics []string `json:"topics"`
	}{"unsub", id, s.patterns})
	if err := c.writeLocked(conn, websocket.TextMessage, b); err != nil || !wait {
		return nil
	}
	return p
}

// subFrameLocked registers a sub request for s on connection gen and
// returns it: since names every topic s delivers that has a position, and
// those topics are resuming until the reply. writeMu and mu are held.
func (c *Client) subFrameLocked(s *Subscription, gen uint64) []byte {
	s.sentGen = gen
	p := &call{kind: callSub, sub: s, done: make(chan error, 1)}
	id := c.registerLocked(p)
	var since map[string]Position
	for name, t := range c.topics {
		if !t.known || t.epoch == "" {
			continue
		}
		if t.routeGen != c.routeGen {
			t.sub, t.routeGen = c.routeLocked(name), c.routeGen
		}
		if t.sub != s {
			continue
		}
		if since == nil {
			since = map[string]Position{}
		}
		since[name] = Position{t.epoch, t.seq}
		t.resuming, t.resumeFrom, t.resumeEpoch, t.gotDuring, t.broken = true, t.seq, t.epoch, false, false
		p.resume = append(p.resume, name)
	}
	b, _ := json.Marshal(struct {
		Op       string              `json:"op"`
		ID       uint64              `json:"id"`
		Topics   []string            `json:"topics"`
		Conflate *bool               `json:"conflate,omitempty"`
		MaxRate  float64             `json:"maxRate,omitempty"`
		Since    map[string]Position `json:"since,omitempty"`
	}{"sub", id, s.patterns, s.opts.Conflate, s.opts.MaxRate, since})
	return b
}

// subReplyLocked handles the reply to sub request p; mu is held. It
// returns the events to emit.
func (c *Client) subReplyLocked(p *call, r *reply, err error) []Event {
	s := p.sub
	var evs []Event
	if err != nil {
		for _, name := range p.resume {
			if t := c.topics[name]; t != nil {
				t.resuming = false
			}
		}
		if s.confirmed {
			evs = append(evs, Event{Kind: EventSubscribeFailed, Err: err, Patterns: s.Patterns()})
		}
		s.confirm(err)
		return evs
	}
	if r.Epoch != "" {
		c.epoch = r.Epoch
	}
	for name, st := range r.Topics {
		t := c.topics[name]
		if t == nil {
			t = &topicState{name: name}
			c.topics[name] = t
		}
		if st.Epoch != "" {
			t.epoch = st.Epoch
		}
		exact := false
		for _, pat := range s.patterns {
			exact = exact || pat == name
		}
		switch {
		case t.resuming && st.Recovered != nil:
			t.resuming = false
			evs = append(evs, Event{Kind: EventResumed, Topic: name, Recovered: *st.Recovered, Epoch: st.Epoch,
				Seq: st.Seq, PrevEpoch: t.resumeEpoch, PrevSeq: t.resumeFrom})
			if *st.Recovered {
				if t.broken {
					evs = append(evs, Event{Kind: EventGap, Topic: name, From: t.gapFrom, To: t.gapTo, Conflated: s.conflates})
				}
			} else if !t.gotDuring {
				t.seq, t.known = st.Seq, exact
			}
		case !t.known && exact:
			t.seq, t.known = st.Seq, true
		}
	}
	for _, name := range p.resume {
		if t := c.topics[name]; t != nil && t.resuming {
			// named in since but not listed: treat as not recovered
			t.resuming = false
			evs = append(evs, Event{Kind: EventResumed, Topic: name, Epoch: c.epoch, Seq: t.seq, PrevEpoch: t.resumeEpoch, PrevSeq: t.resumeFrom})
			if !t.gotDuring {
				t.known = false
			}
		}
	}
	s.confirmed = true
	s.confirm(nil)
	return evs
}

// routeLocked returns the subscription that receives topic name: the one
// with the exact topic, else the earliest with a matching wildcard.
func (c *Client) routeLocked(name string) *Subscription {
	var best *Subscription
	for _, s := range c.subs {
		for _, p := range s.patterns {
			if p == name {
				return s
			}
			if best == nil && Match(p, name) {
				best = s
			}
		}
	}
	return best
}

// Match reports whether topic matches pattern (tokens separated by dots;
// * matches one token, a final > one or more).
func Match(pattern, topic string) bool {
	for {
		pi := strings.IndexByte(pattern, '.')
		ti := strings.IndexByte(topic, '.')
		var ptok, ttok string
		if pi < 0 {
			ptok = pattern
		} else {
			ptok = pattern[:pi]
		}
		if ti < 0 {
			ttok = topic
		} else {
			ttok = topic[:ti]
		}
		if ptok == ">" && pi < 0 {
			return topic != ""
		}
		if ptok != "*" && ptok != ttok || ttok == "" {
			return false
		}
		if pi < 0 || ti < 0 {
			return pi < 0 && ti < 0
		}
		pattern, topic = pattern[pi+1:], topic[ti+1:]
	}
}

// deliver hands one delivery to its subscription, checking its seq
// against the topic's position.
func (c *Client) deliver(topic []byte, seq uint64, ts int64, snap, bin bool, data []byte) {
	c.mu.Lock()
	t := c.topics[string(topic)]
	if t == nil {
		name := string(topic)
		sub := c.routeLocked(name)
		if sub == nil {
			c.stats.NotRouted++
			c.mu.Unlock()
			return
		}
		t = &topicState{name: name, sub: sub, routeGen: c.routeGen}
		c.topics[name] = t
	} else if t.routeGen != c.routeGen {
		t.sub, t.routeGen = c.routeLocked(t.name), c.routeGen
	}
	sub := t.sub
	if sub == nil {
		c.stats.NotRouted++
		c.mu.Unlock()
		return
	}
	var gap Event
	switch {
	case t.resuming:
		if (snap || !t.known || seq != t.seq+1) && !t.broken {
			t.broken, t.gapFrom, t.gapTo = true, t.seq+1, seq-1
		}
		t.gotDuring = true
	case !t.known || snap:
	case seq == t.seq+1:
	case seq > t.seq+1:
		gap = Event{Kind: EventGap, Topic: t.name, From: t.seq + 1, To: seq - 1, Conflated: sub.conflates}
		c.stats.Missed += seq - 1 - t.seq
	default:
		c.stats.Duplicates++
		c.mu.Unlock()
		return
	}
	t.seq, t.known = seq, true
	if c.epoch != "" && !t.resuming {
		t.epoch = c.epoch
	}
	c.stats.Delivered++
	c.mu.Unlock()
	if gap.Kind != 0 {
		c.emit(gap)
	}
	if h := sub.opts.Handler; h != nil {
		m := &c.msg
		*m = Message{Topic: t.name, Seq: seq, TS: ts, Snapshot: snap, Binary: bin, Data: data}
		h(m)
		return
	}
	select {
	case sub.opts.Chan <- Message{Topic: t.name, Seq: seq, TS: ts, Snapshot: snap, Binary: bin, Data: bytes.Clone(data)}:
	case <-c.closeC:
	}
}
