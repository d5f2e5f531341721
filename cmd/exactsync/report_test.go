package main

import (
	"bytes"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/exactsync/exactsync/exact/exacttest"
	"github.com/exactsync/exactsync/sync"
)

// TestCounts: a result line counts per table, never adding up rows of different tables.
func TestCounts(t *testing.T) {
	tests := []struct {
		name   string
		tables []sync.EntityResult
		want   string
	}{
		{"one table", []sync.EntityResult{{Entity: "items", Upserted: 20, Removed: 1}}, "20 upserted, 1 removed"},
		{"nothing", []sync.EntityResult{{Entity: "accounts"}, {Entity: "suppliers"}}, "0 upserted, 0 removed"},
		{"two tables", []sync.EntityResult{{Entity: "accounts", Upserted: 1000}, {Entity: "suppliers", Upserted: 304}},
			"1000 accounts + 304 suppliers upserted, 0 removed"},
		{"a supplier no longer one", []sync.EntityResult{{Entity: "accounts", Upserted: 2}, {Entity: "suppliers", Upserted: 1, Removed: 1}},
			"2 accounts + 1 suppliers upserted, 1 suppliers removed"},
		{"deletions", []sync.EntityResult{{Entity: "accounts", Removed: 2}, {Entity: "suppliers", Removed: 1}, {Entity: sync.DeletionsJob, Quarantined: 1}},
			"0 upserted, 2 accounts + 1 suppliers removed, 1 deletions quarantined (see exactsync status)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := counts(tt.tables); got != tt.want {
				t.Errorf("counts: got %q, want %q", got, tt.want)
			}
		})
	}
	var out bytes.Buffer
	printResult(&env{stdout: &out}, sync.Result{Job: sync.Job{Entity: "suppliers", Division: 101}, Status: sync.StatusOK, Upserted: 1304, Pages: 2, Calls: 2,
		CursorTo: 9, Duration: time.Second, Entities: []sync.EntityResult{{Entity: "suppliers", Upserted: 304}, {Entity: "accounts", Upserted: 1000}}})
	if want := "suppliers division 101: ok, 304 suppliers + 1000 accounts upserted, 0 removed, 2 pages, 2 API calls, cursor 0 → 9, 1s\n"; out.String() != want {
		t.Errorf("result line: got %q, want %q", out.String(), want)
	}
}

// TestSyncCountsPerTable: `sync --entity suppliers` reads the accounts too (one
// endpoint) and says what each table got, and so does the total.
func TestSyncCountsPerTable(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101, 102}, Accounts: 300})
	w.importToken()
	suppliers := 0
	for _, d := range []int{101, 102} {
		for _, a := range w.sim.Accounts(d) {
			if a.IsSupplier && d == 101 {
				suppliers++
			}
		}
	}
	out := w.mustRun("sync", "--entity", "suppliers").stdout
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^suppliers division 101: ok, ` + strconv.Itoa(suppliers) + ` suppliers \+ 300 accounts upserted, 0 removed, `),
		regexp.MustCompile(`(?m)^deletions division 101: ok, 0 upserted, 0 removed, `),
		regexp.MustCompile(`(?m)^total: 4 runs, \d+ suppliers \+ 600 accounts upserted, 0 removed, in \d+ pages`),
	} {
		if !want.MatchString(out) {
			t.Errorf("sync --entity suppliers: no line matching %s:\n%s", want, out)
		}
	}
}

// TestLiveLineRate: the live line tells records a second once the run has some, never a
// rate per hour taken over its first instant.
func TestLiveLineRate(t *testing.T) {
	job := sync.Job{Entity: "accounts", Division: 101}
	tests := []struct {
		p    sync.Progress
		want string
	}{
		{sync.Progress{Job: job, Elapsed: 100 * time.Millisecond}, "accounts division 101: 0 pages, 0 records"},
		{sync.Progress{Job: job, Pages: 1, Records: 1000, Elapsed: 500 * time.Millisecond}, "accounts division 101: 1 pages, 1000 records"},
		{sync.Progress{Job: job, Pages: 3, Records: 3000, Elapsed: 2 * time.Second}, "accounts division 101: 3 pages, 3000 records (1500 records/s)"},
	}
	for _, tt := range tests {
		if got := describe(tt.p); got != tt.want {
			t.Errorf("describe(%+v) = %q, want %q", tt.p, got, tt.want)
		}
	}
}
