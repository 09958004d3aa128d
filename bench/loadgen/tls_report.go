package loadgen

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// medianOf is the median of xs (the mean of the middle two for an even
// count); NaN for none.
func medianOf(xs []float64) float64 {
	if len(xs) == 0 {
		return nanF()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func nanF() float64 { var z float64; return z / z }

// tlsNum formats v with about three significant digits ("-" for NaN).
func tlsNum(v float64) string {
	switch {
	case v != v:
		return "-"
	case v >= 100 || v <= -100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10 || v <= -10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// TLSSummary is the markdown summary of the TLS scenarios of baseline's
// results: idle_tls against idle at the same connection counts, the
// medians of tls_handshake's runs per certificate, version and key
// exchange, and the medians of broadcast_tls's runs per transport with the
// wss/ws ratios. "" when there are no TLS results.
func TLSSummary(results []Result, baseline string) string {
	var b strings.Builder
	b.WriteString(tlsIdleSummary(results, baseline))
	b.WriteString(tlsHandshakeSummary(results, baseline))
	b.WriteString(tlsBroadcastSummary(results, baseline))
	return b.String()
}

func tlsIdleSummary(results []Result, baseline string) string {
	ws := map[string][]*Result{}
	wss := map[string][]*Result{}
	for i := range results {
		r := &results[i]
		if r.Server != baseline {
			continue
		}
		switch r.Scenario {
		case "idle":
			ws[r.Params["conns"]] = append(ws[r.Params["conns"]], r)
		case ScenarioIdleTLS:
			wss[r.Params["conns"]] = append(wss[r.Params["conns"]], r)
		}
	}
	if len(wss) == 0 {
		return ""
	}
	keys := slices.Collect(maps.Keys(wss))
	slices.SortFunc(keys, func(a, b string) int { x, _ := strconv.Atoi(a); y, _ := strconv.Atoi(b); return x - y })
	var b strings.Builder
	b.WriteString("## Idle connections: wss:// against ws://\n\n")
	b.WriteString("Bytes per held connection (server heap after a GC, server RSS; deltas from the empty server), and the\n")
	b.WriteString("server's goroutines with every connection held (its count when empty in brackets); medians of n runs.\n\n")
	b.WriteString("| conns | transport | cert | n | heap/conn | heap inuse/conn | RSS/conn | goroutines (empty) | goroutines/conn | dials/s |\n")
	b.WriteString("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, k := range keys {
		rows := []struct {
			name string
			rs   []*Result
		}{{"ws", ws[k]}, {"wss", wss[k]}}
		for _, row := range rows {
			rs := row.rs
			if len(rs) == 0 {
				fmt.Fprintf(&b, "| %s | %s | | 0 | - | - | - | - | - | - |\n", k, row.name)
				continue
			}
			gor := "-"
			if g := medianMetric(rs, "server_goroutines"); g == g {
				gor = fmt.Sprintf("%.0f (%.0f)", g, medianMetric(rs, "base_goroutines"))
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %d | %s | %s | %s | %s | %s | %s |\n", k, row.name, rs[0].Params["cert"], len(rs),
				tlsNum(medianMetric(rs, "heap_alloc_per_conn")), tlsNum(medianMetric(rs, "heap_inuse_per_conn")),
				tlsNum(medianMetric(rs, "rss_per_conn")), gor, tlsNum(medianMetric(rs, "goroutines_per_conn")),
				tlsNum(medianMetric(rs, "dials_per_s")))
		}
		if len(ws[k]) > 0 {
			ratio := func(m string) string { return tlsNum(medianMetric(wss[k], m) / medianMetric(ws[k], m)) }
			fmt.Fprintf(&b, "| %s | wss/ws | | | %sx | %sx | %sx | | | |\n", k,
				ratio("heap_alloc_per_conn"), ratio("heap_inuse_per_conn"), ratio("rss_per_conn"))
		}
	}
	b.WriteString("\n")
	return b.String()
}

// tlsGroups groups baseline's rows of scenario by their params without
// "run", in first-seen order.
func tlsGroups(results []Result, baseline, scenario string) ([]string, map[string][]*Result) {
	groups := map[string][]*Result{}
	var keys []string
	for i := range results {
		r := &results[i]
		if r.Server != baseline || r.Scenario != scenario {
			continue
		}
		p := maps.Clone(r.Params)
		delete(p, "run")
		k := ParamKey(p)
		if groups[k] == nil {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], r)
	}
	return keys, groups
}

func medianMetric(rs []*Result, k string) float64 {
	var xs []float64
	for _, r := range rs {
		if v, ok := r.Metrics[k]; ok {
			xs = append(xs, v)
		}
	}
	return medianOf(xs)
}

func tlsHandshakeSummary(results []Result, baseline string) string {
	keys, groups := tlsGroups(results, baseline, ScenarioTLSHandshake)
	if len(keys) == 0 {
		return ""
	}
	// Other servers' runs (the reference server) after baseline's.
	var others []string
	for i := range results {
		if r := results[i]; r.Scenario == ScenarioTLSHandshake && r.Server != baseline && !slices.Contains(others, r.Server) {
			others = append(others, r.Server)
		}
	}
	type row struct {
		server string
		rs     []*Result
	}
	var rows []row
	for _, k := range keys {
		rows = append(rows, row{baseline, groups[k]})
	}
	for _, o := range others {
		ok, og := tlsGroups(results, o, ScenarioTLSHandshake)
		for _, k := range ok {
			rows = append(rows, row{o, og[k]})
		}
	}
	var b strings.Builder
	b.WriteString("## Full TLS handshakes\n\n")
	b.WriteString("Medians of the runs (n). handshakes/s is what the clients completed; server CPU is utime+stime of the\n")
	b.WriteString("server process over the run, so handshakes per server CPU-second is the rate one core sustains.\n\n")
	b.WriteString("| server | cert | TLS | key exchange | after | n | handshakes/s | server CPU µs/handshake | handshakes per server CPU-s | server cores busy | loadgen cores | p50 ms | p99 ms | failed |\n")
	b.WriteString("|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, row := range rows {
		rs := row.rs
		p := rs[0].Params
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			row.server, p["cert"], p["tls_version"], p["curve"], p["mode"], len(rs),
			tlsNum(medianMetric(rs, "handshakes_per_s")), tlsNum(medianMetric(rs, "server_cpu_us_per_hs")),
			tlsNum(medianMetric(rs, "handshakes_per_server_cpu")), tlsNum(medianMetric(rs, "server_cpu_cores")),
			tlsNum(medianMetric(rs, "loadgen_cpu_cores")), tlsNum(medianMetric(rs, "hs_p50_us")/1e3),
			tlsNum(medianMetric(rs, "hs_p99_us")/1e3), tlsNum(medianMetric(rs, "failed")))
	}
	b.WriteString("\n")
	return b.String()
}

func tlsBroadcastSummary(results []Result, baseline string) string {
	keys, groups := tlsGroups(results, baseline, ScenarioBroadcastTLS)
	if len(keys) == 0 {
		return ""
	}
	// Pair ws and wss of the same conns, payload, rate.
	type pair struct{ ws, wss []*Result }
	pairs := map[string]*pair{}
	var order []string
	for _, k := range keys {
		rs := groups[k]
		p := maps.Clone(rs[0].Params)
		mode := p["mode"]
		delete(p, "mode")
		pk := ParamKey(p)
		if pairs[pk] == nil {
			pairs[pk] = &pair{}
			order = append(order, pk)
		}
		if mode == "wss" {
			pairs[pk].wss = rs
		} else {
			pairs[pk].ws = rs
		}
	}
	var b strings.Builder
	b.WriteString("## Broadcast over wss:// against ws://\n\n")
	b.WriteString("The same server, both subscriber sets connected at once, measured alternately; medians of the runs (n).\n")
	b.WriteString("The wss/ws row: CPU figures are the median of each run's own ratio (its ws and wss measured back to back),\n")
	b.WriteString("the others the ratio of the medians.\n\n")
	b.WriteString("| conns | payload | msg/s | transport | n | deliveries/s | delivered | deliveries per server CPU-s | server CPU µs/delivery | wire bytes/delivery | p50 µs | p99 µs | loadgen cores |\n")
	b.WriteString("|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, pk := range order {
		pr := pairs[pk]
		var p map[string]string
		for _, rs := range [][]*Result{pr.ws, pr.wss} {
			if len(rs) == 0 {
				continue
			}
			p = rs[0].Params
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |\n",
				p["conns"], p["payload"], p["rate"], p["mode"], len(rs),
				tlsNum(medianMetric(rs, "deliveries_per_s")), tlsNum(medianMetric(rs, "delivered_ratio")),
				tlsNum(medianMetric(rs, "deliv_per_cpu_s")), tlsNum(medianMetric(rs, "cpu_us_per_deliv")),
				tlsNum(medianMetric(rs, "wire_bytes_per_deliv")), tlsNum(medianMetric(rs, "lat_p50_us")),
				tlsNum(medianMetric(rs, "lat_p99_us")), tlsNum(medianMetric(rs, "loadgen_cpu_cores")))
		}
		if len(pr.ws) > 0 && len(pr.wss) > 0 {
			// Ratios of the runs' pairs (ws and wss of the same run, measured
			// back to back), median: the machine's drift between runs cancels.
			paired := func(m string) float64 {
				var xs []float64
				for _, w := range pr.wss {
					for _, o := range pr.ws {
						if o.Params["run"] == w.Params["run"] && o.Metrics[m] > 0 {
							xs = append(xs, w.Metrics[m]/o.Metrics[m])
						}
					}
				}
				return medianOf(xs)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | wss/ws | | | | %sx | %sx | %sx | %sx | %sx | |\n",
				p["conns"], p["payload"], p["rate"],
				tlsNum(paired("deliv_per_cpu_s")),
				tlsNum(paired("cpu_us_per_deliv")),
				tlsNum(medianMetric(pr.wss, "wire_bytes_per_deliv")/medianMetric(pr.ws, "wire_bytes_per_deliv")),
				tlsNum(medianMetric(pr.wss, "lat_p50_us")/medianMetric(pr.ws, "lat_p50_us")),
				tlsNum(medianMetric(pr.wss, "lat_p99_us")/medianMetric(pr.ws, "lat_p99_us")))
		}
	}
	b.WriteString("\n")
	return b.String()
}
