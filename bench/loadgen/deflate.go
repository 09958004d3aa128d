package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// The deflate scenario measures permessage-deflate (RFC 7692) on a JSON
// market-data feed: native WebSocket subscribers (gorilla/websocket clients
// in this process, offering permessage-deflate as browsers do) on a few
// topics, a paced HTTP publisher of quotes (~135-byte data) or order-book
// updates (~600-byte data), and per measurement the deliveries per server
// CPU-second, the bytes the client sockets read per delivery, latency and
// the server's deflate counters from /stats. The server's configuration
// (deflate off, on with the default threshold, on with threshold 0) is set
// by whoever starts it (scripts/bench.sh) and labelled with -deflate-mode:
// one run of the load generator per configuration, each on a fresh server.

// DeflateConfig is the deflate scenario's own settings.
type DeflateConfig struct {
	Mode      string   // label of the server's configuration (params "mode"): off, default, zero
	Kinds     []string // payloads: DeflateQuote, DeflateBook; default both
	Topics    int      // topics the feed is spread over; default 4
	SubTopics int      // topics each subscriber subscribes to; default 2
	NoOffer   bool     // clients do not offer permessage-deflate
}

// Payload kinds of the deflate scenario.
const (
	DeflateQuote = "quote" // top of book: {"sym":..,"bid":..,"ask":..,"bsz":..,"asz":..,...}, ~135 bytes
	DeflateBook  = "book"  // 5 levels of bids and asks, ~600 bytes
)

var deflateVenues = []string{"XNAS", "ARCX", "BATS", "EDGX", "IEXG"}

var deflateSyms = []string{"AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "AVGO", "JPM", "V", "XOM", "UNH", "MA", "COST", "NFLX", "AMD"}

// quoteGen builds the feed's JSON deterministically (the same sequence for
// every server configuration), with prices that walk like a real feed's.
type quoteGen struct {
	rng  *rand.Rand
	mid  []float64
	seq  uint64
	kind string
}

func newQuoteGen(kind string) *quoteGen {
	g := &quoteGen{rng: rand.New(rand.NewPCG(7692, 1)), kind: kind}
	for i := range deflateSyms {
		g.mid = append(g.mid, 50+float64(i)*37.31)
	}
	return g
}

// next appends one message's data to dst.
func (g *quoteGen) next(dst []byte, ts int64) []byte {
	g.seq++
	i := g.rng.IntN(len(deflateSyms))
	g.mid[i] = max(1, g.mid[i]+float64(g.rng.IntN(21)-10)*0.01)
	mid := g.mid[i]
	sz := func() int { return (1 + g.rng.IntN(50)) * 100 }
	if g.kind == DeflateBook {
		dst = fmt.Appendf(dst, `{"type":"book","sym":%q,"exch":"XNAS","seq":%d,"ts":%d,"bids":[`, deflateSyms[i], g.seq, ts)
		for l := range 5 {
			if l > 0 {
				dst = append(dst, ',')
			}
			dst = fmt.Appendf(dst, `{"px":%.2f,"sz":%d,"n":%d,"mm":%q}`, mid-0.01*float64(1+l*2), sz(), 1+g.rng.IntN(20), deflateVenues[g.rng.IntN(len(deflateVenues))])
		}
		dst = append(dst, `],"asks":[`...)
		for l := range 5 {
			if l > 0 {
				dst = append(dst, ',')
			}
			dst = fmt.Appendf(dst, `{"px":%.2f,"sz":%d,"n":%d,"mm":%q}`, mid+0.01*float64(1+l*2), sz(), 1+g.rng.IntN(20), deflateVenues[g.rng.IntN(len(deflateVenues))])
		}
		dst = fmt.Appendf(dst, `],"last":%.2f,"open":%.2f,"vol":%d,"halted":false}`, mid, mid*0.99, 1e6+g.rng.IntN(9e6))
		return dst
	}
	return fmt.Appendf(dst, `{"type":"quote","sym":%q,"exch":"XNAS","bid":%.2f,"ask":%.2f,"bsz":%d,"asz":%d,"seq":%d,"ts":%d}`,
		deflateSyms[i], mid-0.01, mid+0.01, sz(), sz(), g.seq, ts)
}

// deflateTopic names topic t of the feed.
func deflateTopic(t int) string { return "quotes." + strconv.Itoa(t) }

// deflateSubTopics are the topics subscriber i subscribes to: k consecutive
// topics (mod n) starting at i mod n.
func deflateSubTopics(i, k, n int) []int {
	k = min(k, n)
	out := make([]int, k)
	for j := range out {
		out[j] = (i + j) % n
	}
	return out
}

// deflateBody is the POST /publish body of n messages, round-robin over the
// topics from *next: [{"topic":T,"data":{...}},...]. perTopic counts them.
func deflateBody(dst []byte, g *quoteGen, n, topics int, next *int, perTopic []uint64) []byte {
	dst = append(dst, '[')
	ts := time.Now().UnixNano()
	for i := range n {
		if i > 0 {
			dst = append(dst, ',')
		}
		t := *next % topics
		*next++
		perTopic[t]++
		dst = fmt.Appendf(dst, `{"topic":%q,"data":`, deflateTopic(t))
		dst = g.next(dst, ts)
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

// countConn counts the bytes read from a connection into n.
type countConn struct {
	net.Conn
	n *atomic.Uint64
}

func (c countConn) Read(p []byte) (int, error) {
	k, err := c.Conn.Read(p)
	c.n.Add(uint64(k))
	return k, err
}

// deflateStats is what the deflate scenario reads from /stats: the poller's
// deflate_* counters and the process-wide compression counters ("deflate").
// A field the server does not report stays nil.
type deflateStats struct {
	Poller struct {
		Conns     *float64 `json:"deflate_conns"`
		Sent      *float64 `json:"deflate_sent"`
		Saved     *float64 `json:"deflate_saved_bytes"`
		FramesOut *float64 `json:"frames_out"`
	} `json:"poller"`
	Deflate *struct {
		Compressed     *float64 `json:"compressed"`
		In             *float64 `json:"compressed_in_bytes"`
		Out            *float64 `json:"compressed_out_bytes"`
		Incompressible *float64 `json:"incompressible"`
	} `json:"deflate"`
}

// parseDeflateStats reads the deflate counters of a /stats body.
func parseDeflateStats(body []byte) (deflateStats, error) {
	var s deflateStats
	err := json.Unmarshal(body, &s)
	return s, err
}

// deflateDeltas adds the server's counters to met, after minus before.
// Counters absent from either are left out.
func deflateDeltas(met map[string]float64, before, after deflateStats) {
	delta := func(name string, b, a *float64) {
		if a != nil && b != nil {
			met[name] = *a - *b
		}
	}
	delta("server_deflate_sent", before.Poller.Sent, after.Poller.Sent)
	delta("server_deflate_saved_bytes", before.Poller.Saved, after.Poller.Saved)
	delta("server_frames_out", before.Poller.FramesOut, after.Poller.FramesOut)
	if before.Deflate != nil && after.Deflate != nil {
		delta("server_compressed", before.Deflate.Compressed, after.Deflate.Compressed)
		delta("server_compressed_in_bytes", before.Deflate.In, after.Deflate.In)
		delta("server_compressed_out_bytes", before.Deflate.Out, after.Deflate.Out)
		delta("server_incompressible", before.Deflate.Incompressible, after.Deflate.Incompressible)
	}
}

func (r *runner) deflateStats(ctx context.Context) (deflateStats, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.cfg.URL+"/stats", nil)
	if err != nil {
		return deflateStats{}, err
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return deflateStats{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return deflateStats{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return deflateStats{}, fmt.Errorf("GET /stats: %s", resp.Status)
	}
	return parseDeflateStats(body)
}

// deflateClients are the subscribers of one measurement.
type deflateClients struct {
	conns      []*websocket.Conn
	negotiated int           // handshakes that agreed permessage-deflate
	wire       atomic.Uint64 // bytes read from the sockets
	deliveries atomic.Uint64
	msgBytes   atomic.Uint64 // message bytes after inflating
	errs       atomic.Uint64
	firstErr   atomic.Value
	recording  atomic.Bool
	shards     [16]struct {
		mu  sync.Mutex
		lat Histogram
	}
	wg sync.WaitGroup
}

func (c *deflateClients) reset() {
	c.recording.Store(false)
	for i := range c.shards {
		c.shards[i].mu.Lock()
		c.shards[i].lat.Reset()
		c.shards[i].mu.Unlock()
	}
	c.wire.Store(0)
	c.deliveries.Store(0)
	c.msgBytes.Store(0)
	c.recording.Store(true)
}

func (c *deflateClients) latency() *Histogram {
	var h Histogram
	for i := range c.shards {
		c.shards[i].mu.Lock()
		h.Merge(&c.shards[i].lat)
		c.shards[i].mu.Unlock()
	}
	return &h
}

func (c *deflateClients) close() {
	for _, ws := range c.conns {
		ws.Close()
	}
	c.wg.Wait()
}

// dial opens n subscribers, each subscribed to its topics (answered with
// ok), reading until closed.
func (r *runner) deflateDial(ctx context.Context, n int) (*deflateClients, error) {
	dc := r.cfg.Deflate
	c := &deflateClients{}
	d := c.dialer(10 * time.Second)
	d.EnableCompression = !dc.NoOffer
	url := "ws://" + r.addr + r.cfg.wsPath()
	topics := func(i int) []int { return deflateSubTopics(i, dc.SubTopics, dc.Topics) }
	if err := c.subscribeAll(ctx, d, url, n, r.cfg.Concurrency, topics); err != nil {
		return nil, err
	}
	return c, nil
}

// dialer returns a gorilla dialer whose connections count the bytes they
// read into c.wire.
func (c *deflateClients) dialer(timeout time.Duration) *websocket.Dialer {
	return &websocket.Dialer{
		HandshakeTimeout: timeout,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return countConn{Conn: conn, n: &c.wire}, nil
		},
	}
}

// subscribeAll connects n subscribers to url with d (at most min(conc, 50)
// dialing at once), subscribes subscriber i to topics(i) and starts their
// readers. On an error it closes those connected and returns the first.
func (c *deflateClients) subscribeAll(ctx context.Context, d *websocket.Dialer, url string, n, conc int, topics func(int) []int) error {
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, max(1, min(conc, 50)))
	var wg sync.WaitGroup
	c.conns = make([]*websocket.Conn, n)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ws, negotiated, err := deflateSubscribe(ctx, d, url, topics(i))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("subscriber %d (%s): %w", i, url, err)
				}
				return
			}
			c.conns[i] = ws
			if negotiated {
				c.negotiated++
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		for _, ws := range c.conns {
			if ws != nil {
				ws.Close()
			}
		}
		return firstErr
	}
	for i, ws := range c.conns {
		c.wg.Go(func() { c.read(ws, i) })
	}
	return nil
}

// deflateSubscribe dials one subscriber and subscribes it to topics.
func deflateSubscribe(ctx context.Context, d *websocket.Dialer, url string, topics []int) (*websocket.Conn, bool, error) {
	ws, resp, err := d.DialContext(ctx, url, nil)
	if err != nil {
		return nil, false, err
	}
	negotiated := resp != nil && strings.Contains(resp.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate")
	sub := []byte(`{"op":"sub","id":1,"topics":[`)
	for j, t := range topics {
		if j > 0 {
			sub = append(sub, ',')
		}
		sub = strconv.AppendQuote(sub, deflateTopic(t))
	}
	sub = append(sub, "]}"...)
	ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := ws.WriteMessage(websocket.TextMessage, sub); err != nil {
		ws.Close()
		return nil, false, err
	}
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, p, err := ws.ReadMessage()
		if err != nil {
			ws.Close()
			return nil, false, fmt.Errorf("waiting for the sub reply: %w", err)
		}
		if kind, id, _ := ScanMessage(p); kind == KindOK && id == 1 {
			break
		}
		if bytes.Contains(p, []byte(`"op":"error"`)) {
			ws.Close()
			return nil, false, fmt.Errorf("sub refused: %s", p)
		}
	}
	ws.SetReadDeadline(time.Time{})
	return ws, negotiated, nil
}

func (c *deflateClients) read(ws *websocket.Conn, i int) {
	sh := &c.shards[i%len(c.shards)]
	for {
		_, p, err := ws.ReadMessage()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) && !websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway) {
				c.errs.Add(1)
				c.firstErr.CompareAndSwap(nil, err.Error())
			}
			return
		}
		now := time.Now().UnixNano()
		kind, _, ts := ScanMessage(p)
		if kind != KindMsg || !c.recording.Load() {
			continue
		}
		c.deliveries.Add(1)
		c.msgBytes.Add(uint64(len(p)))
		sh.mu.Lock()
		sh.lat.Record(max(now-ts, 0))
		sh.mu.Unlock()
	}
}

func (c *Config) deflateDefaults() {
	if len(c.Deflate.Kinds) == 0 {
		c.Deflate.Kinds = []string{DeflateQuote, DeflateBook}
	}
	if c.Deflate.Topics <= 0 {
		c.Deflate.Topics = 4
	}
	if c.Deflate.SubTopics <= 0 {
		c.Deflate.SubTopics = 2
	}
	if c.Deflate.Mode == "" {
		c.Deflate.Mode = "unknown"
	}
}

// deflate runs the deflate scenario: per connection count and payload kind,
// fresh subscribers, then one measurement per rate.
func (r *runner) deflate(ctx context.Context) error {
	r.cfg.deflateDefaults()
	if r.cfg.Proto != ProtoNative {
		return errors.New("scenario deflate: native protocol only")
	}
	var rates []float64
	for _, l := range r.cfg.Rates {
		v, err := strconv.ParseFloat(l, 64)
		if err != nil || v <= 0 {
			return fmt.Errorf("scenario deflate: fixed rates only (msg/s), not %q", l)
		}
		rates = append(rates, v)
	}
	for _, k := range r.cfg.Deflate.Kinds {
		if k != DeflateQuote && k != DeflateBook {
			return fmt.Errorf("scenario deflate: unknown payload %q (%s or %s)", k, DeflateQuote, DeflateBook)
		}
	}
	for _, n := range r.cfg.Conns {
		for _, kind := range r.cfg.Deflate.Kinds {
			if err := r.deflateN(ctx, n, kind, rates); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *runner) deflateN(ctx context.Context, n int, kind string, rates []float64) error {
	dc := r.cfg.Deflate
	if _, err := r.settleEmpty(ctx); err != nil {
		return fmt.Errorf("empty server: %w", err)
	}
	preDial, err := r.deflateStats(ctx)
	if err != nil {
		return err
	}
	c, err := r.deflateDial(ctx, n)
	if err != nil {
		return err
	}
	defer c.close()
	s, err := waitConns(ctx, r.stats, func(k int64) bool { return k >= int64(n) }, 30*time.Second)
	if err != nil {
		return fmt.Errorf("server did not reach %d conns: %w", n, err)
	}
	pid := s.Pid
	subs := make([]uint64, dc.Topics) // subscribers per topic
	for i := range n {
		for _, t := range deflateSubTopics(i, dc.SubTopics, dc.Topics) {
			subs[t]++
		}
	}
	g := newQuoteGen(kind)
	next := 0
	for _, rate := range rates {
		before, err := r.deflateStats(ctx)
		if err != nil {
			return err
		}
		c.reset()
		t0, err := procCPUTicks(pid)
		if err != nil {
			return err
		}
		g0, _ := procCPUTicks(os.Getpid())
		start := time.Now()
		perTopic := make([]uint64, dc.Topics)
		sent, err := r.deflatePublish(ctx, g, rate, r.cfg.Duration, &next, perTopic)
		pubSecs := time.Since(start).Seconds()
		if err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		var expected uint64
		for t, k := range perTopic {
			expected += k * subs[t]
		}
		// Drain: every delivery in, progress stalled for 2 s, or 20 s.
		awaitDeliveries(&c.deliveries, expected)
		c.recording.Store(false)
		t1, err := procCPUTicks(pid)
		if err != nil {
			return err
		}
		g1, _ := procCPUTicks(os.Getpid())
		secs := time.Since(start).Seconds()
		wire, deliv, msgBytes := c.wire.Load(), c.deliveries.Load(), c.msgBytes.Load()
		after, err := r.deflateStats(ctx)
		if err != nil {
			return err
		}
		lat := c.latency()
		cpu := float64(t1-t0) / ClockTicks
		d := float64(deliv)
		met := map[string]float64{
			"published":             float64(sent),
			"publish_per_s":         float64(sent) / pubSecs,
			"rate_target":           rate,
			"deliveries":            d,
			"delivered_ratio":       d / float64(expected),
			"deliveries_per_s":      d / secs,
			"server_cpu_s":          cpu,
			"deliv_per_cpu_s":       d / cpu,
			"cpu_s_per_m_deliv":     cpu / (d / 1e6),
			"wire_bytes":            float64(wire),
			"wire_bytes_per_deliv":  float64(wire) / d,
			"msg_bytes_per_deliv":   float64(msgBytes) / d,
			"wire_mb_per_s":         float64(wire) / secs / (1 << 20),
			"lat_p50_us":            us(lat.Quantile(.5)),
			"lat_p99_us":            us(lat.Quantile(.99)),
			"lat_p999_us":           us(lat.Quantile(.999)),
			"lat_max_us":            us(float64(lat.Max())),
			"client_deflate_conns":  float64(c.negotiated),
			"client_errors":         float64(c.errs.Load()),
			"loadgen_cpu_cores":     float64(g1-g0) / ClockTicks / secs,
			"subscribers_per_msg":   float64(expected) / max(float64(sent), 1),
			"topics_per_subscriber": float64(min(dc.SubTopics, dc.Topics)),
			"measurement_wall_s":    secs,
		}
		deflateDeltas(met, before, after)
		if preDial.Poller.Conns != nil && after.Poller.Conns != nil {
			// The poller's count is of upgrades since the start: these subscribers'.
			met["server_deflate_conns"] = *after.Poller.Conns - *preDial.Poller.Conns
		}
		if in, out := met["server_compressed_in_bytes"], met["server_compressed_out_bytes"]; in > 0 {
			met["server_compressed_out_per_in"] = out / in
		}
		note := ""
		if v, ok := c.firstErr.Load().(string); ok {
			note = v
		}
		r.emit(Result{Scenario: "deflate", Params: map[string]string{
			"mode":    dc.Mode,
			"conns":   strconv.Itoa(n),
			"payload": kind,
			"rate":    strconv.FormatFloat(rate, 'f', -1, 64),
			"topics":  strconv.Itoa(dc.Topics),
		}, Metrics: met, Note: note})
	}
	return nil
}

// deflatePublish POSTs the feed at rate messages per second for d, batching
// what is due (at most MaxBatch per request). It returns the messages sent.
func (r *runner) deflatePublish(ctx context.Context, g *quoteGen, rate float64, d time.Duration, next *int, perTopic []uint64) (uint64, error) {
	start := time.Now()
	var sent uint64
	body := make([]byte, 0, 64<<10)
	for {
		el := time.Since(start)
		if el >= d {
			return sent, nil
		}
		due := int(rate*el.Seconds()) + 1 - int(sent)
		if due <= 0 {
			wait := time.Duration(float64(sent)/rate*float64(time.Second)) - el
			select {
			case <-ctx.Done():
				return sent, ctx.Err()
			case <-time.After(wait):
			}
			continue
		}
		k := min(due, MaxBatch)
		body = deflateBody(body[:0], g, k, len(perTopic), next, perTopic)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.cfg.URL+"/publish", bytes.NewReader(body))
		if err != nil {
			return sent, err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := r.http.Do(req)
		if err != nil {
			return sent, err
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
			return sent, fmt.Errorf("POST /publish: %s", resp.Status)
		}
		sent += uint64(k)
	}
}
