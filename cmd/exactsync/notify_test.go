package main

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/exactsync/exactsync/exact/exacttest"
	"github.com/exactsync/exactsync/sink"
)

// TestSyncNotifiesEachCommittedWrite listens on the exactsync channel while `sync`
// copies the simulator's accounts and, after changes, syncs again: every write of the
// accounts endpoint announces accounts and suppliers once each, the announced counts
// add up to what the tables hold, and the last cursor announced is the stored one.
func TestSyncNotifiesEachCommittedWrite(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 2500})
	ctx := context.Background()
	l, err := pgx.Connect(ctx, w.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	const marker = "exactsync_test_marker"
	for _, ch := range []string{sink.NotifyChannel, marker} {
		if _, err := l.Exec(ctx, "LISTEN "+ch); err != nil {
			t.Fatal(err)
		}
	}
	// received returns what was announced since its last call: the marker, sent after
	// the commands ended, comes after every notification of their commits.
	received := func() []sink.Notification {
		t.Helper()
		if _, err := w.pool.Exec(ctx, `SELECT pg_notify($1, '')`, marker); err != nil {
			t.Fatal(err)
		}
		var out []sink.Notification
		for {
			n, err := l.WaitForNotification(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n.Channel == marker {
				return out
			}
			var v sink.Notification
			if err := json.Unmarshal([]byte(n.Payload), &v); err != nil {
				t.Fatalf("payload %s: %v", n.Payload, err)
			}
			out = append(out, v)
		}
	}
	sum := func(ns []sink.Notification, entity string) (writes, upserted, removed int, cursor int64) {
		for _, n := range ns {
			if n.Entity == entity {
				writes++
				upserted += n.Upserted
				removed += n.Removed
				cursor = n.Cursor
			}
		}
		return writes, upserted, removed, cursor
	}
	stored := func(table string) (rows int, cursor int64) {
		t.Helper()
		err := w.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM exact.`+table+`),
			(SELECT cursor_timestamp FROM exact_sync.cursors WHERE division = 101 AND entity = $1)`, table).Scan(&rows, &cursor)
		if err != nil {
			t.Fatal(err)
		}
		return rows, cursor
	}

	w.importToken()
	received() // nothing of the import is an entity's write
	w.mustRun("sync", "--entity", "accounts")
	ns := received()
	for _, n := range ns {
		if n.Connection != 1 || n.Division != 101 || (n.Entity != "accounts" && n.Entity != "suppliers") {
			t.Errorf("notification %+v, want accounts or suppliers of connection 1, division 101", n)
		}
	}
	aw, au, ar, ac := sum(ns, "accounts")
	sw, su, sr, sc := sum(ns, "suppliers")
	rows, cursor := stored("accounts")
	srows, scursor := stored("suppliers")
	if aw == 0 || aw != sw {
		t.Errorf("%d writes announced for accounts and %d for suppliers, want the same number, at least one", aw, sw)
	}
	if au != rows || ar != 0 || ac != cursor {
		t.Errorf("accounts announced: %d upserted, %d removed, cursor %d; want %d, 0, %d (the table and its cursor)", au, ar, ac, rows, cursor)
	}
	if su != srows || sr != 0 || sc != scursor {
		t.Errorf("suppliers announced: %d upserted, %d removed, cursor %d; want %d, 0, %d", su, sr, sc, srows, scursor)
	}

	accs := w.sim.Accounts(101)
	renamed := accs[10]
	renamed.Name = "Hernoemd " + renamed.Name
	if err := w.sim.UpsertAccounts(101, renamed); err != nil {
		t.Fatal(err)
	}
	if err := w.sim.DeleteAccounts(101, accs[20].ID, accs[30].ID); err != nil {
		t.Fatal(err)
	}
	w.mustRun("sync", "--entity", "accounts")
	ns = received()
	_, au, ar, ac = sum(ns, "accounts")
	rows, cursor = stored("accounts")
	if au != 1 || ar != 2 || ac != cursor || rows != len(accs)-2 {
		t.Errorf("accounts announced after a rename and two deletions: %d upserted, %d removed, last cursor %d (stored %d, %d rows); want 1, 2, the stored cursor",
			au, ar, ac, cursor, rows)
	}
}
