package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The hold scenario is the scale run: cfg.URL is a comma-separated list of
// servers (one process each, so the per-process file limit is not the cap);
// it fills them one after another with cfg.Conns[0] idle connections each,
// from a worker pool of its own per server, until every server is full, a
// server refuses more than 2% of a step, free memory drops below 3 GiB (the box is shared), or
// the run's time is up. It then reports the total held, memory per
// connection, and a projection for 1,000,000 connections in one process.

// minFreeMem stops the hold scenario before the machine runs out of memory.
const minFreeMem = 3 << 30

func (r *runner) hold(ctx context.Context) error {
	urls := strings.Split(r.cfg.URL, ",")
	per := r.cfg.Conns[0]
	slab0, err := fileFieldKB("/proc/meminfo", "Slab:")
	if err != nil {
		return err
	}
	var (
		pools            []*Pool
		base, last       []ServerSample
		held, failed     int
		stopReason       = "every server full"
		upgrades, dialNs float64
	)
	defer func() {
		for _, p := range pools {
			p.Close()
		}
	}()
	var lastStep time.Duration
	for i, raw := range urls {
		// A step cannot be interrupted (its dials are in flight): start one
		// only if it can finish, judging by the last one, before the deadline.
		if dl, ok := ctx.Deadline(); ctx.Err() != nil || (ok && time.Until(dl) < lastStep*3/2+10*time.Second) {
			stopReason = "time limit"
			break
		}
		stepStart := time.Now()
		if free, err := fileFieldKB("/proc/meminfo", "MemAvailable:"); err == nil && free < minFreeMem {
			stopReason = "free memory below 3 GiB"
			break
		}
		u, err := url.Parse(raw)
		if err != nil {
			return err
		}
		b, err := WaitConns(ctx, r.http, raw, func(n int64) bool { return n == 0 }, 30*time.Second)
		if ctx.Err() != nil {
			stopReason = "time limit"
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", raw, err)
		}
		p, err := NewPool(workersFor(per, 1), r.cfg.SrcBase+4*i)
		if err != nil {
			return err
		}
		res, err := p.Dial(DialSpec{Addrs: []string{u.Host}, Path: "/ws", Concurrency: r.cfg.Concurrency}, per)
		if err != nil {
			p.Close()
			return err
		}
		s, err := WaitConns(ctx, r.http, raw, func(n int64) bool { return n >= int64(res.OK) }, 30*time.Second)
		if ctx.Err() != nil {
			p.Close() // this step is not counted: the time ran out while it settled
			stopReason = "time limit"
			break
		}
		if err != nil {
			p.Close()
			return fmt.Errorf("%s: %w", raw, err)
		}
		pools = append(pools, p)
		lastStep = time.Since(stepStart)
		held += res.OK
		failed += res.Failed
		upgrades += float64(res.OK)
		dialNs += float64(res.ElapsedNs)
		base = append(base, b)
		last = append(last, s)
		r.cfg.Log.Info("hold step", "server", i, "held_total", held, "failed", res.Failed, "first_err", res.FirstErr)
		free, _ := fileFieldKB("/proc/meminfo", "MemAvailable:")
		r.emit(Result{Scenario: "hold_step", Params: map[string]string{"servers": strconv.Itoa(i + 1)}, Metrics: map[string]float64{
			"held": float64(held), "failed": float64(failed), "server_rss_mb": float64(s.RSS) / (1 << 20),
			"step_s": float64(res.ElapsedNs) / 1e9, "mem_available_gib": float64(free) / (1 << 30),
			"kernel_slab_gib": float64(s.Slab) / (1 << 30),
		}})
		if res.Failed*50 > per {
			stopReason = "server refused more than 2% (" + res.FirstErr + ")"
			break
		}
	}
	if held == 0 {
		return errors.New("hold: no connection held")
	}
	// Memory per connection comes from each server's sample right after its
	// step; a final look (best effort, the box is loaded) counts what is
	// still open.
	var heap, rss, still float64
	for i := range last {
		heap += float64(last[i].HeapAlloc) - float64(base[i].HeapAlloc)
		rss += float64(last[i].RSS) - float64(base[i].RSS)
		fctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		if s, err := SampleServer(fctx, r.http, urls[i]); err == nil {
			still += float64(s.Conns)
		} else {
			r.cfg.Log.Warn("final sample failed", "server", urls[i], "err", err)
		}
		cancel()
	}
	slab, err := fileFieldKB("/proc/meminfo", "Slab:")
	if err != nil {
		return err
	}
	n := float64(held)
	kernel := (float64(slab) - float64(slab0)) / n
	m := map[string]float64{
		"held":                  n,
		"held_at_end":           still,
		"failed":                float64(failed),
		"servers":               float64(len(last)),
		"upgrades_per_s":        upgrades / (dialNs / 1e9),
		"heap_alloc_per_conn":   heap / n,
		"rss_per_conn":          rss / n,
		"kernel_slab_per_conn":  kernel,
		"projected_1m_heap_gib": heap / n * 1e6 / (1 << 30),
		"projected_1m_rss_gib":  rss / n * 1e6 / (1 << 30),
		// The server's share of the kernel memory is estimated as half of
		// the machine-wide delta (the clients' sockets are the other half).
		"projected_1m_kernel_gib": kernel / 2 * 1e6 / (1 << 30),
		"projected_1m_total_gib":  (rss/n + kernel/2) * 1e6 / (1 << 30),
	}
	r.emit(Result{Scenario: "hold", Params: map[string]string{"per_server": strconv.Itoa(per)}, Metrics: m,
		Note: "stopped: " + stopReason + "; kernel_slab_per_conn counts both socket ends, the projection takes half of it"})
	return nil
}
