package loadgen

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Plots of the SockJS scenarios, written by WritePlots where the run has
// their data.
const (
	PlotSockJSCPU = "sockjs_cpu.png" // deliveries per server CPU-second: SockJS against native WebSocket
	PlotSockJSMem = "sockjs_mem.png" // RSS and heap per idle SockJS session against N, per transport
)

// writeSockJSPlots adds the SockJS plots to gp and their data to files.
func writeSockJSPlots(results []Result, servers []string, gp *strings.Builder, files map[string]string) {
	native := map[string]Result{} // scenario|params|server
	type cfg struct {
		key, label, nkey string
		by               map[string]Result // server/transport -> sockjs result
	}
	var cfgs []*cfg
	byKey := map[string]*cfg{}
	var cols []string                   // server/transport of the sockjs results
	idle := map[int]map[string]Result{} // N -> server/transport -> result
	var idleCols []string
	for _, r := range results {
		switch r.Scenario {
		case "broadcast", "idle":
			native[r.Scenario+"|"+ParamKey(r.Params)+"|"+r.Server] = r
		case "sockjs":
			p := r.Params
			k := fmt.Sprintf("%ssubs/%sB/%s", p["conns"], p["payload"], p["rate"])
			if byKey[k] == nil {
				rate := p["rate"]
				if _, err := strconv.Atoi(rate); err == nil {
					rate += "/s"
				}
				byKey[k] = &cfg{key: k, label: humanCount(p["conns"]) + " subs\n" + p["payload"] + " B\n" + rate,
					nkey: sockjsNativeKey(p), by: map[string]Result{}}
				cfgs = append(cfgs, byKey[k])
			}
			col := r.Server + "/" + p["transport"]
			byKey[k].by[col] = r
			if !slices.Contains(cols, col) {
				cols = append(cols, col)
			}
		case "idle_sockjs":
			n, _ := strconv.Atoi(r.Params["conns"])
			if idle[n] == nil {
				idle[n] = map[string]Result{}
			}
			col := r.Server + "/" + r.Params["transport"]
			idle[n][col] = r
			if !slices.Contains(idleCols, col) {
				idleCols = append(idleCols, col)
			}
		}
	}
	server := func(col string) string { s, _, _ := strings.Cut(col, "/"); return s }
	order := func(cs []string) []string {
		slices.SortStableFunc(cs, func(a, b string) int {
			if d := slices.Index(servers, server(a)) - slices.Index(servers, server(b)); d != 0 {
				return d
			}
			return strings.Compare(a, b)
		})
		return cs
	}
	dpc := func(r Result) (float64, bool) {
		c, ok := r.Metrics["cpu_s_per_m_deliv"]
		if !ok || c <= 0 {
			return 0, false
		}
		return 1e6 / c, true
	}
	if len(cfgs) > 0 {
		cols = order(cols)
		// Columns: per server, its native broadcast at the same parameters
		// (when the run has one), then its SockJS transports.
		type col struct {
			server, transport, title string // transport "": native
		}
		var cs []col
		for _, c := range cols {
			s, tr, _ := strings.Cut(c, "/")
			if !slices.ContainsFunc(cs, func(x col) bool { return x.server == s && x.transport == "" }) &&
				slices.ContainsFunc(cfgs, func(g *cfg) bool { return native["broadcast|"+g.nkey+"|"+s].Metrics != nil }) {
				cs = append(cs, col{s, "", s + " native WebSocket"})
			}
			cs = append(cs, col{s, tr, s + " SockJS " + tr})
		}
		var d strings.Builder
		d.WriteString("# config")
		for _, c := range cs {
			d.WriteString(" " + strings.ReplaceAll(c.title, " ", "_"))
		}
		d.WriteString(" (deliveries per server CPU-second)\n")
		var tics []string
		lines := 1
		for i, g := range cfgs {
			d.WriteString(g.key)
			for _, c := range cs {
				r := g.by[c.server+"/"+c.transport]
				if c.transport == "" {
					r = native["broadcast|"+g.nkey+"|"+c.server]
				}
				v := "NaN"
				if x, ok := dpc(r); ok {
					v = strconv.FormatFloat(x, 'f', 0, 64)
				}
				d.WriteString(" " + v)
			}
			d.WriteString("\n")
			label := g.label
			for _, c := range cs {
				if c.transport == "" {
					continue
				}
				sv, sok := dpc(g.by[c.server+"/"+c.transport])
				nv, nok := dpc(native["broadcast|"+g.nkey+"|"+c.server])
				if sok && nok {
					label += fmt.Sprintf("\n%.2fx native", sv/nv)
					if len(cols) > 1 {
						label += " (" + c.server + " " + c.transport + ")"
					}
				}
			}
			lines = max(lines, strings.Count(label, "\n")+1)
			tics = append(tics, fmt.Sprintf("%s %d", gpStr(label), i))
		}
		files["sockjs_cpu.dat"] = d.String()
		fmt.Fprintf(gp, "\nset output '%s'\n", PlotSockJSCPU)
		gp.WriteString("set title " + gpStr("Broadcast to SockJS sessions carrying the native protocol (scenario sockjs) against the native protocol over\n"+
			"WebSocket (broadcast, hatched), same run: deliveries per server CPU-second, 1 topic; subscribers, payload and publish\n"+
			"rate per group; under it, SockJS divided by native WebSocket at the same parameters (x native)") + "\n")
		gp.WriteString("unset logscale\nset style data histograms\nset style histogram clustered gap 1\nset style fill solid 1.0 border -1\n")
		gp.WriteString("set xlabel ''\nset xrange [*:*]\nset ylabel 'deliveries per server CPU-second (linear, from 0)'\nset yrange [0:*]\nset format y '%.1s%c'\n")
		fmt.Fprintf(gp, "set bmargin %d\nset xtics norotate nomirror (%s)\n", lines+2, strings.Join(tics, ", "))
		var plots []string
		for i, c := range cs {
			src := "''"
			if i == 0 {
				src = "'sockjs_cpu.dat'"
			}
			fill := "solid 1.0"
			if c.transport == "" {
				fill = "pattern 4"
			} else if i > 0 && cs[i-1].transport != "" {
				fill = "solid 0.5" // a second transport of the same server
			}
			plots = append(plots, fmt.Sprintf("%s using %d lc rgb '%s' fs %s title '%s'", src, 2+i, plotColor(slices.Index(servers, c.server)), fill, c.title))
		}
		gp.WriteString("plot " + strings.Join(plots, ", ") + "\n")
		gp.WriteString("set format y '%g'\nunset bmargin\n")
	}
	if len(idle) > 0 {
		idleCols = order(idleCols)
		var d strings.Builder
		d.WriteString("# conns")
		for _, c := range idleCols {
			fmt.Fprintf(&d, " %[1]s_rss %[1]s_heap", strings.ReplaceAll(c, "/", "_"))
		}
		var nativeServers []string
		for _, c := range idleCols {
			if s := server(c); !slices.Contains(nativeServers, s) {
				nativeServers = append(nativeServers, s)
			}
		}
		for _, s := range nativeServers {
			fmt.Fprintf(&d, " %[1]s_native_rss %[1]s_native_heap", s)
		}
		d.WriteString("\n")
		ns := slices.Sorted(maps.Keys(idle))
		hasNative := map[string]bool{}
		var tics []string
		for _, n := range ns {
			fmt.Fprintf(&d, "%d", n)
			for _, c := range idleCols {
				m := idle[n][c].Metrics
				fmt.Fprintf(&d, " %s %s", datNum(m, "rss_per_conn"), datNum(m, "heap_alloc_per_conn"))
			}
			for _, s := range nativeServers {
				m := native["idle|conns="+strconv.Itoa(n)+"|"+s].Metrics
				hasNative[s] = hasNative[s] || m != nil
				fmt.Fprintf(&d, " %s %s", datNum(m, "rss_per_conn"), datNum(m, "heap_alloc_per_conn"))
			}
			d.WriteString("\n")
			tics = append(tics, fmt.Sprintf("%s %d", gpStr(humanCount(strconv.Itoa(n))), n))
		}
		files["sockjs_mem.dat"] = d.String()
		fmt.Fprintf(gp, "\nset output '%s'\n", PlotSockJSMem)
		title := "Server memory per idle SockJS session (open, subscribed to bench.0) per receiving transport, fresh server per\n" +
			"scenario; RSS solid, heap dashed, (value - empty server) / N"
		if slices.Contains(slices.Collect(maps.Values(hasNative)), true) {
			title += "; native idle WebSocket connections (not subscribed) dotted"
		}
		gp.WriteString("set title " + gpStr(title) + "\n")
		gp.WriteString("unset logscale\nunset bmargin\nset xlabel 'idle SockJS sessions N (log scale)'\nset ylabel 'bytes per session (linear, from 0)'\n")
		gp.WriteString("set logscale x\nset xtics (" + strings.Join(tics, ", ") + ")\n")
		fmt.Fprintf(gp, "set xrange [%g:%g]\nset yrange [0:*]\nset format y '%%.0f'\n", float64(ns[0])/1.5, float64(ns[len(ns)-1])*1.5)
		var plots []string
		pts := []int{7, 5, 9, 11}
		for i, c := range idleCols {
			col := plotColor(i)
			title := strings.Replace(c, "/", " ", 1)
			plots = append(plots,
				fmt.Sprintf("'sockjs_mem.dat' using 1:%d with linespoints lw 2 pt %d lc rgb '%s' title '%s RSS'", 2+2*i, pts[i%len(pts)], col, title),
				fmt.Sprintf("'sockjs_mem.dat' using 1:%d with linespoints lw 2 dt 2 pt %d lc rgb '%s' title '%s heap'", 3+2*i, pts[i%len(pts)]-1, col, title))
		}
		for j, s := range nativeServers {
			if !hasNative[s] {
				continue
			}
			base := 2 + 2*len(idleCols) + 2*j
			plots = append(plots,
				fmt.Sprintf("'sockjs_mem.dat' using 1:%d with linespoints lw 2 dt 3 pt 1 lc rgb '#555555' title '%s native WebSocket RSS'", base, s),
				fmt.Sprintf("'sockjs_mem.dat' using 1:%d with linespoints lw 2 dt 4 pt 2 lc rgb '#999999' title '%s native WebSocket heap'", base+1, s))
		}
		gp.WriteString("plot " + strings.Join(plots, ", \\\n  ") + "\n")
		gp.WriteString("unset logscale x\nset xrange [*:*]\nset format y '%g'\n")
	}
}
