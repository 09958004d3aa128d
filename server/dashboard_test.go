package server

import (
	"encoding/json"
	"os"
	"regexp"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// The Grafana dashboard in docs/ queries only metrics the server exports:
// c1m's own (standalone and cluster) and the Go and process collectors'.
func TestGrafanaDashboardUsesExportedMetrics(t *testing.T) {
	b, err := os.ReadFile("../docs/grafana/c1m-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard is not JSON: %v", err)
	}
	known := map[string]bool{}
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	descs := append(append(append(append([]*prometheus.Desc{}, allDescs...), clusterDescs...), deflateDescs...), tlsDescs...)
	for _, d := range append(descs, limitDescs...) {
		m := fq.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("no name in %s", d)
		}
		known[m[1]] = true
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		known[mf.GetName()] = true
	}
	metric := regexp.MustCompile(`\b(?:c1m|go|process)_[a-z0-9_]+\b`)
	n := 0
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, name := range metric.FindAllString(tg.Expr, -1) {
				n++
				if !known[name] {
					t.Errorf("panel %q queries %s, which c1m does not export", p.Title, name)
				}
			}
		}
	}
	if n < 20 {
		t.Fatalf("only %d metric references in the dashboard", n)
	}
}
