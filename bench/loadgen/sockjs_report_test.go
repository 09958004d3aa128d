package loadgen

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func sockjsResults() []Result {
	sj := func(r Result, transport string) Result {
		r.Params["transport"] = transport
		return r
	}
	idle := func(transport, conns string, rss, heap float64) Result {
		r := idleResult("c1m", "idle_sockjs", rss, heap)
		r.Params["transport"], r.Params["conns"] = transport, conns
		return r
	}
	return []Result{
		bcastResult("c1m", "broadcast", "max", 2, 1000, 4000),
		sj(bcastResult("c1m", "sockjs", "max", 2.5, 1200, 5000), SockJSXHRStreaming),
		sj(bcastResult("c1m", "sockjs", "1000", 4, 500, 1000), SockJSXHRStreaming), // no native result: native missing
		idleResult("c1m", "idle", 3000, 2000),
		idle(SockJSXHRStreaming, "1000", 6000, 3000),
		idle(SockJSXHR, "1000", 9000, 4000),
		idle(SockJSXHR, "10000", 7000, 3500),
	}
}

// The SockJS summary puts c1m's SockJS next to its native WebSocket at the
// same parameters, and lists memory per idle session per transport.
func TestSockJSSummary(t *testing.T) {
	got := SockJSSummary(sockjsResults())
	for _, want := range []string{
		"## SockJS",
		"| c1m | xhr_streaming | conns=1000 payload=64 rate=max | 500000 | 400000 | 0.80 | 1.00 | 1.20 | 1.20 | 4.00 | 5.00 | 1.25 | 100 / 100 | missing |",
		"| c1m | xhr_streaming | conns=1000 payload=64 rate=1000 | missing | 250000 | - |",
		"| c1m | xhr | conns=1000 | 9000 | 3000 | 3.00 | 4000 | 2000 | 2.00 | 1.00 |",
		"| c1m | xhr | conns=10000 | 7000 | missing | - | 3500 | missing | - | 1.00 |",
		"| c1m | xhr_streaming | conns=1000 | 6000 | 3000 | 2.00 | 3000 | 2000 | 1.50 | 1.00 |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks %q:\n%s", want, got)
		}
	}
	if s := SockJSSummary(sockjsResults()[:1]); s != "" {
		t.Errorf("summary without SockJS results: %q", s)
	}
	plan, _ := ParsePlan("c1m:sockjs,c1m:idle_sockjs")
	if m := CheckPlan(sockjsResults(), plan); len(m) != 0 {
		t.Errorf("CheckPlan: %q", m)
	}
}

func TestWriteSockJSPlots(t *testing.T) {
	dir := t.TempDir()
	if err := WritePlots(sockjsResults(), dir, "c1m"); err != nil {
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
		"set output '" + PlotSockJSCPU + "'", "set output '" + PlotSockJSMem + "'",
		`"1k subs\n64 B\nmax\n0.80x native" 0`,
		"title 'c1m native WebSocket'", "title 'c1m SockJS xhr_streaming'", "title 'c1m xhr RSS'", "title 'c1m native WebSocket heap'",
		"connections (not subscribed) dotted",
	} {
		if !strings.Contains(gp, want) {
			t.Errorf("plots.gp lacks %q", want)
		}
	}
	if cpu := read("sockjs_cpu.dat"); cpu != "# config c1m_native_WebSocket c1m_SockJS_xhr_streaming (deliveries per server CPU-second)\n"+
		"1000subs/64B/max 500000 400000\n1000subs/64B/1000 NaN 250000\n" {
		t.Errorf("sockjs_cpu.dat:\n%s", cpu)
	}
	// Without idle results, no native lines (nor their mention).
	if err := WritePlots(sockjsResults()[4:], dir, "c1m"); err != nil {
		t.Fatal(err)
	}
	if gp := read("plots.gp"); strings.Contains(gp, "native idle WebSocket") || !strings.Contains(gp, "set output '"+PlotSockJSMem+"'") {
		t.Errorf("plots.gp without native idle results:\n%s", gp)
	}
	if err := WritePlots(sockjsResults(), dir, "c1m"); err != nil {
		t.Fatal(err)
	}
	if mem := read("sockjs_mem.dat"); mem != "# conns c1m_xhr_rss c1m_xhr_heap c1m_xhr_streaming_rss c1m_xhr_streaming_heap c1m_native_rss c1m_native_heap\n"+
		"1000 9000.000 4000.000 6000.000 3000.000 3000.000 2000.000\n10000 7000.000 3500.000 NaN NaN NaN NaN\n" {
		t.Errorf("sockjs_mem.dat:\n%s", mem)
	}
}
