package main

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/exactsync/exactsync/exact/exacttest"
)

// statusLine matches one line of status's table, by its first columns.
func statusLine(division, entity string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^1 +` + division + ` +` + entity + ` +.*$`)
}

// TestStatus: every enabled entity of every division has its line, run or not, with what
// the queue holds for it; an entity no longer enabled only while its table holds rows;
// a canceled run says what it means; the next run says what it does and when.
func TestStatus(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101, 102}, Accounts: 300})
	w.importToken()
	out := w.mustRun("status").stdout
	if !strings.Contains(out, "nothing synced yet") {
		t.Errorf("status before any sync:\n%s", out)
	}
	for _, d := range []string{"101", "102"} {
		for _, entity := range []string{"accounts", "suppliers", "transaction_lines", "journals", "deletions"} {
			if !statusLine(d, entity).MatchString(out) {
				t.Errorf("status before any sync has no line for %s of %s:\n%s", entity, d, out)
			}
		}
	}
	if want := regexp.MustCompile(`(?m)^1 +101 +transaction_lines +0 +0 +- +never +never +0 +\d\d:\d\d, from the start$`); !want.MatchString(out) {
		t.Errorf("status lacks a line matching %s:\n%s", want, out)
	}

	w.mustRun("sync", "--entity", "accounts")
	w.mustRun("sync", "--entity", "items", "--division", "102")
	w.mustRun("sync", "--entity", "sales_invoices", "--division", "101", "--enqueue")
	ctx := context.Background()
	// A failed supplier run of division 102, a last success of division 101 two months
	// ago, a quarantined record and a run stopped by Ctrl-C.
	if _, err := w.pool.Exec(ctx, `
		INSERT INTO exact_sync.runs (connection_id, division, entity, finished_at, status, error)
		SELECT id, 102, 'suppliers', now(), 'failed', 'fetching sync/CRM/Accounts page 2 for division 102: timeout'
		FROM exact_sync.connections;
		UPDATE exact_sync.runs SET started_at = started_at - interval '60 days', finished_at = finished_at - interval '60 days'
		WHERE division = 101;
		INSERT INTO exact_sync.rejected_records (connection_id, division, entity, ref, reason, record)
		SELECT id, 102, 'accounts', 'sha256:00', 'field ID: want a GUID', '{}' FROM exact_sync.connections;
		INSERT INTO exact_sync.runs (connection_id, division, entity, finished_at, status, error)
		SELECT id, 102, 'contacts', now(), 'canceled', 'fetching sync/CRM/Contacts page 1 for division 102: context canceled'
		FROM exact_sync.connections`); err != nil {
		t.Fatal(err)
	}
	// items is no longer enabled: its rows of 102 keep it on the list, not in 101.
	out = w.run(map[string]string{"EXACTSYNC_ENTITIES": "accounts,suppliers,contacts,sales_invoices"}, "status").stdout
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^1 +101 +accounts +300 +0 +- +ok 60 days ago, 300 upserted, 0 removed +60 days ago +300 +\d\d:\d\d, full pass: last success is older than Exact's deletion log`),
		regexp.MustCompile(`(?m)^1 +102 +accounts +300 +1 +- +ok \S+ ago, 300 upserted, 0 removed +\S+ ago +300 +\d\d:\d\d, incremental$`),
		regexp.MustCompile(`(?m)^quarantined records: 1\. .*exact_sync.rejected_records`),
		// suppliers came with accounts (one read of their endpoint), then failed on their own.
		regexp.MustCompile(`(?m)^1 +102 +suppliers +\d+ +0 +- +failed \S+ ago, 0 upserted, 0 removed: fetching sync/CRM/Accounts page 2 for division 102: timeout +\S+ ago +300 +\d\d:\d\d, incremental$`),
		regexp.MustCompile(`(?m)^1 +101 +deletions +0 +0 +queued +ok 60 days ago, 0 upserted, 0 removed +60 days ago +\d+ +\d\d:\d\d, incremental$`),
		regexp.MustCompile(`(?m)^1 +102 +contacts +0 +0 +- +canceled \S+ ago, 0 upserted, 0 removed: stopped by a shutdown or Ctrl-C; the next run goes on from its cursor +never +0 +\d\d:\d\d, from the start$`),
		regexp.MustCompile(`(?m)^1 +101 +sales_invoices +0 +0 +queued +never +never +0 +\d\d:\d\d, from the start$`),
		regexp.MustCompile(`(?m)^1 +102 +items +\d+ +0 +- +ok \S+ ago, \d+ upserted, 0 removed +\S+ ago +\d+ +none: not in EXACTSYNC_ENTITIES \(its rows stay\)$`),
	} {
		if !want.MatchString(out) {
			t.Errorf("status lacks a line matching %s:\n%s", want, out)
		}
	}
	for _, gone := range []*regexp.Regexp{statusLine("101", "items"), statusLine("101", "transaction_lines"), statusLine("102", "journals")} {
		if gone.MatchString(out) {
			t.Errorf("status has a line matching %s for an entity not enabled, without rows:\n%s", gone, out)
		}
	}
	if strings.Contains(out, "context canceled") || strings.Contains(out, "nothing synced yet") {
		t.Errorf("status says context canceled or nothing synced:\n%s", out)
	}
}
