package loadgen

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
)

// ClusterSummary is the markdown summary of the cluster scenario: for each
// fan-out step (scenario cluster) and publish-throughput step (cluster_pub)
// that ran both on one standalone node (mode=single) and on the cluster
// (mode=cluster) with the same other parameters, the numbers side by side
// and cluster/single. "" when the results have no cluster rows.
func ClusterSummary(results []Result, baseline string) string {
	type pair struct{ single, cluster *Result }
	pairs := map[string]*pair{}
	var fanKeys, pubKeys []string
	nodes := ""
	for i := range results {
		r := &results[i]
		if r.Server != baseline || (r.Scenario != "cluster" && r.Scenario != "cluster_pub") {
			continue
		}
		rest := maps.Clone(r.Params)
		mode := rest["mode"]
		delete(rest, "mode")
		delete(rest, "nodes")
		k := r.Scenario + " " + ParamKey(rest)
		p := pairs[k]
		if p == nil {
			p = &pair{}
			pairs[k] = p
			if r.Scenario == "cluster" {
				fanKeys = append(fanKeys, k)
			} else {
				pubKeys = append(pubKeys, k)
			}
		}
		switch mode {
		case "single":
			p.single = r
		case "cluster":
			p.cluster = r
			nodes = r.Params["nodes"]
		}
	}
	if len(pairs) == 0 {
		return ""
	}
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
	ratio := func(p *pair, m string) string {
		c, cok := get(p.cluster, m)
		s, sok := get(p.single, m)
		return ratioStr(c, s, cok, sok)
	}
	var b strings.Builder
	if nodes == "" {
		nodes = "N"
	}
	fmt.Fprintf(&b, "\n## %s cluster: %s nodes on one nats-server against one node\n", baseline, nodes)
	fmt.Fprintf(&b, "\nThe same load against one standalone node (single) and against %s nodes joined by NATS JetStream\n"+
		"(cluster), every process pinned to the servers' CPU. deliv/CPU-s is deliveries per CPU-second of all the\n"+
		"server processes: the nodes plus nats-server (cluster), the node alone (single). Latency is receipt minus the\n"+
		"publish time the receiving node stamped. cluster/single above 1 means the cluster delivers more per CPU-second\n"+
		"and, for latency, is slower. At rate=max each setup publishes as fast as it delivers (pub/s column).\n", nodes)
	if len(fanKeys) > 0 {
		b.WriteString("\n| params | single deliv/CPU-s | cluster deliv/CPU-s | cluster/single | single p50 ms | cluster p50 ms | cluster/single | single p99 ms | cluster p99 ms | cluster/single | pub/s single / cluster | delivered single / cluster | nats CPU share |\n")
		b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, k := range fanKeys {
			p := pairs[k]
			share := "-"
			if n, ok := get(p.cluster, "nats_cpu_s"); ok {
				if c, ok := get(p.cluster, "nodes_cpu_s"); ok && n+c > 0 {
					share = fmt.Sprintf("%.2f", n/(n+c))
				}
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s / %s | %s |\n",
				strings.TrimPrefix(k, "cluster "),
				cell(p.single, "deliv_per_cpu_s", 1), cell(p.cluster, "deliv_per_cpu_s", 1), ratio(p, "deliv_per_cpu_s"),
				cell(p.single, "lat_p50_us", 1e-3), cell(p.cluster, "lat_p50_us", 1e-3), ratio(p, "lat_p50_us"),
				cell(p.single, "lat_p99_us", 1e-3), cell(p.cluster, "lat_p99_us", 1e-3), ratio(p, "lat_p99_us"),
				cell(p.single, "publish_per_s", 1), cell(p.cluster, "publish_per_s", 1),
				cell(p.single, "delivered_ratio", 1), cell(p.cluster, "delivered_ratio", 1), share)
		}
	}
	// Fixed rates one setup did not reach: not equal load there.
	var short []string
	for _, k := range fanKeys {
		p := pairs[k]
		for _, r := range []*Result{p.single, p.cluster} {
			if r == nil {
				continue
			}
			target, pub := r.Metrics["rate_target"], r.Metrics["publish_per_s"]
			if target > 0 && pub < 0.9*target {
				short = append(short, fmt.Sprintf("%s %s: %.0f of %.0f msg/s", r.Params["mode"], strings.TrimPrefix(k, "cluster "), pub, target))
			}
		}
	}
	if len(short) > 0 {
		b.WriteString("\nFixed rates not reached (each paced publisher POSTs what is due, batched, one request at a time: slower answers\n" +
			"lower the rate, so these rows are not at equal load): " + strings.Join(short, "; ") + ".\n")
	}
	if len(pubKeys) > 0 {
		b.WriteString("\nPublish throughput (scenario cluster_pub): concurrent publishers POST one message per request (keep-alive),\n" +
			"round-robin over the nodes, on 1 or many topics; acked/s counts 202 answers (the cluster stored the message).\n" +
			"One checker WebSocket per node subscribed to every topic: seq gaps (after a topic's first message), duplicates and\n" +
			"missing tail (acked seqs never received) must be 0, and received is the least any checker got of the\n" +
			"acked publishes.\n\n")
		b.WriteString("| params | single acked/s | cluster acked/s | cluster/single | single acked/CPU-s | cluster acked/CPU-s | cluster/single | single pub p99 ms | cluster pub p99 ms | received single / cluster | seq gaps+dups+tail single / cluster | errors single / cluster |\n")
		b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		seqBad := func(r *Result) string {
			g, gok := get(r, "seq_gaps")
			d, dok := get(r, "seq_dups")
			t, tok := get(r, "seq_missing_tail")
			if !gok || !dok || !tok {
				return "missing"
			}
			return strconv.FormatFloat(g+d+t, 'f', 0, 64)
		}
		var bad, late []string
		for _, k := range pubKeys {
			p := pairs[k]
			for _, r := range []*Result{p.single, p.cluster} {
				if r == nil {
					continue
				}
				if l := r.Metrics["seq_first_not_1"]; l > 0 {
					late = append(late, fmt.Sprintf("%s %s: %.0f", r.Params["mode"], strings.TrimPrefix(k, "cluster_pub "), l))
				}
				g, d, t, rr := r.Metrics["seq_gaps"], r.Metrics["seq_dups"], r.Metrics["seq_missing_tail"], r.Metrics["received_ratio"]
				if g+d+t > 0 || rr < 1 {
					bad = append(bad, fmt.Sprintf("%s %s: %.0f gaps (%.0f seqs skipped), %.0f duplicate or out-of-order, %.0f acked not received, received %s",
						r.Params["mode"], strings.TrimPrefix(k, "cluster_pub "), g, r.Metrics["seq_missing"], d, t, fmtNum(rr)))
				}
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s / %s | %s / %s |\n",
				strings.TrimPrefix(k, "cluster_pub "),
				cell(p.single, "acked_per_s", 1), cell(p.cluster, "acked_per_s", 1), ratio(p, "acked_per_s"),
				cell(p.single, "acked_per_cpu_s", 1), cell(p.cluster, "acked_per_cpu_s", 1), ratio(p, "acked_per_cpu_s"),
				cell(p.single, "pub_p99_us", 1e-3), cell(p.cluster, "pub_p99_us", 1e-3),
				cell(p.single, "received_ratio", 1), cell(p.cluster, "received_ratio", 1),
				seqBad(p.single), seqBad(p.cluster),
				cell(p.single, "errors", 1), cell(p.cluster, "errors", 1))
		}
		if len(late) > 0 {
			b.WriteString("\nFresh topics whose first seq was not 1 (a single node numbers every topic from 1; counted per checker,\n" +
				"not as gaps): " + strings.Join(late, "; ") + ".\n")
		}
		if len(bad) > 0 {
			b.WriteString("\n**Seq check failed** (each topic's seqs must arrive 1, 2, 3, ... on every node, every acked publish received):\n\n")
			for _, l := range bad {
				b.WriteString("- " + l + "\n")
			}
		}
	}
	return b.String()
}
