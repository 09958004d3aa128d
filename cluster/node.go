package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/c1mhq/c1m/hub"
)

// Config configures a Node. URLs is required; the rest has defaults.
type Config struct {
	// URLs of NATS servers (nats://host:port); the client fails over
	// between them.
	URLs []string
	// Name names the node (NATS connection name, /stats). Empty: "c1m".
	Name string
	// Prefix of the subjects topics map to. Empty: "c1m.".
	Prefix string
	// Stream is the JetStream stream's name. Empty: "C1M".
	Stream string
	// Replicas of the stream (clustered JetStream). Zero: 1.
	Replicas int
	// Memory stores the stream in memory instead of files (its history
	// then does not survive a NATS restart).
	Memory bool
	// HistorySize is the messages kept per topic (MaxMsgsPerSubject), at
	// least 1 (the last value). Zero: hub.DefaultHistorySize.
	HistorySize int
	// MaxAge drops messages older than this from the stream (a topic's last
	// value too). Zero: kept until HistorySize newer ones replace them.
	MaxAge time.Duration
	// Options are extra nats.go options: credentials, token, TLS.
	Options []nats.Option
	// ConnectTimeout bounds Open's wait for NATS. Zero: 10s.
	ConnectTimeout time.Duration
	// PendingMsgs and PendingBytes bound the backlog of each NATS
	// subscription before nats.go drops messages (a slow consumer, whose
	// gaps are filled later). Zero: 1,000,000 messages, 256 MiB.
	PendingMsgs, PendingBytes int
	// Logger, nil: slog.Default().
	Logger *slog.Logger
}

// LivePrefix is put before a stored subject to name its republished copy.
const LivePrefix = "_live."

// Header names on stored and republished messages.
const (
	hdrSeq     = "C1m-Seq"
	hdrTS      = "C1m-Ts"
	hdrBin     = "C1m-Bin"
	hdrNatsSeq = "Nats-Sequence"
	hdrLastSeq = "Nats-Last-Sequence" // on republished messages: the subject's previous stream sequence
	hdrExpect  = "Nats-Expected-Last-Subject-Sequence"
)

// Node is one c1m node of a cluster: the hub's Broker on NATS JetStream.
type Node struct {
	cfg    Config
	log    *slog.Logger
	nc     *nats.Conn
	js     jetstream.JetStream
	prefix string // stored subjects: prefix + topic
	live   string // republished subjects: live + topic
	epoch  string
	hub    *hub.Hub

	pubs pubCache
	// floorSeq is the stream's last sequence read at floorAt (floorMu).
	floorMu  sync.Mutex
	floorSeq uint64
	floorAt  time.Time
	in       interest
	fills    flights // backfills in progress, one per topic

	draining atomic.Bool
	stale    atomic.Bool // the stream was created again: a new epoch
	resyncs  sync.WaitGroup
	closed   atomic.Bool
	// dropLive makes onMsg ignore that many live messages (tests force
	// gaps with it; see export_test.go).
	dropLive atomic.Int64

	stats counters
}

type counters struct {
	msgsIn, msgsOut, retries, pubErrors    atomic.Uint64
	gapsFilled, gapFills, unrecoverable    atomic.Uint64
	backfilled, slow, reconnects, resynced atomic.Uint64
	disconnects                            atomic.Uint64
}

// Open connects to NATS, creates or updates the stream and returns the
// node. Attach the hub before it serves.
func Open(ctx context.Context, cfg Config) (*Node, error) {
	if len(cfg.URLs) == 0 {
		return nil, errors.New("cluster: no NATS URL")
	}
	if cfg.Name == "" {
		cfg.Name = "c1m"
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "c1m."
	}
	if !strings.HasSuffix(cfg.Prefix, ".") {
		cfg.Prefix += "."
	}
	if cfg.Stream == "" {
		cfg.Stream = "C1M"
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.HistorySize == 0 {
		cfg.HistorySize = hub.DefaultHistorySize
	}
	cfg.HistorySize = max(cfg.HistorySize, 1)
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if cfg.PendingMsgs <= 0 {
		cfg.PendingMsgs = 1_000_000
	}
	if cfg.PendingBytes <= 0 {
		cfg.PendingBytes = 256 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	n := &Node{cfg: cfg, log: cfg.Logger.With("component", "cluster"), prefix: cfg.Prefix, live: LivePrefix + cfg.Prefix}
	n.in.init()
	n.pubs.init()
	n.fills.m = make(map[string]*flight)
	opts := append([]nats.Option{
		nats.Name("c1m " + cfg.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectBufSize(-1), // publishes while disconnected fail at once (503) instead of waiting in a buffer
		nats.Timeout(cfg.ConnectTimeout),
		nats.DisconnectErrHandler(n.onDisconnect),
		nats.ReconnectHandler(n.onReconnect),
		nats.ErrorHandler(n.onError),
	}, cfg.Options...)
	nc, err := connect(ctx, strings.Join(cfg.URLs, ","), cfg.ConnectTimeout, opts)
	if err != nil {
		return nil, err
	}
	n.nc = nc
	n.js, err = jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	if n.epoch, err = n.ensureStream(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	n.log.Info("joined the cluster", "nats", nc.ConnectedUrlRedacted(), "stream", cfg.Stream,
		"epoch", n.epoch, "prefix", cfg.Prefix, "node", cfg.Name)
	return n, nil
}

// connect dials NATS, retrying until timeout (NATS may start after the node).
func connect(ctx context.Context, url string, timeout time.Duration, opts []nats.Option) (*nats.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		nc, err := nats.Connect(url, opts...)
		if err == nil {
			return nc, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("cluster: connecting to NATS at %s: %w", url, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// ensureStream creates the stream or brings its limits in line with the
// configuration, and returns the epoch: the stream's creation time.
func (n *Node) ensureStream(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.ConnectTimeout)
	defer cancel()
	sc := jetstream.StreamConfig{
		Name:              n.cfg.Stream,
		Description:       "c1m topics: last values and history",
		Subjects:          []string{n.prefix + ">"},
		MaxMsgsPerSubject: int64(n.cfg.HistorySize),
		MaxAge:            n.cfg.MaxAge,
		Discard:           jetstream.DiscardOld,
		Replicas:          n.cfg.Replicas,
		AllowDirect:       true,
		RePublish:         &jetstream.RePublish{Source: n.prefix + ">", Destination: n.live + ">"},
	}
	if n.cfg.Memory {
		sc.Storage = jetstream.MemoryStorage
	}
	s, err := n.js.CreateOrUpdateStream(ctx, sc)
	if err != nil {
		return "", fmt.Errorf("cluster: stream %s: %w", n.cfg.Stream, err)
	}
	return epochOf(s.CachedInfo().Created), nil
}

func epochOf(created time.Time) string {
	return "js" + strconv.FormatInt(created.UnixNano(), 36)
}

// Attach makes h the hub the node delivers to. Call it once, before
// serving; h's Config.Broker must be n and its Epoch n.Epoch().
func (n *Node) Attach(h *hub.Hub) { n.hub = h }

// Epoch is the cluster's epoch (the stream's identity).
func (n *Node) Epoch() string { return n.epoch }

// Name is the node's name.
func (n *Node) Name() string { return n.cfg.Name }

// Ready returns nil when the node can serve: connected to NATS, not
// draining, on the stream it started with.
func (n *Node) Ready() error {
	switch {
	case n.closed.Load():
		return errors.New("closed")
	case n.draining.Load():
		return errors.New("draining")
	case n.stale.Load():
		return errors.New("the stream was created again (new epoch): restart this node")
	case !n.nc.IsConnected():
		return errors.New("NATS unreachable (" + n.nc.Status().String() + ")")
	}
	return nil
}

// Drain marks the node as draining: Ready fails from now on, so load
// balancers send new clients elsewhere while the server closes its own.
func (n *Node) Drain() { n.draining.Store(true) }

// Close waits for resyncs in progress and closes the NATS connection.
func (n *Node) Close() {
	if n.closed.Swap(true) {
		return
	}
	n.nc.Close()
	n.resyncs.Wait()
}

func (n *Node) onDisconnect(_ *nats.Conn, err error) {
	if n.closed.Load() {
		return
	}
	n.stats.disconnects.Add(1)
	n.log.Warn("NATS disconnected: not ready, publishes and new subscriptions refused until it is back", "err", err)
}

// onReconnect brings every pattern the node holds up to date: messages
// published while the node was away reach its clients now, in order.
func (n *Node) onReconnect(nc *nats.Conn) {
	n.stats.reconnects.Add(1)
	n.log.Info("NATS reconnected: catching up every subscribed pattern from the stream", "nats", nc.ConnectedUrlRedacted())
	n.resyncs.Add(1)
	go func() {
		defer n.resyncs.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if s, err := n.js.Stream(ctx, n.cfg.Stream); err == nil && epochOf(s.CachedInfo().Created) != n.epoch {
			n.stale.Store(true)
			n.log.Error("the stream was created again since this node started (its history is gone): restart this node to take the new epoch",
				"stream", n.cfg.Stream, "epoch", n.epoch)
			return
		}
		for _, p := range n.in.active() {
			if err := n.sync(ctx, p); err != nil {
				n.log.Warn("catching up after a reconnect", "pattern", p, "err", err)
			}
		}
	}()
}

func (n *Node) onError(_ *nats.Conn, sub *nats.Subscription, err error) {
	if errors.Is(err, nats.ErrSlowConsumer) {
		n.stats.slow.Add(1)
		if sub != nil {
			// Messages were dropped: catch the pattern up from the stream
			// in case no later message reveals the gap.
			if p, ok := n.in.patternOf(sub); ok {
				n.resyncs.Add(1)
				go func() {
					defer n.resyncs.Done()
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					_ = n.sync(ctx, p)
				}()
			}
		}
		return
	}
	n.log.Warn("NATS error", "err", err)
}

// Stats are the node's NATS counters for /stats and /metrics.
type Stats struct {
	Node          string `json:"node"`
	Connected     bool   `json:"connected"`
	Ready         bool   `json:"ready"`
	Status        string `json:"status"`
	URL           string `json:"url"`
	Stream        string `json:"stream"`
	Epoch         string `json:"epoch"`
	Patterns      int    `json:"patterns"`      // distinct patterns local clients hold
	Subscriptions int    `json:"subscriptions"` // NATS subscriptions held (patterns not covered by another)
	MsgsIn        uint64 `json:"msgs_in"`       // live messages received
	MsgsOut       uint64 `json:"msgs_out"`      // messages published (stored)
	PublishRetry  uint64 `json:"publish_retries"`
	PublishErrors uint64 `json:"publish_errors"`
	GapFills      uint64 `json:"gap_fills"`          // gaps noticed and filled from the stream
	GapsFilled    uint64 `json:"gaps_filled"`        // messages fetched to fill them
	Unrecoverable uint64 `json:"gaps_unrecoverable"` // gaps the stream no longer held
	Backfilled    uint64 `json:"backfilled"`         // history messages loaded for recovery
	Resynced      uint64 `json:"resynced"`           // topics caught up by a sync
	SlowConsumer  uint64 `json:"slow_consumer_events"`
	Dropped       uint64 `json:"dropped"` // messages nats.go dropped for slow subscriptions
	Reconnects    uint64 `json:"reconnects"`
	Disconnects   uint64 `json:"disconnects"`
}

// Stats returns the current counters.
func (n *Node) Stats() Stats {
	subs, pats, dropped := n.in.counts()
	return Stats{
		Node:          n.cfg.Name,
		Connected:     n.nc.IsConnected(),
		Ready:         n.Ready() == nil,
		Status:        n.nc.Status().String(),
		URL:           n.nc.ConnectedUrlRedacted(),
		Stream:        n.cfg.Stream,
		Epoch:         n.epoch,
		Patterns:      pats,
		Subscriptions: subs,
		MsgsIn:        n.stats.msgsIn.Load(),
		MsgsOut:       n.stats.msgsOut.Load(),
		PublishRetry:  n.stats.retries.Load(),
		PublishErrors: n.stats.pubErrors.Load(),
		GapFills:      n.stats.gapFills.Load(),
		GapsFilled:    n.stats.gapsFilled.Load(),
		Unrecoverable: n.stats.unrecoverable.Load(),
		Backfilled:    n.stats.backfilled.Load(),
		Resynced:      n.stats.resynced.Load(),
		SlowConsumer:  n.stats.slow.Load(),
		Dropped:       dropped,
		Reconnects:    n.stats.reconnects.Load(),
		Disconnects:   n.stats.disconnects.Load(),
	}
}
