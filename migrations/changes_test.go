package migrations_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/exactsync/exactsync/exact/catalogue"
	"github.com/exactsync/exactsync/sink/sinktest"
)

// TestEveryTableIsSetUpForHOTUpdates: no index of an entity's table holds synced_at,
// which every write changes, so that updates can be HOT (migration 00018), fillfactor
// leaves them room on the page, and no trigger of the first change log is left
// (migration 00021: the sink writes the log; every entity's entries are checked by
// sync's TestRawExtraRebuildsEveryEntityOnPostgreSQL).
func TestEveryTableIsSetUpForHOTUpdates(t *testing.T) {
	ctx := context.Background()
	_, pool := sinktest.NewStorePool(t)
	rows, err := pool.Query(ctx, `
		SELECT c.relname,
		       (SELECT count(*) FROM pg_trigger g WHERE g.tgrelid = c.oid AND g.tgname IN ('exactsync_inserted', 'exactsync_updated')),
		       EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
		               WHERE i.indrelid = c.oid AND a.attname = 'synced_at'),
		       coalesce(array_to_string(c.reloptions, ','), '')
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'exact' AND c.relkind = 'r'`)
	if err != nil {
		t.Fatal(err)
	}
	type table struct {
		triggers int
		indexed  bool
		options  string
	}
	got := map[string]table{}
	for rows.Next() {
		var name string
		var tb table
		if err := rows.Scan(&name, &tb.triggers, &tb.indexed, &tb.options); err != nil {
			t.Fatal(err)
		}
		got[name] = tb
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	tables := 0
	for _, e := range catalogue.All() {
		if e.Deprecated {
			continue
		}
		tables++
		if diff := cmp.Diff(table{triggers: 0, options: "fillfactor=90"}, got[e.Name], cmp.AllowUnexported(table{})); diff != "" {
			t.Errorf("%s (-want +got):\n%s", e.Table, diff)
		}
	}
	if tables < 70 {
		t.Errorf("the catalogue names %d tables, want the 70 or more of migration 00008", tables)
	}
}

// TestUpsertsAreHOT writes rows as the sink does (INSERT … ON CONFLICT DO UPDATE … WHERE
// the version is newer, synced_at set): the update is HOT. Written by another than the
// sink, they are not in the change log (the sink logs its own writes: sink's
// TestWritesFeedTheChangeLog).
func TestUpsertsAreHOT(t *testing.T) {
	ctx := context.Background()
	_, pool := sinktest.NewStorePool(t)
	const (
		id1 = "00000000-0000-4000-8000-000000000001"
		id2 = "00000000-0000-4000-8000-000000000002"
	)
	upsert := `INSERT INTO exact.units AS t (division, id, code, exact_timestamp, raw, synced_at)
		SELECT d, i::uuid, c, v, '{}', now() FROM unnest($1::int[], $2::text[], $3::text[], $4::bigint[]) AS r(d, i, c, v)
		ON CONFLICT (division, id) DO UPDATE SET code = EXCLUDED.code, exact_timestamp = EXCLUDED.exact_timestamp, synced_at = EXCLUDED.synced_at
		WHERE t.exact_timestamp < EXCLUDED.exact_timestamp`
	if _, err := pool.Exec(ctx, upsert, []int32{101, 101, 102}, []string{id1, id2, id1}, []string{"st", "kg", "st"}, []int64{1, 1, 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, upsert, []int32{101, 101}, []string{id1, id2}, []string{"st", "kg"}, []int64{1, 1}); err != nil {
		t.Fatal(err) // a replay: changes nothing
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, upsert, []int32{101, 101}, []string{id1, id2}, []string{"stuk", "kg"}, []int64{2, 1}); err != nil {
		t.Fatal(err)
	}
	var updated, hot int64
	if err := tx.QueryRow(ctx, `SELECT pg_stat_get_xact_tuples_updated('exact.units'::regclass), pg_stat_get_xact_tuples_hot_updated('exact.units'::regclass)`).Scan(&updated, &hot); err != nil {
		t.Fatal(err)
	}
	if updated != 1 || hot != 1 {
		t.Errorf("%d updates of which %d HOT, want 1 and 1", updated, hot)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var logged int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM exact_sync.changes`).Scan(&logged); err != nil {
		t.Fatal(err)
	}
	if logged != 0 {
		t.Errorf("%d change log entries for writes by another than the sink, want none", logged)
	}
}
