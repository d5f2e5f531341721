package metrics

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestDashboardProcessPanelsFilterByJob: the Go runtime and process metrics are served by
// every process Prometheus scrapes, so the dashboard's panels of them keep to the jobs
// that scrape exactsync (the job variable, whose values come from an exactsync metric).
func TestDashboardProcessPanelsFilterByJob(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "grafana", "exactsync.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	hasJob := false
	for _, v := range d.Templating.List {
		if v.Name == "job" && regexp.MustCompile(`^label_values\(exactsync_[a-z_]+, job\)$`).MatchString(v.Definition) {
			hasJob = true
		}
	}
	if !hasJob {
		t.Error("the dashboard has no job variable taken from an exactsync metric")
	}
	runtime := regexp.MustCompile(`\b(go|process)_[a-z_]+`)
	filtered := regexp.MustCompile(`\b(go|process)_[a-z_]+\{job=~"\$job"\}`)
	n := 0
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			if !runtime.MatchString(tg.Expr) {
				continue
			}
			n++
			if len(runtime.FindAllString(tg.Expr, -1)) != len(filtered.FindAllString(tg.Expr, -1)) {
				t.Errorf("panel %q queries %q without the job filter", p.Title, tg.Expr)
			}
		}
	}
	if n < 3 {
		t.Errorf("found %d queries of process metrics, want the three process panels", n)
	}
}
