package main

import (
	"context"
	"strings"
	"testing"

	"github.com/exactsync/exactsync/exact/exacttest"
)

// TestHistoryVariables: a bad EXACTSYNC_HISTORY or EXACTSYNC_DELETIONS_RETENTION is one line
// naming the problem and the fix, exit 2, before anything is written; a good one makes
// `sync` turn the history on, seeded with what the table holds, and a `sync` without the
// variable leaves it on.
func TestHistoryVariables(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 40})
	ctx := context.Background()
	w.importToken()
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"EXACTSYNC_HISTORY": "acounts"}, `EXACTSYNC_HISTORY: unknown entity "acounts"; did you mean accounts?`},
		{map[string]string{"EXACTSYNC_DELETIONS_RETENTION": "2y"}, `EXACTSYNC_DELETIONS_RETENTION: "2y" is not a retention; use keep`},
	} {
		r := w.run(tc.env, "sync", "--entity", "accounts")
		if r.code != exitUsage {
			t.Fatalf("sync with %v: %s\nwant exit 2", tc.env, r)
		}
		checkErrorLine(t, r, tc.want)
		if n := strings.Count(strings.TrimSpace(r.stderr), "\n"); n != 0 {
			t.Errorf("sync with %v said %d lines, want one:\n%s", tc.env, n+1, r.stderr)
		}
	}
	var tables int
	if err := w.pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'exact_history' AND tablename <> 'deletions'`).Scan(&tables); err != nil || tables != 0 {
		t.Fatalf("history tables after refused starts: %d (%v), want none", tables, err)
	}

	w.mustRun("sync", "--entity", "accounts")
	r := w.run(map[string]string{"EXACTSYNC_HISTORY": "accounts"}, "sync", "--entity", "accounts")
	if r.code != 0 || !strings.Contains(r.stderr, "history turned on") {
		t.Fatalf("sync with EXACTSYNC_HISTORY=accounts: %s\nwant exit 0 and the history turned on", r)
	}
	w.mustRun("sync", "--entity", "accounts") // without the variable: stays on
	var rows, seeded, open int
	var enabled bool
	err := w.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM exact.accounts),
		(SELECT count(*) FROM exact_history.accounts WHERE seeded), (SELECT count(*) FROM exact_history.accounts WHERE valid_to IS NULL),
		(SELECT enabled FROM exact_sync.history_tables WHERE table_name = 'accounts')`).Scan(&rows, &seeded, &open, &enabled)
	if err != nil {
		t.Fatal(err)
	}
	if rows == 0 || seeded != rows || open != rows || !enabled {
		t.Errorf("%d accounts, %d seeded versions, %d open, history enabled %t; want every account seeded and open, the history on", rows, seeded, open, enabled)
	}
}
