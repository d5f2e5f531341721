package main

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/exactsync/exactsync/exact/exacttest"
)

func TestStatus(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101, 102}, Accounts: 300})
	w.importToken()
	if r := w.mustRun("status"); !strings.Contains(r.stdout, "nothing synced yet") {
		t.Errorf("status before any sync:\n%s", r.stdout)
	}

	w.mustRun("sync", "--entity", "accounts")
	ctx := context.Background()
	// A failed supplier run of division 102, and a last success of division 101 two months ago.
	if _, err := w.pool.Exec(ctx, `
		INSERT INTO exact_sync.runs (connection_id, division, entity, finished_at, status, error)
		SELECT id, 102, 'suppliers', now(), 'failed', 'fetching sync/CRM/Accounts page 2 for division 102: timeout'
		FROM exact_sync.connections;
		UPDATE exact_sync.runs SET started_at = started_at - interval '60 days', finished_at = finished_at - interval '60 days'
		WHERE division = 101;
		INSERT INTO exact_sync.rejected_records (connection_id, division, entity, ref, reason, record)
		SELECT id, 102, 'accounts', 'sha256:00', 'field ID: want a GUID', '{}' FROM exact_sync.connections`); err != nil {
		t.Fatal(err)
	}
	out := w.mustRun("status").stdout
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^1 +101 +accounts +300 +0 +ok 60 days ago, 300 upserted, 0 removed +60 days ago +300 +full pass: last success is older than Exact's deletion log`),
		regexp.MustCompile(`(?m)^1 +102 +accounts +300 +1 +ok \S+ ago, 300 upserted, 0 removed +\S+ ago +300 +incremental$`),
		regexp.MustCompile(`(?m)^quarantined records: 1\. .*exact_sync.rejected_records`),
		// suppliers came with accounts (one read of their endpoint), then failed on their own.
		regexp.MustCompile(`(?m)^1 +102 +suppliers +\d+ +0 +failed \S+ ago, 0 upserted, 0 removed: fetching sync/CRM/Accounts page 2 for division 102: timeout +\S+ ago +300 +incremental$`),
		regexp.MustCompile(`(?m)^1 +101 +deletions +0 +0 +ok 60 days ago, 0 upserted, 0 removed +60 days ago +\d+ +incremental$`),
	} {
		if !want.MatchString(out) {
			t.Errorf("status lacks a line matching %s:\n%s", want, out)
		}
	}
}
