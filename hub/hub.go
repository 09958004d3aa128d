package hub

import (
	"crypto/rand"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/wsframe"
)

// Subscriber is a connection as the hub sees it. poller.Conn implements it.
// Implementations must never block and must be safe for concurrent use.
// The hub uses a Subscriber as a map key: its dynamic type must be comparable
// (a pointer, as poller.Conn is).
type Subscriber interface {
	// Send queues p for delivery. It consumes one reference of p in every case
	// (also when it returns an error, e.g. the connection is closed or slow).
	Send(p *wsframe.Prepared) error
	// SendSlot queues p through the conflation slot s, which belongs to this
	// subscriber: if s already holds a frame that has not started to be written,
	// that frame is replaced (and released) and keeps its place in the queue;
	// otherwise p is queued at the tail. Consumes one reference of p in every case.
	SendSlot(s *poller.Slot, p *wsframe.Prepared) error
}

// Config configures a Hub. The zero value is valid: defaults noted per field.
type Config struct {
	// MaxSubsPerConn limits patterns per subscriber. Zero means 1024.
	MaxSubsPerConn int
	// HistorySize is the number of recent messages kept per topic for recovery.
	// Zero means 256; negative disables history (last value is still kept).
	HistorySize int
	// HistoryTTL drops history entries older than this. Zero means 5 minutes.
	HistoryTTL time.Duration
	// HistoryMaxBytes bounds the bytes held by all topics' histories. Past it,
	// a publish evicts the oldest history of its own topic (down to the last
	// value), so the total stays under HistoryMaxBytes plus one frame per
	// topic. It counts frame bytes on the wire; pooled buffers round up, so
	// the heap held for small frames is up to about twice that. Zero means
	// 512 MiB.
	HistoryMaxBytes int64
	// MaxTopics bounds the number of topics that hold data: topics published
	// to at least once and not reclaimed since. A publish that would add one
	// beyond it fails with ErrTooManyTopics. Topics that exact subscriptions
	// create before anything is published to them do not count: subscribers
	// cannot exhaust the table. Zero means 1,000,000.
	MaxTopics int
	// LastValueTTL is how long a topic keeps its last value once nothing keeps
	// the topic alive: a topic whose latest publish is older than this, with
	// no subscription that matches it (exact or wildcard) and no history left
	// within HistoryTTL, is reclaimed (see Hub). Zero means 24 hours; negative
	// means topics that hold data are never reclaimed (topics without data
	// still go when their last subscription does).
	LastValueTTL time.Duration
	// ConflateDefault lists topic patterns whose subscriptions conflate unless the
	// client says otherwise.
	ConflateDefault []string
	// Epoch identifies this hub's history; zero value: random per process start.
	// With a Broker it must be the broker's (the identity of the cluster's
	// store), so that every node of a cluster has the same.
	Epoch string
	// Broker, when set, sequences and stores every publish for a cluster of
	// hubs (see Broker); nil: this hub numbers its own topics.
	Broker Broker
}

// Defaults for zero Config fields.
const (
	DefaultMaxSubsPerConn = 1024
	DefaultHistorySize    = 256
	DefaultHistoryTTL     = 5 * time.Minute
	DefaultHistoryBytes   = 512 << 20
	DefaultMaxTopics      = 1_000_000
	DefaultLastValueTTL   = 24 * time.Hour
)

// numShards is the number of topic shards (a power of two).
const numShards = 64

type shard struct {
	mu     sync.RWMutex
	topics map[string]*topic
	// seqFloor is the highest final seq of the topics reclaimed from this
	// shard; a topic created here starts from it (mu).
	seqFloor uint64
	// peak is the most topics the map has held since it was last rebuilt: a
	// Go map keeps its buckets when entries go, so reclamation rebuilds a map
	// that has shrunk to a quarter of its peak (mu).
	peak int
	_    [16]byte // RWMutex (24) + map (8) + seqFloor (8) + peak (8) + pad: one cache line per shard
}

// Hub routes published messages to subscribers. Safe for concurrent use.
//
// A topic is created by the first Publish or exact Subscribe that names it.
// Until something is published to it, it is empty: it exists only for its
// exact subscriptions, does not count against MaxTopics, and goes as soon as
// the last of them does. Its first publish makes it a data topic (the one
// step that can fail with ErrTooManyTopics). A data topic lives while a
// subscription matches it, while it has history within HistoryTTL, and for
// LastValueTTL after its latest publish; past all three the hub's sweep
// reclaims it and drops its last value.
//
// A topic's seq never goes back within an epoch, also across reclamation:
// each shard remembers the highest final seq of the topics it reclaimed and
// a topic created in it starts from there (so its first seq may be above 1).
// A client that resumes a reclaimed topic thus gets recovered:false unless it
// had seen every message, never a silent gap.
type Hub struct {
	epoch    string
	maxSubs  int
	histSize int   // 0: history disabled
	histTTL  int64 // ns
	histMax  int64 // bytes, all topics
	maxTops  int64
	lvTTL    int64    // ns; negative: data topics are never reclaimed
	conflate []string // validated ConflateDefault patterns
	start    time.Time
	seed     maphash.Seed
	broker   Broker

	shards [numShards]shard
	sl     *sublist
	tt     topicTree
	rt     rateTimer
	fkeys  formatKeys
	conns  sync.Map // Subscriber -> *conn
	ids    atomic.Uint64

	closed atomic.Bool
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once

	ntopics    atomic.Int64 // data topics (MaxTopics)
	nempty     atomic.Int64 // topics without data, held by exact subscriptions
	reclaimed  atomic.Uint64
	nsubs      atomic.Int64
	published  atomic.Uint64
	deliveries atomic.Uint64
	histBytes  atomic.Int64
	histFrames atomic.Int64
	histCapped atomic.Uint64 // history entries evicted by HistoryMaxBytes
}

// New returns a running Hub. Call Close to stop its background goroutine
// (rate-limited delivery timer).
//
// Invalid ConflateDefault patterns are ignored.
func New(cfg Config) *Hub {
	h := &Hub{
		epoch:    cfg.Epoch,
		maxSubs:  cfg.MaxSubsPerConn,
		histSize: cfg.HistorySize,
		histTTL:  int64(cfg.HistoryTTL),
		histMax:  cfg.HistoryMaxBytes,
		maxTops:  int64(cfg.MaxTopics),
		lvTTL:    int64(cfg.LastValueTTL),
		start:    time.Now(),
		seed:     maphash.MakeSeed(),
		broker:   cfg.Broker,
		sl:       newSublist(),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if h.epoch == "" {
		h.epoch = rand.Text()[:16]
	}
	if h.maxSubs <= 0 {
		h.maxSubs = DefaultMaxSubsPerConn
	}
	switch {
	case h.histSize == 0:
		h.histSize = DefaultHistorySize
	case h.histSize < 0:
		h.histSize = 0
	}
	if h.histTTL <= 0 {
		h.histTTL = int64(DefaultHistoryTTL)
	}
	if h.histMax <= 0 {
		h.histMax = DefaultHistoryBytes
	}
	if h.maxTops <= 0 {
		h.maxTops = DefaultMaxTopics
	}
	if h.lvTTL == 0 {
		h.lvTTL = int64(DefaultLastValueTTL)
	}
	for _, p := range cfg.ConflateDefault {
		if _, err := checkTopic(p, true); err == nil {
			h.conflate = append(h.conflate, p)
		}
	}
	for i := range h.shards {
		h.shards[i].topics = make(map[string]*topic)
	}
	h.rt.wake = make(chan struct{}, 1)
	go h.run()
	return h
}

// Epoch returns the hub's epoch (Config.Epoch or the random one).
func (h *Hub) Epoch() string { return h.epoch }

// clock returns the hub's monotonic clock (ns since New) and the wall clock
// in unix ns from one reading.
func (h *Hub) clock() (mono, wall int64) {
	now := time.Now()
	return int64(now.Sub(h.start)), now.UnixNano()
}

// now returns the hub's monotonic clock in ns since New.
func (h *Hub) now() int64 { return int64(time.Since(h.start)) }

// Close stops background work and releases every retained frame: last
// values, snapshots, history and rate-limited pending frames. Publish and
// Subscribe fail with ErrClosed afterwards; frames already handed to
// Subscribers are theirs to release. Close is idempotent.
func (h *Hub) Close() {
	h.once.Do(func() {
		close(h.stop)
		<-h.done
		h.closed.Store(true)
		// Every publish checks closed under its topic lock: after taking each
		// lock once, none is in progress and none will start.
		var ts []*topic
		for i := range h.shards {
			ts = h.shards[i].appendTopics(ts[:0])
			for _, t := range ts {
				t.mu.Lock()
				t.clear(h)
				t.mu.Unlock()
			}
		}
		for _, st := range h.rt.drain() {
			st.sub.mu.Lock()
			if st.pending != nil {
				st.pending.Release()
				st.pending = nil
			}
			st.sub.mu.Unlock()
		}
	})
}

func (sh *shard) appendTopics(out []*topic) []*topic {
	sh.mu.RLock()
	for _, t := range sh.topics {
		out = append(out, t)
	}
	sh.mu.RUnlock()
	return out
}

// run is the hub goroutine: it delivers rate-limited frames when due,
// expires history by age and reclaims idle topics.
func (h *Hub) run() {
	defer close(h.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	every := h.histTTL
	if h.lvTTL > 0 {
		every = min(every, h.lvTTL)
	}
	sweep := time.NewTicker(min(max(time.Duration(every)/4, time.Second), time.Minute))
	defer sweep.Stop()
	var due []*subTopic
	var ts []*topic
	for {
		var wait int64
		due, wait = h.rt.popDue(h.now(), due[:0])
		for i, st := range due {
			h.fire(st)
			due[i] = nil
		}
		if wait >= 0 {
			timer.Reset(time.Duration(wait))
		} else {
			timer.Stop()
		}
		select {
		case <-timer.C:
		case <-h.rt.wake:
		case <-sweep.C:
			ts = h.sweep(ts, h.now())
		case <-h.stop:
			timer.Stop()
			return
		}
	}
}

func (h *Hub) conflateDefault(topic string) bool {
	for _, p := range h.conflate {
		if matchPattern(p, topic) {
			return true
		}
	}
	return false
}

// matchPattern reports whether the validated pattern matches the topic.
func matchPattern(pattern, topic string) bool {
	for {
		ptok, prest, pmore := nextToken(pattern)
		if ptok == ">" {
			return true // topic has at least one token left
		}
		ttok, trest, tmore := nextToken(topic)
		if ptok != "*" && ptok != ttok {
			return false
		}
		if !pmore || !tmore {
			return pmore == tmore
		}
		pattern, topic = prest, trest
	}
}

// Publish delivers data (valid JSON, copied into the encoded frame byte for byte)
// to every subscriber of topic as a text frame
// {"op":"msg","topic":T,"seq":N,"ts":TS,"data":DATA}. It returns the topic's new
// seq. ts is the publish time in unix nanoseconds (0 = now).
//
// Errors: ErrBadTopic, ErrBadData (data is not one valid JSON value),
// ErrTooManyTopics, ErrClosed.
func (h *Hub) Publish(topic string, data []byte, ts int64) (uint64, error) {
	if !validJSON(data) {
		return 0, ErrBadData
	}
	return h.publishTo(topic, data, ts, false)
}

// PublishBinary delivers data as a binary frame with the compact header of
// docs/PROTOCOL.md: kind byte 1, uvarint topic length, topic, seq (8 bytes big
// endian), ts (8 bytes big endian, unix ns), data. Binary and JSON publishes
// share the topic's seq, last value and history. data may be empty.
//
// Errors: ErrBadTopic, ErrTooManyTopics, ErrClosed.
func (h *Hub) PublishBinary(topic string, data []byte, ts int64) (uint64, error) {
	return h.publishTo(topic, data, ts, true)
}

func (h *Hub) publishTo(name string, data []byte, ts int64, binary bool) (uint64, error) {
	if _, err := checkTopic(name, false); err != nil {
		return 0, err
	}
	if h.closed.Load() {
		return 0, ErrClosed
	}
	if h.broker != nil {
		if ts == 0 {
			ts = time.Now().UnixNano()
		}
		return h.broker.Publish(name, data, ts, binary)
	}
	for {
		t, err := h.topic(name, true)
		if err != nil {
			return 0, err
		}
		seq, err := h.publish(t, data, ts, binary)
		if err != errReclaimed {
			return seq, err
		}
		// t was reclaimed between the lookup and the lock: take the new one.
	}
}

// Stats are counters for the stats endpoint.
type Stats struct {
	// Topics counts the topics that hold data (what MaxTopics bounds).
	Topics int `json:"topics"`
	// EmptyTopics counts the topics never published to, which exist only for
	// their exact subscriptions.
	EmptyTopics   int    `json:"empty_topics"`
	Subscriptions int    `json:"subscriptions"`
	Published     uint64 `json:"published"`
	Deliveries    uint64 `json:"deliveries"` // frames handed to Send/SendSlot: live, snapshot, recovered
	HistoryBytes  int64  `json:"history_bytes"`
	HistoryFrames int64  `json:"history_frames"`
	HistoryCapped uint64 `json:"history_capped"` // entries evicted early by HistoryMaxBytes
	// Reclaimed counts the data topics reclaimed (last value dropped) by the
	// sweep since New. Empty topics that go with their last subscription are
	// not counted.
	Reclaimed uint64 `json:"reclaimed"`
}

// Stats returns current counters.
func (h *Hub) Stats() Stats {
	return Stats{
		Topics:        int(h.ntopics.Load()),
		EmptyTopics:   int(h.nempty.Load()),
		Subscriptions: int(h.nsubs.Load()),
		Published:     h.published.Load(),
		Deliveries:    h.deliveries.Load(),
		HistoryBytes:  h.histBytes.Load(),
		HistoryFrames: h.histFrames.Load(),
		HistoryCapped: h.histCapped.Load(),
		Reclaimed:     h.reclaimed.Load(),
	}
}
