package loadgen

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"
)

// broadcast_tls: n subscribers over ws:// on topic quotes.0 and n over
// wss:// on quotes.1, all connected at once (gorilla/websocket clients in
// this process, a reading goroutine each, no compression offered), then per
// run and rate one measurement per transport, alternating which goes first:
// a paced publish to that transport's topic only (the other set idles), the
// deliveries, and the server's CPU over the measurement.

// tlsDialSet connects n subscribers of topic index tp over ws or wss.
func (t *tlsRunner) tlsDialSet(ctx context.Context, n int, wss bool, tp int) (*deflateClients, error) {
	c := &deflateClients{}
	d := c.dialer(20 * time.Second)
	url := "ws://" + t.addr + t.cfg.wsPath()
	if wss {
		cfg, err := t.spec.clientConfig()
		if err != nil {
			return nil, err
		}
		d.TLSClientConfig = cfg
		url = "wss://" + t.o.Addr + t.cfg.wsPath()
	}
	if err := c.subscribeAll(ctx, d, url, n, t.cfg.Concurrency, func(int) []int { return []int{tp} }); err != nil {
		return nil, err
	}
	return c, nil
}

func (t *tlsRunner) broadcast(ctx context.Context) error {
	var rates []float64
	for _, l := range t.cfg.Rates {
		v, err := strconv.ParseFloat(l, 64)
		if err != nil || v <= 0 {
			return fmt.Errorf("scenario %s: fixed rates only (msg/s), not %q", ScenarioBroadcastTLS, l)
		}
		rates = append(rates, v)
	}
	sizes := t.cfg.Payloads
	if len(sizes) == 0 {
		sizes = []int{256}
	}
	for _, n := range t.cfg.Conns {
		for _, size := range sizes {
			if err := t.broadcastN(ctx, n, size, rates); err != nil {
				return err
			}
		}
	}
	return nil
}

func (t *tlsRunner) broadcastN(ctx context.Context, n, size int, rates []float64) error {
	if _, err := t.settleEmpty(ctx); err != nil {
		return fmt.Errorf("empty server: %w", err)
	}
	sets := [2]*deflateClients{}
	modes := [2]string{"ws", "wss"}
	for k := range sets {
		c, err := t.tlsDialSet(ctx, n, k == 1, k)
		if err != nil {
			return err
		}
		defer c.close()
		sets[k] = c
	}
	s, err := waitConns(ctx, t.stats, func(k int64) bool { return k >= int64(2*n) }, 30*time.Second)
	if err != nil {
		return fmt.Errorf("server did not reach %d conns: %w", 2*n, err)
	}
	pid := s.Pid
	pubs := [2]*Publisher{}
	for k := range pubs {
		pubs[k] = &Publisher{Client: t.http, BaseURL: t.cfg.URL, Topic: deflateTopic(k), Size: size}
	}
	for run := 1; run <= t.o.Runs; run++ {
		for _, rate := range rates {
			order := []int{0, 1}
			if run%2 == 0 {
				order = []int{1, 0}
			}
			for _, k := range order {
				c := sets[k]
				c.reset()
				t0, err := procCPUTicks(pid)
				if err != nil {
					return err
				}
				g0, _ := procCPUTicks(os.Getpid())
				start := time.Now()
				sent, err := pubs[k].Paced(ctx, rate, t.cfg.Duration)
				pubSecs := time.Since(start).Seconds()
				if err != nil {
					return fmt.Errorf("publish: %w", err)
				}
				expected := sent * uint64(n)
				awaitDeliveries(&c.deliveries, expected)
				c.recording.Store(false)
				t1, err := procCPUTicks(pid)
				if err != nil {
					return err
				}
				g1, _ := procCPUTicks(os.Getpid())
				secs := time.Since(start).Seconds()
				wire, deliv := c.wire.Load(), c.deliveries.Load()
				lat := c.latency()
				cpu := float64(t1-t0) / ClockTicks
				d := float64(deliv)
				note := ""
				if v, ok := c.firstErr.Load().(string); ok {
					note = v
				}
				t.emit(Result{Scenario: ScenarioBroadcastTLS, Params: t.params(map[string]string{
					"mode": modes[k], "conns": strconv.Itoa(n), "payload": strconv.Itoa(size),
					"rate": strconv.FormatFloat(rate, 'f', -1, 64), "run": strconv.Itoa(run),
				}), Metrics: map[string]float64{
					"published":            float64(sent),
					"publish_per_s":        float64(sent) / pubSecs,
					"deliveries":           d,
					"delivered_ratio":      d / float64(expected),
					"deliveries_per_s":     d / secs,
					"server_cpu_s":         cpu,
					"deliv_per_cpu_s":      d / cpu,
					"cpu_us_per_deliv":     cpu / d * 1e6,
					"wire_bytes_per_deliv": float64(wire) / d,
					"lat_p50_us":           us(lat.Quantile(.5)),
					"lat_p99_us":           us(lat.Quantile(.99)),
					"lat_max_us":           us(float64(lat.Max())),
					"client_errors":        float64(c.errs.Load()),
					"loadgen_cpu_cores":    float64(g1-g0) / ClockTicks / secs,
					"measurement_wall_s":   secs,
				}, Note: note})
			}
		}
	}
	return nil
}
