package sink_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/sink/sinktest"
)

// TestSweepRemovesRowsThePassDidNotSee: a full pass that sees accounts 1 and 3 of division
// 101 removes account 2, whose deletion Exact no longer reports, and leaves division 102
// alone. Keys recorded by an earlier pass that was cut short do not count.
func TestSweepRemovesRowsThePassDidNotSee(t *testing.T) {
	t.Parallel()
	s := sinktest.NewStore(t)
	ctx := testContext(t)
	conn := newConnection(t, s)
	table := accountsTable("exact.accounts")
	write := func(division int, c dest.Cursor, as ...acct) {
		t.Helper()
		b := dest.Batch{Table: table, Rows: accountRows(as...), ConnectionID: conn.ID, Division: division, Entity: "accounts", Cursor: c}
		if _, err := s.WriteBatch(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	write(101, dest.Cursor{Timestamp: 3}, acct{101, uuidN(1), "Alpha", 1}, acct{101, uuidN(2), "Beta", 2}, acct{101, uuidN(3), "Gamma", 3})
	write(102, dest.Cursor{Timestamp: 1}, acct{102, uuidN(9), "Other", 1})

	// A pass cut short saw account 2, then a new pass starts over.
	if _, err := s.StartSweep(ctx, table, conn.ID, 101, "accounts"); err != nil {
		t.Fatal(err)
	}
	write(101, dest.Cursor{Timestamp: 2, Sweep: true}, acct{101, uuidN(2), "Beta", 2})
	has, err := s.StartSweep(ctx, table, conn.ID, 101, "accounts")
	if err != nil || !has {
		t.Fatalf("StartSweep = %v, %v; want true: the division has rows", has, err)
	}
	// The pass: account 1 unchanged (the upsert skips it, the sweep must still count it),
	// account 3 at a newer version.
	write(101, dest.Cursor{Timestamp: 1, Sweep: true}, acct{101, uuidN(1), "Alpha", 1})
	write(101, dest.Cursor{Timestamp: 4, Sweep: true}, acct{101, uuidN(3), "Gamma 2", 4})
	cur, err := s.Cursor(ctx, conn.ID, 101, "accounts")
	if err != nil || !cur.Sweep || cur.Timestamp != 4 {
		t.Fatalf("cursor during the pass = %+v, %v; want timestamp 4, sweeping", cur, err)
	}

	removed, err := s.FinishSweep(ctx, table, conn.ID, 101, "accounts", cur, 0)
	if err != nil {
		t.Fatal(err)
	}
	if removed != 1 {
		t.Errorf("FinishSweep removed %d rows, want 1", removed)
	}
	want := []acct{{101, uuidN(1), "Alpha", 1}, {101, uuidN(3), "Gamma 2", 4}, {102, uuidN(9), "Other", 1}}
	if diff := cmp.Diff(want, storedAccounts(t, s, "exact.accounts")); diff != "" {
		t.Errorf("stored accounts (-want +got):\n%s", diff)
	}
	if cur, err = s.Cursor(ctx, conn.ID, 101, "accounts"); err != nil || cur.Sweep || cur.Timestamp != 4 {
		t.Errorf("cursor after the sweep = %+v, %v; want timestamp 4, not sweeping", cur, err)
	}
	var keys int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM exact_sync.pass_keys`).Scan(&keys); err != nil || keys != 0 {
		t.Errorf("recorded keys after the sweep: %d, %v; want 0", keys, err)
	}

	// A division without rows has nothing to reconcile.
	if has, err := s.StartSweep(ctx, table, conn.ID, 103, "accounts"); err != nil || has {
		t.Errorf("StartSweep of an empty division = %v, %v; want false", has, err)
	}
}

// TestSweepOfAnEmptyPassRemovesEveryRow: a pass that sees no record (the division has none
// left in Exact) empties the division.
func TestSweepOfAnEmptyPassRemovesEveryRow(t *testing.T) {
	t.Parallel()
	s := sinktest.NewStore(t)
	ctx := testContext(t)
	conn := newConnection(t, s)
	table := accountsTable("exact.accounts")
	b := dest.Batch{Table: table, Rows: accountRows(acct{101, uuidN(1), "Alpha", 1}, acct{101, uuidN(2), "Beta", 2}),
		ConnectionID: conn.ID, Division: 101, Entity: "accounts", Cursor: dest.Cursor{Timestamp: 2}}
	if _, err := s.WriteBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StartSweep(ctx, table, conn.ID, 101, "accounts"); err != nil {
		t.Fatal(err)
	}
	removed, err := s.FinishSweep(ctx, table, conn.ID, 101, "accounts", dest.Cursor{Sweep: true}, 0)
	if err != nil || removed != 2 {
		t.Fatalf("FinishSweep = %d, %v; want 2 rows removed", removed, err)
	}
	if got := storedAccounts(t, s, "exact.accounts"); len(got) != 0 {
		t.Errorf("stored accounts after the sweep: %v, want none", got)
	}
}
