package hub

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/wsframe"
)

// delivery is one decoded frame as a client sees it.
type delivery struct {
	Binary bool
	Topic  string
	Seq    uint64
	TS     int64
	Snap   bool
	Data   string
	Fmt    string // "format/variant" for test formats (tagFormat), "" for native
}

// queued is one entry of a fake connection's write queue: a frame, or a
// conflation slot whose frame is taken when the entry is written.
type queued struct {
	p    *wsframe.Prepared
	slot *poller.Slot
}

var errFakeClosed = errors.New("fake: closed")

// fakeSub is a Subscriber that queues frames like a transport (with the Slot
// semantics of poller.Conn) and decodes them when drained. With auto set it
// drains on every Send, like a connection that keeps up.
type fakeSub struct {
	mu     sync.Mutex
	auto   bool
	closed bool
	queue  []queued
	got    []delivery
	times  []time.Time // when each delivery was written (fake time under synctest)
	errs   []error
	cond   *sync.Cond
}

func newFake(auto bool) *fakeSub {
	f := &fakeSub{auto: auto}
	f.cond = sync.NewCond(&f.mu)
	return f
}

func (f *fakeSub) Send(p *wsframe.Prepared) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		p.Release()
		return errFakeClosed
	}
	f.queue = append(f.queue, queued{p: p})
	if f.auto {
		f.drainLocked()
	}
	return nil
}

func (f *fakeSub) SendSlot(s *poller.Slot, p *wsframe.Prepared) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		p.Release()
		return errFakeClosed
	}
	if s.Queued {
		if s.Frame != nil {
			s.Frame.Release()
		}
		s.Frame = p // keeps its place in the queue
	} else {
		s.Frame, s.Queued = p, true
		f.queue = append(f.queue, queued{slot: s})
	}
	if f.auto {
		f.drainLocked()
	}
	return nil
}

// drain "writes" every queued frame: decodes and releases it.
func (f *fakeSub) drain() {
	f.mu.Lock()
	f.drainLocked()
	f.mu.Unlock()
}

func (f *fakeSub) drainLocked() {
	for _, q := range f.queue {
		p := q.p
		if q.slot != nil {
			p = q.slot.Frame
			q.slot.Frame, q.slot.Queued = nil, false
		}
		if p == nil {
			continue
		}
		d, err := decodeFrame(p.Bytes())
		if err != nil {
			f.errs = append(f.errs, err)
		} else {
			f.got = append(f.got, d)
			f.times = append(f.times, time.Now())
		}
		p.Release()
	}
	clear(f.queue)
	f.queue = f.queue[:0]
	f.cond.Broadcast()
}

// close drops the queue and makes later Sends fail.
func (f *fakeSub) close() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.drain()
}

// deliveries returns a copy of what was decoded so far.
func (f *fakeSub) deliveries(t testing.TB) []delivery {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, err := range f.errs {
		t.Errorf("bad frame: %v", err)
	}
	return append([]delivery(nil), f.got...)
}

// waitFor blocks until cond holds for the decoded deliveries, or fails the
// test after a deadline. The hub queues synchronously, so most tests need
// no waiting; rate-limited deliveries come from the hub goroutine.
func (f *fakeSub) waitFor(t testing.TB, what string, cond func([]delivery) bool) []delivery {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		f.mu.Lock()
		ok := cond(f.got)
		got := append([]delivery(nil), f.got...)
		f.mu.Unlock()
		if ok {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; got %+v", what, got)
		}
		time.Sleep(time.Millisecond) // polling interval, not synchronisation
	}
}

// decodeFrame parses a server WebSocket frame (unmasked, FIN) and its payload.
func decodeFrame(b []byte) (delivery, error) {
	if len(b) < 2 {
		return delivery{}, fmt.Errorf("short frame %q", b)
	}
	if b[0]&0x80 == 0 || b[1]&0x80 != 0 {
		return delivery{}, fmt.Errorf("frame not FIN or masked: % x", b[:2])
	}
	op := b[0] & 0x0f
	n, hl := uint64(b[1]&0x7f), 2
	switch n {
	case 126:
		n, hl = uint64(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		n, hl = binary.BigEndian.Uint64(b[2:]), 10
	}
	if uint64(len(b)-hl) != n {
		return delivery{}, fmt.Errorf("frame length %d, have %d", n, len(b)-hl)
	}
	payload := b[hl:]
	switch op {
	case 1:
		return decodeJSON(payload)
	case 2:
		return decodeBinary(payload)
	}
	return delivery{}, fmt.Errorf("unexpected opcode %d", op)
}

func decodeJSON(b []byte) (delivery, error) {
	var m struct {
		Op    string          `json:"op"`
		Topic string          `json:"topic"`
		Seq   uint64          `json:"seq"`
		TS    int64           `json:"ts"`
		Snap  bool            `json:"snap"`
		Data  json.RawMessage `json:"data"`
		Fmt   string          `json:"fmt"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return delivery{}, fmt.Errorf("%w in %s", err, b)
	}
	if m.Op != "msg" {
		return delivery{}, fmt.Errorf("op %q in %s", m.Op, b)
	}
	return delivery{Topic: m.Topic, Seq: m.Seq, TS: m.TS, Snap: m.Snap, Data: string(m.Data), Fmt: m.Fmt}, nil
}

// decodeBinary is the reference decoder of the binary delivery format
// (docs/PROTOCOL.md): kind, uvarint topic length, topic, seq, ts, data.
func decodeBinary(b []byte) (delivery, error) {
	if len(b) < 1 {
		return delivery{}, errors.New("empty binary payload")
	}
	kind := b[0]
	if kind != 1 && kind != 2 {
		return delivery{}, fmt.Errorf("binary kind %d", kind)
	}
	n, k := binary.Uvarint(b[1:])
	if k <= 0 || uint64(len(b)-1-k) < n+16 {
		return delivery{}, fmt.Errorf("bad binary header % x", b)
	}
	rest := b[1+k:]
	d := delivery{Binary: true, Snap: kind == 2, Topic: string(rest[:n])}
	rest = rest[n:]
	d.Seq = binary.BigEndian.Uint64(rest)
	d.TS = int64(binary.BigEndian.Uint64(rest[8:]))
	d.Data = string(rest[16:])
	return d, nil
}

// releaser is a Subscriber that writes nothing: it releases every frame at
// once (benchmarks).
type releaser struct{ _ byte } // not zero-size: every &releaser{} is a distinct Subscriber

func (r *releaser) Send(p *wsframe.Prepared) error { p.Release(); return nil }
func (r *releaser) SendSlot(s *poller.Slot, p *wsframe.Prepared) error {
	p.Release()
	return nil
}

// poolDelta measures Prepared buffers acquired and returned during a test.
type poolDelta struct{ start wsframe.PoolStats }

func startPool() poolDelta { return poolDelta{wsframe.ReadPoolStats()} }

// check fails t unless every buffer acquired since start was returned exactly
// once. Call it after the hub is closed and every fake drained.
func (d poolDelta) check(t testing.TB) {
	t.Helper()
	now := wsframe.ReadPoolStats()
	acq, ret := now.Acquired-d.start.Acquired, now.Returned-d.start.Returned
	if acq != ret {
		t.Errorf("pool: acquired %d, returned %d (leak of %d)", acq, ret, int64(acq)-int64(ret))
	}
	if o := now.Overreleased - d.start.Overreleased; o != 0 {
		t.Errorf("pool: %d over-releases", o)
	}
	if acq == 0 {
		t.Errorf("pool: nothing acquired; the test exercised nothing")
	}
}

// seqsOf returns the seqs of topic's deliveries, in order.
func seqsOf(ds []delivery, topic string) []uint64 {
	var out []uint64
	for _, d := range ds {
		if d.Topic == topic {
			out = append(out, d.Seq)
		}
	}
	return out
}
