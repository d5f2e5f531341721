package sink_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sink/sinktest"
)

func TestWriteBatch(t *testing.T) {
	t.Parallel()
	a, b := uuidN(1), uuidN(2)
	type step struct {
		rows     []acct
		removals []dest.Removal
		want     dest.BatchResult
	}
	tests := []struct {
		name  string
		steps []step
		want  []acct
	}{
		{
			name:  "insert",
			steps: []step{{rows: []acct{{101, a, "Alpha", 1}, {101, b, "Beta", 2}}, want: dest.BatchResult{Upserted: 2}}},
			want:  []acct{{101, a, "Alpha", 1}, {101, b, "Beta", 2}},
		},
		{
			name: "newer version updates",
			steps: []step{
				{rows: []acct{{101, a, "Alpha", 1}}, want: dest.BatchResult{Upserted: 1}},
				{rows: []acct{{101, a, "Alpha BV", 7}}, want: dest.BatchResult{Upserted: 1}},
			},
			want: []acct{{101, a, "Alpha BV", 7}},
		},
		{
			name: "older version never overwrites",
			steps: []step{
				{rows: []acct{{101, a, "Newer", 5}}, want: dest.BatchResult{Upserted: 1}},
				{rows: []acct{{101, a, "Older", 3}}, want: dest.BatchResult{}},
			},
			want: []acct{{101, a, "Newer", 5}},
		},
		{
			name: "replay changes nothing",
			steps: []step{
				{rows: []acct{{101, a, "Alpha", 1}, {101, b, "Beta", 2}}, want: dest.BatchResult{Upserted: 2}},
				{rows: []acct{{101, a, "Alpha", 1}, {101, b, "Beta", 2}}, want: dest.BatchResult{}},
			},
			want: []acct{{101, a, "Alpha", 1}, {101, b, "Beta", 2}},
		},
		{
			name: "equal version with other values repairs the row",
			steps: []step{
				{rows: []acct{{101, a, "Garbled", 4}}, want: dest.BatchResult{Upserted: 1}},
				{rows: []acct{{101, a, "Alpha", 4}}, want: dest.BatchResult{Upserted: 1}},
			},
			want: []acct{{101, a, "Alpha", 4}},
		},
		{
			name: "duplicate keys in a page keep the highest version",
			steps: []step{{rows: []acct{{101, a, "First", 1}, {101, a, "Third", 3}, {101, a, "Second", 2}},
				want: dest.BatchResult{Upserted: 1}}},
			want: []acct{{101, a, "Third", 3}},
		},
		{
			name:  "same id in two divisions",
			steps: []step{{rows: []acct{{101, a, "In 101", 1}, {102, a, "In 102", 1}}, want: dest.BatchResult{Upserted: 2}}},
			want:  []acct{{101, a, "In 101", 1}, {102, a, "In 102", 1}},
		},
		{
			name: "removals honour the version",
			steps: []step{
				{rows: []acct{{101, a, "Alpha", 5}, {101, b, "Beta", 5}}, want: dest.BatchResult{Upserted: 2}},
				{removals: []dest.Removal{{Division: 101, ID: a, Version: 4}, {Division: 101, ID: b, Version: 6}, {Division: 101, ID: uuidN(3), Version: 9}, {Division: 102, ID: a, Version: 9}}, want: dest.BatchResult{Removed: 1}},
			},
			want: []acct{{101, a, "Alpha", 5}},
		},
		{
			name: "rows and removals in one page",
			steps: []step{
				{rows: []acct{{101, a, "Alpha", 5}}, want: dest.BatchResult{Upserted: 1}},
				{rows: []acct{{101, b, "Beta", 6}}, removals: []dest.Removal{{Division: 101, ID: a, Version: 5}}, want: dest.BatchResult{Upserted: 1, Removed: 1}},
			},
			want: []acct{{101, b, "Beta", 6}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := sinktest.NewStore(t)
			ctx := testContext(t)
			conn := newConnection(t, s)
			for i, st := range tt.steps {
				got, err := s.WriteBatch(ctx, dest.Batch{
					Table: accountsTable("exact.accounts"), Rows: accountRows(st.rows...), Removals: st.removals,
					ConnectionID: conn.ID, Division: 101, Entity: "accounts", Cursor: dest.Cursor{Timestamp: int64(i + 1)},
				})
				if err != nil {
					t.Fatalf("step %d: WriteBatch: %v", i, err)
				}
				if got != st.want {
					t.Errorf("step %d: WriteBatch = %+v, want %+v", i, got, st.want)
				}
			}
			if diff := cmp.Diff(tt.want, storedAccounts(t, s, "exact.accounts")); diff != "" {
				t.Errorf("stored accounts (-want +got):\n%s", diff)
			}
			cur, err := s.Cursor(ctx, conn.ID, 101, "accounts")
			if err != nil {
				t.Fatal(err)
			}
			if want := int64(len(tt.steps)); cur.Timestamp != want {
				t.Errorf("cursor timestamp = %d, want %d", cur.Timestamp, want)
			}
		})
	}
}

// TestWriteBatchReplayKeepsSyncedAt checks that a replay writes nothing at all: not even
// synced_at moves.
func TestWriteBatchReplayKeepsSyncedAt(t *testing.T) {
	t.Parallel()
	s := sinktest.NewStore(t)
	ctx := testContext(t)
	batch := dest.Batch{Table: accountsTable("exact.accounts"), Rows: accountRows(acct{101, uuidN(1), "Alpha", 1})}
	if _, err := s.WriteBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	syncedAt := func() (ts time.Time, xmin string) {
		t.Helper()
		if err := s.Pool().QueryRow(ctx, `SELECT synced_at, xmin::text FROM exact.accounts`).Scan(&ts, &xmin); err != nil {
			t.Fatal(err)
		}
		return ts, xmin
	}
	before, xminBefore := syncedAt()
	if _, err := s.WriteBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	after, xminAfter := syncedAt()
	if !after.Equal(before) || xminAfter != xminBefore {
		t.Errorf("after replay: synced_at %v, xmin %s; want %v, %s (unchanged)", after, xminAfter, before, xminBefore)
	}
}

// TestWriteBatchFailureWritesNothing checks that a page with one bad value leaves neither
// its other rows, nor its removals, nor its cursor.
func TestWriteBatchFailureWritesNothing(t *testing.T) {
	t.Parallel()
	s := sinktest.NewStore(t)
	ctx := testContext(t)
	conn := newConnection(t, s)
	table := accountsTable("exact.accounts")
	first := dest.Batch{Table: table, Rows: accountRows(acct{101, uuidN(1), "Alpha", 1}),
		ConnectionID: conn.ID, Division: 101, Entity: "accounts", Cursor: dest.Cursor{Timestamp: 1}}
	if _, err := s.WriteBatch(ctx, first); err != nil {
		t.Fatal(err)
	}

	bad := accountRow(acct{101, uuidN(3), "Gamma", 3})
	bad[1] = "not-a-uuid"
	tests := []struct {
		name  string
		batch dest.Batch
	}{
		{"bad uuid", dest.Batch{Rows: append(accountRows(acct{101, uuidN(2), "Beta", 2}), bad)}},
		{"bad json", dest.Batch{Rows: [][]any{func() []any {
			r := accountRow(acct{101, uuidN(2), "Beta", 2})
			r[15] = []byte(`{"unterminated"`)
			return r
		}()}}},
		{"wrong value count", dest.Batch{Rows: [][]any{{int32(101), uuidN(2)}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.batch
			b.Table, b.ConnectionID, b.Division, b.Entity = table, conn.ID, 101, "accounts"
			b.Removals = []dest.Removal{{Division: 101, ID: uuidN(1), Version: 99}}
			b.Cursor = dest.Cursor{Timestamp: 99}
			if _, err := s.WriteBatch(ctx, b); err == nil {
				t.Fatal("WriteBatch succeeded, want an error")
			} else if !strings.Contains(err.Error(), "exact.accounts") {
				t.Errorf("error %q does not name the table", err)
			}
			if diff := cmp.Diff([]acct{{101, uuidN(1), "Alpha", 1}}, storedAccounts(t, s, "exact.accounts")); diff != "" {
				t.Errorf("stored accounts after failed page (-want +got):\n%s", diff)
			}
			cur, err := s.Cursor(ctx, conn.ID, 101, "accounts")
			if err != nil {
				t.Fatal(err)
			}
			if cur.Timestamp != 1 {
				t.Errorf("cursor after failed page = %d, want 1", cur.Timestamp)
			}
		})
	}

	// The session's staging table must be usable again after a failed page.
	if _, err := s.WriteBatch(ctx, dest.Batch{Table: table, Rows: accountRows(acct{101, uuidN(2), "Beta", 2})}); err != nil {
		t.Fatalf("WriteBatch after failures: %v", err)
	}
}

// TestWriteBatchStagingReuse writes many pages to two tables with different column lists
// over a single pooled session, so staging tables are created once and reused.
func TestWriteBatchStagingReuse(t *testing.T) {
	t.Parallel()
	s := sinktest.NewStoreConfig(t, sink.Config{MaxConns: 1})
	ctx := testContext(t)
	narrow := dest.Table{Name: "exact.suppliers", Columns: []string{"division", "id", "name", "exact_timestamp", "raw"},
		Key: []string{"division", "id"}, VersionColumn: "exact_timestamp"}
	var want []acct
	for page := range 5 {
		a := acct{101, uuidN(page), "Account", int64(page)}
		want = append(want, a)
		// New rows are copied straight into the table; the replay goes through staging.
		for range 2 {
			if _, err := s.WriteBatch(ctx, dest.Batch{Table: accountsTable("exact.accounts"), Rows: accountRows(a)}); err != nil {
				t.Fatalf("page %d of accounts: %v", page, err)
			}
			row := []any{int32(101), a.ID, a.Name, a.Version, []byte(`{}`)}
			if _, err := s.WriteBatch(ctx, dest.Batch{Table: narrow, Rows: [][]any{row}}); err != nil {
				t.Fatalf("page %d of suppliers: %v", page, err)
			}
		}
	}
	for _, table := range []string{"exact.accounts", "exact.suppliers"} {
		if diff := cmp.Diff(want, storedAccounts(t, s, table)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", table, diff)
		}
	}
	var staged int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relname LIKE 'exactsync_staging_%' AND relpersistence = 't'`).Scan(&staged); err != nil {
		t.Fatal(err)
	}
	if staged != 2 {
		t.Errorf("staging tables = %d, want 2 (one per table and column list)", staged)
	}
}

func TestWriteBatchInvalidTable(t *testing.T) {
	t.Parallel()
	s := sinktest.NewStore(t)
	tests := []struct {
		name  string
		table dest.Table
		want  string
	}{
		{"no key", dest.Table{Name: "exact.accounts", Columns: []string{"id"}, VersionColumn: "id"}, "key"},
		{"version not a column", dest.Table{Name: "exact.accounts", Columns: []string{"division", "id"}, Key: []string{"division", "id"}, VersionColumn: "exact_timestamp"}, "exact_timestamp"},
		{"synced_at listed", dest.Table{Name: "exact.accounts", Columns: []string{"division", "id", "exact_timestamp", "synced_at"}, Key: []string{"division", "id"}, VersionColumn: "exact_timestamp"}, "synced_at"},
		{"bad name", dest.Table{Name: "a.b.c", Columns: []string{"id"}, Key: []string{"id"}, VersionColumn: "id"}, "a.b.c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.WriteBatch(testContext(t), dest.Batch{Table: tt.table, Rows: [][]any{{1}}})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("WriteBatch error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

// TestWriteBatchStoredKeyAfterNewPages writes pages of new keys, which go straight into the
// table without a probe once two have, then a page holding a stored key: its COPY fails
// and is rolled back, and the page is merged through staging.
func TestWriteBatchStoredKeyAfterNewPages(t *testing.T) {
	t.Parallel()
	s := sinktest.NewStore(t)
	ctx := testContext(t)
	table := accountsTable("exact.accounts")
	pages := [][]acct{
		{{101, uuidN(1), "One", 1}},
		{{101, uuidN(2), "Two", 2}},
		{{101, uuidN(3), "Three", 3}},
		{{101, uuidN(4), "Four", 4}, {101, uuidN(2), "Two renamed", 5}, {101, uuidN(3), "Three older", 1}},
	}
	want := []dest.BatchResult{{Upserted: 1}, {Upserted: 1}, {Upserted: 1}, {Upserted: 2}}
	for i, p := range pages {
		got, err := s.WriteBatch(ctx, dest.Batch{Table: table, Rows: accountRows(p...)})
		if err != nil {
			t.Fatalf("page %d: %v", i, err)
		}
		if got != want[i] {
			t.Errorf("page %d: got %+v, want %+v", i, got, want[i])
		}
	}
	stored := []acct{{101, uuidN(1), "One", 1}, {101, uuidN(2), "Two renamed", 5}, {101, uuidN(3), "Three", 3}, {101, uuidN(4), "Four", 4}}
	if diff := cmp.Diff(stored, storedAccounts(t, s, "exact.accounts")); diff != "" {
		t.Errorf("stored (-want +got):\n%s", diff)
	}
}
