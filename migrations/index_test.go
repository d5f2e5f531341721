package migrations_test

import (
	"context"
	"testing"

	"github.com/exactsync/exactsync/exact/catalogue"
	"github.com/exactsync/exactsync/sink/sinktest"
)

// TestEveryTableHasASyncedAtIndex: downstream applications read "what changed since T"
// with WHERE synced_at > $1 ORDER BY synced_at (see the README), which stays cheap only
// with an index leading with synced_at on every entity's table.
func TestEveryTableHasASyncedAtIndex(t *testing.T) {
	ctx := context.Background()
	_, pool := sinktest.NewStorePool(t)
	rows, err := pool.Query(ctx, `
		SELECT DISTINCT c.relname FROM pg_index i
		JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
		WHERE n.nspname = 'exact' AND a.attname = 'synced_at' AND i.indisvalid AND i.indpred IS NULL`)
	if err != nil {
		t.Fatal(err)
	}
	indexed := map[string]bool{}
	for rows.Next() {
		var table string
		if err := rows.Scan(&table); err != nil {
			t.Fatal(err)
		}
		indexed[table] = true
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
		if !indexed[e.Name] {
			t.Errorf("%s has no index leading with synced_at", e.Table)
		}
	}
	if tables < 70 {
		t.Errorf("the catalogue names %d tables, want the 70 or more of migration 00008", tables)
	}
}
