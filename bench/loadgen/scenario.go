package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Result is one line of the load generator's output: a scenario run against
// one server with its parameters and measured metrics. Metrics that could not
// be measured are absent (never NaN), so a report can tell "missing" apart.
type Result struct {
	Server   string             `json:"server"`
	Scenario string             `json:"scenario"`
	Params   map[string]string  `json:"params"`
	Metrics  map[string]float64 `json:"metrics"`
	Note     string             `json:"note,omitempty"`
}

// Config describes a load generator run. Zero values of the tuning fields
// mean the defaults documented on each field.
type Config struct {
	Server      string        // label written into results
	URL         string        // server base URL, e.g. http://127.0.0.1:8080
	Scenario    string        // connect, idle, broadcast, slow, sse, idle_sse, socketio, idle_sio, stomp, idle_stomp, sockjs, idle_sockjs, hold, cluster, deflate
	Conns       []int         // connection counts (steps for connect/idle, subscriber counts for broadcast/slow)
	Payloads    []int         // broadcast payload sizes in bytes; default 64,256,1024
	Rates       []string      // broadcast rates in msg/s; "max" floods, "half" is half the max measured before; default max,half
	Duration    time.Duration // publishing time per measurement; default 5s
	SlowRate    float64       // slow scenario publish rate; default 200 msg/s
	Workers     int           // minimum worker processes; default 1 (more when Conns exceed MaxPerWorker each)
	SrcBase     int           // first source address 127.0.0.SrcBase; default 2
	Concurrency int           // handshakes in flight per worker; default 100
	Topic       string        // default bench.0
	Ping        time.Duration // client ping interval; default none
	Proto       string        // ProtoNative (default: c1m, bench/peers) or ProtoCentrifugo
	APIKey      string        // Centrifugo's HTTP API key (publishing, /api/info)
	SSEPath     string        // event-stream request path and query; default by Proto (see ssePath)
	SIOPath     string        // Socket.IO path (socketio, idle_sio); default DefaultSIOPath
	SIO         string        // Socket.IO transport of idle_sio: SIOWebSocket (default) or SIOPolling; socketio is WebSocket only
	STOMPPath   string        // STOMP over WebSocket endpoint (stomp, idle_stomp); default DefaultSTOMPPath, or RabbitSTOMPPath with ProtoSTOMP
	STOMPHost   string        // STOMP CONNECT's host header; default the server's host:port, or "/" (RabbitMQ's default vhost) with ProtoSTOMP
	SockJSPath  string        // SockJS prefix carrying the native protocol (sockjs, idle_sockjs); default DefaultSockJSPath
	SockJS      string        // SockJS receiving transport (sockjs, idle_sockjs): SockJSXHRStreaming (default), SockJSEventSource, SockJSXHR or SockJSWebSocket
	Cluster     ClusterConfig // the cluster scenario's own settings (see cluster.go)
	Deflate     DeflateConfig // the deflate scenario's own settings (see deflate.go)
	Out         io.Writer
	Log         *slog.Logger
}

func (c *Config) defaults() {
	if len(c.Payloads) == 0 {
		c.Payloads = []int{64, 256, 1024}
	}
	if len(c.Rates) == 0 {
		c.Rates = []string{"max", "half"}
	}
	if c.Duration <= 0 {
		c.Duration = 5 * time.Second
	}
	if c.SlowRate <= 0 {
		c.SlowRate = 200
	}
	if c.SrcBase <= 0 {
		c.SrcBase = 2
	}
	if c.Topic == "" {
		c.Topic = "bench.0"
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.Out == nil {
		c.Out = io.Discard
	}
	if c.Proto == "" {
		c.Proto = ProtoNative
	}
	if c.SIOPath == "" {
		c.SIOPath = DefaultSIOPath
	}
	if c.SIO == "" {
		c.SIO = SIOWebSocket
	}
	if c.STOMPPath == "" {
		c.STOMPPath = DefaultSTOMPPath
		if c.Proto == ProtoSTOMP {
			c.STOMPPath = RabbitSTOMPPath
		}
	}
	if c.STOMPHost == "" && c.Proto == ProtoSTOMP {
		c.STOMPHost = "/"
	}
	if c.SockJSPath == "" {
		c.SockJSPath = DefaultSockJSPath
	}
	if c.SockJS == "" {
		c.SockJS = SockJSXHRStreaming
	}
}

// sockjs tells whether the scenario's clients speak SockJS (the native
// protocol inside it).
func (c *Config) sockjs() bool { return c.Scenario == "sockjs" || c.Scenario == "idle_sockjs" }

// stomp tells whether the scenario's clients speak STOMP over WebSocket.
func (c *Config) stomp() bool { return c.Scenario == "stomp" || c.Scenario == "idle_stomp" }

// sio tells whether the scenario's clients speak Socket.IO.
func (c *Config) sio() bool { return c.Scenario == "socketio" || c.Scenario == "idle_sio" }

// wsPath is the WebSocket endpoint of the server's protocol.
func (c *Config) wsPath() string {
	if c.Proto == ProtoCentrifugo {
		return "/connection/websocket"
	}
	return "/ws"
}

// ssePath is the request for an event stream subscribed to the topic: c1m's
// GET /sse?topics=T, or Centrifugo's unidirectional SSE with an anonymous
// connect request naming the channel.
func (c *Config) ssePath() string {
	switch {
	case c.SSEPath != "":
		return c.SSEPath
	case c.Proto == ProtoCentrifugo:
		return CentrifugoUniSSEPath(c.Topic)
	}
	return "/sse?topics=" + url.QueryEscape(c.Topic)
}

// sse tells whether the scenario's clients are event streams.
func (c *Config) sse() bool { return c.Scenario == "sse" || c.Scenario == "idle_sse" }

type runner struct {
	cfg   Config
	http  *http.Client
	addr  string
	stats statsSource
	outMu sync.Mutex
	spub  *STOMPPublisher // ProtoSTOMP: the publisher's connection, opened once per run

	floodWindow uint64 // rate=max: messages not yet delivered to everyone, at most (0: by subscribers, see publishAndDrain)
}

// Run executes cfg.Scenario and writes one Result per measurement to cfg.Out.
func Run(ctx context.Context, cfg Config) error {
	cfg.defaults()
	// hold takes a comma-separated list; the others a single URL.
	u, err := url.Parse(strings.Split(cfg.URL, ",")[0])
	if err != nil {
		return err
	}
	if len(cfg.Conns) == 0 {
		return errors.New("no connection counts")
	}
	r := &runner{
		cfg:  cfg,
		addr: u.Host,
		http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}},
	}
	r.stats = &nativeStats{client: r.http, url: cfg.URL}
	if cfg.Proto == ProtoCentrifugo {
		port, err := strconv.Atoi(u.Port())
		if err != nil {
			return fmt.Errorf("-url %s: no port", cfg.URL)
		}
		r.stats = &centrifugoStats{client: r.http, url: cfg.URL, key: cfg.APIKey, port: port}
	} else if cfg.Proto == ProtoSTOMP {
		port, err := strconv.Atoi(u.Port())
		if err != nil {
			return fmt.Errorf("-url %s: no port", cfg.URL)
		}
		if cfg.Scenario != "stomp" {
			return fmt.Errorf("scenario %s: -proto %s (a STOMP broker) runs only the stomp scenario", cfg.Scenario, ProtoSTOMP)
		}
		r.stats = &brokerStats{port: port}
		defer func() {
			if r.spub != nil {
				r.spub.Close()
			}
		}()
	} else if cfg.Proto != ProtoNative {
		return fmt.Errorf("unknown protocol %q (%s, %s or %s)", cfg.Proto, ProtoNative, ProtoCentrifugo, ProtoSTOMP)
	}
	if cfg.Proto == ProtoCentrifugo && (cfg.Scenario == "slow" || cfg.Scenario == "hold" || cfg.sio() || cfg.stomp() || cfg.sockjs()) {
		return fmt.Errorf("scenario %s: bench protocol servers only", cfg.Scenario)
	}
	if cfg.SIO != SIOWebSocket && cfg.SIO != SIOPolling {
		return fmt.Errorf("unknown Socket.IO transport %q (%s or %s)", cfg.SIO, SIOWebSocket, SIOPolling)
	}
	if cfg.Scenario == "socketio" && cfg.SIO != SIOWebSocket {
		return errors.New("scenario socketio: WebSocket transport only")
	}
	if !slices.Contains(SockJSTransports, cfg.SockJS) {
		return fmt.Errorf("unknown SockJS transport %q (%s)", cfg.SockJS, strings.Join(SockJSTransports, ", "))
	}
	switch cfg.Scenario {
	case "connect", "idle", "idle_sse", "idle_sio", "idle_stomp", "idle_sockjs":
		return r.connectIdle(ctx)
	case "broadcast", "sse", "socketio", "stomp", "sockjs":
		return r.broadcast(ctx)
	case "slow":
		return r.slow(ctx)
	case "hold":
		return r.hold(ctx)
	case "cluster":
		return r.cluster(ctx)
	case "deflate":
		return r.deflate(ctx)
	}
	return fmt.Errorf("unknown scenario %q", cfg.Scenario)
}

func (r *runner) emit(res Result) {
	res.Server = r.cfg.Server
	for k, v := range res.Metrics {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			delete(res.Metrics, k)
		}
	}
	b, _ := json.Marshal(res)
	r.outMu.Lock()
	defer r.outMu.Unlock()
	r.cfg.Out.Write(append(b, '\n'))
	r.cfg.Log.Info("result", "scenario", res.Scenario, "params", res.Params, "metrics", res.Metrics)
}

func workersFor(n, min int) int {
	return max(min, (n+MaxPerWorker-1)/MaxPerWorker, 1)
}

func (r *runner) pool(n int) (*Pool, error) {
	p, err := NewPool(workersFor(n, r.cfg.Workers), r.cfg.SrcBase)
	if err != nil {
		return nil, err
	}
	if r.cfg.Ping > 0 {
		if err := p.SetPing(r.cfg.Ping); err != nil {
			p.Close()
			return nil, err
		}
	}
	return p, nil
}

// settleEmpty waits until the server holds no connections and samples it.
func (r *runner) settleEmpty(ctx context.Context) (ServerSample, error) {
	return waitConns(ctx, r.stats, func(n int64) bool { return n == 0 }, 30*time.Second)
}

// dialSpec is an order for n connections of the scenario's kind (WebSocket
// or event stream, in the server's protocol), subscribed to topic when not
// empty (event streams are always subscribed).
func (r *runner) dialSpec(topic string) DialSpec {
	d := DialSpec{Addrs: []string{r.addr}, Path: r.cfg.wsPath(), Proto: r.cfg.Proto, Topic: topic, Concurrency: r.cfg.Concurrency}
	if r.cfg.sse() {
		d.SSE, d.Path, d.Topic = true, r.cfg.ssePath(), r.cfg.Topic
	}
	if r.cfg.sio() {
		// Idle Socket.IO clients are subscribed too, like event streams:
		// a connected socket that joined the bench topic's room.
		d.SIO, d.Path, d.Topic = r.cfg.SIO, r.cfg.SIOPath, r.cfg.Topic
	}
	if r.cfg.stomp() {
		// Idle STOMP clients are subscribed too: CONNECTED, then SUBSCRIBE.
		d.STOMP, d.Path, d.Topic, d.STOMPHost = true, r.cfg.STOMPPath, r.cfg.Topic, r.cfg.STOMPHost
	}
	if r.cfg.sockjs() {
		// Idle SockJS sessions are subscribed too: "o", then the native sub.
		d.SockJS, d.Path, d.Topic = r.cfg.SockJS, r.cfg.SockJSPath, r.cfg.Topic
	}
	return d
}

func us(ns float64) float64 { return ns / 1e3 }

func (r *runner) connectIdle(ctx context.Context) error {
	base, err := r.settleEmpty(ctx)
	if err != nil {
		return fmt.Errorf("empty server: %w", err)
	}
	maxN := 0
	for _, n := range r.cfg.Conns {
		maxN = max(maxN, n)
	}
	p, err := r.pool(maxN)
	if err != nil {
		return err
	}
	defer p.Close()
	held := 0
	for _, step := range r.cfg.Conns {
		if step <= held {
			continue
		}
		res, err := p.Dial(r.dialSpec(""), step-held)
		if err != nil {
			return err
		}
		held += res.OK
		params := map[string]string{"conns": strconv.Itoa(step)}
		if r.cfg.sio() {
			params["transport"] = r.cfg.SIO
		}
		if r.cfg.sockjs() {
			params["transport"] = r.cfg.SockJS
		}
		if res.Failed > 0 {
			r.cfg.Log.Warn("dial failures", "failed", res.Failed, "first", res.FirstErr)
		}
		if r.cfg.Scenario == "connect" {
			var up Histogram
			up.MergeSparse(res.Upgrade)
			el := float64(res.ElapsedNs) / 1e9
			r.emit(Result{Scenario: "connect", Params: params, Metrics: map[string]float64{
				"upgrades_per_s": float64(res.OK) / el,
				"upgrade_p50_us": us(up.Quantile(.5)),
				"upgrade_p99_us": us(up.Quantile(.99)),
				"upgrade_max_us": us(float64(up.Max())),
				"failed":         float64(res.Failed),
				"held":           float64(held),
			}, Note: res.FirstErr})
			continue
		}
		s, err := waitConns(ctx, r.stats, func(n int64) bool { return n >= int64(held) }, 30*time.Second)
		if err != nil {
			return fmt.Errorf("server did not reach %d conns: %w", held, err)
		}
		n := float64(held)
		note := "kernel_slab_per_conn is machine-wide and counts both socket ends (client and server are on this host)"
		if r.cfg.sse() {
			note += "; each SSE stream is subscribed to " + r.cfg.Topic
		}
		if r.cfg.sio() {
			note += "; each Socket.IO client is connected to / and subscribed to " + r.cfg.Topic
		}
		if r.cfg.stomp() {
			note += "; each STOMP client is CONNECTED and subscribed to /topic/" + r.cfg.Topic
		}
		if r.cfg.sockjs() {
			note += "; each SockJS session (" + r.cfg.SockJS + ") is open and subscribed to " + r.cfg.Topic + " (its xhr_send connection closed)"
		}
		r.emit(Result{Scenario: r.cfg.Scenario, Params: params, Metrics: map[string]float64{
			"held":                 float64(held),
			"failed":               float64(res.Failed),
			"heap_alloc_per_conn":  (float64(s.HeapAlloc) - float64(base.HeapAlloc)) / n,
			"heap_inuse_per_conn":  (float64(s.HeapInuse) - float64(base.HeapInuse)) / n,
			"rss_per_conn":         (float64(s.RSS) - float64(base.RSS)) / n,
			"kernel_slab_per_conn": (float64(s.Slab) - float64(base.Slab)) / n,
			"goroutines_per_conn":  (float64(s.Goroutines) - float64(base.Goroutines)) / n,
			"server_rss_mb":        float64(s.RSS) / (1 << 20),
		}, Note: note})
	}
	return nil
}

// subscribe opens n subscribers of the topic and waits for the server to see them.
func (r *runner) subscribe(ctx context.Context, n, slowEvery int) (*Pool, DialResult, error) {
	if _, err := r.settleEmpty(ctx); err != nil {
		return nil, DialResult{}, fmt.Errorf("empty server: %w", err)
	}
	if bs, ok := r.stats.(*brokerStats); ok {
		if err := bs.quiesce(ctx, r.cfg.Log); err != nil {
			return nil, DialResult{}, err
		}
	}
	p, err := r.pool(n)
	if err != nil {
		return nil, DialResult{}, err
	}
	spec := r.dialSpec(r.cfg.Topic)
	spec.SlowEvery, spec.SlowRcvBuf = slowEvery, 4096
	res, err := p.Dial(spec, n)
	if err == nil && res.OK < n {
		err = fmt.Errorf("only %d of %d subscribers: %s", res.OK, n, res.FirstErr)
	}
	if err == nil {
		_, err = waitConns(ctx, r.stats, func(c int64) bool { return c >= int64(res.OK) }, 30*time.Second)
	}
	if err == nil && r.cfg.Scenario == "stomp" {
		err = r.stompProbe(ctx, p, res.OK)
	}
	if err != nil {
		p.Close()
		return nil, res, err
	}
	return p, res, nil
}

// measurement is one publish period and what the subscribers saw.
type measurement struct {
	sent     uint64
	pubSecs  float64
	start    time.Time
	before   ServerSample
	after    ServerSample
	rx       Received
	expected uint64
	genTicks uint64  // load generator CPU ticks over the measurement
	genSecs  float64 // wall time of the measurement
	peakRSS  uint64  // highest server RSS seen while publishing and draining
}

// publishAndDrain publishes (paced at rate, or flooding when rate == 0) and
// waits until every fast subscriber has every message, progress stops for 2s,
// or 20s pass.
func (r *runner) publishAndDrain(ctx context.Context, p *Pool, pub *Publisher, rate float64, fast int, d time.Duration) (measurement, error) {
	var m measurement
	if err := p.ResetRecv(); err != nil {
		return m, err
	}
	var err error
	if m.before, err = r.stats.Sample(ctx); err != nil {
		return m, err
	}
	// Peak RSS from /proc only (no /stats call, which may run a GC), every 100ms.
	stopPeak := make(chan struct{})
	peakDone := make(chan uint64)
	go func() {
		peak := m.before.RSS
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopPeak:
				peakDone <- peak
				return
			case <-t.C:
				if v, err := procStatusKB(m.before.Pid, "VmRSS:"); err == nil {
					peak = max(peak, v)
				}
			}
		}
	}()
	peakStopped := false
	stopPeakSampler := func() {
		if !peakStopped {
			peakStopped = true
			close(stopPeak)
			m.peakRSS = <-peakDone
		}
	}
	defer stopPeakSampler()
	genStart := p.CPUTicks()
	m.start = time.Now()
	if rate > 0 {
		m.sent, err = pub.Paced(ctx, rate, d)
	} else {
		window := uint64(min(max(100000/max(fast, 1), 2), 50))
		if r.floodWindow > 0 {
			window = r.floodWindow
		}
		m.sent, err = pub.Flood(ctx, d, 2, 10, window, fast, p.Deliveries)
	}
	m.pubSecs = time.Since(m.start).Seconds()
	if err != nil {
		return m, fmt.Errorf("publish: %w", err)
	}
	m.expected = m.sent * uint64(fast)
	deadline := time.Now().Add(20 * time.Second)
	var last uint64
	lastChange := time.Now()
	for time.Now().Before(deadline) {
		n, err := p.Deliveries()
		if err != nil {
			return m, err
		}
		if n >= m.expected {
			break
		}
		if n != last {
			last, lastChange = n, time.Now()
		} else if time.Since(lastChange) > 2*time.Second {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	m.genTicks = p.CPUTicks() - genStart
	m.genSecs = time.Since(m.start).Seconds()
	stopPeakSampler()
	if m.rx, err = p.Report(fast); err != nil {
		return m, err
	}
	m.after, err = r.stats.Sample(ctx)
	return m, err
}

func (m *measurement) metrics() map[string]float64 {
	span := float64(m.rx.LastRecv-m.start.UnixNano()) / 1e9
	cpu := float64(m.after.CPUTicks-m.before.CPUTicks) / ClockTicks
	d := float64(m.rx.Deliveries)
	return map[string]float64{
		"published":            float64(m.sent),
		"publish_per_s":        float64(m.sent) / m.pubSecs,
		"deliveries":           d,
		"delivered_ratio":      d / float64(m.expected),
		"deliveries_per_s":     d / span,
		"lat_p50_us":           us(m.rx.Lat.Quantile(.5)),
		"lat_p99_us":           us(m.rx.Lat.Quantile(.99)),
		"lat_p999_us":          us(m.rx.Lat.Quantile(.999)),
		"lat_max_us":           us(float64(m.rx.Lat.Max())),
		"fanout_p50_ms":        m.rx.Completion.Quantile(.5) / 1e6,
		"fanout_p99_ms":        m.rx.Completion.Quantile(.99) / 1e6,
		"fanout_max_ms":        float64(m.rx.Completion.Max()) / 1e6,
		"incomplete_seqs":      float64(m.rx.Incomplete),
		"cpu_s_per_m_deliv":    cpu / (d / 1e6),
		"server_rss_mb":        float64(m.after.RSS) / (1 << 20),
		"server_rss_peak_mb":   float64(m.peakRSS) / (1 << 20),
		"server_heap_inuse_mb": float64(m.after.HeapInuse) / (1 << 20),
		"client_closed":        float64(m.rx.Closed),
		// Cores the load generator's workers used: near the number of CPUs it
		// is pinned to means the load generator, not the server, was the limit.
		"loadgen_cpu_cores": float64(m.genTicks) / ClockTicks / m.genSecs,
	}
}

func (r *runner) broadcast(ctx context.Context) error {
	for _, n := range r.cfg.Conns {
		if err := r.broadcastN(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

func (r *runner) broadcastN(ctx context.Context, n int) error {
	p, res, err := r.subscribe(ctx, n, 0)
	if err != nil {
		return err
	}
	defer func() { p.Close() }() // p may be replaced below
	for _, size := range r.cfg.Payloads {
		pub, err := r.publisher(ctx, size, n)
		if err != nil {
			return err
		}
		maxRate := 0.0
		for _, label := range r.cfg.Rates {
			rate, err := parseRate(label, maxRate)
			if err != nil {
				return err
			}
			m, err := r.publishAndDrain(ctx, p, pub, rate, res.OK, r.cfg.Duration)
			if err != nil {
				return err
			}
			if m.rx.Closed > 0 {
				// The server dropped subscribers (a slow-consumer policy):
				// the next measurement starts again with all n.
				r.cfg.Log.Warn("server closed subscribers; resubscribing", "closed", m.rx.Closed, "first", m.rx.FirstErr)
				p.Close()
				if p, res, err = r.subscribe(ctx, n, 0); err != nil {
					return err
				}
			} else if r.cfg.Proto == ProtoSTOMP && m.rx.Deliveries < m.expected {
				// A broker queues what it did not deliver without bound (a
				// queue per subscriber): fresh subscribers, whose queues go
				// with them, so the backlog does not run into the next one.
				r.cfg.Log.Warn("broker still has undelivered messages; resubscribing", "delivered", m.rx.Deliveries, "expected", m.expected)
				p.Close()
				if p, res, err = r.subscribe(ctx, n, 0); err != nil {
					return err
				}
			}
			met := m.metrics()
			if r.cfg.Proto == ProtoSTOMP {
				delete(met, "server_heap_inuse_mb") // a broker without /stats: no heap figure
			}
			if label == "max" {
				maxRate = met["publish_per_s"]
			}
			met["rate_target"] = rate
			params := map[string]string{"conns": strconv.Itoa(n), "payload": strconv.Itoa(size), "rate": label}
			if r.cfg.sockjs() {
				params["transport"] = r.cfg.SockJS
			}
			r.emit(Result{Scenario: r.cfg.Scenario, Params: params, Metrics: met, Note: m.rx.FirstErr})
		}
	}
	return nil
}

func (r *runner) slow(ctx context.Context) error {
	for _, n := range r.cfg.Conns {
		p, res, err := r.subscribe(ctx, n, 100)
		if err != nil {
			return err
		}
		fast := res.OK - res.Slow
		pub := &Publisher{Client: r.http, BaseURL: r.cfg.URL, Topic: r.cfg.Topic, Size: 1024}
		// The baseline needs a few seconds; the slow phase needs the whole
		// duration, to push more than the kernel's socket buffers hold.
		before, err := r.publishAndDrain(ctx, p, pub, r.cfg.SlowRate, fast, max(2*time.Second, r.cfg.Duration/4))
		if err == nil {
			err = p.PauseSlow()
		}
		var after measurement
		if err == nil {
			after, err = r.publishAndDrain(ctx, p, pub, r.cfg.SlowRate, fast, r.cfg.Duration)
		}
		p.Close()
		if err != nil {
			return err
		}
		b, a := before.metrics(), after.metrics()
		r.emit(Result{Scenario: "slow", Params: map[string]string{
			"conns": strconv.Itoa(n), "payload": "1024", "rate": strconv.FormatFloat(r.cfg.SlowRate, 'f', -1, 64),
		}, Metrics: map[string]float64{
			"slow_consumers":        float64(res.Slow),
			"lat_p99_before_us":     b["lat_p99_us"],
			"lat_p99_after_us":      a["lat_p99_us"],
			"lat_p50_before_us":     b["lat_p50_us"],
			"lat_p50_after_us":      a["lat_p50_us"],
			"delivered_ratio_after": a["delivered_ratio"],
			"server_rss_before_mb":  b["server_rss_mb"],
			"server_rss_after_mb":   a["server_rss_mb"],
			"server_rss_peak_mb":    a["server_rss_peak_mb"],
			"slow_mb_sent_each":     float64(after.sent) * 1024 / (1 << 20),
			"server_heap_before_mb": b["server_heap_inuse_mb"],
			"server_heap_after_mb":  a["server_heap_inuse_mb"],
			// A server that gives up on a slow consumer closes a socket the
			// client is not reading: the FIN waits behind unsent data, so the
			// client may never see it. The server's own count does.
			"server_closed":          float64(after.before.Conns - after.after.Conns),
			"client_saw_slow_closed": float64(after.rx.SlowClosed),
			"fast_closed":            float64(after.rx.Closed - after.rx.SlowClosed),
		}, Note: after.rx.FirstErr})
	}
	return nil
}

// parseRate reads one step of Config.Rates: "max" (0: as fast as the
// window allows), "half" (half of the max measured before it), or a
// positive number of messages per second.
func parseRate(label string, maxRate float64) (float64, error) {
	switch label {
	case "max":
		return 0, nil
	case "half":
		if maxRate == 0 {
			return 0, errors.New(`rate "half" needs "max" before it`)
		}
		return maxRate / 2, nil
	}
	rate, err := strconv.ParseFloat(label, 64)
	if err != nil || rate <= 0 {
		return 0, fmt.Errorf("bad rate %q", label)
	}
	return rate, nil
}
