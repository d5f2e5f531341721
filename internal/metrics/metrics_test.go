package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/sync"
)

// fakeLag is a LagSource answering from memory.
type fakeLag struct {
	rows []dest.LastSuccess
	err  error
}

func (f *fakeLag) LastSuccesses(context.Context) ([]dest.LastSuccess, error) { return f.rows, f.err }

// fakeConnections is a ConnectionSource answering from memory.
type fakeConnections struct {
	conns []dest.Connection
	err   error
}

func (f *fakeConnections) Connections(context.Context) ([]dest.Connection, error) {
	return f.conns, f.err
}

// exercised is a Metrics told one of everything, as a run process is.
func exercised(t *testing.T) *Metrics {
	t.Helper()
	m := New(Config{Logger: zerolog.Nop(), Lag: &fakeLag{rows: []dest.LastSuccess{
		{ConnectionID: 1, Division: 101, Entity: "accounts", Age: 90 * time.Second},
	}}, Connections: &fakeConnections{conns: []dest.Connection{
		{ID: 1, State: dest.StateOK, RefreshTokenIssuedAt: time.Now().Add(-time.Hour)},
	}}})
	m.SetSchedule("accounts", 15*time.Minute)
	m.WebhookTopics([]string{"Accounts"})
	m.Request("sync/CRM/Accounts", 101, 200, 120*time.Millisecond)
	m.Request("sync/CRM/Accounts", 101, 429, 10*time.Millisecond)
	m.Request("sync/CRM/Accounts", 101, 0, time.Second)
	m.Request("current/Me", 0, 200, 50*time.Millisecond)
	m.Refresh(exact.RefreshOK)
	m.RateLimit(101, 58, 4321)
	m.Delivered("Accounts", "ok")
	m.Delivered("Accounts", "debounced")
	m.Delivered("", "bad_signature")
	m.Committed("accounts", 2500*time.Millisecond)
	m.RunFinished(sync.Result{
		Job:    sync.Job{ConnectionID: 1, Division: 101, Entity: "accounts"},
		Status: sync.StatusOK, Duration: 3 * time.Second, Upserted: 12, Removed: 2, Quarantined: 1,
		Entities: []sync.EntityResult{
			{Entity: "accounts", Upserted: 10, Quarantined: 1},
			{Entity: "suppliers", Upserted: 2, Removed: 2},
		},
	})
	return m
}

func TestObserversFeedTheMetrics(t *testing.T) {
	m := exercised(t)
	// A replayed run is counted, but wrote nothing here.
	m.RunFinished(sync.Result{Job: sync.Job{Division: 101, Entity: "accounts"}, Status: sync.StatusOK, Replayed: true,
		Entities: []sync.EntityResult{{Entity: "accounts", Upserted: 1000}}})
	m.RateLimit(101, 57, -1) // the day unknown in this answer: the last known stays

	tests := []struct {
		name string
		got  float64
		want float64
	}{
		{"upserted accounts", valueOf(t, m.upserted, "accounts", 101), 10},
		{"upserted suppliers", valueOf(t, m.upserted, "suppliers", 101), 2},
		{"removed suppliers", valueOf(t, m.removed, "suppliers", 101), 2},
		{"removed accounts (zero, but there)", valueOf(t, m.removed, "accounts", 101), 0},
		{"quarantined accounts", valueOf(t, m.quarantined, "accounts", 101), 1},
		{"ok runs", testutil.ToFloat64(m.runs.WithLabelValues("accounts", "ok")), 2},
		{"200s", testutil.ToFloat64(m.apiCalls.WithLabelValues("sync/CRM/Accounts", "200")), 1},
		{"429s as calls", testutil.ToFloat64(m.apiCalls.WithLabelValues("sync/CRM/Accounts", "429")), 1},
		{"no answer", testutil.ToFloat64(m.apiCalls.WithLabelValues("sync/CRM/Accounts", "error")), 1},
		{"429s of the division", valueOf(t, m.tooMany, "", 101), 1},
		{"refreshes ok", testutil.ToFloat64(m.refreshes.WithLabelValues("ok")), 1},
		{"refreshes reauth_required, from zero", testutil.ToFloat64(m.refreshes.WithLabelValues("reauth_required")), 0},
		{"minute left", valueOf(t, m.remaining, "minute", 101), 57},
		{"day left", valueOf(t, m.remaining, "day", 101), 4321},
		{"webhook deliveries ok", testutil.ToFloat64(m.webhookDeliveries.WithLabelValues("Accounts", "ok")), 1},
		{"webhook deliveries with a bad signature", testutil.ToFloat64(m.webhookDeliveries.WithLabelValues("", "bad_signature")), 1},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if n := testutil.CollectAndCount(m.runDuration); n != 1 {
		t.Errorf("run duration series: got %d, want 1", n)
	}
	if h := histogram(t, m, "exactsync_webhook_commit_latency_seconds"); h.GetSampleCount() != 1 || h.GetSampleSum() != 2.5 {
		t.Errorf("webhook latency: got %d runs, %v s; want 1, 2.5 s", h.GetSampleCount(), h.GetSampleSum())
	}
	h := histogram(t, m, "exactsync_run_duration_seconds")
	if h.GetSampleCount() != 2 || h.GetSampleSum() != 3 {
		t.Errorf("run durations: got %d runs, %v s; want 2 runs (ok, replayed), 3 s", h.GetSampleCount(), h.GetSampleSum())
	}
}

// valueOf is the value of a series of a family by division, which must exist.
func valueOf(t *testing.T, f *divisionFamily, other string, division int) float64 {
	t.Helper()
	v, ok := f.value(other, division)
	if !ok {
		t.Errorf("no series %q of division %d", other, division)
	}
	return v
}

// histogram returns the one histogram of family name.
func histogram(t *testing.T, m *Metrics, name string) *dto.Histogram {
	t.Helper()
	fams, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetHistogram()
		}
	}
	t.Fatalf("no single histogram %s", name)
	return nil
}

func TestEndpointLabel(t *testing.T) {
	tests := []struct{ in, want string }{
		{"sync/CRM/Accounts", "sync/CRM/Accounts"},
		{"crm/Accounts(guid'5b7f4515-0c8d-4c1a-9d3e-0123456789ab')", "crm/Accounts"},
		{"current/Me", "current/Me"},
	}
	for _, tt := range tests {
		if got := endpointLabel(tt.in); got != tt.want {
			t.Errorf("endpointLabel(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSyncLag(t *testing.T) {
	rows := []dest.LastSuccess{
		{ConnectionID: 1, Division: 101, Entity: "accounts", Age: 60 * time.Second},
		{ConnectionID: 2, Division: 101, Entity: "accounts", Age: 600 * time.Second}, // the one furthest behind counts
		{ConnectionID: 1, Division: 102, Entity: "accounts", Age: 30 * time.Second},
		{ConnectionID: 1, Division: 101, Entity: "deletions", Age: 45 * time.Second},
		{ConnectionID: 1, Division: 101, Entity: "contacts", Age: 99999 * time.Second}, // no longer enabled
	}
	m := New(Config{Lag: &fakeLag{rows: rows}, Entities: []string{"accounts", "deletions"}})
	want := `
# HELP exactsync_sync_lag_seconds ` + lagHelp(t, m) + `
# TYPE exactsync_sync_lag_seconds gauge
exactsync_sync_lag_seconds{division="101",entity="accounts"} 600
exactsync_sync_lag_seconds{division="101",entity="deletions"} 45
exactsync_sync_lag_seconds{division="102",entity="accounts"} 30
`
	if err := testutil.GatherAndCompare(m.Gatherer(), strings.NewReader(want), "exactsync_sync_lag_seconds"); err != nil {
		t.Error(err)
	}
}

// lagHelp is the help text of the sync lag, as served.
func lagHelp(t *testing.T, m *Metrics) string {
	t.Helper()
	fams, _ := m.Gatherer().Gather()
	for _, f := range fams {
		if f.GetName() == "exactsync_sync_lag_seconds" {
			return f.GetHelp()
		}
	}
	t.Fatal("no sync lag gathered")
	return ""
}

// TestScrapeServesTheRestWhenTheLagFails: the database down, /metrics still answers with
// everything but the sync lag.
func TestScrapeServesTheRestWhenTheLagFails(t *testing.T) {
	lag := &fakeLag{err: errors.New("cannot reach PostgreSQL")}
	m := New(Config{Lag: lag, Logger: zerolog.Nop()})
	m.Refresh(exact.RefreshOK)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200:\n%s", resp.StatusCode, body)
	}
	if !strings.Contains(string(body), `exactsync_token_refreshes_total{outcome="ok"} 1`) || strings.Contains(string(body), "exactsync_sync_lag_seconds{") {
		t.Errorf("want the refreshes and no sync lag:\n%s", body)
	}
	if !strings.Contains(string(body), "go_goroutines") || !strings.Contains(string(body), "process_") {
		t.Errorf("no Go or process metrics:\n%s", body)
	}
}

// TestDashboardUsesOnlyRegisteredMetrics: every metric the Grafana dashboard queries is
// one the registry serves (a histogram's _bucket, _sum and _count included).
func TestDashboardUsesOnlyRegisteredMetrics(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "grafana", "exactsync.json"))
	if err != nil {
		t.Fatal(err)
	}
	fams, err := exercised(t).Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]dto.MetricType{}
	for _, f := range fams {
		types[f.GetName()] = f.GetType()
	}
	known := func(name string) bool {
		if _, ok := types[name]; ok {
			return true
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && types[base] == dto.MetricType_HISTOGRAM {
				return true
			}
		}
		return false
	}
	used := regexp.MustCompile(`\b(?:exactsync|go|process)_[a-z0-9_]+`).FindAllString(string(raw), -1)
	slices.Sort(used)
	used = slices.Compact(used)
	if len(used) < 10 {
		t.Fatalf("found only %d metric names in the dashboard: %v", len(used), used)
	}
	for _, name := range used {
		if !known(name) {
			t.Errorf("the dashboard queries %s, which the registry does not serve", name)
		}
	}
	// And every exactsync metric is on the dashboard.
	for name := range types {
		if strings.HasPrefix(name, "exactsync_") && !slices.ContainsFunc(used, func(u string) bool { return strings.HasPrefix(u, name) }) {
			t.Errorf("the dashboard does not show %s", name)
		}
	}
}
