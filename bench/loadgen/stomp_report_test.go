package loadgen

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func stompResults() []Result {
	return []Result{
		bcastResult("c1m", "broadcast", "max", 2, 1000, 4000),
		bcastResult("c1m", "stomp", "max", 2.5, 1200, 5000),
		bcastResult(RabbitMQ, "stomp", "max", 50, 9000, 20000),
		bcastResult("c1m", "stomp", "1000", 4, 500, 1000), // no native, no RabbitMQ result: no row
		idleResult("c1m", "idle_stomp", 4000, 3000),
		idleResult("c1m", "idle", 3000, 2000),
	}
}

// The STOMP summary puts c1m's STOMP next to its native protocol and next to
// RabbitMQ at the same parameters.
func TestSTOMPSummary(t *testing.T) {
	results := stompResults()
	got := STOMPSummary(results, "c1m")
	for _, want := range []string{
		"## STOMP",
		"| c1m | conns=1000 payload=64 rate=max | 500000 | 400000 | 0.80 | 1.00 | 1.20 | 1.20 | 4.00 | 5.00 | 1.25 | 100 / 100 |",
		"| server | params | native deliv/CPU-s | STOMP deliv/CPU-s | STOMP/native |",
		"c1m's STOMP against rabbitmq's",
		"| conns=1000 payload=64 rate=max | 400000 | 20000 | 20.00 | 1.20 | 9.00 | 0.13 | 5.00 | 20.00 | 0.25 | 100 / 100 | missing / missing |",
		"| c1m | conns=1000 | 4000 | 3000 | 1.33 | 3000 | 2000 | 1.50 | 1.00 |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "rate=1000") {
		t.Errorf("a row without a pair:\n%s", got)
	}
	if s := STOMPSummary(results[:1], "c1m"); s != "" {
		t.Errorf("summary without STOMP results: %q", s)
	}
	plan, _ := ParsePlan("c1m:stomp,c1m:idle_stomp,rabbitmq:stomp")
	if m := CheckPlan(results, plan); len(m) != 1 || !strings.Contains(m[0], "rabbitmq: no result for stomp conns=1000 payload=64 rate=1000") {
		t.Errorf("CheckPlan: %q", m)
	}
}

func TestWriteSTOMPPlots(t *testing.T) {
	dir := t.TempDir()
	if err := WritePlots(stompResults(), dir, "c1m"); err != nil {
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
		"set output '" + PlotSTOMPCPU + "'", "set output '" + PlotSTOMPMem + "'",
		`"1k subs\n64 B\nmax\n0.80x native\n20x rabbitmq" 0`,
		"title 'c1m native WebSocket'", "title 'rabbitmq STOMP'", "title 'c1m STOMP heap'", "title 'c1m native RSS'",
	} {
		if !strings.Contains(gp, want) {
			t.Errorf("plots.gp lacks %q", want)
		}
	}
	if cpu := read("stomp_cpu.dat"); !strings.Contains(cpu, "# config c1m_native_WebSocket c1m_STOMP rabbitmq_STOMP (deliveries per server CPU-second)\n1000subs/64B/max 500000 400000 20000\n1000subs/64B/1000 NaN 250000 NaN\n") {
		t.Errorf("stomp_cpu.dat:\n%s", cpu)
	}
	// RabbitMQ ran no broadcast: no (all-NaN) column in the broadcast plots,
	// which gnuplot refuses.
	if d := read("deliveries.dat"); !strings.HasPrefix(d, "# config c1m\n1000subs/64B/max 100000.000\n") {
		t.Errorf("deliveries.dat:\n%s", d)
	}
	if mem := read("stomp_mem.dat"); !strings.Contains(mem, "1000 4000.000 3000.000 3000.000 2000.000\n") {
		t.Errorf("stomp_mem.dat:\n%s", mem)
	}
}
