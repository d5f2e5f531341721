package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestFaultHistory keeps the history of accounts and suppliers (EXACTSYNC_HISTORY) while
// exactsync is sent SIGKILL at random moments of incremental and full runs and
// PostgreSQL is cut during full passes, with simulator changes (renames, supplier flips,
// new accounts, deletions) before each trial. After each trial, and after a clean sync
// that must converge, every current row is the open version of its history, in every
// column, and no open version lacks its row; the deletions trail holds a row for each
// row removed.
func TestFaultHistory(t *testing.T) {
	skipFaultIfShort(t)
	t.Parallel()
	began := time.Now()
	rng, seed := faultRand(t)
	kills, cuts := faultSize(t, 4, 20), faultSize(t, 2, 6)
	fw := newFaultWorld(t, faultSize(t, 2500, 4000))
	fw.env["EXACTSYNC_HISTORY"] = "accounts,suppliers"
	fw.importToken()
	start := time.Now()
	fw.mustExec("sync", "--entity", "accounts")
	span := time.Since(start)
	fw.mustExec("sync", "--entity", "suppliers")
	if d := fw.diff(); d != "" {
		t.Fatalf("the first sync does not match the simulator:\n%s", d)
	}
	fw.checkHistory("after the first sync")

	var fig figures
	killed, inconsistent := 0, 0
	trial := func(i int, what string, args []string, fault func(args []string)) {
		fw.mutate(rng, 5+rng.IntN(200))
		_, reuses := fw.chainState()
		fault(args)
		if !fw.checkHistory("trial %d (%s %s), before the clean sync", i, what, strings.Join(args, " ")) {
			inconsistent++
		}
		ok, lost := fw.converge(reuses)
		fig.trials++
		if lost {
			fig.chainsLost++
		}
		if d := fw.diff(); d != "" {
			fig.divergences++
			t.Errorf("trial %d (%s %s): diverged:\n%s", i, what, strings.Join(args, " "), d)
		} else if ok {
			fig.converged++
		}
		if !fw.checkHistory("trial %d (%s %s), after the clean sync", i, what, strings.Join(args, " ")) {
			inconsistent++
		}
	}
	for i := range kills {
		args := []string{"sync", "--entity", []string{"accounts", "suppliers"}[rng.IntN(2)]}
		calls := 4
		if rng.IntN(3) == 0 {
			args, calls = append(args, "--full"), 8
		}
		trial(i, "kill -9", args, func(args []string) {
			k := rng.IntN(calls)
			at := time.Duration(rng.Int64N(int64(30 * time.Millisecond)))
			if k == 0 {
				at = time.Duration(rng.Int64N(int64(span)))
			}
			if fw.killAt(k, at, args...) {
				killed++
			}
		})
	}
	for i := range cuts {
		args := []string{"sync", "--entity", []string{"accounts", "suppliers"}[rng.IntN(2)], "--full"}
		trial(kills+i, "PostgreSQL cut", args, func(args []string) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			c, out, errb := fw.command(ctx, args...)
			before := fw.syncCalls()
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			k := 1 + rng.IntN(6)
			poll(time.Minute, 2*time.Millisecond, func() bool { return fw.syncCalls()-before >= k })
			fw.proxy.Cut()
			time.Sleep(time.Second)
			fw.proxy.Restore()
			fw.finish(c, out, errb)
		})
	}
	var versions, trail int
	if err := fw.pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM exact_history.accounts) + (SELECT count(*) FROM exact_history.suppliers),
		(SELECT count(*) FROM exact_history.deletions)`).Scan(&versions, &trail); err != nil {
		t.Fatal(err)
	}
	if trail == 0 {
		t.Error("no removal in the deletions trail after trials that deleted accounts")
	}
	fig.add("killed=%d pg_cuts=%d inconsistent=%d versions=%d trail=%d", killed, cuts, inconsistent, versions, trail)
	fig.log(t, "history", seed, time.Since(began))
}

// checkHistory reports, as an error of the test, any row of exact.accounts or
// exact.suppliers that is not, in every column, the open version of its history, and any
// open version without its row; it returns whether there were none.
func (fw *faultWorld) checkHistory(format string, args ...any) bool {
	fw.t.Helper()
	ok := true
	for _, table := range []string{"accounts", "suppliers"} {
		var rows, open, differ int
		err := fw.pool.QueryRow(context.Background(), `
			WITH cur AS (SELECT to_jsonb(t) AS j FROM exact.`+table+` t),
			     open AS (SELECT to_jsonb(h) - 'valid_from' - 'valid_to' - 'ended' - 'seeded' AS j FROM exact_history.`+table+` h WHERE valid_to IS NULL)
			SELECT (SELECT count(*) FROM cur), (SELECT count(*) FROM open),
			       (SELECT count(*) FROM ((SELECT j FROM cur EXCEPT ALL SELECT j FROM open) UNION ALL (SELECT j FROM open EXCEPT ALL SELECT j FROM cur)) d)`).Scan(&rows, &open, &differ)
		if err != nil {
			fw.t.Fatal(err)
		}
		if differ != 0 || rows == 0 {
			fw.t.Errorf("%s: exact.%s has %d rows, its history %d open versions, %d rows differ; want the rows to be the open versions",
				fmt.Sprintf(format, args...), table, rows, open, differ)
			ok = false
		}
	}
	return ok
}
