package socketio

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/c1mhq/c1m/hub"
)

// Connection state recovery (Socket.IO 4.6+), over the hub's history.
//
// With Config.Recovery set, every delivery event carries as its last
// argument the offset "<epoch>/<topic>=<seq>" of the message itself: the
// same for every socket, so the event is still encoded once per publish and
// namespace. The official client keeps the last such string it received and
// sends it, with the private session id (pid) of the CONNECT answer, in its
// next CONNECT.
//
// Each socket keeps a tracker: the (topic, seq) of every delivery it queued,
// in queue order, in a bounded ring (16 bytes an entry, grown on demand up
// to Config.RecoveryLog entries, then overwritten: no allocation per
// delivery in steady state). Whatever the transport, the client receives a
// prefix of that queue, so the entry the offset names splits the ring into
// what the client got and what it did not: per topic, the position the
// client holds is its last entry up to the offset (or the newest entry
// overwritten, or the seq before its first entry after the offset, or its
// seq when the socket subscribed). When the session ends the socket's
// subscriptions go and the tracker waits, for at most Config.Recovery, under
// the pid. A CONNECT with that pid and an offset found in the ring
// subscribes again with hub Since at those positions; the answer carries the
// same pid (socket.recovered === true) only when the hub recovered every
// topic exactly, and the recovered and live deliveries follow it. Otherwise
// the socket starts afresh with a new pid and no subscriptions, and the
// client subscribes again.

// maxTrackedTopics bounds the topics a tracker names. A socket that
// receives more (through wildcards) is not recoverable.
const maxTrackedTopics = 1024

// entry is one queued delivery: the tracker's topic index and the seq.
type entry struct {
	t   int32
	seq uint64
}

// ttopic is a topic a tracker knows.
type ttopic struct {
	name    string
	evSeq   uint64 // the seq of the newest entry overwritten, when evicted
	subSeq  uint64 // the position when subscribed (or recovered), when hasSub
	evicted bool
	hasSub  bool
}

// tracker is a socket's log of queued deliveries. Guarded by Socket.mu.
type tracker struct {
	idx     map[string]int32
	topics  []ttopic
	ring    []entry
	head, n int
	max     int
	evicted bool // an entry was overwritten
	inexact bool // a delivery could not be tracked (conflation, too many topics)
	// stale is the offset of the CONNECT that made this socket afresh (a
	// recovery refused): the client keeps it until a delivery replaces it,
	// so it names a delivery of the socket before, and one of this socket
	// only if it is the same message. Ambiguous, it recovers nothing.
	stale string
}

// smallTopics is how many topics a tracker scans before it keeps an index.
const smallTopics = 8

// find returns the index of topic name, or -1.
func (tr *tracker) find(name string) int32 {
	if tr.idx != nil {
		if i, ok := tr.idx[name]; ok {
			return i
		}
		return -1
	}
	for i := range tr.topics {
		if tr.topics[i].name == name {
			return int32(i)
		}
	}
	return -1
}

// topic returns the index of topic name, adding it if needed; -1 when
// maxTrackedTopics are known.
func (tr *tracker) topic(name string) int32 {
	if i := tr.find(name); i >= 0 {
		return i
	}
	if len(tr.topics) >= maxTrackedTopics {
		return -1
	}
	i := int32(len(tr.topics))
	tr.topics = append(tr.topics, ttopic{name: name})
	if tr.idx == nil && len(tr.topics) > smallTopics {
		tr.idx = make(map[string]int32, 2*smallTopics)
		for j := range tr.topics {
			tr.idx[tr.topics[j].name] = int32(j)
		}
	} else if tr.idx != nil {
		tr.idx[name] = i
	}
	return i
}

// note records that the socket subscribed to name when it was at seq, for
// a topic that got no delivery yet.
func (tr *tracker) note(name string, seq uint64) {
	if tr.find(name) >= 0 {
		return
	}
	i := tr.topic(name)
	if i < 0 {
		tr.inexact = true
		return
	}
	tr.topics[i].subSeq, tr.topics[i].hasSub = seq, true
}

// push records a queued delivery.
func (tr *tracker) push(name string, seq uint64) {
	i := tr.topic(name)
	if i < 0 {
		tr.inexact = true
		return
	}
	if tr.n == len(tr.ring) {
		if len(tr.ring) < tr.max {
			r := make([]entry, min(max(2*len(tr.ring), 4), tr.max))
			for j := 0; j < tr.n; j++ {
				r[j] = tr.ring[(tr.head+j)%len(tr.ring)]
			}
			tr.ring, tr.head = r, 0
		} else {
			old := tr.ring[tr.head]
			t := &tr.topics[old.t]
			t.evSeq, t.evicted = old.seq, true
			tr.evicted = true
			tr.head = (tr.head + 1) % len(tr.ring)
			tr.n--
		}
	}
	tr.ring[(tr.head+tr.n)%len(tr.ring)] = entry{i, seq}
	tr.n++
}

func (tr *tracker) at(j int) entry { return tr.ring[(tr.head+j)%len(tr.ring)] }

// resolve returns, for the client whose last offset is offset ("" when it
// received no delivery under its pid), the position it holds in each topic
// the tracker can place, and false when the offset is not one of the ring's.
// It forgets the entries after the offset (never received) and makes the
// positions the topics' subscribe positions.
func (tr *tracker) resolve(offset, epoch string) (map[string]hub.Position, bool) {
	k := -1 // the offset's entry: entries 0..k were received
	if offset != "" && offset == tr.stale {
		return nil, false
	}
	if offset != "" {
		ep, pair, ok := strings.Cut(offset, "/")
		eq := strings.LastIndexByte(pair, '=')
		if !ok || ep != epoch || eq < 0 {
			return nil, false
		}
		ti := tr.find(pair[:eq])
		seq, err := strconv.ParseUint(pair[eq+1:], 10, 64)
		if ti < 0 || err != nil {
			return nil, false
		}
		for j := tr.n - 1; j >= 0; j-- {
			if e := tr.at(j); e.t == ti && e.seq == seq {
				k = j
				break
			}
		}
		if k < 0 {
			return nil, false
		}
	} else if tr.evicted {
		return nil, false
	}
	type place struct {
		last, first       uint64
		hasLast, hasFirst bool
	}
	pl := make([]place, len(tr.topics))
	for j := 0; j < tr.n; j++ {
		e := tr.at(j)
		p := &pl[e.t]
		if j <= k {
			p.last, p.hasLast = e.seq, true
		} else if !p.hasFirst {
			p.first, p.hasFirst = e.seq-1, true
		}
	}
	since := make(map[string]hub.Position, len(tr.topics))
	for i := range tr.topics {
		t, p := &tr.topics[i], &pl[i]
		var seq uint64
		switch {
		case p.hasLast:
			seq = p.last
		case t.evicted:
			seq = t.evSeq
		case p.hasFirst:
			seq = p.first
		case t.hasSub:
			seq = t.subSeq
		default:
			continue // never placed: its subscription cannot say recovered
		}
		since[t.name] = hub.Position{Epoch: epoch, Seq: seq}
		t.subSeq, t.hasSub = seq, true
	}
	tr.n = k + 1
	tr.stale = ""
	return since, true
}

// subSpec is what restores a subscription: its pattern and options.
type subSpec struct {
	pattern  string
	conflate *bool
	maxRate  float64
}

// subSpecs are a socket's subscriptions (a slice: most sockets have few).
type subSpecs []subSpec

func (ss *subSpecs) set(sp subSpec) {
	for i := range *ss {
		if (*ss)[i].pattern == sp.pattern {
			(*ss)[i] = sp
			return
		}
	}
	*ss = append(*ss, sp)
}

func (ss *subSpecs) del(pattern string) {
	for i := range *ss {
		if (*ss)[i].pattern == pattern {
			*ss = append((*ss)[:i], (*ss)[i+1:]...)
			return
		}
	}
}

// record is a disconnected socket waiting for its client.
type record struct {
	pid, id, nsp string
	tr           *tracker
	subs         subSpecs
	timer        *time.Timer
	size         int64 // bytes counted against Config.RecoveryMaxBytes
}

// recordSize estimates the heap a record holds.
func recordSize(tr *tracker, subs subSpecs) int64 {
	n := 256 + 16*cap(tr.ring) + 64*len(tr.topics) + 48*len(subs)
	if tr.idx != nil {
		n += 48 * len(tr.topics)
	}
	return int64(n)
}

// connectPayload is what a recovering client's CONNECT carries.
type connectPayload struct {
	Pid    string `json:"pid"`
	Offset string `json:"offset"`
}

// persist keeps so's state under its pid for Config.Recovery. so has left
// the hub.
func (s *Server) persist(so *Socket) {
	so.mu.Lock()
	tr, subs, pid, id := so.tr, so.subs, so.pid, so.id
	so.tr, so.subs = nil, nil
	for i, p := range so.held {
		p.Release()
		so.held[i] = nil
	}
	so.held, so.holding = nil, false
	so.mu.Unlock()
	s.recMu.Lock()
	defer s.recMu.Unlock()
	if s.live[pid] == so {
		delete(s.live, pid)
	}
	if tr == nil {
		return
	}
	rec := &record{pid: pid, id: id, nsp: so.nsp, tr: tr, subs: subs, size: recordSize(tr, subs)}
	if len(s.records) >= s.cfg.RecoverySessions || s.recBytes+rec.size > s.cfg.RecoveryMaxBytes {
		return // memory bound: this one will not be recovered
	}
	s.records[rec.pid] = rec
	s.recBytes += rec.size
	rec.timer = time.AfterFunc(s.cfg.Recovery, func() {
		s.recMu.Lock()
		if s.records[rec.pid] == rec {
			delete(s.records, rec.pid)
			s.recBytes -= rec.size
		}
		s.recMu.Unlock()
	})
}

// takeRecord returns and forgets the record of pid for a CONNECT to nsp on
// cl. A socket of that pid still connected (its transport's end not yet
// noticed) is closed first, so that its state is kept.
func (s *Server) takeRecord(pid, nsp string, cl *client) *record {
	s.recMu.Lock()
	old := s.live[pid]
	s.recMu.Unlock()
	if old != nil && old.cl != cl && old.nsp == nsp {
		old.cl.sess.Close() // OnClose persists it, synchronously
	}
	s.recMu.Lock()
	defer s.recMu.Unlock()
	rec := s.records[pid]
	if rec == nil || rec.nsp != nsp {
		return nil
	}
	delete(s.records, pid)
	s.recBytes -= rec.size
	rec.timer.Stop()
	return rec
}

// restore subscribes so again as rec was, from the positions its client's
// offset names, and reports whether every topic recovered exactly. so is
// holding its deliveries.
func (s *Server) restore(so *Socket, rec *record, offset string) bool {
	h := s.cfg.Hub
	if rec.tr.inexact {
		return false
	}
	since, ok := rec.tr.resolve(offset, h.Epoch())
	if !ok {
		return false
	}
	for _, spec := range rec.subs {
		opt := hub.SubOptions{Conflate: spec.conflate, MaxRate: spec.maxRate, Since: since, Format: s.format, Variant: so.nsp}
		states, err := h.Subscribe(so, spec.pattern, opt)
		if err != nil {
			return false
		}
		so.mu.Lock()
		so.subs.set(spec)
		so.mu.Unlock()
		for _, st := range states {
			if st.Recovered == nil || !*st.Recovered {
				return false
			}
		}
	}
	return true
}

// release ends holding: the held deliveries are queued (and tracked) when
// keep, dropped otherwise.
func (so *Socket) release(keep bool) {
	so.mu.Lock()
	defer so.mu.Unlock()
	for i, p := range so.held {
		so.held[i] = nil
		if !keep || so.tr == nil {
			p.Release()
			continue
		}
		if p.Topic != "" {
			so.tr.push(p.Topic, p.Seq)
		}
		_ = so.cl.sess.Send(p)
	}
	so.held, so.holding = nil, false
}

// parseConnectPayload reads the pid and offset of a CONNECT payload.
func parseConnectPayload(data []byte) connectPayload {
	var cp connectPayload
	if firstByte(data) == '{' {
		_ = json.Unmarshal(data, &cp)
	}
	return cp
}
