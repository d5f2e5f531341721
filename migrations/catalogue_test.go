package migrations_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/exactsync/exactsync/exact/catalogue"
	"github.com/exactsync/exactsync/exact/exacttest"
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
	_, pool := sinktest.NewStorePool(t)
	rows, err := pool.Query(ctx, `
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
		err := pool.QueryRow(ctx, `
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

	// The simulator serves the same fields: a record of each entity has a member for
	// every scalar field of the catalogue and no other.
	sim := exacttest.New(exacttest.Options{Divisions: []int{101}, Accounts: 2, Records: map[string]int{"*": 2}})
	for _, e := range catalogue.All() {
		if e.Name == "suppliers" {
			continue // a view of accounts, not served on its own
		}
		recs, err := sim.Records(e.Name, 101)
		if err != nil || len(recs) == 0 {
			t.Errorf("simulator: %s: %d records, %v; want it served", e.Name, len(recs), err)
			continue
		}
		var members map[string]json.RawMessage
		if err := json.Unmarshal(recs[0], &members); err != nil {
			t.Fatalf("simulator: %s: %v", e.Name, err)
		}
		fields, complex := map[string]bool{}, map[string]bool{}
		for _, f := range e.Fields {
			if catalogue.SQLType(f.Type) != "" {
				fields[f.Name] = true
			} else {
				complex[f.Name] = true // collections and complex values: raw only
			}
		}
		served := map[string]bool{}
		for name := range members {
			// IsPurchase is obsolete but still returned by crm/Accounts (docs/exact-online.md
			// §5.2); sync/CRM/Accounts does not list it, so exactsync never selects it.
			if !complex[name] && !(e.Name == "accounts" && name == "IsPurchase") {
				served[name] = true
			}
		}
		if diff := cmp.Diff(fields, served); diff != "" {
			t.Errorf("simulator: %s serves other fields than the catalogue names (-catalogue +simulator):\n%s", e.Name, diff)
		}
	}
}

// TestEveryTableAndColumnHasAComment: every table of schema exact and each of its columns
// has a comment (the catalogue generator writes them), and a date's says how to read the
// Amsterdam date, which the recipe it gives does, in a UTC session.
func TestEveryTableAndColumnHasAComment(t *testing.T) {
	ctx := context.Background()
	_, pool := sinktest.NewStorePool(t)
	rows, err := pool.Query(ctx, `
		SELECT c.relname, a.attname, coalesce(col_description(c.oid, a.attnum), '')
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		WHERE n.nspname = 'exact' AND c.relkind = 'r'
		UNION ALL
		SELECT c.relname, '', coalesce(obj_description(c.oid, 'pg_class'), '')
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'exact' AND c.relkind = 'r'`)
	if err != nil {
		t.Fatal(err)
	}
	comments := map[string]string{} // table.column, or table. for the table
	for rows.Next() {
		var table, col, text string
		if err := rows.Scan(&table, &col, &text); err != nil {
			t.Fatal(err)
		}
		comments[table+"."+col] = text
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, e := range catalogue.All() {
		if e.Deprecated {
			continue
		}
		want := []string{"", "division", "exact_timestamp", "raw", "synced_at"}
		for _, c := range e.Columns {
			want = append(want, c.Name)
		}
		for _, col := range want {
			checked++
			text, ok := comments[e.Name+"."+col]
			switch {
			case !ok:
				t.Errorf("exact.%s has no column %s", e.Name, col)
			case text == "":
				t.Errorf("exact.%s.%s has no comment", e.Name, col)
			}
		}
		for _, c := range e.Columns {
			text := comments[e.Name+"."+c.Name]
			if !strings.Contains(text, "Exact: "+c.Field+" ("+c.Type+") of "+e.Path) {
				t.Errorf("exact.%s.%s: comment %q does not name Exact's field", e.Name, c.Name, text)
			}
			if c.Type == catalogue.EdmDateTime && !strings.Contains(text, "AT TIME ZONE 'Europe/Amsterdam')::date") {
				t.Errorf("exact.%s.%s: comment %q does not say how to read the Amsterdam date", e.Name, c.Name, text)
			}
		}
	}
	if checked < 2000 {
		t.Errorf("checked %d comments; the catalogue was not read", checked)
	}
	// The recipe: a booking of 25 April in Amsterdam is stored as 24 April 22:00 UTC.
	var plain, amsterdam string
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET TimeZone = 'UTC'`); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, `SELECT d::date::text, (d AT TIME ZONE 'Europe/Amsterdam')::date::text
		FROM (SELECT timestamptz '2026-04-25 00:00:00 Europe/Amsterdam' AS d) x`).Scan(&plain, &amsterdam); err != nil {
		t.Fatal(err)
	}
	if plain != "2026-04-24" || amsterdam != "2026-04-25" {
		t.Errorf("in a UTC session: date::date %s, the comment's recipe %s; want 2026-04-24 and 2026-04-25", plain, amsterdam)
	}
}
