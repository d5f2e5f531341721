package sink_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sink/sinktest"
)

// TestWritesFeedTheChangeLog: what a write inserts or changes is in the change log
// (exact_status.changes, migration 00018), one entry per statement, division and kind
// (inserted, changed), whichever way the sink writes it (COPY into an empty table, or
// staging and upsert); a replayed page adds nothing; PruneRuns deletes entries older than ChangeLogRetention.
func TestWritesFeedTheChangeLog(t *testing.T) {
	t.Parallel()
	s := sinktest.NewStore(t)
	ctx := testContext(t)
	conn := newConnection(t, s)
	write := func(cursor int64, as ...acct) {
		t.Helper()
		if _, err := s.WriteBatch(ctx, dest.Batch{
			Table: accountsTable("exact.accounts"), Rows: accountRows(as...),
			ConnectionID: conn.ID, Division: 101, Entity: "accounts", Cursor: dest.Cursor{Timestamp: cursor},
		}); err != nil {
			t.Fatalf("WriteBatch: %v", err)
		}
	}
	log := func() [][]string {
		t.Helper()
		rows, err := s.Pool().Query(ctx, `SELECT (SELECT array_agg(k ORDER BY k) FROM unnest(keys) k) FROM exact_status.changes
			WHERE table_name = 'accounts' AND division = 101 ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		var out [][]string
		for rows.Next() {
			var keys []string
			if err := rows.Scan(&keys); err != nil {
				t.Fatal(err)
			}
			out = append(out, keys)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	a, b, c := acct{101, uuidN(1), "A", 1}, acct{101, uuidN(2), "B", 1}, acct{101, uuidN(3), "C", 1}
	write(1, a, b)
	write(1, a, b) // replayed
	b.Name, b.Version = "B2", 2
	write(2, a, b, c)
	// The last write inserted c and changed b: an entry each, in either order.
	want := [][]string{{uuidN(1), uuidN(2)}, {uuidN(2)}, {uuidN(3)}}
	sorted := cmpopts.SortSlices(func(x, y []string) bool { return x[0] < y[0] })
	if diff := cmp.Diff(want, log(), sorted); diff != "" {
		t.Errorf("change log (-want +got):\n%s", diff)
	}

	if _, err := s.Pool().Exec(ctx, `UPDATE exact_sync.changes SET changed_at = now() - $1::interval - interval '1 hour'
		WHERE id = (SELECT min(id) FROM exact_sync.changes)`, sink.ChangeLogRetention); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PruneRuns(ctx, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want[1:], log(), sorted); diff != "" {
		t.Errorf("change log after pruning (-want +got):\n%s", diff)
	}
}
