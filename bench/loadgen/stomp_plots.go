package loadgen

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Plots of the STOMP scenarios, written by WritePlots where the run has their
// data.
const (
	PlotSTOMPCPU = "stomp_cpu.png" // deliveries per server CPU-second: STOMP against native, and against RabbitMQ
	PlotSTOMPMem = "stomp_mem.png" // RSS and heap per idle STOMP client against N
)

// writeSTOMPPlots adds the STOMP plots to gp and their data to files.
func writeSTOMPPlots(results []Result, servers []string, gp *strings.Builder, files map[string]string) {
	type cfg struct {
		key, label string
		stomp, nat map[string]Result // server -> result
	}
	var cfgs []*cfg
	byKey := map[string]*cfg{}
	native := map[string]Result{} // key|server -> broadcast result
	idle := map[int]map[string]Result{}
	idleNative := map[int]map[string]Result{}
	var stompServers, idleServers []string
	key := func(p map[string]string) string {
		return fmt.Sprintf("%ssubs/%sB/%s", p["conns"], p["payload"], p["rate"])
	}
	for _, r := range results {
		switch r.Scenario {
		case "broadcast":
			native[key(r.Params)+"|"+r.Server] = r
		case "stomp":
			p := r.Params
			k := key(p)
			if byKey[k] == nil {
				rate := p["rate"]
				if _, err := strconv.Atoi(rate); err == nil {
					rate += "/s"
				}
				byKey[k] = &cfg{key: k, label: humanCount(p["conns"]) + " subs\n" + p["payload"] + " B\n" + rate,
					stomp: map[string]Result{}, nat: map[string]Result{}}
				cfgs = append(cfgs, byKey[k])
			}
			byKey[k].stomp[r.Server] = r
			if !slices.Contains(stompServers, r.Server) {
				stompServers = append(stompServers, r.Server)
			}
		case "idle_stomp", "idle":
			n, _ := strconv.Atoi(r.Params["conns"])
			if r.Scenario == "idle" {
				if idleNative[n] == nil {
					idleNative[n] = map[string]Result{}
				}
				idleNative[n][r.Server] = r
				continue
			}
			if idle[n] == nil {
				idle[n] = map[string]Result{}
			}
			idle[n][r.Server] = r
			if !slices.Contains(idleServers, r.Server) {
				idleServers = append(idleServers, r.Server)
			}
		}
	}
	order := func(have []string) []string {
		return slices.DeleteFunc(slices.Clone(servers), func(s string) bool { return !slices.Contains(have, s) })
	}
	dpc := func(r Result) (float64, bool) {
		c, ok := r.Metrics["cpu_s_per_m_deliv"]
		if !ok || c <= 0 {
			return 0, false
		}
		return 1e6 / c, true
	}
	if len(cfgs) > 0 {
		ss := order(stompServers)
		// Columns: per server, its native broadcast (when the run has the same
		// parameters) and its STOMP.
		type col struct {
			server, title string
			native        bool
		}
		var cols []col
		for _, s := range ss {
			for _, c := range cfgs {
				if r, ok := native[c.key+"|"+s]; ok {
					c.nat[s] = r
				}
			}
			if slices.ContainsFunc(cfgs, func(c *cfg) bool { return c.nat[s].Metrics != nil }) {
				cols = append(cols, col{s, s + " native WebSocket", true})
			}
			cols = append(cols, col{s, s + " STOMP", false})
		}
		base := ss[0]
		var d strings.Builder
		d.WriteString("# config")
		for _, c := range cols {
			d.WriteString(" " + strings.ReplaceAll(c.title, " ", "_"))
		}
		d.WriteString(" (deliveries per server CPU-second)\n")
		var tics []string
		lines := 1
		for i, c := range cfgs {
			d.WriteString(c.key)
			for _, col := range cols {
				r := c.stomp[col.server]
				if col.native {
					r = c.nat[col.server]
				}
				v := "NaN"
				if x, ok := dpc(r); ok {
					v = strconv.FormatFloat(x, 'f', 0, 64)
				}
				d.WriteString(" " + v)
			}
			d.WriteString("\n")
			label := c.label
			bs, bok := dpc(c.stomp[base])
			if bn, ok := dpc(c.nat[base]); ok && bok {
				label += fmt.Sprintf("\n%.2fx native", bs/bn)
			}
			for _, s := range ss[1:] {
				if ps, ok := dpc(c.stomp[s]); ok && bok {
					label += "\n" + fmtX(bs/ps) + " " + s
				}
			}
			lines = max(lines, strings.Count(label, "\n")+1)
			tics = append(tics, fmt.Sprintf("%s %d", gpStr(label), i))
		}
		files["stomp_cpu.dat"] = d.String()
		fmt.Fprintf(gp, "\nset output '%s'\n", PlotSTOMPCPU)
		title := "Broadcast over STOMP 1.2 over WebSocket (scenario stomp) against the native protocol (broadcast), same run:\n" +
			"deliveries per server CPU-second, 1 topic; subscribers, payload and publish rate per group; under it, " + base + "'s STOMP divided by\n" +
			"its native WebSocket at the same parameters (x native)"
		if len(ss) > 1 {
			title += " and by each other server's STOMP (x name)"
		}
		gp.WriteString("set title " + gpStr(title) + "\n")
		gp.WriteString("unset logscale\nset style data histograms\nset style histogram clustered gap 1\nset style fill solid 1.0 border -1\n")
		gp.WriteString("set xlabel ''\nset xrange [*:*]\nset ylabel 'deliveries per server CPU-second (linear, from 0)'\nset yrange [0:*]\nset format y '%.1s%c'\n")
		fmt.Fprintf(gp, "set bmargin %d\nset xtics norotate nomirror (%s)\n", lines+2, strings.Join(tics, ", "))
		var plots []string
		for i, c := range cols {
			src := "''"
			if i == 0 {
				src = "'stomp_cpu.dat'"
			}
			fill := "solid 1.0"
			if c.native {
				fill = "pattern 4"
			}
			plots = append(plots, fmt.Sprintf("%s using %d lc rgb '%s' fs %s title '%s'", src, 2+i, plotColor(slices.Index(servers, c.server)), fill, c.title))
		}
		gp.WriteString("plot " + strings.Join(plots, ", ") + "\n")
		gp.WriteString("set format y '%g'\nunset bmargin\n")
	}
	if len(idle) > 0 {
		ss := order(idleServers)
		var d strings.Builder
		d.WriteString("# conns")
		for _, s := range ss {
			fmt.Fprintf(&d, " %[1]s_stomp_rss %[1]s_stomp_heap %[1]s_native_rss %[1]s_native_heap", s)
		}
		d.WriteString("\n")
		var tics []string
		ns := slices.Sorted(maps.Keys(idle))
		hasNative := false
		for _, n := range ns {
			fmt.Fprintf(&d, "%d", n)
			for _, s := range ss {
				st, nt := idle[n][s].Metrics, idleNative[n][s].Metrics
				hasNative = hasNative || nt != nil
				fmt.Fprintf(&d, " %s %s %s %s", datNum(st, "rss_per_conn"), datNum(st, "heap_alloc_per_conn"),
					datNum(nt, "rss_per_conn"), datNum(nt, "heap_alloc_per_conn"))
			}
			d.WriteString("\n")
			tics = append(tics, fmt.Sprintf("%s %d", gpStr(humanCount(strconv.Itoa(n))), n))
		}
		files["stomp_mem.dat"] = d.String()
		fmt.Fprintf(gp, "\nset output '%s'\n", PlotSTOMPMem)
		title := "Server memory per idle STOMP client (CONNECTED, subscribed to /topic/bench.0), fresh server per scenario\n" +
			"RSS solid, heap dashed; (value - empty server) / N"
		if hasNative {
			title += "; native idle WebSocket connections (not subscribed): RSS dotted, heap dash-dot"
		}
		gp.WriteString("set title " + gpStr(title) + "\n")
		gp.WriteString("unset logscale\nunset bmargin\nset xlabel 'idle STOMP clients N (log scale)'\nset ylabel 'bytes per client (linear, from 0)'\n")
		gp.WriteString("set logscale x\nset xtics (" + strings.Join(tics, ", ") + ")\n")
		fmt.Fprintf(gp, "set xrange [%g:%g]\nset yrange [0:*]\nset format y '%%.0f'\n", float64(ns[0])/1.5, float64(ns[len(ns)-1])*1.5)
		var plots []string
		for i, s := range ss {
			c := plotColor(slices.Index(servers, s))
			lines := []string{"STOMP RSS", "STOMP heap", "native RSS", "native heap"}
			if !hasNative {
				lines = lines[:2]
			}
			for j, line := range lines {
				plots = append(plots, fmt.Sprintf("'stomp_mem.dat' using 1:%d with linespoints lw 2 dt %d pt %d lc rgb '%s' title '%s %s'",
					2+4*i+j, j+1, []int{7, 6, 5, 4}[j], c, s, line))
			}
		}
		gp.WriteString("plot " + strings.Join(plots, ", \\\n  ") + "\n")
		gp.WriteString("unset logscale x\nset xrange [*:*]\nset format y '%g'\n")
	}
}

// fmtX writes a ratio with two digits below 10 and none above.
func fmtX(v float64) string {
	if v >= 10 {
		return fmt.Sprintf("%.0fx", v)
	}
	return fmt.Sprintf("%.2fx", v)
}
