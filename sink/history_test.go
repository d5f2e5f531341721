package sink_test

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sink/sinktest"
)

// version is the part of a history row the tests compare.
type version struct {
	ID     string
	Name   string
	TS     int64
	Open   bool
	Ended  string
	Seeded bool
}

func historyOf(t *testing.T, s *sink.Store, table string) []version {
	t.Helper()
	rows, err := s.Pool().Query(testContext(t), `SELECT id::text, name, exact_timestamp, valid_to IS NULL, coalesce(ended, ''), seeded
		FROM exact_history.`+table+` ORDER BY id, valid_from, valid_to NULLS LAST`)
	if err != nil {
		t.Fatalf("reading the history of %s: %v", table, err)
	}
	defer rows.Close()
	var out []version
	for rows.Next() {
		var v version
		if err := rows.Scan(&v.ID, &v.Name, &v.TS, &v.Open, &v.Ended, &v.Seeded); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkOpenVersions fails unless each row of exact.<table> is, in every column, the open
// version of its history, and no open version lacks its row.
func checkOpenVersions(t *testing.T, s *sink.Store, table string) {
	t.Helper()
	var bad int
	err := s.Pool().QueryRow(testContext(t), `
		WITH cur AS (SELECT to_jsonb(t) AS j FROM exact.`+table+` t),
		     open AS (SELECT to_jsonb(h) - 'valid_from' - 'valid_to' - 'ended' - 'seeded' AS j FROM exact_history.`+table+` h WHERE valid_to IS NULL)
		SELECT count(*) FROM ((SELECT j FROM cur EXCEPT ALL SELECT j FROM open) UNION ALL (SELECT j FROM open EXCEPT ALL SELECT j FROM cur)) d`).Scan(&bad)
	if err != nil {
		t.Fatal(err)
	}
	if bad != 0 {
		t.Errorf("%d rows differ between exact.%s and the open versions of its history", bad, table)
	}
}

// TestHistoryAndDeletionsTrail: turning history on seeds it with the rows; an insert (by
// COPY straight in, or the upsert), a change, a removal of each cause and a sweep each
// write their versions and trail in the write's transaction, a replay writes nothing,
// <table>_at(T) is the table as it was at T, and turning history off keeps the table.
func TestHistoryAndDeletionsTrail(t *testing.T) {
	t.Parallel()
	s := sinktest.NewStore(t)
	ctx := testContext(t)
	conn := newConnection(t, s)
	table := accountsTable("exact.accounts")
	write := func(c dest.Cursor, removals []dest.Removal, as ...acct) dest.BatchResult {
		t.Helper()
		b := dest.Batch{Table: table, Rows: accountRows(as...), Removals: removals, ConnectionID: conn.ID, Division: 101, Entity: "accounts", Cursor: c}
		res, err := s.WriteBatch(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	now := func() time.Time {
		t.Helper()
		var at time.Time
		if err := s.Pool().QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&at); err != nil {
			t.Fatal(err)
		}
		return at
	}
	at := func(moment time.Time) []string {
		t.Helper()
		rows, err := s.Pool().Query(ctx, `SELECT name FROM exact_history.accounts_at($1) ORDER BY id`, moment)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			out = append(out, n)
		}
		return out
	}

	write(dest.Cursor{Timestamp: 2}, nil, acct{101, uuidN(1), "Alpha", 1}, acct{101, uuidN(2), "Beta", 2})
	ch, err := s.SetHistory(ctx, []dest.Table{table})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sink.HistoryChange{On: []string{"accounts"}, Seeded: []int64{2}}, ch); diff != "" {
		t.Errorf("SetHistory (-want +got):\n%s", diff)
	}
	if ch, err := s.SetHistory(ctx, []dest.Table{table}); err != nil || len(ch.On)+len(ch.Off) != 0 {
		t.Errorf("SetHistory again = %+v, %v; want no change", ch, err)
	}
	// Every table, column and function of exact_history has a comment.
	rows, err := s.Pool().Query(ctx, `
		SELECT c.relname || '.' || a.attname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		WHERE c.relnamespace = 'exact_history'::regnamespace AND c.relkind IN ('r', 'v') AND col_description(c.oid, a.attnum) IS NULL
		UNION ALL SELECT relname FROM pg_class WHERE relnamespace = 'exact_history'::regnamespace AND relkind IN ('r', 'v') AND obj_description(oid, 'pg_class') IS NULL
		UNION ALL SELECT proname FROM pg_proc WHERE pronamespace = 'exact_history'::regnamespace AND obj_description(oid, 'pg_proc') IS NULL`)
	if err != nil {
		t.Fatal(err)
	}
	var bare []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		bare = append(bare, n)
	}
	rows.Close()
	if len(bare) > 0 {
		t.Errorf("without a comment in exact_history: %v", bare)
	}
	t1 := now()

	// A rename, an unchanged row, a new one (the upsert's path: the page has stored keys).
	write(dest.Cursor{Timestamp: 4}, nil, acct{101, uuidN(1), "Alpha 2", 3}, acct{101, uuidN(2), "Beta", 2}, acct{101, uuidN(3), "Gamma", 4})
	// New keys only: COPY straight in.
	write(dest.Cursor{Timestamp: 6}, nil, acct{101, uuidN(4), "Delta", 5}, acct{101, uuidN(5), "Eps", 6})
	t2 := now()
	// A replay writes nothing.
	if res := write(dest.Cursor{Timestamp: 6}, nil, acct{101, uuidN(1), "Alpha 2", 3}, acct{101, uuidN(4), "Delta", 5}); res.Upserted != 0 {
		t.Errorf("replay upserted %d rows, want 0", res.Upserted)
	}

	deletedAt := time.Date(2026, 6, 30, 14, 0, 0, 0, time.UTC)
	res := write(dest.Cursor{Timestamp: 9}, []dest.Removal{
		{Division: 101, ID: uuidN(2), Version: 7, DeletedAt: deletedAt, DeletedBy: uuidN(77)},
		{Division: 101, ID: uuidN(3), Version: 8, Cause: "no longer a supplier"},
		{Division: 101, ID: uuidN(1), Version: 1}, // older than the row: stays
	})
	if res.Removed != 2 {
		t.Errorf("removed %d rows, want 2", res.Removed)
	}
	checkOpenVersions(t, s, "accounts")
	t3 := now()

	// A full pass sees 1 and 4: 5 goes.
	if _, err := s.StartSweep(ctx, table, conn.ID, 101, "accounts"); err != nil {
		t.Fatal(err)
	}
	write(dest.Cursor{Timestamp: 9, Sweep: true}, nil, acct{101, uuidN(1), "Alpha 2", 3}, acct{101, uuidN(4), "Delta", 5})
	if n, err := s.FinishSweep(ctx, table, conn.ID, 101, "accounts", dest.Cursor{Timestamp: 9}, 0); err != nil || n != 1 {
		t.Fatalf("FinishSweep = %d, %v; want 1 row removed", n, err)
	}
	checkOpenVersions(t, s, "accounts")

	want := []version{
		{uuidN(1), "Alpha", 1, false, "changed", true},
		{uuidN(1), "Alpha 2", 3, true, "", false},
		{uuidN(2), "Beta", 2, false, "deleted", true},
		{uuidN(3), "Gamma", 4, false, "no longer a supplier", false},
		{uuidN(4), "Delta", 5, true, "", false},
		{uuidN(5), "Eps", 6, false, dest.CauseNotSeen, false},
	}
	if diff := cmp.Diff(want, historyOf(t, s, "accounts")); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	for _, c := range []struct {
		at   time.Time
		want []string
	}{
		{t1, []string{"Alpha", "Beta"}},
		{t2, []string{"Alpha 2", "Beta", "Gamma", "Delta", "Eps"}},
		{t3, []string{"Alpha 2", "Delta", "Eps"}},
		{now(), []string{"Alpha 2", "Delta"}},
	} {
		if diff := cmp.Diff(c.want, at(c.at)); diff != "" {
			t.Errorf("accounts_at(%s) (-want +got):\n%s", c.at, diff)
		}
	}

	type trail struct {
		Key, Cause, By string
		At             *time.Time
		Name           string
	}
	rows, err = s.Pool().Query(ctx, `SELECT key, cause, coalesce(deleted_by::text, ''), deleted_at, record->>'name'
		FROM exact_history.deletions WHERE connection_id = $1 AND division = 101 AND entity = 'accounts' ORDER BY id`, conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	var trails []trail
	for rows.Next() {
		var tr trail
		if err := rows.Scan(&tr.Key, &tr.Cause, &tr.By, &tr.At, &tr.Name); err != nil {
			t.Fatal(err)
		}
		trails = append(trails, tr)
	}
	rows.Close()
	wantTrail := []trail{
		{uuidN(2), dest.CauseDeleted, uuidN(77), &deletedAt, "Beta"},
		{uuidN(3), "no longer a supplier", "", nil, "Gamma"},
		{uuidN(5), dest.CauseNotSeen, "", nil, "Eps"},
	}
	if diff := cmp.Diff(wantTrail, trails, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("deletions trail (-want +got):\n%s", diff)
	}

	// Off: the table stays, its open versions end, writes add nothing.
	ch, err = s.SetHistory(ctx, nil)
	if err != nil || !cmp.Equal(ch.Off, []string{"accounts"}) {
		t.Fatalf("SetHistory(nil) = %+v, %v; want accounts off", ch, err)
	}
	write(dest.Cursor{Timestamp: 10}, nil, acct{101, uuidN(1), "Alpha 3", 10})
	got := historyOf(t, s, "accounts")
	if len(got) != len(want) {
		t.Errorf("history off: %d versions, want the %d kept", len(got), len(want))
	}
	for _, v := range got {
		if v.Open {
			t.Errorf("history off: version %+v still open", v)
		}
	}
	// On again: seeded anew, after the versions it kept.
	ch, err = s.SetHistory(ctx, []dest.Table{table})
	if err != nil || !cmp.Equal(ch.Seeded, []int64{2}) {
		t.Fatalf("SetHistory on again = %+v, %v; want 2 rows seeded", ch, err)
	}
	checkOpenVersions(t, s, "accounts")
	if diff := cmp.Diff([]string{"Alpha 3", "Delta"}, at(now())); diff != "" {
		t.Errorf("accounts_at(now) after turning on again (-want +got):\n%s", diff)
	}
}

// TestReaderSeesTheHistoryOfItsDivisions: a reader reads exact_history like exact: the
// history tables, their _at functions and the deletions trail, each limited to its
// divisions.
func TestReaderSeesTheHistoryOfItsDivisions(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	url := sinktest.NewMigratedDatabase(t)
	st := sinktest.OpenStore(t, sink.Config{DatabaseURL: url})
	conn := newConnection(t, st)
	table := accountsTable("exact.accounts")
	for _, d := range []int{101, 102} {
		b := dest.Batch{Table: table, Rows: accountRows(acct{d, uuidN(1), "One", 1}, acct{d, uuidN(2), "Two", 2}), ConnectionID: conn.ID, Division: d, Entity: "accounts"}
		if _, err := st.WriteBatch(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.SetHistory(ctx, []dest.Table{table}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []int{101, 102} {
		b := dest.Batch{Table: table, Removals: []dest.Removal{{Division: d, ID: uuidN(2), Version: 3}}, ConnectionID: conn.ID, Division: d, Entity: "accounts"}
		if _, err := st.WriteBatch(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	reader := connectAs(t, url, addReader(t, st, url, "h101", 101))
	for relation, want := range map[string][]int{
		"exact_history.accounts":                {101, 101},
		"exact_history.accounts_at(now()) AS h": {101},
		"exact_history.deletions":               {101},
	} {
		if got := divisionsIn(t, reader, relation); !slices.Equal(got, want) {
			t.Errorf("the reader of division 101 sees divisions %v in %s, want %v", got, relation, want)
		}
		if got := divisionsIn(t, st.Pool(), relation); len(got) != 2*len(want) {
			t.Errorf("exactsync's role sees divisions %v in %s, want both", got, relation)
		}
	}
}

// TestLegacyHistoryIsConverted: a history of the first layout (exact_history.<table> a
// table of every version, the open ones included, and an insert trigger copying every new
// row) becomes the present one at the next SetHistory: its ended versions kept in
// <table>_past, the current rows the open versions, the insert trigger gone, and the
// writes after it kept as before.
func TestLegacyHistoryIsConverted(t *testing.T) {
	t.Parallel()
	s := sinktest.NewStore(t)
	ctx := testContext(t)
	conn := newConnection(t, s)
	table := accountsTable("exact.accounts")
	write := func(as ...acct) {
		t.Helper()
		b := dest.Batch{Table: table, Rows: accountRows(as...), ConnectionID: conn.ID, Division: 101, Entity: "accounts"}
		if _, err := s.WriteBatch(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	write(acct{101, uuidN(1), "Alpha 2", 3}, acct{101, uuidN(2), "Beta", 2})
	// The first layout, as SetHistory made it: one ended and two open versions, and its
	// insert trigger.
	for _, q := range []string{
		`CREATE TABLE exact_history.accounts (LIKE exact.accounts)`,
		`ALTER TABLE exact_history.accounts ADD COLUMN valid_from timestamptz NOT NULL DEFAULT now(),
			ADD COLUMN valid_to timestamptz, ADD COLUMN ended text, ADD COLUMN seeded boolean NOT NULL DEFAULT false`,
		`INSERT INTO exact_history.accounts SELECT a.*, a.synced_at, NULL, NULL, true FROM exact.accounts a`,
		`INSERT INTO exact_history.accounts SELECT a.*, a.synced_at - interval '1 hour', a.synced_at, 'changed', true FROM exact.accounts a WHERE name = 'Alpha 2'`,
		`UPDATE exact_history.accounts SET name = 'Alpha' WHERE valid_to IS NOT NULL`,
		`CREATE FUNCTION exact_history.accounts_at(at timestamptz) RETURNS SETOF exact_history.accounts LANGUAGE sql STABLE
			AS $f$ SELECT * FROM exact_history.accounts WHERE valid_from <= at AND (valid_to IS NULL OR valid_to > at) $f$`,
		`CREATE FUNCTION exact_sync.history_accounts_insert() RETURNS trigger LANGUAGE plpgsql AS $f$
			BEGIN INSERT INTO exact_history.accounts SELECT * FROM new_rows; RETURN NULL; END $f$`,
		`CREATE TRIGGER exactsync_history_insert AFTER INSERT ON exact.accounts REFERENCING NEW TABLE AS new_rows
			FOR EACH STATEMENT EXECUTE FUNCTION exact_sync.history_accounts_insert()`,
		`INSERT INTO exact_sync.history_tables (table_name, enabled, enabled_at) VALUES ('accounts', true, clock_timestamp())`,
	} {
		if _, err := s.Pool().Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if _, err := s.SetHistory(ctx, []dest.Table{table}); err != nil {
		t.Fatal(err)
	}
	var kind string
	if err := s.Pool().QueryRow(ctx, `SELECT relkind::text FROM pg_class WHERE oid = 'exact_history.accounts'::regclass`).Scan(&kind); err != nil || kind != "v" {
		t.Errorf("exact_history.accounts is of kind %q (%v), want a view", kind, err)
	}
	var triggers int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_trigger WHERE tgrelid = 'exact.accounts'::regclass AND tgname = 'exactsync_history_insert'`).Scan(&triggers); err != nil || triggers != 0 {
		t.Errorf("%d insert triggers of the first layout left (%v)", triggers, err)
	}
	write(acct{101, uuidN(1), "Alpha 3", 4}, acct{101, uuidN(3), "Gamma", 5})
	want := []version{
		{uuidN(1), "Alpha", 3, false, "changed", true},
		{uuidN(1), "Alpha 2", 3, false, "changed", true},
		{uuidN(1), "Alpha 3", 4, true, "", false},
		{uuidN(2), "Beta", 2, true, "", true},
		{uuidN(3), "Gamma", 5, true, "", false},
	}
	if diff := cmp.Diff(want, historyOf(t, s, "accounts")); diff != "" {
		t.Errorf("history after the conversion (-want +got):\n%s", diff)
	}
	checkOpenVersions(t, s, "accounts")
}
