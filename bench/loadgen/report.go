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

// WriteReport writes report.md and, with WritePlots, the gnuplot inputs
// (*.dat, plots.gp) into dir.
// Ratios are baseline's value divided by each other server's value.
func WriteReport(results []Result, dir, baseline string, header string) error {
	servers := serverOrder(results, baseline)
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
	return WritePlots(results, dir, baseline)
}
