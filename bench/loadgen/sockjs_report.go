package loadgen

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// sockjsNativeKey is the parameters of a sockjs (or idle_sockjs) result
// without its transport: those of the native broadcast (or idle) result it
// is compared with.
func sockjsNativeKey(p map[string]string) string {
	q := maps.Clone(p)
	delete(q, "transport")
	return ParamKey(q)
}

// SockJSSummary is the markdown summary of the SockJS scenarios, per server
// that ran them:
//
//   - broadcast to N SockJS sessions (scenario sockjs, one receiving
//     transport) against broadcast to N native WebSocket connections
//     (broadcast) with the same subscribers, payload and rate in the same
//     run: deliveries per server CPU-second, latency p50/p99 and the publish
//     rate each reached, with the ratios SockJS/native;
//   - memory per idle SockJS session (idle_sockjs) per transport and N,
//     against per idle native WebSocket connection (idle) where the run has
//     the same N.
//
// "" when the run has no sockjs or idle_sockjs result.
func SockJSSummary(results []Result) string {
	native := map[string]Result{} // scenario|params|server
	var bc, idle []Result
	for _, r := range results {
		switch r.Scenario {
		case "broadcast", "idle":
			native[r.Scenario+"|"+ParamKey(r.Params)+"|"+r.Server] = r
		case "sockjs":
			bc = append(bc, r)
		case "idle_sockjs":
			idle = append(idle, r)
		}
	}
	if len(bc) == 0 && len(idle) == 0 {
		return ""
	}
	dpc := func(m map[string]float64) (float64, bool) {
		c, ok := m["cpu_s_per_m_deliv"]
		if !ok || c <= 0 {
			return 0, false
		}
		return 1e6 / c, true
	}
	get := func(m map[string]float64, k string, scale float64) (float64, bool) {
		v, ok := m[k]
		return v / scale, ok
	}
	var b strings.Builder
	b.WriteString("\n## SockJS\n")
	if len(bc) > 0 {
		b.WriteString("\nBroadcast to N SockJS sessions carrying the native protocol (scenario sockjs, at /sockjs over one receiving\n" +
			"transport: each delivery is a[\"<the native delivery as a JSON string>\"]) against the native protocol over WebSocket\n" +
			"(broadcast), same server, same run, same subscribers, payload, rate and publisher (POST /publish). deliv/CPU-s is\n" +
			"deliveries per server CPU-second (1e6 / cpu_s_per_m_deliv); SockJS/native below 1 means SockJS costs more CPU per\n" +
			"delivery, and above 1 for latency means it is slower. At rate=max latency is queueing by construction and each\n" +
			"publishes as fast as it delivers (pub/s); at half, each runs at half of its own max; a fixed rate compares latency\n" +
			"at equal load.\n\n")
		b.WriteString("| server | transport | params | native deliv/CPU-s | SockJS deliv/CPU-s | SockJS/native | native p50 ms | SockJS p50 ms | SockJS/native | native p99 ms | SockJS p99 ms | SockJS/native | pub/s native / SockJS | SockJS delivered |\n")
		b.WriteString("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range bc {
			pk := sockjsNativeKey(r.Params)
			n := native["broadcast|"+pk+"|"+r.Server].Metrics
			s := r.Metrics
			nd, nok := dpc(n)
			sd, sok := dpc(s)
			n50, n50ok := get(n, "lat_p50_us", 1000)
			s50, s50ok := get(s, "lat_p50_us", 1000)
			n99, n99ok := get(n, "lat_p99_us", 1000)
			s99, s99ok := get(s, "lat_p99_us", 1000)
			np, npok := get(n, "publish_per_s", 1)
			sp, spok := get(s, "publish_per_s", 1)
			dr, drok := get(s, "delivered_ratio", 1)
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s |\n", r.Server, r.Params["transport"], pk,
				fmtOr(nd, nok), fmtOr(sd, sok), ratioStr(sd, nd, sok, nok),
				fmtOr(n50, n50ok), fmtOr(s50, s50ok), ratioStr(s50, n50, s50ok, n50ok),
				fmtOr(n99, n99ok), fmtOr(s99, s99ok), ratioStr(s99, n99, s99ok, n99ok),
				fmtOr(np, npok), fmtOr(sp, spok), fmtOr(dr, drok))
		}
	}
	if len(idle) > 0 {
		slices.SortStableFunc(idle, func(x, y Result) int {
			return strings.Compare(x.Server+"|"+x.Params["transport"], y.Server+"|"+y.Params["transport"])
		})
		b.WriteString("\nMemory per idle SockJS session (scenario idle_sockjs: the session open over one receiving transport, subscribed to\n" +
			"the bench topic; its xhr_send connection closed), bytes, (server after N sessions - empty server) / N, against per\n" +
			"idle native WebSocket connection (idle: not subscribed) at the same N when the run has it. A polling (xhr) session\n" +
			"holds one pending poll; kernel slab is machine-wide and counts both socket ends.\n\n")
		b.WriteString("| server | transport | params | SockJS RSS | native RSS | SockJS/native | SockJS heap | native heap | SockJS/native | SockJS kernel slab | failed |\n")
		b.WriteString("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range idle {
			pk := sockjsNativeKey(r.Params)
			n := native["idle|"+pk+"|"+r.Server].Metrics
			s := r.Metrics
			sr, srok := get(s, "rss_per_conn", 1)
			nr, nrok := get(n, "rss_per_conn", 1)
			sh, shok := get(s, "heap_alloc_per_conn", 1)
			nh, nhok := get(n, "heap_alloc_per_conn", 1)
			sk, skok := get(s, "kernel_slab_per_conn", 1)
			f, fok := get(s, "failed", 1)
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.Server, r.Params["transport"], pk,
				fmtOr(sr, srok), fmtOr(nr, nrok), ratioStr(sr, nr, srok, nrok),
				fmtOr(sh, shok), fmtOr(nh, nhok), ratioStr(sh, nh, shok, nhok), fmtOr(sk, skok), fmtOr(f, fok))
		}
	}
	return b.String()
}
