package loadgen

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWritePlots(t *testing.T) {
	bc := func(server, rate string, pub, ratio float64) Result {
		return Result{Server: server, Scenario: "broadcast",
			Params:  map[string]string{"conns": "1000", "payload": "64", "rate": rate},
			Metrics: map[string]float64{"deliveries_per_s": pub * 1000, "publish_per_s": pub, "delivered_ratio": ratio, "lat_p50_us": 2000, "lat_p99_us": 9000, "lat_p999_us": 12000}}
	}
	results := []Result{
		{Server: "peer", Scenario: "idle", Params: map[string]string{"conns": "1000"}, Metrics: map[string]float64{"rss_per_conn": 9000, "heap_alloc_per_conn": 5000}},
		{Server: "c1m", Scenario: "idle", Params: map[string]string{"conns": "1000"}, Metrics: map[string]float64{"rss_per_conn": 3000, "heap_alloc_per_conn": 2000}},
		bc("c1m", "max", 2000, 1), bc("peer", "max", 400, 1),
		bc("c1m", "half", 1000, 1), bc("peer", "half", 200, 1),
		bc("c1m", "1000", 1000, 1), bc("peer", "1000", 970, 0.25),
	}
	dir := t.TempDir()
	if err := WritePlots(results, dir, "c1m"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "plots.gp"))
	if err != nil {
		t.Fatal(err)
	}
	gp := string(b)
	for _, want := range []string{
		"set output '" + PlotMem + "'", "set output '" + PlotDeliveries + "'",
		"set output '" + PlotLatencyHalf + "'", "set output '" + PlotLatencyFixed + "'",
		"HALF OF ITS OWN max rate", "TARGET publish rate",
		`c1m 1000/s\npeer 200/s`, `target 1000/s:\nc1m 1000/s\npeer 970/s (0.25)`,
		"'deliveries per second (linear, from 0)'", "(log scale)",
	} {
		if !strings.Contains(gp, want) {
			t.Errorf("plots.gp lacks %q", want)
		}
	}
	// Linear axes start at zero; every log axis says so in its label.
	for _, plot := range strings.Split(gp, "set output ")[1:] {
		if strings.Contains(plot, "set logscale y") != strings.Contains(plot, "ms (log scale)") {
			t.Errorf("y axis log scale not labelled:\n%s", plot)
		}
		if !strings.Contains(plot, "set logscale y") && !strings.Contains(plot, "set yrange [0:*]") {
			t.Errorf("linear y axis not from 0:\n%s", plot)
		}
	}
	// gnuplot formats a tic label holding '%' into a short buffer and cuts it.
	for _, l := range strings.Split(gp, "\n") {
		if strings.HasPrefix(l, "set xtics (") && strings.Contains(l, "%") {
			t.Errorf("tic label with %%: %s", l)
		}
	}
	mem, _ := os.ReadFile(filepath.Join(dir, "mem.dat"))
	if !strings.Contains(string(mem), "# conns c1m_rss") {
		t.Errorf("mem.dat: baseline not first:\n%s", mem)
	}
}

func TestWriteSIOPlots(t *testing.T) {
	sio := func(server, rate string, cpu float64) Result {
		return Result{Server: server, Scenario: "socketio",
			Params:  map[string]string{"conns": "1000", "payload": "64", "rate": rate},
			Metrics: map[string]float64{"cpu_s_per_m_deliv": cpu}}
	}
	idle := func(server, transport string, n string, rss float64) Result {
		return Result{Server: server, Scenario: "idle_sio", Params: map[string]string{"conns": n, "transport": transport},
			Metrics: map[string]float64{"rss_per_conn": rss, "heap_alloc_per_conn": rss / 2}}
	}
	results := []Result{
		sio(NodeSocketIO, "max", 20), sio("c1m", "max", 1), sio("c1m", "10", 10), sio(NodeSocketIO, "10", 15),
		idle(NodeSocketIO, "websocket", "1000", 20000), idle("c1m", "websocket", "1000", 5000), idle("c1m", "polling", "1000", 6000),
		idle("c1m", "websocket", "19000", 4000),
	}
	dir := t.TempDir()
	if err := WritePlots(results, dir, "c1m"); err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	gp := read("plots.gp")
	for _, want := range []string{
		"set output '" + PlotSIOMem + "'", "set output '" + PlotSIOCPU + "'",
		`"1k subs\n64 B\nmax\n20.0x" 0`, `"1k subs\n64 B\n10/s\n1.5x" 1`,
		"c1m's deliveries per CPU-second divided by node-socketio's",
		"'deliveries per server CPU-second (linear, from 0)'", "'bytes per client (linear, from 0)'",
		"title 'node-socketio polling heap'",
	} {
		if !strings.Contains(gp, want) {
			t.Errorf("plots.gp lacks %q", want)
		}
	}
	mem := read("sio_mem.dat")
	for _, want := range []string{
		"# conns c1m_ws_rss c1m_ws_heap c1m_polling_rss c1m_polling_heap node-socketio_ws_rss",
		"1000 5000.000 2500.000 6000.000 3000.000 20000.000 10000.000 NaN NaN",
		"19000 4000.000 2000.000 NaN NaN NaN NaN NaN NaN",
	} {
		if !strings.Contains(mem, want) {
			t.Errorf("sio_mem.dat lacks %q:\n%s", want, mem)
		}
	}
	if cpu := read("sio_cpu.dat"); !strings.Contains(cpu, "1000subs/64B/max 1000000 50000\n") {
		t.Errorf("sio_cpu.dat:\n%s", cpu)
	}
}
