package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/exactsync/exactsync/exact/catalogue"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sink/sinktest"
)

const migrationsDir = "../../../../migrations"

// TestMigrationsAgreeWithTheCatalogue: the generated migrations create exactly what the
// catalogue names; a catalogue changed without `go generate ./exact/catalogue` fails here.
func TestMigrationsAgreeWithTheCatalogue(t *testing.T) {
	s, last, err := readSchema(migrationsDir)
	if err != nil {
		t.Fatal(err)
	}
	if last < 8 || len(s.columns) == 0 {
		t.Fatalf("read %d tables up to migration %d; the generated migrations were not found", len(s.columns), last)
	}
	stmts, err := Diff(s, catalogue.All())
	if err != nil || len(stmts) > 0 {
		t.Errorf("the catalogue differs from the migrations: %v %q; run go generate ./exact/catalogue", err, stmts)
	}
}

// changed is the catalogue with a new field on items, a new text field on accounts (whose
// table migration 00002 made by hand) and a new entity, units_copy.
func changed(t *testing.T) []catalogue.Entity {
	t.Helper()
	all := slices.Clone(catalogue.All())
	for i, e := range all {
		switch e.Name {
		case "items", "accounts":
			e.Columns = append(slices.Clone(e.Columns), catalogue.Column{Name: "new_field", Field: "NewField", Type: "Edm.String", SQL: "text"})
			all[i] = e
		case "units":
			e.Name, e.Table = "units_copy", "exact.units_copy"
			all = append(all, e)
		}
	}
	return all
}

// TestDiffAddsTablesAndColumns applies what Diff writes for a changed catalogue to a
// database migrated as the product does, and checks the new table and columns are there.
func TestDiffAddsTablesAndColumns(t *testing.T) {
	s, _, err := readSchema(migrationsDir)
	if err != nil {
		t.Fatal(err)
	}
	stmts, err := Diff(s, changed(t))
	if err != nil {
		t.Fatal(err)
	}
	var ddl, comments, received []string
	for _, st := range stmts {
		switch {
		case isCommentStatement(st):
			comments = append(comments, st)
		case strings.HasPrefix(st, receivedPrefix):
			received = append(received, st)
		default:
			ddl = append(ddl, st)
		}
	}
	units, _ := catalogue.Lookup("units")
	if len(ddl) != 3 {
		t.Fatalf("Diff: %d statements besides comments and functions, want 3 (accounts, items, units_copy):\n%s", len(ddl), strings.Join(ddl, "\n"))
	}
	// The tables that gained columns, and the new one, get their function anew.
	if len(received) != 3 {
		t.Errorf("Diff: %d exact.received functions, want 3 (accounts, items, units_copy)", len(received))
	}
	// The two new columns, and the new table with each of its columns and its function.
	if want := 2 + 1 + len(units.Columns) + 4 + 1; len(comments) != want {
		t.Errorf("Diff: %d comments, want %d:\n%s", len(comments), want, strings.Join(comments, "\n"))
	}
	url := sinktest.NewDatabase(t) // its own: the schema changes
	sinktest.OpenStore(t, sink.Config{DatabaseURL: url})
	pool := sinktest.NewPool(t, url)
	ctx := context.Background()
	for _, st := range stmts {
		if _, err := pool.Exec(ctx, st); err != nil {
			t.Fatalf("%s\n%v", st, err)
		}
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns
		WHERE (table_name, column_name) IN (('accounts', 'new_field'), ('items', 'new_field'), ('units_copy', 'code'), ('units_copy', 'synced_at'))
		  AND table_schema = 'exact'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("%d of the 4 new columns found after the generated migration", n)
	}
	// The new table's raw is compressed as the others' (migration 00018).
	var got, want string
	if err := pool.QueryRow(ctx, `SELECT coalesce(nullif(a.attcompression, ''), '-'),
		    (SELECT coalesce(nullif(b.attcompression, ''), '-') FROM pg_attribute b WHERE b.attrelid = 'exact.units'::regclass AND b.attname = 'raw')
		FROM pg_attribute a WHERE a.attrelid = 'exact.units_copy'::regclass AND a.attname = 'raw'`).Scan(&got, &want); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("exact.units_copy.raw compression %q, want %q as exact.units", got, want)
	}
	// And it is set up for HOT updates: no index on synced_at, fillfactor 90 (migration
	// 00018), no trigger (the sink logs its writes, migration 00021).
	var triggers int
	var indexed bool
	var options string
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'exact.units_copy'::regclass AND tgname LIKE 'exactsync_%'),
		    EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
		            WHERE i.indrelid = 'exact.units_copy'::regclass AND a.attname = 'synced_at'),
		    coalesce(array_to_string((SELECT reloptions FROM pg_class WHERE oid = 'exact.units_copy'::regclass), ','), '')`).Scan(&triggers, &indexed, &options); err != nil {
		t.Fatal(err)
	}
	if triggers != 0 || indexed || options != "fillfactor=90" {
		t.Errorf("exact.units_copy has %d triggers, an index on synced_at: %t, options %q; want 0, false and fillfactor=90", triggers, indexed, options)
	}
	var missing int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace ns ON ns.oid = c.relnamespace
		WHERE ns.nspname = 'exact' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
		  AND coalesce(col_description(c.oid, a.attnum), '') = ''`).Scan(&missing); err != nil {
		t.Fatal(err)
	}
	if missing != 0 {
		t.Errorf("%d columns of schema exact without a comment after the generated migration", missing)
	}
}

// TestDiffRefusesWhatItCannotDo: a column whose type changed, or that left the catalogue,
// is named in the error, for a migration written by hand.
func TestDiffRefusesWhatItCannotDo(t *testing.T) {
	s, _, err := readSchema(migrationsDir)
	if err != nil {
		t.Fatal(err)
	}
	all := slices.Clone(catalogue.All())
	for i, e := range all {
		switch e.Name {
		case "items":
			e.Columns = slices.Clone(e.Columns)
			e.Columns[1].SQL = "bigint"
			all[i] = e
		case "journals":
			e.Columns = slices.Clone(e.Columns[:len(e.Columns)-1])
			all[i] = e
		}
	}
	items, _ := catalogue.Lookup("items")
	journals, _ := catalogue.Lookup("journals")
	_, err = Diff(s, all)
	for _, want := range []string{"exact.items." + items.Columns[1].Name + " is " + items.Columns[1].SQL + " in the migrations and bigint",
		"exact.journals." + journals.Columns[len(journals.Columns)-1].Name + " is in the migrations and no longer in the catalogue", "by hand"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Diff: %v, want an error with %q", err, want)
		}
	}
}

// TestRunWritesTheNextMigration: with a changed catalogue run writes the next numbered
// migration; run again, it finds the catalogue and the migrations agreeing, and writes
// nothing.
func TestRunWritesTheNextMigration(t *testing.T) {
	dir := t.TempDir()
	files, _ := filepath.Glob(filepath.Join(migrationsDir, "*.sql"))
	last := ""
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
		last = filepath.Base(f)
	}
	all := changed(t)
	wrote, err := run(all, dir, filepath.Join(dir, "entities.md"))
	if err != nil {
		t.Fatal(err)
	}
	num, _, _ := strings.Cut(last, "_")
	n, err := strconv.Atoi(num)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, fmt.Sprintf("%05d_catalogue_changes.sql", n+1)); wrote != want {
		t.Fatalf("run wrote %q, want %q", wrote, want)
	}
	b, _ := os.ReadFile(wrote)
	if !strings.HasPrefix(string(b), generatedHeader) || !strings.Contains(string(b), "-- +goose Up") || !strings.Contains(string(b), "CREATE TABLE exact.units_copy") {
		t.Errorf("the new migration:\n%s", b)
	}
	if again, err := run(all, dir, ""); err != nil || again != "" {
		t.Errorf("run again: wrote %q, %v; want nothing", again, err)
	}
	if docs, err := os.ReadFile(filepath.Join(dir, "entities.md")); err != nil || !strings.Contains(string(docs), "units_copy") {
		t.Errorf("docs without the new entity: %v", err)
	}
}

// TestDocsAreCurrent: docs/entities.md is what the catalogue makes of it; run go generate
// ./exact/catalogue after changing the catalogue.
func TestDocsAreCurrent(t *testing.T) {
	got, err := os.ReadFile("../../../../docs/entities.md")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(Docs(catalogue.All())) {
		t.Errorf("docs/entities.md is not the catalogue's; run go generate ./exact/catalogue")
	}
}
