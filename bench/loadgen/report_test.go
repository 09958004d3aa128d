package loadgen

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func bcastResult(server, scenario, rate string, cpu, p50, p99 float64) Result {
	return Result{Server: server, Scenario: scenario,
		Params: map[string]string{"conns": "1000", "payload": "64", "rate": rate},
		Metrics: map[string]float64{"deliveries_per_s": 1e5, "publish_per_s": 100, "cpu_s_per_m_deliv": cpu,
			"lat_p50_us": p50, "lat_p99_us": p99, "lat_p999_us": p99, "fanout_p99_ms": 1}}
}

func idleResult(server, scenario string, rss, heap float64) Result {
	return Result{Server: server, Scenario: scenario, Params: map[string]string{"conns": "1000"},
		Metrics: map[string]float64{"rss_per_conn": rss, "heap_alloc_per_conn": heap, "kernel_slab_per_conn": 1}}
}

// The SSE summary pairs each server's sse and broadcast results with the
// same parameters, and says whether SSE is within the goal.
func TestSSEvsWS(t *testing.T) {
	results := []Result{
		bcastResult("c1m", "broadcast", "max", 2, 1000, 4000),
		bcastResult("c1m", "sse", "max", 2.2, 1100, 9400), // 1.1x the CPU: within 1.2x (latency at max is not judged)
		bcastResult("c1m", "broadcast", "1000", 4, 500, 1000),
		bcastResult("c1m", "sse", "1000", 4, 500, 1500), // p99 1.5x
		bcastResult("gws", "broadcast", "max", 3, 1000, 3000),
		bcastResult("centrifugo", "broadcast", "max", 5, 2000, 9000),
		bcastResult("centrifugo", "sse", "max", 4, 1000, 9000),
		idleResult("c1m", "idle", 3000, 2000),
		idleResult("c1m", "idle_sse", 4500, 2500),
	}
	md := SSEvsWS(results)
	for _, want := range []string{
		"## c1m: SSE against WebSocket",
		"| conns=1000 payload=64 rate=max | 500000 | 454545 | 1.10 | 1.00 | 1.10 | 1.10 | 4.00 | 9.40 | 2.35 | yes |",
		"| conns=1000 payload=64 rate=1000 | 250000 | 250000 | 1.00 | 0.5 | 0.5 | 1.00 | 1.00 | 1.50 | 1.50 | no (1.50x) |",
		"| conns=1000 | 3000 | 4500 | 1.50 | 2000 | 2500 | 1.25 |",
		"## centrifugo: SSE against WebSocket",
		"| conns=1000 payload=64 rate=max | 200000 | 250000 | 0.80 | 2.00 | 1.00 | 0.50 | 9.00 | 9.00 | 1.00 | yes |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("summary lacks\n%s\nin\n%s", want, md)
		}
	}
	if strings.Contains(md, "gws") {
		t.Errorf("gws ran no sse but is in the summary:\n%s", md)
	}
	if SSEvsWS(results[4:6]) != "" {
		t.Error("a summary without any sse result")
	}

	// The report: each scenario's tables have a column per server that ran it.
	dir := t.TempDir()
	if err := WriteReport(results, dir, "c1m", "# test\n"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	report := string(b)
	if !strings.Contains(report, "### sse conns=1000 payload=64 rate=max\n\n| metric | c1m | centrifugo | c1m/centrifugo |\n") {
		t.Errorf("sse table columns:\n%s", report)
	}
	if !strings.Contains(report, "### broadcast conns=1000 payload=64 rate=max\n\n| metric | c1m | centrifugo | gws | c1m/centrifugo | c1m/gws |\n") {
		t.Errorf("broadcast table columns:\n%s", report)
	}
	if strings.Index(report, "## c1m: SSE against WebSocket") > strings.Index(report, "### ") {
		t.Error("the SSE summary is not before the tables")
	}
}

func TestCheckPlan(t *testing.T) {
	results := []Result{
		bcastResult("c1m", "broadcast", "max", 2, 1000, 4000),
		bcastResult("gws", "broadcast", "max", 3, 1000, 3000),
		bcastResult("c1m", "sse", "max", 2, 1000, 4000),
	}
	plan, err := ParsePlan("c1m:broadcast,gws:broadcast,c1m:sse")
	if err != nil {
		t.Fatal(err)
	}
	if m := CheckPlan(results, plan); len(m) != 0 {
		t.Fatalf("complete plan reported missing: %v", m)
	}
	// gws did not run sse: no result is expected from it.
	plan, _ = ParsePlan("c1m:broadcast,gws:broadcast,c1m:sse,centrifugo:sse")
	m := CheckPlan(results, plan)
	if len(m) != 2 || !strings.Contains(m[0], "centrifugo: no sse result") || !strings.Contains(m[1], "centrifugo: no result for sse conns=1000") {
		t.Fatalf("missing %v", m)
	}
	delete(results[2].Metrics, "lat_p99_us")
	plan, _ = ParsePlan("c1m:sse")
	if m := CheckPlan(results, plan); len(m) != 1 || !strings.Contains(m[0], "metric lat_p99_us missing") {
		t.Fatalf("missing %v", m)
	}
	if _, err := ParsePlan("c1m"); err == nil {
		t.Fatal("plan without a scenario accepted")
	}
}

func TestWriteSSEPlots(t *testing.T) {
	results := []Result{
		bcastResult("c1m", "broadcast", "max", 2, 1000, 4000),
		bcastResult("c1m", "sse", "max", 2.2, 1100, 4400),
		bcastResult("c1m", "broadcast", "1000", 4, 500, 1000),
		bcastResult("c1m", "sse", "1000", 4, 500, 1500),
		bcastResult("gws", "broadcast", "max", 3, 1000, 3000),
		bcastResult("centrifugo", "broadcast", "1000", 5, 2000, 9000),
		bcastResult("centrifugo", "sse", "1000", 4, 1000, 9000),
		idleResult("c1m", "idle", 3000, 2000),
		idleResult("c1m", "idle_sse", 4500, 2500),
		idleResult("gws", "idle", 9000, 5000),
	}
	dir := t.TempDir()
	if err := WritePlots(results, dir, "c1m"); err != nil {
		t.Fatal(err)
	}
	gp, _ := os.ReadFile(filepath.Join(dir, "plots.gp"))
	for _, want := range []string{
		"set output '" + PlotSSECPU + "'", "set output '" + PlotSSELatency + "'",
		"title 'c1m SSE RSS'", "title 'c1m WebSocket'", "title 'centrifugo SSE p99'",
		`target 1000/s:\nc1m 100/100\ncentrifugo 100/100`,
	} {
		if !strings.Contains(string(gp), want) {
			t.Errorf("plots.gp lacks %q", want)
		}
	}
	if strings.Contains(string(gp), "gws SSE") {
		t.Error("gws ran no SSE but has SSE lines")
	}
	cpu, _ := os.ReadFile(filepath.Join(dir, "sse_cpu.dat"))
	if !strings.Contains(string(cpu), "# config c1m_ws c1m_sse centrifugo_ws centrifugo_sse\n1000subs/64B/max 500000.0 454545.5 NaN NaN\n") {
		t.Errorf("sse_cpu.dat:\n%s", cpu)
	}
	mem, _ := os.ReadFile(filepath.Join(dir, "mem.dat"))
	if !strings.Contains(string(mem), "1000 3000.000 2000.000 1.000 4500.000 2500.000") {
		t.Errorf("mem.dat:\n%s", mem)
	}
}

// The Socket.IO summary pairs c1m's and Node's socketio and idle_sio results
// with the same parameters and judges the goals.
func TestSIOvsNode(t *testing.T) {
	idleSIO := func(server, transport string, rss, heap float64) Result {
		r := idleResult(server, "idle_sio", rss, heap)
		r.Params["transport"] = transport
		return r
	}
	results := []Result{
		bcastResult("c1m", "socketio", "max", 1, 1000, 4000),
		bcastResult(NodeSocketIO, "socketio", "max", 20, 5000, 9000), // 20x the deliveries per CPU-second
		bcastResult("c1m", "socketio", "half", 4, 500, 1000),
		bcastResult(NodeSocketIO, "socketio", "half", 12, 500, 1000), // 3x: not the goal
		bcastResult("c1m", "socketio", "1000", 4, 500, 1000),         // no Node result: no row
		idleSIO("c1m", "websocket", 4000, 3000),
		idleSIO(NodeSocketIO, "websocket", 20000, 10000), // 0.2
		idleSIO("c1m", "polling", 6000, 3000),
		idleSIO(NodeSocketIO, "polling", 20000, 10000), // 0.3
		bcastResult("gws", "broadcast", "max", 3, 1000, 3000),
	}
	got := SIOvsNode(results, "c1m")
	for _, want := range []string{
		"## c1m Socket.IO against Node's socket.io (node-socketio)",
		"| conns=1000 payload=64 rate=max | 1000000 | 50000 | 20.00 | 1.00 | 5.00 | 0.20 | 4.00 | 9.00 | 0.44 | 100 / 100 | yes (20.00x) |",
		"| conns=1000 payload=64 rate=half | 250000 | 83333 | 3.00 |",
		"| no (3.00x) |",
		"| conns=1000 transport=websocket | 4000 | 20000 | 0.20 | 3000 | 10000 | 0.30 | yes (0.20x) |",
		"| conns=1000 transport=polling | 6000 | 20000 | 0.30 | 3000 | 10000 | 0.30 | no (0.30x) |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "rate=1000") {
		t.Errorf("a row without Node's result:\n%s", got)
	}
	if s := SIOvsNode(results[:1], "c1m"); s != "" {
		t.Errorf("summary without pairs: %q", s)
	}
	plan, _ := ParsePlan("c1m:socketio,c1m:idle_sio")
	if m := CheckPlan(results, plan); len(m) != 0 {
		t.Errorf("CheckPlan: %q", m)
	}
}
