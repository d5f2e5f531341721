package migrations_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/exactsync/exactsync/exact/catalogue"
	"github.com/exactsync/exactsync/sink/sinktest"
)

// tableColumns are the columns every entity's table has besides the catalogue's.
var tableColumns = map[string]string{
	"division": "integer", "exact_timestamp": "bigint", "raw": "jsonb", "synced_at": "timestamp with time zone",
}

// sqlNames are format_type's names of the catalogue's SQL types.
var sqlNames = map[string]string{
	"uuid": "uuid", "text": "text", "integer": "integer", "bigint": "bigint", "numeric": "numeric",
	"boolean": "boolean", "timestamptz": "timestamp with time zone", "bytea": "bytea",
}

// TestCatalogueTables migrates a fresh database and checks that the catalogue and the
// migrations agree column for column: every non-deprecated entity has its table, with
// each catalogue column at its SQL type, nothing else besides division,
// exact_timestamp, raw and synced_at, and its primary key; and schema exact holds no
// table the catalogue does not name.
func TestCatalogueTables(t *testing.T) {
	ctx := context.Background()
	st := sinktest.NewStore(t)
	rows, err := st.Pool().Query(ctx, `
		SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
		FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'exact' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]string{} // table → column → type
	for rows.Next() {
		var table, col, typ string
		if err := rows.Scan(&table, &col, &typ); err != nil {
			t.Fatal(err)
		}
		if got[table] == nil {
			got[table] = map[string]string{}
		}
		got[table][col] = typ
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}

	want := map[string]map[string]string{}
	for _, e := range catalogue.All() {
		if e.Deprecated {
			continue
		}
		cols := map[string]string{}
		for c, typ := range tableColumns {
			cols[c] = typ
		}
		for _, c := range e.Columns {
			cols[c.Name] = sqlNames[c.SQL]
		}
		want[e.Name] = cols

		var key string
		err := st.Pool().QueryRow(ctx, `
			SELECT string_agg(a.attname, ',' ORDER BY k.n)
			FROM pg_index i CROSS JOIN unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
			JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
			WHERE i.indrelid = $1::regclass AND i.indisprimary`, e.Table).Scan(&key)
		if err != nil {
			t.Errorf("%s: reading its primary key: %v", e.Table, err)
		} else if w := "division," + e.KeyColumn; key != w {
			t.Errorf("%s: primary key (%s), want (%s)", e.Table, key, w)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tables of schema exact (-catalogue +migrations):\n%s", diff)
	}

	// TODO(simulator): once exact/exacttest serves every catalogue entity, compare the
	// fields it serves for each entity with the catalogue's fields here, so that the
	// test fails when any of the three (catalogue, migrations, simulator) lacks a field
	// of another.
}
