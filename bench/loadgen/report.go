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
	"connect":   {"upgrades_per_s", "upgrade_p50_us", "upgrade_p99_us"},
	"idle":      {"heap_alloc_per_conn", "rss_per_conn", "kernel_slab_per_conn"},
	"broadcast": {"deliveries_per_s", "lat_p50_us", "lat_p99_us", "lat_p999_us", "fanout_p99_ms", "cpu_s_per_m_deliv"},
	"slow":      {"lat_p99_before_us", "lat_p99_after_us", "server_rss_before_mb", "server_rss_after_mb"},
}

// Check returns one line per missing number: every scenario must have results
// for every server, every (scenario, params) seen for one server must exist
// for all, and each must carry the scenario's required metrics.
func Check(results []Result, servers, scenarios []string) []string {
	var missing []string
	have := map[string]map[string]Result{} // scenario|params -> server -> result
	for _, r := range results {
		k := r.Scenario + " " + ParamKey(r.Params)
		if have[k] == nil {
			have[k] = map[string]Result{}
		}
		have[k][r.Server] = r
	}
	for _, sc := range scenarios {
		for _, s := range servers {
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
		for _, s := range servers {
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

// WriteReport writes report.md and gnuplot inputs (*.dat, plots.gp) into dir.
// Ratios are baseline's value divided by each other server's value.
func WriteReport(results []Result, dir, baseline string, header string) error {
	servers := []string{}
	for _, r := range results {
		if !slices.Contains(servers, r.Server) {
			servers = append(servers, r.Server)
		}
	}
	slices.SortFunc(servers, func(a, b string) int {
		if a == baseline {
			return -1
		}
		if b == baseline {
			return 1
		}
		return strings.Compare(a, b)
	})
	peers := slices.DeleteFunc(slices.Clone(servers), func(s string) bool { return s == baseline })
	byKey := map[string]map[string]Result{}
	var order []string
	for _, r := range results {
		k := r.Scenario + " " + ParamKey(r.Params)
		if byKey[k] == nil {
			byKey[k] = map[string]Result{}
			order = append(order, k)
		}
		byKey[k][r.Server] = r
	}
	var b strings.Builder
	b.WriteString(header)
	for _, k := range order {
		rs := byKey[k]
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
	return writePlots(results, servers, dir)
}

// writePlots writes gnuplot data files and a script producing PNGs.
func writePlots(results []Result, servers []string, dir string) error {
	// Memory per idle connection vs N.
	var mem strings.Builder
	mem.WriteString("# conns")
	for _, s := range servers {
		fmt.Fprintf(&mem, " %s_rss %s_heap %s_kernel", s, s, s)
	}
	mem.WriteString("\n")
	idle := map[int]map[string]Result{}
	for _, r := range results {
		if r.Scenario == "idle" {
			n, _ := strconv.Atoi(r.Params["conns"])
			if idle[n] == nil {
				idle[n] = map[string]Result{}
			}
			idle[n][r.Server] = r
		}
	}
	for _, n := range slices.Sorted(maps.Keys(idle)) {
		fmt.Fprintf(&mem, "%d", n)
		for _, s := range servers {
			m := idle[n][s].Metrics
			fmt.Fprintf(&mem, " %s %s %s", datNum(m, "rss_per_conn"), datNum(m, "heap_alloc_per_conn"), datNum(m, "kernel_slab_per_conn"))
		}
		mem.WriteString("\n")
	}
	// Broadcast: one row per configuration, one column per server.
	var deliv, lat strings.Builder
	deliv.WriteString("# config " + strings.Join(servers, " ") + "\n")
	lat.WriteString("# config")
	for _, s := range servers {
		fmt.Fprintf(&lat, " %s_p50 %s_p99 %s_p999", s, s, s)
	}
	lat.WriteString("\n")
	// Throughput is plotted for rate=max, latency for the paced rates (at
	// max, latency is the publish window's queueing by construction).
	seen := map[string]map[string]Result{}
	var maxCfgs, latCfgs []string
	for _, r := range results {
		if r.Scenario != "broadcast" {
			continue
		}
		c := fmt.Sprintf("%ssubs/%sB/%s", r.Params["conns"], r.Params["payload"], r.Params["rate"])
		if seen[c] == nil {
			seen[c] = map[string]Result{}
			if r.Params["rate"] == "max" {
				maxCfgs = append(maxCfgs, c)
			} else {
				latCfgs = append(latCfgs, c)
			}
		}
		seen[c][r.Server] = r
	}
	for _, c := range maxCfgs {
		deliv.WriteString(c)
		for _, s := range servers {
			fmt.Fprintf(&deliv, " %s", datNum(seen[c][s].Metrics, "deliveries_per_s"))
		}
		deliv.WriteString("\n")
	}
	for _, c := range latCfgs {
		lat.WriteString(c)
		for _, s := range servers {
			m := seen[c][s].Metrics
			fmt.Fprintf(&lat, " %s %s %s", datNum(m, "lat_p50_us"), datNum(m, "lat_p99_us"), datNum(m, "lat_p999_us"))
		}
		lat.WriteString("\n")
	}
	files := map[string]string{"mem.dat": mem.String(), "deliveries.dat": deliv.String(), "latency.dat": lat.String()}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			return err
		}
	}
	var gp strings.Builder
	gp.WriteString("set terminal pngcairo size 1200,700 noenhanced\nset grid\nset key outside right\n")
	gp.WriteString("set output 'mem_per_conn.png'\nset title 'Server memory per idle connection'\nset xlabel 'connections'\nset ylabel 'bytes per connection'\nset logscale x\n")
	var plots []string
	for i, s := range servers {
		plots = append(plots,
			fmt.Sprintf("'mem.dat' using 1:%d with linespoints title '%s RSS'", 2+3*i, s),
			fmt.Sprintf("'mem.dat' using 1:%d with linespoints dt 2 title '%s Go heap'", 3+3*i, s))
	}
	if len(plots) > 0 && len(idle) > 0 {
		gp.WriteString("plot " + strings.Join(plots, ", \\\n  ") + "\n")
	}
	gp.WriteString("unset logscale x\nset style data histograms\nset style histogram clustered gap 1\nset style fill solid 0.8 border -1\nset xtics rotate by -30\n")
	colors := []string{"#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02"}
	color := func(i int) string { return colors[i%len(colors)] }
	if len(maxCfgs) > 0 {
		gp.WriteString("set output 'deliveries.png'\nset title 'Broadcast deliveries per second (rate=max)'\nset xlabel ''\nset ylabel 'deliveries/s'\n")
		plots = plots[:0]
		for i, s := range servers {
			src, x := "''", ""
			if i == 0 {
				src, x = "'deliveries.dat'", ":xtic(1)"
			}
			plots = append(plots, fmt.Sprintf("%s using %d%s lc rgb '%s' title '%s'", src, 2+i, x, color(i), s))
		}
		gp.WriteString("plot " + strings.Join(plots, ", ") + "\n")
	}
	if len(latCfgs) > 0 {
		gp.WriteString("set output 'latency.png'\nset title 'Publish-to-receipt latency p50 (solid) / p99 / p99.9 (paced rates)'\nset ylabel 'microseconds'\nset logscale y\n")
		plots = plots[:0]
		for i, s := range servers {
			for j, q := range []string{"p50", "p99", "p99.9"} {
				src, x := "''", ""
				if i == 0 && j == 0 {
					src, x = "'latency.dat'", ":xtic(1)"
				}
				fill := []string{"solid 1.0", "solid 0.55", "solid 0.25"}[j]
				plots = append(plots, fmt.Sprintf("%s using %d%s lc rgb '%s' fs %s title '%s %s'", src, 2+3*i+j, x, color(i), fill, s, q))
			}
		}
		gp.WriteString("plot " + strings.Join(plots, ", ") + "\n")
	}
	return os.WriteFile(filepath.Join(dir, "plots.gp"), []byte(gp.String()), 0o644)
}

func datNum(m map[string]float64, k string) string {
	if v, ok := m[k]; ok {
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
	return "NaN"
}
