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
