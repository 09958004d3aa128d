package loadgen

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// ReadResults parses JSON-lines results, skipping blank lines.
func ReadResults(r io.Reader) ([]Result, error) {
	var out []Result
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var res Result
		if err := json.Unmarshal([]byte(line), &res); err != nil {
			return nil, fmt.Errorf("bad result line %q: %w", line, err)
		}
		out = append(out, res)
	}
	return out, sc.Err()
}

// ParamKey is a stable text form of a result's parameters.
func ParamKey(p map[string]string) string {
	keys := slices.Sorted(maps.Keys(p))
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k + "=" + p[k])
	}
	return b.String()
}

// requiredMetrics are the metrics every server must produce per scenario.
var requiredMetrics = map[string][]string{
	"connect":     {"upgrades_per_s", "upgrade_p50_us", "upgrade_p99_us"},
	"idle":        {"heap_alloc_per_conn", "rss_per_conn", "kernel_slab_per_conn"},
	"idle_sse":    {"heap_alloc_per_conn", "rss_per_conn", "kernel_slab_per_conn"},
	"broadcast":   {"deliveries_per_s", "lat_p50_us", "lat_p99_us", "lat_p999_us", "fanout_p99_ms", "cpu_s_per_m_deliv"},
	"sse":         {"deliveries_per_s", "lat_p50_us", "lat_p99_us", "lat_p999_us", "fanout_p99_ms", "cpu_s_per_m_deliv"},
	"slow":        {"lat_p99_before_us", "lat_p99_after_us", "server_rss_before_mb", "server_rss_after_mb"},
	"socketio":    {"deliveries_per_s", "lat_p50_us", "lat_p99_us", "lat_p999_us", "fanout_p99_ms", "cpu_s_per_m_deliv"},
	"idle_sio":    {"heap_alloc_per_conn", "rss_per_conn", "kernel_slab_per_conn"},
	"stomp":       {"deliveries_per_s", "lat_p50_us", "lat_p99_us", "lat_p999_us", "fanout_p99_ms", "cpu_s_per_m_deliv"},
	"idle_stomp":  {"heap_alloc_per_conn", "rss_per_conn", "kernel_slab_per_conn"},
	"sockjs":      {"deliveries_per_s", "lat_p50_us", "lat_p99_us", "lat_p999_us", "fanout_p99_ms", "cpu_s_per_m_deliv"},
	"idle_sockjs": {"heap_alloc_per_conn", "rss_per_conn", "kernel_slab_per_conn"},
	"cluster":     {"deliveries_per_s", "deliv_per_cpu_s", "cpu_s_per_m_deliv", "lat_p50_us", "lat_p99_us", "delivered_ratio"},
	"deflate":     {"deliveries", "delivered_ratio", "deliv_per_cpu_s", "cpu_s_per_m_deliv", "wire_bytes_per_deliv", "msg_bytes_per_deliv", "lat_p50_us", "lat_p99_us"},
	"cluster_pub": {"acked_per_s", "acked_per_cpu_s", "received_ratio", "seq_gaps", "seq_dups", "seq_missing_tail"},
}

// Check returns one line per missing number when every server ran every
// scenario: see CheckPlan.
func Check(results []Result, servers, scenarios []string) []string {
	plan := map[string][]string{}
	for _, sc := range scenarios {
		plan[sc] = servers
	}
	return CheckPlan(results, plan)
}

// ParsePlan reads "server:scenario,server:scenario,..." (what a run was
// meant to measure) into scenario -> servers.
func ParsePlan(s string) (map[string][]string, error) {
	plan := map[string][]string{}
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		server, sc, ok := strings.Cut(f, ":")
		if !ok || server == "" || sc == "" {
			return nil, fmt.Errorf("%q is not server:scenario", f)
		}
		if !slices.Contains(plan[sc], server) {
			plan[sc] = append(plan[sc], server)
		}
	}
	return plan, nil
}

// CheckPlan returns one line per missing number: plan maps each scenario to
// the servers that ran it; each of them must have results for it, every
// (scenario, params) seen for one of them must exist for all of them, and
// each must carry the scenario's required metrics.
func CheckPlan(results []Result, plan map[string][]string) []string {
	var missing []string
	have := map[string]map[string]Result{} // scenario|params -> server -> result
	for _, r := range results {
		if _, planned := plan[r.Scenario]; !planned {
			continue
		}
		k := r.Scenario + " " + ParamKey(r.Params)
		if have[k] == nil {
			have[k] = map[string]Result{}
		}
		have[k][r.Server] = r
	}
	for _, sc := range slices.Sorted(maps.Keys(plan)) {
		for _, s := range plan[sc] {
			found := false
			for _, r := range results {
				found = found || (r.Scenario == sc && r.Server == s)
			}
			if !found {
				missing = append(missing, fmt.Sprintf("%s: no %s result", s, sc))
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(have)) {
		sc, _, _ := strings.Cut(k, " ")
		for _, s := range plan[sc] {
			r, ok := have[k][s]
			if !ok {
				missing = append(missing, fmt.Sprintf("%s: no result for %s", s, k))
				continue
			}
			for _, m := range requiredMetrics[sc] {
				v, ok := r.Metrics[m]
				if !ok || math.IsNaN(v) {
					missing = append(missing, fmt.Sprintf("%s: %s: metric %s missing", s, k, m))
				}
			}
		}
	}
	return missing
}

func fmtNum(v float64) string {
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0"
	case a >= 1e6:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

// WriteReport writes report.md and, with WritePlots, the gnuplot inputs
// (*.dat, plots.gp) into dir. Each scenario's tables have a column for each
// server that ran it. Ratios are baseline's value divided by each other
// server's value. After the header comes the SSE-versus-WebSocket summary of
// every server that ran both (see SSEvsWS).
func WriteReport(results []Result, dir, baseline string, header string) error {
	all := serverOrder(results, baseline)
	byKey := map[string]map[string]Result{}
	inScenario := map[string]map[string]bool{} // scenario -> servers that ran it
	var order []string
	for _, r := range results {
		k := r.Scenario + " " + ParamKey(r.Params)
		if byKey[k] == nil {
			byKey[k] = map[string]Result{}
			order = append(order, k)
		}
		byKey[k][r.Server] = r
		if inScenario[r.Scenario] == nil {
			inScenario[r.Scenario] = map[string]bool{}
		}
		inScenario[r.Scenario][r.Server] = true
	}
	var b strings.Builder
	b.WriteString(header)
	b.WriteString(SSEvsWS(results))
	b.WriteString(SIOvsNode(results, baseline))
	b.WriteString(STOMPSummary(results, baseline))
	b.WriteString(SockJSSummary(results))
	b.WriteString(ClusterSummary(results, baseline))
	b.WriteString(DeflateSummary(results, baseline))
	for _, k := range order {
		rs := byKey[k]
		sc, _, _ := strings.Cut(k, " ")
		servers := slices.DeleteFunc(slices.Clone(all), func(s string) bool { return !inScenario[sc][s] })
		peers := slices.DeleteFunc(slices.Clone(servers), func(s string) bool { return s == baseline })
		fmt.Fprintf(&b, "\n### %s\n\n| metric |", k)
		for _, s := range servers {
			fmt.Fprintf(&b, " %s |", s)
		}
		hasBase := rs[baseline].Metrics != nil
		if hasBase {
			for _, p := range peers {
				fmt.Fprintf(&b, " %s/%s |", baseline, p)
			}
		}
		b.WriteString("\n|---|")
		for range servers {
			b.WriteString("---:|")
		}
		if hasBase {
			for range peers {
				b.WriteString("---:|")
			}
		}
		b.WriteString("\n")
		names := map[string]bool{}
		for _, r := range rs {
			for m := range r.Metrics {
				names[m] = true
			}
		}
		for _, m := range slices.Sorted(maps.Keys(names)) {
			fmt.Fprintf(&b, "| %s |", m)
			for _, s := range servers {
				if v, ok := rs[s].Metrics[m]; ok {
					fmt.Fprintf(&b, " %s |", fmtNum(v))
				} else {
					b.WriteString(" missing |")
				}
			}
			if hasBase {
				bv, bok := rs[baseline].Metrics[m]
				for _, p := range peers {
					pv, pok := rs[p].Metrics[m]
					if bok && pok && pv != 0 {
						fmt.Fprintf(&b, " %.2f |", bv/pv)
					} else {
						b.WriteString(" - |")
					}
				}
			}
			b.WriteString("\n")
		}
		notes := map[string][]string{} // note -> servers, so a shared note is printed once
		for _, s := range servers {
			if n := rs[s].Note; n != "" {
				notes[n] = append(notes[n], s)
			}
		}
		for _, n := range slices.Sorted(maps.Keys(notes)) {
			fmt.Fprintf(&b, "\n%s: %s\n", strings.Join(notes[n], ", "), n)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "report.md"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	return WritePlots(results, dir, baseline)
}

// SSEGoal is how far a server's SSE may be from its WebSocket: deliveries
// per server CPU-second and latency within this factor.
const SSEGoal = 1.2

// SSEvsWS is the markdown summary of each server that ran both the sse and
// the broadcast scenario with the same parameters (and idle_sse and idle
// with the same N): deliveries per server CPU-second (1e6 /
// cpu_s_per_m_deliv) and latency p50/p99 over SSE against WebSocket, and
// memory per idle connection. "" when no server ran both.
func SSEvsWS(results []Result) string {
	type pair struct{ ws, sse Result }
	pairs := map[string]map[string]*pair{} // server -> params -> pair
	var servers, keys []string
	for _, r := range results {
		kind := "bcast"
		switch r.Scenario {
		case "broadcast", "sse":
		case "idle", "idle_sse":
			kind = "idle"
		default:
			continue
		}
		isSSE := r.Scenario == "sse" || r.Scenario == "idle_sse"
		k := kind + " " + ParamKey(r.Params)
		if pairs[r.Server] == nil {
			pairs[r.Server] = map[string]*pair{}
			servers = append(servers, r.Server)
		}
		p := pairs[r.Server][k]
		if p == nil {
			p = &pair{}
			pairs[r.Server][k] = p
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
		if isSSE {
			p.sse = r
		} else {
			p.ws = r
		}
	}
	ratio := func(a, b float64, aok, bok bool) string {
		if !aok || !bok || b == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", a/b)
	}
	var b strings.Builder
	for _, s := range servers {
		var bc, idle strings.Builder
		for _, k := range keys {
			p := pairs[s][k]
			if p == nil || p.ws.Metrics == nil || p.sse.Metrics == nil {
				continue
			}
			w, e := p.ws.Metrics, p.sse.Metrics
			if strings.HasPrefix(k, "idle ") {
				wr, wok := w["rss_per_conn"]
				er, eok := e["rss_per_conn"]
				wh, whok := w["heap_alloc_per_conn"]
				eh, ehok := e["heap_alloc_per_conn"]
				fmt.Fprintf(&idle, "| %s | %s | %s | %s | %s | %s | %s |\n", strings.TrimPrefix(k, "idle "),
					fmtOr(wr, wok), fmtOr(er, eok), ratio(er, wr, eok, wok), fmtOr(wh, whok), fmtOr(eh, ehok), ratio(eh, wh, ehok, whok))
				continue
			}
			wc, wok := w["cpu_s_per_m_deliv"]
			ec, eok := e["cpu_s_per_m_deliv"]
			wd, ed := 1e6/wc, 1e6/ec
			w50, w50ok := w["lat_p50_us"]
			e50, e50ok := e["lat_p50_us"]
			w99, w99ok := w["lat_p99_us"]
			e99, e99ok := e["lat_p99_us"]
			eff := ratio(wd, ed, wok && wc > 0, eok && ec > 0) // WS/SSE: > 1 means SSE costs more CPU per delivery
			verdict := "-"
			atMax := p.ws.Params["rate"] == "max"
			if wok && eok && wc > 0 && ec > 0 && (atMax || (w50ok && e50ok && w99ok && e99ok && w50 > 0 && w99 > 0)) {
				worst := wd / ed
				if !atMax {
					worst = max(worst, e50/w50, e99/w99)
				}
				if worst <= SSEGoal {
					verdict = "yes"
				} else {
					verdict = fmt.Sprintf("no (%.2fx)", worst)
				}
			}
			fmt.Fprintf(&bc, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", strings.TrimPrefix(k, "bcast "),
				fmtOr(wd, wok && wc > 0), fmtOr(ed, eok && ec > 0), eff,
				fmtOr(w50/1000, w50ok), fmtOr(e50/1000, e50ok), ratio(e50, w50, e50ok, w50ok),
				fmtOr(w99/1000, w99ok), fmtOr(e99/1000, e99ok), ratio(e99, w99, e99ok, w99ok), verdict)
		}
		if bc.Len() == 0 && idle.Len() == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n## %s: SSE against WebSocket\n", s)
		if bc.Len() > 0 {
			fmt.Fprintf(&b, "\nBroadcast to N subscribers over SSE (scenario sse) and over WebSocket (broadcast), same parameters.\n"+
				"deliv/CPU-s is deliveries per server CPU-second (1e6 / cpu_s_per_m_deliv); the ratios are WS/SSE for it\n"+
				"and SSE/WS for latency, so above 1 means SSE is worse. Goal: SSE within %.1fx of WebSocket on all three.\n"+
				"At rate=max latency is queueing by construction (the publish window), so \"within goal\" judges only\n"+
				"deliv/CPU-s there, and all three at the other rates; at rate=half each transport runs at half of its own\n"+
				"max rate, so the fixed-rate rows are the ones that compare latency at equal load.\n\n", SSEGoal)
			b.WriteString("| params | WS deliv/CPU-s | SSE deliv/CPU-s | WS/SSE | WS p50 ms | SSE p50 ms | SSE/WS | WS p99 ms | SSE p99 ms | SSE/WS | within goal |\n")
			b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
			b.WriteString(bc.String())
		}
		if idle.Len() > 0 {
			b.WriteString("\nMemory per idle connection: SSE streams (idle_sse, each subscribed to the bench topic) against\n" +
				"WebSocket connections (idle), bytes; ratios SSE/WS.\n\n")
			b.WriteString("| params | WS RSS | SSE RSS | SSE/WS | WS heap | SSE heap | SSE/WS |\n|---|---:|---:|---:|---:|---:|---:|\n")
			b.WriteString(idle.String())
		}
	}
	return b.String()
}

func fmtOr(v float64, ok bool) string {
	if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
		return "missing"
	}
	return fmtNum(v)
}

// NodeSocketIO is the server label of Node's own socket.io server
// (bench/peers/node-socketio), the peer of the Socket.IO scenarios.
const NodeSocketIO = "node-socketio"

// Goals of c1m's Socket.IO against Node's socket.io (issue 10): at least
// SIOCPUGoal times the deliveries per server CPU-second, at most SIOMemGoal
// of the memory per connection.
const (
	SIOCPUGoal = 5.0
	SIOMemGoal = 0.25
)

// SIOvsNode is the markdown summary of baseline's Socket.IO against Node's
// socket.io server where both ran the same socketio or idle_sio parameters:
// deliveries per server CPU-second and latency of the broadcast, memory per
// idle client over each transport, with the ratios and the goal verdicts.
// "" when they share no result.
func SIOvsNode(results []Result, baseline string) string {
	type pair struct{ base, node Result }
	pairs := map[string]*pair{}
	var keys []string
	for _, r := range results {
		if (r.Scenario != "socketio" && r.Scenario != "idle_sio") || (r.Server != baseline && r.Server != NodeSocketIO) {
			continue
		}
		k := r.Scenario + " " + ParamKey(r.Params)
		p := pairs[k]
		if p == nil {
			p = &pair{}
			pairs[k] = p
			keys = append(keys, k)
		}
		if r.Server == baseline {
			p.base = r
		} else {
			p.node = r
		}
	}
	verdict := func(ok bool, v float64) string {
		if ok {
			return fmt.Sprintf("yes (%.2fx)", v)
		}
		return fmt.Sprintf("no (%.2fx)", v)
	}
	var bc, idle strings.Builder
	for _, k := range keys {
		p := pairs[k]
		if p.base.Metrics == nil || p.node.Metrics == nil {
			continue
		}
		c, n := p.base.Metrics, p.node.Metrics
		params := k[strings.IndexByte(k, ' ')+1:]
		if strings.HasPrefix(k, "idle_sio ") {
			cr, crok := c["rss_per_conn"]
			nr, nrok := n["rss_per_conn"]
			ch, chok := c["heap_alloc_per_conn"]
			nh, nhok := n["heap_alloc_per_conn"]
			goal := "-"
			if crok && nrok && nr > 0 && cr > 0 {
				goal = verdict(cr/nr <= SIOMemGoal, cr/nr)
			}
			fmt.Fprintf(&idle, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", params,
				fmtOr(cr, crok), fmtOr(nr, nrok), ratioStr(cr, nr, crok, nrok),
				fmtOr(ch, chok), fmtOr(nh, nhok), ratioStr(ch, nh, chok, nhok), goal)
			continue
		}
		cc, ccok := c["cpu_s_per_m_deliv"]
		nc, ncok := n["cpu_s_per_m_deliv"]
		ccok, ncok = ccok && cc > 0, ncok && nc > 0
		cd, nd := 1e6/cc, 1e6/nc
		c50, c50ok := c["lat_p50_us"]
		n50, n50ok := n["lat_p50_us"]
		c99, c99ok := c["lat_p99_us"]
		n99, n99ok := n["lat_p99_us"]
		cr, crok := c["publish_per_s"]
		nr, nrok := n["publish_per_s"]
		goal := "-"
		if ccok && ncok {
			goal = verdict(cd/nd >= SIOCPUGoal, cd/nd)
		}
		fmt.Fprintf(&bc, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s |\n", params,
			fmtOr(cd, ccok), fmtOr(nd, ncok), ratioStr(cd, nd, ccok, ncok),
			fmtOr(c50/1000, c50ok), fmtOr(n50/1000, n50ok), ratioStr(c50, n50, c50ok, n50ok),
			fmtOr(c99/1000, c99ok), fmtOr(n99/1000, n99ok), ratioStr(c99, n99, c99ok, n99ok),
			fmtOr(cr, crok), fmtOr(nr, nrok), goal)
	}
	if bc.Len() == 0 && idle.Len() == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n## %s Socket.IO against Node's socket.io (%s)\n", baseline, NodeSocketIO)
	if bc.Len() > 0 {
		fmt.Fprintf(&b, "\nBroadcast to N Socket.IO clients over WebSocket (scenario socketio), same parameters for both.\n"+
			"deliv/CPU-s is deliveries per server CPU-second (1e6 / cpu_s_per_m_deliv); ratios are %[1]s/node, so above 1\n"+
			"means %[1]s delivers more per CPU-second and, for latency, is slower. Goal: at least %.0fx Node's deliveries per\n"+
			"CPU-second. At rate=max latency is queueing by construction; at rate=half each server runs at half of its own\n"+
			"max rate (the publish rates are in the pub/s column); a fixed rate compares latency at equal load when both reach it.\n\n", baseline, SIOCPUGoal)
		fmt.Fprintf(&b, "| params | %[1]s deliv/CPU-s | node deliv/CPU-s | %[1]s/node | %[1]s p50 ms | node p50 ms | %[1]s/node | %[1]s p99 ms | node p99 ms | %[1]s/node | pub/s %[1]s / node | >= %.0fx |\n", baseline, SIOCPUGoal)
		b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
		b.WriteString(bc.String())
	}
	if idle.Len() > 0 {
		fmt.Fprintf(&b, "\nMemory per idle Socket.IO client (scenario idle_sio: connected to / and subscribed to the bench topic), bytes,\n"+
			"(server after N clients - empty server) / N. Node's heap is V8's heapUsed plus external memory (Buffers), after a\n"+
			"full GC; Go's is heap_alloc after a GC. Goal: %s's RSS per client at most %.2f of Node's.\n\n", baseline, SIOMemGoal)
		fmt.Fprintf(&b, "| params | %[1]s RSS | node RSS | %[1]s/node | %[1]s heap | node heap | %[1]s/node | RSS <= %.2fx |\n|---|---:|---:|---:|---:|---:|---:|---|\n", baseline, SIOMemGoal)
		b.WriteString(idle.String())
	}
	return b.String()
}

func ratioStr(a, b float64, aok, bok bool) string {
	if !aok || !bok || b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}
