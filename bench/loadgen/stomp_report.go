package loadgen

import (
	"fmt"
	"slices"
	"strings"
)

// RabbitMQ is the server label of RabbitMQ's Web-STOMP plugin, the peer of
// the stomp scenario.
const RabbitMQ = "rabbitmq"

// STOMPSummary is the markdown summary of the STOMP scenarios:
//
//   - for each server that ran stomp and broadcast with the same parameters,
//     deliveries per server CPU-second and latency over STOMP against its
//     native protocol in the same run (the issue's "deliveries per server
//     CPU-second over STOMP against the native protocol"), as STOMP/native;
//   - baseline's STOMP against every other server's (RabbitMQ Web-STOMP) with
//     the same parameters, as baseline/peer;
//   - memory per idle STOMP client (idle_stomp) against per idle WebSocket
//     connection (idle) where the run has both.
//
// "" when the run has no stomp or idle_stomp result.
func STOMPSummary(results []Result, baseline string) string {
	by := map[string]Result{} // scenario|params|server
	var stompKeys, idleKeys []string
	var peers []string
	for _, r := range results {
		pk := ParamKey(r.Params)
		by[r.Scenario+"|"+pk+"|"+r.Server] = r
		switch r.Scenario {
		case "stomp":
			if !slices.Contains(stompKeys, pk) {
				stompKeys = append(stompKeys, pk)
			}
			if r.Server != baseline && !slices.Contains(peers, r.Server) {
				peers = append(peers, r.Server)
			}
		case "idle_stomp":
			if !slices.Contains(idleKeys, pk) {
				idleKeys = append(idleKeys, pk)
			}
		}
	}
	if len(stompKeys) == 0 && len(idleKeys) == 0 {
		return ""
	}
	slices.Sort(peers)
	get := func(sc, pk, server, m string) (float64, bool) {
		v, ok := by[sc+"|"+pk+"|"+server].Metrics[m]
		return v, ok
	}
	dpc := func(sc, pk, server string) (float64, bool) {
		c, ok := get(sc, pk, server, "cpu_s_per_m_deliv")
		if !ok || c <= 0 {
			return 0, false
		}
		return 1e6 / c, true
	}
	ms := func(sc, pk, server, m string) (float64, bool) {
		v, ok := get(sc, pk, server, m)
		return v / 1000, ok
	}
	servers := serverOrder(results, baseline)
	var b strings.Builder
	b.WriteString("\n## STOMP\n")
	// STOMP against native, per server.
	var nat strings.Builder
	for _, s := range servers {
		for _, pk := range stompKeys {
			sd, sok := dpc("stomp", pk, s)
			nd, nok := dpc("broadcast", pk, s)
			if by["stomp|"+pk+"|"+s].Metrics == nil || by["broadcast|"+pk+"|"+s].Metrics == nil {
				continue
			}
			n50, n50ok := ms("broadcast", pk, s, "lat_p50_us")
			s50, s50ok := ms("stomp", pk, s, "lat_p50_us")
			n99, n99ok := ms("broadcast", pk, s, "lat_p99_us")
			s99, s99ok := ms("stomp", pk, s, "lat_p99_us")
			np, npok := get("broadcast", pk, s, "publish_per_s")
			sp, spok := get("stomp", pk, s, "publish_per_s")
			fmt.Fprintf(&nat, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s |\n", s, pk,
				fmtOr(nd, nok), fmtOr(sd, sok), ratioStr(sd, nd, sok, nok),
				fmtOr(n50, n50ok), fmtOr(s50, s50ok), ratioStr(s50, n50, s50ok, n50ok),
				fmtOr(n99, n99ok), fmtOr(s99, s99ok), ratioStr(s99, n99, s99ok, n99ok),
				fmtOr(np, npok), fmtOr(sp, spok))
		}
	}
	if nat.Len() > 0 {
		b.WriteString("\nBroadcast to N subscribers over STOMP 1.2 over WebSocket (scenario stomp: CONNECT, SUBSCRIBE to /topic/TOPIC,\n" +
			"MESSAGE frames) against the native protocol over WebSocket (broadcast), same server, same run, same parameters and\n" +
			"publisher (POST /publish). deliv/CPU-s is deliveries per server CPU-second (1e6 / cpu_s_per_m_deliv); STOMP/native\n" +
			"below 1 means STOMP costs more CPU per delivery, and above 1 for latency means STOMP is slower. At rate=max latency\n" +
			"is queueing by construction and each protocol publishes as fast as it delivers (pub/s); at half, each runs at half\n" +
			"of its own max; a fixed rate compares latency at equal load.\n\n")
		b.WriteString("| server | params | native deliv/CPU-s | STOMP deliv/CPU-s | STOMP/native | native p50 ms | STOMP p50 ms | STOMP/native | native p99 ms | STOMP p99 ms | STOMP/native | pub/s native / STOMP |\n")
		b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		b.WriteString(nat.String())
	}
	// baseline against each peer over STOMP.
	for _, p := range peers {
		var t strings.Builder
		for _, pk := range stompKeys {
			if by["stomp|"+pk+"|"+baseline].Metrics == nil || by["stomp|"+pk+"|"+p].Metrics == nil {
				continue
			}
			cd, cok := dpc("stomp", pk, baseline)
			pd, pok := dpc("stomp", pk, p)
			c50, c50ok := ms("stomp", pk, baseline, "lat_p50_us")
			p50, p50ok := ms("stomp", pk, p, "lat_p50_us")
			c99, c99ok := ms("stomp", pk, baseline, "lat_p99_us")
			p99, p99ok := ms("stomp", pk, p, "lat_p99_us")
			cp, cpok := get("stomp", pk, baseline, "publish_per_s")
			pp, ppok := get("stomp", pk, p, "publish_per_s")
			cr, crok := get("stomp", pk, baseline, "server_rss_mb")
			pr, prok := get("stomp", pk, p, "server_rss_mb")
			fmt.Fprintf(&t, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s / %s |\n", pk,
				fmtOr(cd, cok), fmtOr(pd, pok), ratioStr(cd, pd, cok, pok),
				fmtOr(c50, c50ok), fmtOr(p50, p50ok), ratioStr(c50, p50, c50ok, p50ok),
				fmtOr(c99, c99ok), fmtOr(p99, p99ok), ratioStr(c99, p99, c99ok, p99ok),
				fmtOr(cp, cpok), fmtOr(pp, ppok), fmtOr(cr, crok), fmtOr(pr, prok))
		}
		if t.Len() == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n%[1]s's STOMP against %[2]s's (scenario stomp, same parameters). Ratios are %[1]s/%[2]s: above 1 means\n"+
			"%[1]s delivers more per CPU-second and, for latency, is slower.", baseline, p)
		if p == RabbitMQ {
			b.WriteString(" RabbitMQ is published to over STOMP (SEND to /topic/TOPIC,\n" +
				"the amq.topic exchange) by the load generator, which stamps the time in the body when it builds the frame, so its\n" +
				"latency includes the publisher's connection to the broker; its CPU and RSS are its beam.smp process and children.")
		}
		b.WriteString("\n\n")
		fmt.Fprintf(&b, "| params | %[1]s deliv/CPU-s | %[2]s deliv/CPU-s | %[1]s/%[2]s | %[1]s p50 ms | %[2]s p50 ms | %[1]s/%[2]s | %[1]s p99 ms | %[2]s p99 ms | %[1]s/%[2]s | pub/s %[1]s / %[2]s | RSS MB %[1]s / %[2]s |\n", baseline, p)
		b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		b.WriteString(t.String())
	}
	// Memory per idle STOMP client.
	var idle strings.Builder
	for _, s := range servers {
		for _, pk := range idleKeys {
			if by["idle_stomp|"+pk+"|"+s].Metrics == nil {
				continue
			}
			sr, srok := get("idle_stomp", pk, s, "rss_per_conn")
			nr, nrok := get("idle", pk, s, "rss_per_conn")
			sh, shok := get("idle_stomp", pk, s, "heap_alloc_per_conn")
			nh, nhok := get("idle", pk, s, "heap_alloc_per_conn")
			sk, skok := get("idle_stomp", pk, s, "kernel_slab_per_conn")
			fmt.Fprintf(&idle, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", s, pk,
				fmtOr(sr, srok), fmtOr(nr, nrok), ratioStr(sr, nr, srok, nrok),
				fmtOr(sh, shok), fmtOr(nh, nhok), ratioStr(sh, nh, shok, nhok), fmtOr(sk, skok))
		}
	}
	if idle.Len() > 0 {
		b.WriteString("\nMemory per idle STOMP client (scenario idle_stomp: CONNECTED and subscribed to /topic/TOPIC), bytes, (server after N\n" +
			"clients - empty server) / N, against per idle WebSocket connection of the native protocol (idle: not subscribed) when\n" +
			"the run has it; kernel slab is machine-wide and counts both socket ends.\n\n")
		b.WriteString("| server | params | STOMP RSS | native RSS | STOMP/native | STOMP heap | native heap | STOMP/native | STOMP kernel slab |\n")
		b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
		b.WriteString(idle.String())
	}
	return b.String()
}
