package migrations_test

import (
	"context"
	"testing"

	"github.com/exactsync/exactsync/exact/catalogue"
	"github.com/exactsync/exactsync/sink/sinktest"
)

// TestRawCompression: migration 00018 compresses every entity's raw column with lz4 when
// the server can, and leaves pglz (the default) when it cannot.
func TestRawCompression(t *testing.T) {
	ctx := context.Background()
	_, pool := sinktest.NewStorePool(t)
	want := "l" // pg_attribute.attcompression of lz4
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE lz4_probe (j jsonb COMPRESSION lz4)`); err != nil {
		want = "" // a server built without lz4: the column keeps the default
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	rows, err := pool.Query(ctx, `SELECT c.relname, a.attcompression::text FROM pg_attribute a
		JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'exact' AND c.relkind = 'r' AND a.attname = 'raw'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var table, c string
		if err := rows.Scan(&table, &c); err != nil {
			t.Fatal(err)
		}
		got[table] = c
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, e := range catalogue.All() {
		if e.Deprecated {
			continue
		}
		if c, ok := got[e.Name]; !ok || c != want {
			t.Errorf("%s.raw has compression %q (found %t), want %q", e.Table, c, ok, want)
		}
	}
}
