package loadgen

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// DeflateModes are the deflate scenario's server configurations in report
// order: permessage-deflate off (the reference of the ratios), on with the
// default threshold, on with threshold 0.
var DeflateModes = []string{"off", "default", "zero"}

// DeflateSummary is the markdown summary of the deflate scenario: for each
// parameter set (payload, conns, rate, topics), one row per server
// configuration (mode) with wire bytes and deliveries per server CPU-second,
// latency, and the ratios against mode=off. "" when the results have no
// deflate rows of baseline.
func DeflateSummary(results []Result, baseline string) string {
	groups := map[string]map[string]*Result{} // params without mode -> mode -> result
	var keys []string
	for i := range results {
		r := &results[i]
		if r.Server != baseline || r.Scenario != "deflate" {
			continue
		}
		rest := maps.Clone(r.Params)
		delete(rest, "mode")
		k := ParamKey(rest)
		if groups[k] == nil {
			groups[k] = map[string]*Result{}
			keys = append(keys, k)
		}
		groups[k][r.Params["mode"]] = r
	}
	if len(keys) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n## %s permessage-deflate: a JSON quote feed with deflate off and on\n", baseline)
	b.WriteString("\nThe same feed (deterministic JSON quotes, ~125-byte data, or 5-level book updates, ~575-byte data, POSTed to\n" +
		"/publish at a fixed rate, round-robin over the topics) to the same WebSocket subscribers (gorilla/websocket,\n" +
		"offering permessage-deflate as browsers do), each on a fresh server: off (--deflate=false), default (on, the\n" +
		"default --deflate-threshold) and zero (--deflate-threshold 0: every frame that gets smaller). msg B is the\n" +
		"message as the client application reads it (the server's envelope around the data, inflated); wire B is what\n" +
		"the client sockets read per delivery (frame headers included). deliv/CPU-s is deliveries per CPU-second of the\n" +
		"server process. Ratios are against off: below 1 is fewer bytes or less latency, above 1 more deliveries per\n" +
		"CPU-second. compressed is the frames the server compressed (once per message, shared by its subscribers),\n" +
		"deflate conns the subscribers that agreed permessage-deflate.\n\n")
	b.WriteString("| params | mode | msg B | wire B/deliv | wire/off | deliv/CPU-s | /off | p50 ms | p99 ms | p99/off | delivered | compressed / published | deflate conns | loadgen cores |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, k := range keys {
		g := groups[k]
		modes := slices.Sorted(maps.Keys(g))
		slices.SortStableFunc(modes, func(a, b string) int { return modeRank(a) - modeRank(b) })
		off := g["off"]
		get := func(r *Result, m string) (float64, bool) {
			if r == nil {
				return 0, false
			}
			v, ok := r.Metrics[m]
			return v, ok
		}
		cell := func(r *Result, m string, scale float64) string {
			v, ok := get(r, m)
			return fmtOr(v*scale, ok)
		}
		ratio := func(r *Result, m string) string {
			if r == off {
				return "-"
			}
			a, aok := get(r, m)
			o, ook := get(off, m)
			return ratioStr(a, o, aok, ook)
		}
		for _, mode := range modes {
			r := g[mode]
			comp := "-"
			if c, ok := get(r, "server_compressed"); ok {
				comp = fmt.Sprintf("%s / %s", fmtNum(c), cell(r, "published", 1))
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
				k, mode, cell(r, "msg_bytes_per_deliv", 1), cell(r, "wire_bytes_per_deliv", 1), ratio(r, "wire_bytes_per_deliv"),
				cell(r, "deliv_per_cpu_s", 1), ratio(r, "deliv_per_cpu_s"),
				cell(r, "lat_p50_us", 1e-3), cell(r, "lat_p99_us", 1e-3), ratio(r, "lat_p99_us"),
				cell(r, "delivered_ratio", 1), comp, cell(r, "server_deflate_conns", 1), cell(r, "loadgen_cpu_cores", 1))
		}
	}
	var short []string
	for _, k := range keys {
		for _, mode := range slices.Sorted(maps.Keys(groups[k])) {
			r := groups[k][mode]
			if d, ok := r.Metrics["delivered_ratio"]; ok && d < 1 {
				short = append(short, fmt.Sprintf("%s %s: %s", mode, k, fmtNum(d)))
			}
		}
	}
	if len(short) > 0 {
		b.WriteString("\nNot every delivery arrived within the drain (the numbers of these rows count what did): " + strings.Join(short, "; ") + ".\n")
	}
	return b.String()
}

func modeRank(m string) int {
	if i := slices.Index(DeflateModes, m); i >= 0 {
		return i
	}
	return len(DeflateModes)
}
