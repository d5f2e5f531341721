package sink_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sink/sinktest"
)

// TestRemoveConnection: a connection goes with its cursors, runs, divisions and
// quarantine; its rows stay unless asked, and the rows of a division another connection
// syncs stay either way; the other connection is untouched.
func TestRemoveConnection(t *testing.T) {
	for _, deleteRows := range []bool{false, true} {
		name := "keep rows"
		if deleteRows {
			name = "delete rows"
		}
		t.Run(name, func(t *testing.T) {
			ctx := testContext(t)
			st, pool := sinktest.NewStorePool(t)
			a := sinktest.NewConnection(t, st, "https://start.exactonline.nl", "app-a", "refresh-a")
			b, err := st.UpsertConnection(ctx, "https://start.exactonline.be", "app-b", "user-b")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.SaveDivisionsResettingMoved(ctx, a.ID, []dest.Division{{Code: 101}, {Code: 102}}); err != nil {
				t.Fatal(err)
			}
			if _, err := st.SaveDivisionsResettingMoved(ctx, b.ID, []dest.Division{{Code: 102}, {Code: 103}}); err != nil {
				t.Fatal(err)
			}
			table := accountsTable("exact.accounts")
			var rows [][]any
			for i, d := range []int{101, 101, 102, 103} {
				rows = append(rows, accountRow(acct{Division: d, ID: uuidN(i), Name: "x", Version: 1}))
			}
			if _, err := st.WriteBatch(ctx, dest.Batch{Table: table, ConnectionID: a.ID, Division: 101, Entity: "accounts", Rows: rows}); err != nil {
				t.Fatal(err)
			}
			for _, q := range []string{
				`INSERT INTO exact_sync.runs (connection_id, division, entity, status) VALUES ($1, 101, 'accounts', 'ok'), ($1, 102, 'accounts', 'ok'), ($2, 103, 'accounts', 'ok')`,
				`INSERT INTO exact_sync.rejected_records (connection_id, division, entity, ref, reason, record) SELECT $1, 101, 'accounts', 'sha256:00', 'bad', '\x00' WHERE $2::bigint > 0`,
			} {
				if _, err := pool.Exec(ctx, q, a.ID, b.ID); err != nil {
					t.Fatal(err)
				}
			}

			got, err := st.RemoveConnection(ctx, a.ID, deleteRows, table)
			if err != nil {
				t.Fatal(err)
			}
			if got.Connection.ID != a.ID || got.Cursors != 1 || got.Runs != 2 || got.Quarantined != 1 {
				t.Errorf("removed %+v; want connection %d with 1 cursor, 2 runs, 1 quarantined record", got, a.ID)
			}
			if !slices.Equal(got.Divisions, []int{101, 102}) || !slices.Equal(got.Shared, []int{102}) || !slices.Equal(got.Own(), []int{101}) {
				t.Errorf("divisions %v, shared %v, own %v; want 101 102, 102, 101", got.Divisions, got.Shared, got.Own())
			}
			if got.Rows != 2 || got.RowsDeleted != deleteRows {
				t.Errorf("rows %d (deleted %t); want 2 (deleted %t)", got.Rows, got.RowsDeleted, deleteRows)
			}
			want := 4
			if deleteRows {
				want = 2
			}
			if n := len(storedAccounts(t, st, "exact.accounts")); n != want {
				t.Errorf("%d accounts left, want %d", n, want)
			}
			// Rows deleted with their connection are in the deletions trail.
			var trail int
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM exact_history.deletions
				WHERE connection_id = $1 AND division = 101 AND entity = 'accounts' AND cause = $2 AND record->>'name' = 'x'`, a.ID, dest.CauseConnectionRemoved).Scan(&trail); err != nil {
				t.Fatal(err)
			}
			if wantTrail := map[bool]int{false: 0, true: 2}[deleteRows]; trail != wantTrail {
				t.Errorf("%d rows in the deletions trail, want %d", trail, wantTrail)
			}
			conns, err := st.Connections(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(conns) != 1 || conns[0].ID != b.ID {
				t.Errorf("connections left: %+v; want only %d", conns, b.ID)
			}
			var left int
			if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM exact_sync.cursors WHERE connection_id = $1) + (SELECT count(*) FROM exact_sync.runs WHERE connection_id = $1)
				+ (SELECT count(*) FROM exact_sync.divisions WHERE connection_id = $1) + (SELECT count(*) FROM exact_sync.rejected_records WHERE connection_id = $1)`, a.ID).Scan(&left); err != nil || left != 0 {
				t.Errorf("%d rows of the removed connection left in exact_sync (%v)", left, err)
			}
			if ds, err := st.Divisions(ctx, b.ID); err != nil || len(ds) != 2 {
				t.Errorf("divisions of the other connection: %v, %v; want 102 and 103", ds, err)
			}
			if _, err := st.RemoveConnection(ctx, a.ID, deleteRows, table); !errors.Is(err, sink.ErrNotFound) {
				t.Errorf("removing it again: %v, want ErrNotFound", err)
			}
		})
	}
}
