package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The cluster scenario measures c1m nodes joined by NATS JetStream (--nats)
// against a single standalone node, with the same load. cfg.URL is the
// comma-separated list of the nodes' base URLs (one: a single node); bench.sh
// starts the processes (nats-server and the nodes pinned to CPU 0) and runs
// the scenario once per setup. Two parts, each a result row per step:
//
//   - cluster (fan-out): cfg.Conns[0] native WebSocket subscribers in total,
//     spread evenly over ClusterConfig.Topics topics (bench.0..) and
//     round-robin over the nodes; messages are POSTed round-robin to the
//     nodes and topics at each of cfg.Rates (msg/s, or max: flooding with a
//     window). Server CPU is the sum over the nodes and nats-server
//     (/proc/PID/stat; NATSPid), so deliveries per CPU-second count the
//     broker's work too. Latency is receipt - ts (ts: the publish time the
//     receiving node stamped).
//   - cluster_pub (publish throughput): ClusterConfig.Publishers goroutines
//     POST one message per request (keep-alive) to the nodes, round-robin,
//     for PubDuration, on each of PubTopics topics (pub<K>.0..); a publish
//     counts when answered 202 (the cluster has acked it). One checker
//     WebSocket per node, subscribed to every topic, verifies that seqs
//     arrive contiguous per topic and that every acked publish arrives.

// ClusterConfig is the cluster scenario's part of Config.
type ClusterConfig struct {
	NATSPid     int           // pid of nats-server, whose CPU counts with the nodes' (0: standalone)
	Topics      int           // fan-out topics the subscribers are spread over; default 10
	PubTopics   []int         // publish-throughput steps: topics each; default 1,1000
	Publishers  int           // concurrent HTTP publishers of the throughput steps; default 64
	PubDuration time.Duration // publishing time of a throughput step; default cfg.Duration
	PacedPaths  int           // fixed rates: publishers in parallel, rate/PacedPaths each (Publisher.Paths); default 3
}

// ClusterMode is the mode parameter of a result: "single" for one node
// without NATS, "cluster" otherwise.
func ClusterMode(nodes, natsPid int) string {
	if nodes == 1 && natsPid == 0 {
		return "single"
	}
	return "cluster"
}

// clusterSample is one look at every node and nats-server.
type clusterSample struct {
	total     ServerSample // summed: conns, CPU ticks, RSS, heap; Pid is the first node's
	nodes     []ServerSample
	natsTicks uint64
	natsRSS   uint64
	natsStats map[string]float64 // summed over the nodes' /stats "nats" counters
}

// clusterStats samples the nodes (their /stats, /proc) and nats-server (/proc).
type clusterStats struct {
	client  *http.Client
	urls    []string
	natsPid int
	mu      sync.Mutex
	last    []clusterSample // the two latest samples
}

// sampleNode is SampleServer that also returns the "nats" counters of /stats.
func sampleNode(ctx context.Context, client *http.Client, baseURL string) (ServerSample, map[string]float64, error) {
	var s ServerSample
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/stats?gc=1", nil)
	if err != nil {
		return s, nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return s, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return s, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return s, nil, fmt.Errorf("GET %s/stats: %s", baseURL, resp.Status)
	}
	if err := json.Unmarshal(body, &s); err != nil {
		return s, nil, fmt.Errorf("GET %s/stats: %w", baseURL, err)
	}
	if s.Pid <= 0 {
		return s, nil, fmt.Errorf("GET %s/stats: no pid", baseURL)
	}
	n, err := ParseNATSStats(body)
	if err != nil {
		return s, nil, fmt.Errorf("GET %s/stats: %w", baseURL, err)
	}
	return s, n, fillProc(&s)
}

// ParseNATSStats returns the numeric fields of the "nats" object of a /stats
// body (nested objects flattened as a.b), or an empty map when it has none.
func ParseNATSStats(body []byte) (map[string]float64, error) {
	var v struct {
		NATS map[string]any `json:"nats"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, err
	}
	out := map[string]float64{}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, x := range m {
			switch x := x.(type) {
			case float64:
				out[prefix+k] = x
			case bool:
				if x {
					out[prefix+k] = 1
				} else {
					out[prefix+k] = 0
				}
			case map[string]any:
				walk(prefix+k+".", x)
			}
		}
	}
	walk("", v.NATS)
	return out, nil
}

func (c *clusterStats) sample(ctx context.Context) (clusterSample, error) {
	var cs clusterSample
	cs.natsStats = map[string]float64{}
	for i, u := range c.urls {
		s, n, err := sampleNode(ctx, c.client, u)
		if err != nil {
			return cs, err
		}
		cs.nodes = append(cs.nodes, s)
		t := &cs.total
		if i == 0 {
			t.Pid, t.At, t.Slab, t.TCPMem = s.Pid, s.At, s.Slab, s.TCPMem
		}
		t.Conns += s.Clients()
		t.Goroutines += s.Goroutines
		t.HeapAlloc += s.HeapAlloc
		t.HeapInuse += s.HeapInuse
		t.HeapSys += s.HeapSys
		t.RSS += s.RSS
		t.CPUTicks += s.CPUTicks
		for k, v := range n {
			cs.natsStats[k] += v
		}
	}
	if c.natsPid > 0 {
		ticks, err := procCPUTicks(c.natsPid)
		if err != nil {
			return cs, fmt.Errorf("nats-server: %w", err)
		}
		rss, err := procStatusKB(c.natsPid, "VmRSS:")
		if err != nil {
			return cs, fmt.Errorf("nats-server: %w", err)
		}
		cs.natsTicks, cs.natsRSS = ticks, rss
		cs.total.CPUTicks += ticks
		cs.total.RSS += rss
	}
	c.mu.Lock()
	c.last = append(c.last, cs)
	if len(c.last) > 2 {
		c.last = c.last[len(c.last)-2:]
	}
	c.mu.Unlock()
	return cs, nil
}

func (c *clusterStats) Sample(ctx context.Context) (ServerSample, error) {
	cs, err := c.sample(ctx)
	return cs.total, err
}

func (c *clusterStats) Conns(ctx context.Context) (int64, error) {
	var total int64
	for _, u := range c.urls {
		s, _, err := sampleNode(ctx, c.client, u)
		if err != nil {
			return 0, err
		}
		total += s.Clients()
	}
	return total, nil
}

// lastTwo returns the two latest samples (before, after).
func (c *clusterStats) lastTwo() (clusterSample, clusterSample) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.last) < 2 {
		return clusterSample{}, clusterSample{}
	}
	return c.last[0], c.last[1]
}

// cpuParts is the CPU split of a measurement: seconds of the nodes and of
// nats-server, and per-node cores (busiest first is not sorted: node order).
func cpuParts(before, after clusterSample) (nodes, nats float64) {
	for i := range after.nodes {
		if i < len(before.nodes) {
			nodes += float64(after.nodes[i].CPUTicks-before.nodes[i].CPUTicks) / ClockTicks
		}
	}
	nats = float64(after.natsTicks-before.natsTicks) / ClockTicks
	return nodes, nats
}

// natsDelta is after - before of the summed "nats" counters, for the ones
// worth a look in a report (an absent counter is left out).
func natsDelta(before, after clusterSample) map[string]float64 {
	out := map[string]float64{}
	for _, k := range []string{"msgs_in", "msgs_out", "publish_retries", "publish_errors", "gaps_filled", "gaps_unrecoverable", "slow_consumer_events", "dropped", "resynced"} {
		a, ok := after.natsStats[k]
		if !ok {
			continue
		}
		out["nats_"+k] = a - before.natsStats[k]
	}
	return out
}

func (c *ClusterConfig) defaults(d time.Duration) {
	if c.Topics <= 0 {
		c.Topics = 10
	}
	if c.PubTopics == nil {
		c.PubTopics = []int{1, 1000}
	}
	if c.Publishers <= 0 {
		c.Publishers = 64
	}
	if c.PacedPaths <= 0 {
		c.PacedPaths = 3
	}
	if c.PubDuration <= 0 {
		c.PubDuration = d
	}
}

func (r *runner) cluster(ctx context.Context) error {
	cc := &r.cfg.Cluster
	cc.defaults(r.cfg.Duration)
	if r.cfg.Proto != ProtoNative {
		return errors.New("scenario cluster: native protocol only")
	}
	var urls, addrs []string
	for _, raw := range strings.Split(r.cfg.URL, ",") {
		if raw = strings.TrimSpace(raw); raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil {
			return err
		}
		urls = append(urls, strings.TrimRight(raw, "/"))
		addrs = append(addrs, u.Host)
	}
	if len(urls) == 0 {
		return errors.New("scenario cluster: no -url")
	}
	cs := &clusterStats{client: r.http, urls: urls, natsPid: cc.NATSPid}
	r.stats = cs
	mode := ClusterMode(len(urls), cc.NATSPid)
	r.cfg.Log.Info("cluster scenario", "mode", mode, "nodes", len(urls), "nats_pid", cc.NATSPid)
	for _, n := range r.cfg.Conns {
		if err := r.clusterFanout(ctx, cs, urls, addrs, mode, n); err != nil {
			return err
		}
	}
	for _, k := range cc.PubTopics {
		if err := r.clusterPub(ctx, cs, urls, addrs, mode, k); err != nil {
			return err
		}
	}
	return nil
}

// ClusterWindow is the flood window of the cluster scenario's rate=max: at
// most about 300,000 deliveries outstanding (per subscribers a message
// reaches), at least 2 messages and at most 50 per topic. The broadcast
// scenario's 100,000 (and 50 messages in all) would make max a function of
// latency: at 19,000 subscribers over 20 topics and ~250 ms of latency here,
// 50 messages in flight cap the rate near 200 msg/s, below a fixed 1000
// msg/s the same node sustains.
func ClusterWindow(subsPerTopic, topics int) uint64 {
	return uint64(min(max(300000/max(subsPerTopic, 1), 2), 50*max(topics, 1)))
}

// topicNames is prefix.0 .. prefix.(n-1).
func topicNames(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + "." + strconv.Itoa(i)
	}
	return out
}

// rotate returns s rotated left by k.
func rotate(s []string, k int) []string {
	k %= len(s)
	return append(append([]string(nil), s[k:]...), s[:k]...)
}

func (r *runner) clusterFanout(ctx context.Context, cs *clusterStats, urls, addrs []string, mode string, n int) error {
	cc := r.cfg.Cluster
	topics := topicNames("bench", min(cc.Topics, n))
	per := n / len(topics)
	if per == 0 {
		return fmt.Errorf("cluster: %d subscribers for %d topics", n, len(topics))
	}
	total := per * len(topics)
	if _, err := r.settleEmpty(ctx); err != nil {
		return fmt.Errorf("empty nodes: %w", err)
	}
	p, err := r.pool(total)
	if err != nil {
		return err
	}
	defer p.Close()
	for i, t := range topics {
		// Rotating the node list per topic spreads every topic's
		// subscribers, and all of them, evenly over the nodes.
		spec := DialSpec{Addrs: rotate(addrs, i), Path: "/ws", Proto: ProtoNative, Topic: t, Concurrency: r.cfg.Concurrency}
		res, err := p.Dial(spec, per)
		if err == nil && res.OK < per {
			err = fmt.Errorf("only %d of %d subscribers of %s: %s", res.OK, per, t, res.FirstErr)
		}
		if err != nil {
			return err
		}
	}
	if _, err := waitConns(ctx, r.stats, func(c int64) bool { return c >= int64(total) }, 60*time.Second); err != nil {
		return fmt.Errorf("nodes did not reach %d subscribers: %w", total, err)
	}
	settled, err := cs.sample(ctx)
	if err != nil {
		return err
	}
	perNode := make([]string, len(settled.nodes))
	for i, s := range settled.nodes {
		perNode[i] = strconv.FormatInt(s.Clients(), 10)
	}
	for _, size := range r.cfg.Payloads {
		pub := &Publisher{Client: r.http, BaseURL: urls[0], URLs: urls, Topics: topics, Size: size, Paths: cc.PacedPaths}
		// Warm-up: every topic published to once on every node, not measured
		// (first publishes create state in the hub and in JetStream).
		warm := len(topics) * len(urls)
		if _, err := pub.Paced(ctx, 200, max(250*time.Millisecond, time.Duration(warm)*5*time.Millisecond)); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
		time.Sleep(300 * time.Millisecond)
		maxRate := 0.0
		for _, label := range r.cfg.Rates {
			rate, err := parseRate(label, maxRate)
			if err != nil {
				return err
			}
			r.floodWindow = ClusterWindow(per, len(topics))
			m, err := r.publishAndDrain(ctx, p, pub, rate, per, r.cfg.Duration)
			r.floodWindow = 0
			if err != nil {
				return err
			}
			before, after := cs.lastTwo()
			met := m.metrics()
			if len(topics) > 1 {
				// Seqs are per topic: the per-seq fan-out table mixes topics.
				for _, k := range []string{"fanout_p50_ms", "fanout_p99_ms", "fanout_max_ms", "incomplete_seqs"} {
					delete(met, k)
				}
			}
			delete(met, "server_rss_peak_mb") // sampled from one process only
			nodesCPU, natsCPU := cpuParts(before, after)
			wall := after.total.At.Sub(before.total.At).Seconds()
			if c := nodesCPU + natsCPU; c > 0 {
				met["deliv_per_cpu_s"] = met["deliveries"] / c
			}
			met["nodes_cpu_s"] = nodesCPU
			met["nats_cpu_s"] = natsCPU
			if wall > 0 {
				met["server_cpu_cores"] = (nodesCPU + natsCPU) / wall
			}
			met["nats_rss_mb"] = float64(after.natsRSS) / (1 << 20)
			for k, v := range natsDelta(before, after) {
				met[k] = v
			}
			met["rate_target"] = rate
			if label == "max" {
				maxRate = met["publish_per_s"]
			}
			params := map[string]string{"mode": mode, "nodes": strconv.Itoa(len(urls)), "conns": strconv.Itoa(total),
				"topics": strconv.Itoa(len(topics)), "payload": strconv.Itoa(size), "rate": label}
			note := fmt.Sprintf("%d subscribers per topic; subscribers per node %s; CPU = nodes + nats-server; fixed rates from %d paced publishers, max from 2 flooding", per, strings.Join(perNode, "/"), cc.PacedPaths)
			if m.rx.FirstErr != "" {
				note += "; " + m.rx.FirstErr
			}
			r.emit(Result{Scenario: "cluster", Params: params, Metrics: met, Note: note})
			if m.rx.Closed > 0 {
				return fmt.Errorf("nodes closed %d subscribers: %s", m.rx.Closed, m.rx.FirstErr)
			}
		}
	}
	return nil
}

// clusterPub measures acked publishes per second on k topics.
func (r *runner) clusterPub(ctx context.Context, cs *clusterStats, urls, addrs []string, mode string, k int) error {
	cc := r.cfg.Cluster
	topics := topicNames("pub"+strconv.Itoa(k), k)
	var checkers []*SeqChecker
	defer func() {
		for _, c := range checkers {
			c.Close()
		}
	}()
	for _, a := range addrs {
		c, err := DialSeqChecker(ctx, a, topics)
		if err != nil {
			return err
		}
		checkers = append(checkers, c)
	}
	size := 64
	if len(r.cfg.Payloads) > 0 {
		size = r.cfg.Payloads[0]
	}
	data := append([]byte(`{"p":"`), bytes.Repeat([]byte{'x'}, max(size-8, 0))...)
	data = append(data, `"}`...)
	tr := &http.Transport{MaxIdleConnsPerHost: cc.Publishers, MaxConnsPerHost: cc.Publishers}
	defer tr.CloseIdleConnections()
	client := &http.Client{Timeout: 30 * time.Second, Transport: tr}
	// Seqs acked per topic, highest: what every checker must reach.
	acked := make([]atomic.Uint64, k)
	var okN, errN atomic.Uint64
	var firstErr atomic.Value
	hists := make([]Histogram, cc.Publishers)
	before, err := cs.sample(ctx)
	if err != nil {
		return err
	}
	selfPid := os.Getpid()
	genBefore, _ := procCPUTicks(selfPid)
	start := time.Now()
	loopCtx, cancel := context.WithTimeout(ctx, cc.PubDuration)
	var wg sync.WaitGroup
	for g := 0; g < cc.Publishers; g++ {
		wg.Go(func() {
			base := urls[g%len(urls)] + "/publish?topic="
			for i := g; loopCtx.Err() == nil; i += cc.Publishers {
				ti := i % k
				t0 := time.Now()
				seq, err := postOne(ctx, client, base+topics[ti], data)
				if err != nil {
					errN.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					if ctx.Err() != nil {
						return
					}
					time.Sleep(10 * time.Millisecond)
					continue
				}
				hists[g].Record(time.Since(t0).Nanoseconds())
				okN.Add(1)
				for {
					cur := acked[ti].Load()
					if seq <= cur || acked[ti].CompareAndSwap(cur, seq) {
						break
					}
				}
			}
		})
	}
	wg.Wait()
	cancel()
	pubSecs := time.Since(start).Seconds()
	genAfter, _ := procCPUTicks(selfPid)
	ok := okN.Load()
	// Drain: every checker must see every acked publish.
	deadline := time.Now().Add(20 * time.Second)
	var last uint64
	lastChange := time.Now()
	for time.Now().Before(deadline) {
		var got uint64
		all := true
		for _, c := range checkers {
			n := c.Received()
			got += n
			all = all && n >= ok
		}
		if all {
			break
		}
		if got != last {
			last, lastChange = got, time.Now()
		} else if time.Since(lastChange) > 2*time.Second {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	after, err := cs.sample(ctx)
	if err != nil {
		return err
	}
	var lat Histogram
	for i := range hists {
		lat.Merge(&hists[i])
	}
	want := make([]uint64, k)
	for i := range acked {
		want[i] = acked[i].Load()
	}
	var rep SeqReport
	minRecv := uint64(0)
	for i, c := range checkers {
		cr := c.Report(want)
		if i == 0 || cr.Received < minRecv {
			minRecv = cr.Received
		}
		rep.Add(cr)
	}
	nodesCPU, natsCPU := cpuParts(before, after)
	wall := after.total.At.Sub(before.total.At).Seconds()
	met := map[string]float64{
		"acked":             float64(ok),
		"acked_per_s":       float64(ok) / pubSecs,
		"errors":            float64(errN.Load()),
		"pub_p50_us":        us(lat.Quantile(.5)),
		"pub_p99_us":        us(lat.Quantile(.99)),
		"pub_max_us":        us(float64(lat.Max())),
		"checkers":          float64(len(checkers)),
		"received_ratio":    float64(minRecv) / float64(max(ok, 1)),
		"seq_gaps":          float64(rep.Gaps),
		"seq_missing":       float64(rep.Missing),
		"seq_dups":          float64(rep.Dups),
		"seq_first_not_1":   float64(rep.Late),
		"seq_missing_tail":  float64(rep.Tail),
		"nodes_cpu_s":       nodesCPU,
		"nats_cpu_s":        natsCPU,
		"nats_rss_mb":       float64(after.natsRSS) / (1 << 20),
		"server_rss_mb":     float64(after.total.RSS) / (1 << 20),
		"loadgen_cpu_cores": float64(genAfter-genBefore) / ClockTicks / pubSecs,
	}
	if c := nodesCPU + natsCPU; c > 0 && ok > 0 {
		met["cpu_s_per_m_pub"] = c / (float64(ok) / 1e6)
		met["acked_per_cpu_s"] = float64(ok) / c
	}
	if wall > 0 {
		met["server_cpu_cores"] = (nodesCPU + natsCPU) / wall
	}
	for k, v := range natsDelta(before, after) {
		met[k] = v
	}
	note := fmt.Sprintf("%d publishers, one message per POST, keep-alive, round-robin over %d node(s); one checker WebSocket per node subscribed to all %d topics", cc.Publishers, len(urls), k)
	if e, _ := firstErr.Load().(string); e != "" {
		note += "; first publish error: " + e
	}
	if rep.FirstErr != "" {
		note += "; checker: " + rep.FirstErr
	}
	r.emit(Result{Scenario: "cluster_pub", Params: map[string]string{
		"mode": mode, "nodes": strconv.Itoa(len(urls)), "topics": strconv.Itoa(k),
		"publishers": strconv.Itoa(cc.Publishers), "payload": strconv.Itoa(size),
	}, Metrics: met, Note: note})
	return nil
}

// postOne POSTs one message to url and returns the seq of the answer.
func postOne(ctx context.Context, client *http.Client, url string, data []byte) (uint64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(data))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("POST /publish: %s: %.200s", resp.Status, bytes.TrimSpace(body))
	}
	seq, ok := intValue(body, `"seq"`)
	if !ok || seq <= 0 {
		return 0, fmt.Errorf("POST /publish: no seq in %.200q", body)
	}
	return uint64(seq), nil
}

// SeqState tracks per-topic seqs received by one subscriber: every topic's
// seqs must arrive contiguous (the topics are fresh, so from 1 on a single
// node; a first seq other than 1 is counted apart, in late).
type SeqState struct {
	index    map[string]int
	last     []uint64
	received uint64
	gaps     uint64 // jumps forward (seq > last+1)
	missing  uint64 // seqs skipped by those jumps
	dups     uint64 // seq <= last: repeated or out of order
	late     uint64 // topics whose first seq received was not 1
}

// NewSeqState tracks the given topics.
func NewSeqState(topics []string) *SeqState {
	s := &SeqState{index: make(map[string]int, len(topics)), last: make([]uint64, len(topics))}
	for i, t := range topics {
		s.index[t] = i
	}
	return s
}

// Add records one message; false when the topic is not tracked.
func (s *SeqState) Add(topic []byte, seq uint64) bool {
	i, ok := s.index[string(topic)]
	if !ok {
		return false
	}
	s.received++
	switch last := s.last[i]; {
	case last == 0 && seq > 1:
		// A fresh topic's first seq is 1 on a single node; a cluster may
		// number from elsewhere. Counted apart: the rest must follow on.
		s.late++
		s.last[i] = seq
	case seq == last+1:
		s.last[i] = seq
	case seq > last+1:
		s.gaps++
		s.missing += seq - last - 1
		s.last[i] = seq
	default:
		s.dups++
	}
	return true
}

// SeqReport is what one or more subscribers saw.
type SeqReport struct {
	Received uint64
	Gaps     uint64
	Missing  uint64
	Dups     uint64
	Late     uint64 // topics whose first seq received was not 1 (not counted in Gaps)
	Tail     uint64 // acked seqs after the last one received, summed over topics
	FirstErr string
}

// Report compares with want, the highest acked seq per topic (in the order
// the topics were given).
func (s *SeqState) Report(want []uint64) SeqReport {
	r := SeqReport{Received: s.received, Gaps: s.gaps, Missing: s.missing, Dups: s.dups, Late: s.late}
	for i, w := range want {
		if i < len(s.last) && w > s.last[i] {
			r.Tail += w - s.last[i]
		}
	}
	return r
}

// Add sums o into r.
func (r *SeqReport) Add(o SeqReport) {
	r.Received += o.Received
	r.Gaps += o.Gaps
	r.Missing += o.Missing
	r.Dups += o.Dups
	r.Late += o.Late
	r.Tail += o.Tail
	if r.FirstErr == "" {
		r.FirstErr = o.FirstErr
	}
}

// SeqChecker is one native WebSocket subscriber of many topics, read by its
// own goroutine, that checks per-topic seq contiguity.
type SeqChecker struct {
	conn net.Conn
	mu   sync.Mutex
	st   *SeqState
	err  error
	done chan struct{}
}

// subChunk is how many topics one sub request names.
const subChunk = 100

// DialSeqChecker connects to ws://addr/ws and subscribes to topics, waiting
// for every sub's ok.
func DialSeqChecker(ctx context.Context, addr string, topics []string) (*SeqChecker, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("checker: %w", err)
	}
	fail := func(err error) (*SeqChecker, error) {
		conn.Close()
		return nil, fmt.Errorf("checker %s: %w", addr, err)
	}
	conn.SetDeadline(time.Now().Add(15 * time.Second))
	var raw [16]byte
	rand.Read(raw[:])
	key := base64.StdEncoding.EncodeToString(raw[:])
	if _, err := conn.Write(AppendUpgradeRequest(nil, addr, "/ws", key)); err != nil {
		return fail(err)
	}
	br := bufio.NewReaderSize(conn, 256<<10)
	var head []byte
	for {
		b, err := br.ReadByte()
		if err != nil {
			return fail(err)
		}
		head = append(head, b)
		if n, err := CheckUpgradeResponse(head, AcceptKey(key)); err != nil {
			return fail(err)
		} else if n > 0 {
			break
		}
	}
	var out []byte
	nsub := 0
	for i := 0; i < len(topics); i += subChunk {
		nsub++
		q, _ := json.Marshal(topics[i:min(i+subChunk, len(topics))])
		msg := fmt.Appendf(nil, `{"op":"sub","id":%d,"topics":%s}`, nsub, q)
		out = AppendFrame(out, OpText, msg, [4]byte{7, 1, 3, 9})
	}
	if _, err := conn.Write(out); err != nil {
		return fail(err)
	}
	rd := &frameReader{br: br}
	for oks := 0; oks < nsub; {
		f, err := rd.next()
		if err != nil {
			return fail(err)
		}
		if f.Op == OpClose {
			return fail(errClosed)
		}
		if kind, _, _ := ScanMessage(f.Payload); kind == KindOK {
			oks++
		} else if bytes.Contains(f.Payload, []byte(`"error"`)) {
			return fail(fmt.Errorf("sub: %.300s", f.Payload))
		}
	}
	conn.SetDeadline(time.Time{})
	c := &SeqChecker{conn: conn, st: NewSeqState(topics), done: make(chan struct{})}
	go c.read(rd)
	return c, nil
}

// frameReader reads whole server frames from a buffered connection.
type frameReader struct {
	br  *bufio.Reader
	buf []byte
	off int
}

func (r *frameReader) next() (Frame, error) {
	for {
		f, n, err := ParseFrame(r.buf[r.off:], maxFrame)
		if err != nil {
			return f, err
		}
		if n > 0 {
			r.off += n
			return f, nil
		}
		if r.off > 0 {
			r.buf = append(r.buf[:0], r.buf[r.off:]...)
			r.off = 0
		}
		if len(r.buf) == cap(r.buf) {
			r.buf = append(r.buf, make([]byte, max(4096, len(r.buf)))...)[:len(r.buf)]
		}
		n2, err := r.br.Read(r.buf[len(r.buf):cap(r.buf)])
		r.buf = r.buf[:len(r.buf)+n2]
		if err != nil && n2 == 0 {
			return f, err
		}
	}
}

func (c *SeqChecker) read(rd *frameReader) {
	defer close(c.done)
	for {
		f, err := rd.next()
		if err == nil && f.Op == OpClose {
			err = errClosed
		}
		if err != nil {
			c.mu.Lock()
			if c.err == nil {
				c.err = err
			}
			c.mu.Unlock()
			return
		}
		if f.Op == OpPing {
			c.mu.Lock()
			c.conn.Write(AppendFrame(nil, OpPong, f.Payload, [4]byte{1, 2, 3, 4}))
			c.mu.Unlock()
			continue
		}
		if f.Op != OpText || !f.Fin {
			continue
		}
		kind, seq, _ := ScanMessage(f.Payload)
		if kind != KindMsg {
			continue
		}
		p := f.Payload
		if i := bytes.Index(p, []byte(`"data"`)); i > 0 {
			p = p[:i]
		}
		topic := stringValue(p, `"topic"`)
		c.mu.Lock()
		c.st.Add(topic, seq)
		c.mu.Unlock()
	}
}

// Received is the number of tracked messages so far.
func (c *SeqChecker) Received() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.received
}

// Report is the checker's SeqState report against want.
func (c *SeqChecker) Report(want []uint64) SeqReport {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.st.Report(want)
	if c.err != nil && !errors.Is(c.err, net.ErrClosed) {
		r.FirstErr = c.err.Error()
	}
	return r
}

// Close closes the connection and waits for the reader.
func (c *SeqChecker) Close() {
	c.conn.Close()
	<-c.done
}
