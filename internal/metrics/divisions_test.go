package metrics

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact/catalogue"
	"github.com/exactsync/exactsync/sync"
)

// populated is a Metrics of a process that has synced every entity of the catalogue in
// each of divisions: rows, a 429 and both rate-limit windows per division, the sync lag
// of each entity and the deletions.
func populated(t testing.TB, divisions, limit int) *Metrics {
	t.Helper()
	var entities []string
	for _, e := range catalogue.All() {
		entities = append(entities, e.Name)
	}
	var rows []dest.LastSuccess
	for d := range divisions {
		div := 100 + d
		for _, e := range append(entities, sync.DeletionsJob) {
			rows = append(rows, dest.LastSuccess{ConnectionID: 1, Division: div, Entity: e, Age: time.Duration(d+1) * time.Second})
		}
	}
	m := New(Config{Logger: zerolog.Nop(), Lag: &fakeLag{rows: rows}, Divisions: limit})
	for d := range divisions {
		div := 100 + d
		for _, e := range entities {
			m.RunFinished(sync.Result{Job: sync.Job{ConnectionID: 1, Division: div, Entity: e}, Status: sync.StatusOK,
				Entities: []sync.EntityResult{{Entity: e, Upserted: 2, Removed: 1, Quarantined: 1}}})
			m.Request("sync/X", div, 200, time.Millisecond)
		}
		m.Request("sync/X", div, 429, time.Millisecond)
		m.RateLimit(div, 60-d%60, 5000-d)
	}
	return m
}

// encoded is the registry in the text format of /metrics, without the handler's time limit
// (a measurement of 300,000 series with the race detector outlasts it).
func encoded(t testing.TB, m *Metrics) string {
	t.Helper()
	fams, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range fams {
		if err := enc.Encode(f); err != nil {
			t.Fatal(err)
		}
	}
	return buf.String()
}

// scrape is /metrics as served.
func scrape(t testing.TB, m *Metrics) string {
	t.Helper()
	// The registry as /metrics serves it, but without the handler's 10-second bound: a
	// scrape of the large settings under the race detector on a loaded machine may take
	// longer, and the count of series is what these tests are about.
	srv := httptest.NewServer(promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// series counts the sample lines of body that begin with prefix ("" for all).
func series(body, prefix string) int {
	n := 0
	for line := range strings.Lines(body) {
		if !strings.HasPrefix(line, "#") && strings.HasPrefix(line, prefix) {
			n++
		}
	}
	return n
}

// TestDivisionSeriesSettings: per division up to the limit, then one series per entity
// (or window) holding the total, the worst lag, the fewest calls left.
func TestDivisionSeriesSettings(t *testing.T) {
	tests := []struct {
		name        string
		divisions   int
		limit       int
		perDivision bool
	}{
		{"default, few divisions", 3, 0, true},
		{"default, exactly 100", 100, 0, true},
		{"default, more than 100", 101, 0, false},
		{"a limit of 5, 5 divisions", 5, 5, true},
		{"a limit of 5, 6 divisions", 6, 5, false},
		{"all", 150, AllDivisions, true},
		{"none", 1, NoDivisions, false},
	}
	entities := len(catalogue.All())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := scrape(t, populated(t, tt.divisions, tt.limit))
			want := map[string]int{
				"exactsync_records_upserted_total{":      entities,
				"exactsync_records_removed_total{":       entities,
				"exactsync_records_quarantined_total{":   entities,
				"exactsync_sync_lag_seconds{":            entities + 1,
				"exactsync_rate_limit_remaining_calls{":  2,
				"exactsync_api_too_many_requests_total{": 1,
			}
			for family, w := range want {
				if tt.perDivision {
					w *= tt.divisions
				}
				if got := series(body, family); got != w {
					t.Errorf("%s: got %d series, want %d", family, got, w)
				}
			}
			if tt.perDivision {
				return
			}
			// The totals: the sum, the worst lag, the fewest calls left.
			for _, line := range []string{
				fmt.Sprintf(`exactsync_records_upserted_total{division="",entity="accounts"} %d`, 2*tt.divisions),
				fmt.Sprintf(`exactsync_sync_lag_seconds{division="",entity="accounts"} %d`, tt.divisions),
				fmt.Sprintf(`exactsync_rate_limit_remaining_calls{division="",window="day"} %d`, 5000-(tt.divisions-1)),
				fmt.Sprintf(`exactsync_api_too_many_requests_total{division=""} %d`, tt.divisions),
			} {
				if !strings.Contains(body, line+"\n") {
					t.Errorf("no line %s", line)
				}
			}
		})
	}
}

// TestSeriesCount measures the series of /metrics of a process that synced every entity
// of the catalogue in 10 and in 1,000 divisions, under each setting of
// EXACTSYNC_METRICS_DIVISIONS (README's table): without per-division series the count does
// not depend on the divisions.
func TestSeriesCount(t *testing.T) {
	if testing.Short() {
		t.Skip("a measurement of 300,000 series; not in -short")
	}
	settings := []struct {
		name  string
		limit int
	}{{"all", AllDivisions}, {"default (100)", 0}, {"none", NoDivisions}}
	count := map[string][2]int{}
	for _, s := range settings {
		var c [2]int
		for i, divisions := range []int{10, 1000} {
			body := encoded(t, populated(t, divisions, s.limit))
			c[i] = series(body, "exactsync_")
			t.Logf("%-14s %5d divisions: %6d exactsync series, %6d in all", s.name, divisions, c[i], series(body, ""))
		}
		count[s.name] = c
	}
	if all := count["all"]; all[1] < 50*all[0] {
		t.Errorf("all: %d series for 1,000 divisions, %d for 10: want them to grow with the divisions", all[1], all[0])
	}
	if none := count["none"]; none[0] != none[1] {
		t.Errorf("none: %d series for 10 divisions, %d for 1,000: want the same", none[0], none[1])
	}
	if def := count["default (100)"]; def[0] != count["all"][0] || def[1] != count["none"][1] {
		t.Errorf("default: %v series, want %d as all for 10 divisions and %d as none for 1,000", def, count["all"][0], count["none"][1])
	}
}
