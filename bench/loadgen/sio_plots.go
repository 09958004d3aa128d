package loadgen

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Plots of the Socket.IO scenarios, written by WritePlots where the run has
// their data.
const (
	PlotSIOMem = "sio_mem.png" // RSS and heap per idle Socket.IO client against N, per server and transport
	PlotSIOCPU = "sio_cpu.png" // deliveries per server CPU-second of the socketio broadcast, per configuration
)

// writeSIOPlots adds the Socket.IO plots to gp and their data to files.
func writeSIOPlots(results []Result, servers []string, gp *strings.Builder, files map[string]string) {
	idle := map[int]map[string]Result{} // N -> server/transport -> result
	var idleServers []string
	type cfg struct {
		key, label string
		by         map[string]Result
	}
	var cfgs []*cfg
	byKey := map[string]*cfg{}
	var cpuServers []string
	for _, r := range results {
		switch r.Scenario {
		case "idle_sio":
			n, _ := strconv.Atoi(r.Params["conns"])
			if idle[n] == nil {
				idle[n] = map[string]Result{}
			}
			idle[n][r.Server+"/"+r.Params["transport"]] = r
			if !slices.Contains(idleServers, r.Server) {
				idleServers = append(idleServers, r.Server)
			}
		case "socketio":
			p := r.Params
			k := fmt.Sprintf("%ssubs/%sB/%s", p["conns"], p["payload"], p["rate"])
			if byKey[k] == nil {
				rate := p["rate"]
				if _, err := strconv.Atoi(rate); err == nil {
					rate += "/s"
				}
				byKey[k] = &cfg{key: k, label: humanCount(p["conns"]) + " subs\n" + p["payload"] + " B\n" + rate, by: map[string]Result{}}
				cfgs = append(cfgs, byKey[k])
			}
			byKey[k].by[r.Server] = r
			if !slices.Contains(cpuServers, r.Server) {
				cpuServers = append(cpuServers, r.Server)
			}
		}
	}
	order := func(have []string) []string {
		return slices.DeleteFunc(slices.Clone(servers), func(s string) bool { return !slices.Contains(have, s) })
	}
	if len(idle) > 0 {
		ss := order(idleServers)
		var d strings.Builder
		d.WriteString("# conns")
		for _, s := range ss {
			fmt.Fprintf(&d, " %[1]s_ws_rss %[1]s_ws_heap %[1]s_polling_rss %[1]s_polling_heap", s)
		}
		d.WriteString("\n")
		var tics []string
		ns := slices.Sorted(maps.Keys(idle))
		for _, n := range ns {
			fmt.Fprintf(&d, "%d", n)
			for _, s := range ss {
				w, p := idle[n][s+"/"+SIOWebSocket].Metrics, idle[n][s+"/"+SIOPolling].Metrics
				fmt.Fprintf(&d, " %s %s %s %s", datNum(w, "rss_per_conn"), datNum(w, "heap_alloc_per_conn"),
					datNum(p, "rss_per_conn"), datNum(p, "heap_alloc_per_conn"))
			}
			d.WriteString("\n")
			tics = append(tics, fmt.Sprintf("%s %d", gpStr(humanCount(strconv.Itoa(n))), n))
		}
		files["sio_mem.dat"] = d.String()
		fmt.Fprintf(gp, "\nset output '%s'\n", PlotSIOMem)
		gp.WriteString("set title " + gpStr("Server memory per idle Socket.IO client (connected, subscribed to the bench topic), fresh server per transport\n"+
			"WebSocket: RSS solid, heap dashed; polling (one held GET each): RSS dotted, heap dash-dot; (value - empty server) / N") + "\n")
		gp.WriteString("unset logscale\nunset bmargin\nset xlabel 'idle Socket.IO clients N (log scale)'\nset ylabel 'bytes per client (linear, from 0)'\n")
		gp.WriteString("set logscale x\nset xtics (" + strings.Join(tics, ", ") + ")\n")
		fmt.Fprintf(gp, "set xrange [%g:%g]\nset yrange [0:*]\nset format y '%%.0f'\n", float64(ns[0])/1.5, float64(ns[len(ns)-1])*1.5)
		var plots []string
		for i, s := range ss {
			c := plotColor(slices.Index(servers, s))
			for j, line := range []string{"ws RSS", "ws heap", "polling RSS", "polling heap"} {
				plots = append(plots, fmt.Sprintf("'sio_mem.dat' using 1:%d with linespoints lw 2 dt %d pt %d lc rgb '%s' title '%s %s'",
					2+4*i+j, j+1, []int{7, 6, 5, 4}[j], c, s, line))
			}
		}
		gp.WriteString("plot " + strings.Join(plots, ", \\\n  ") + "\n")
		gp.WriteString("unset logscale x\nset xrange [*:*]\nset format y '%g'\n")
	}
	if len(cfgs) > 0 {
		ss := order(cpuServers)
		var d strings.Builder
		d.WriteString("# config " + strings.Join(ss, " ") + " (deliveries per server CPU-second)\n")
		var tics []string
		lines := 1
		for i, c := range cfgs {
			d.WriteString(c.key)
			label := c.label
			for _, s := range ss {
				v := "NaN"
				if cpu, ok := c.by[s].Metrics["cpu_s_per_m_deliv"]; ok && cpu > 0 {
					v = strconv.FormatFloat(1e6/cpu, 'f', 0, 64)
				}
				d.WriteString(" " + v)
			}
			if len(ss) > 1 {
				b, bok := c.by[ss[0]].Metrics["cpu_s_per_m_deliv"]
				for _, s := range ss[1:] {
					if o, ook := c.by[s].Metrics["cpu_s_per_m_deliv"]; bok && ook && b > 0 {
						label += fmt.Sprintf("\n%.1fx", o/b)
					}
				}
			}
			lines = max(lines, strings.Count(label, "\n")+1)
			tics = append(tics, fmt.Sprintf("%s %d", gpStr(label), i))
			d.WriteString("\n")
		}
		files["sio_cpu.dat"] = d.String()
		fmt.Fprintf(gp, "\nset output '%s'\n", PlotSIOCPU)
		gp.WriteString("set title " + gpStr("Socket.IO broadcast over WebSocket (scenario socketio): deliveries per server CPU-second, 1 topic;\n"+
			"subscribers, payload and publish rate per group; under it, "+ratioOf(servers, cpuServers)) + "\n")
		gp.WriteString("unset logscale\nset style data histograms\nset style histogram clustered gap 1\nset style fill solid 1.0 border -1\n")
		gp.WriteString("set xlabel ''\nset xrange [*:*]\nset ylabel 'deliveries per server CPU-second (linear, from 0)'\nset yrange [0:*]\nset format y '%.1s%c'\n")
		fmt.Fprintf(gp, "set bmargin %d\nset xtics norotate nomirror (%s)\n", lines+2, strings.Join(tics, ", "))
		var plots []string
		for i, s := range ss {
			src := "''"
			if i == 0 {
				src = "'sio_cpu.dat'"
			}
			plots = append(plots, fmt.Sprintf("%s using %d lc rgb '%s' title '%s'", src, 2+i, plotColor(slices.Index(servers, s)), s))
		}
		gp.WriteString("plot " + strings.Join(plots, ", ") + "\n")
		gp.WriteString("set format y '%g'\nunset bmargin\n")
	}
}

// ratioOf says what the ratios under each group of sio_cpu.png are.
func ratioOf(servers, have []string) string {
	ss := slices.DeleteFunc(slices.Clone(servers), func(s string) bool { return !slices.Contains(have, s) })
	if len(ss) < 2 {
		return "no ratio (one server)"
	}
	return ss[0] + "'s deliveries per CPU-second divided by " + strings.Join(ss[1:], "'s, then by ") + "'s"
}
