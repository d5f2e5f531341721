// The ddl command writes, from the catalogue (exact/catalogue/entities.json), the
// migrations of the entities' tables, and docs/entities.md, which lists them for
// downstream applications. It is run by go generate in exact/catalogue.
//
// A migration is never edited once applied. ddl reads what the migrations it generated
// before create (00008_catalogue.sql, and any later one it wrote), and when the catalogue
// has gained an entity or a field it writes the next migration: a CREATE TABLE for each
// new entity, an ALTER TABLE … ADD COLUMN for each new field. A change it cannot make
// safely (a column whose type changed, or one that left the catalogue) stops it with the
// column named, for a migration written by hand. docs/entities.md is always rewritten.
//
// A citation such as §3.10 in its comments names a section of docs/exact-online.md, the
// project's reference of Exact Online.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/exactsync/exactsync/exact/catalogue"
)

func main() {
	migrations := flag.String("migrations", "", "the directory of the migrations")
	docs := flag.String("docs", "", "the documentation file to write")
	flag.Parse()
	wrote, err := run(catalogue.All(), *migrations, *docs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ddl:", err)
		os.Exit(1)
	}
	if wrote != "" {
		fmt.Println("ddl: wrote", wrote)
	}
}

// run writes docs, then the migration the catalogue all needs in the directory
// migrations, if any, and returns its path.
func run(all []catalogue.Entity, migrations, docs string) (string, error) {
	if docs != "" {
		if err := os.WriteFile(docs, Docs(all), 0o644); err != nil {
			return "", err
		}
	}
	if migrations == "" {
		return "", nil
	}
	s, last, err := readSchema(migrations)
	if err != nil {
		return "", err
	}
	var sql []byte
	name := "catalogue"
	if len(s.columns) == 0 {
		sql = Migration(all)
	} else {
		stmts, err := Diff(s, all)
		if err != nil {
			return "", err
		}
		if len(stmts) == 0 {
			return "", nil
		}
		sql, name = DiffMigration(stmts), "catalogue_comments"
		switch {
		case !slices.ContainsFunc(stmts, func(st string) bool { return !isCommentStatement(st) }):
		case !slices.ContainsFunc(stmts, func(st string) bool { return !isCommentStatement(st) && !strings.HasPrefix(st, receivedPrefix) }):
			name = "catalogue_received"
		default:
			name = "catalogue_changes"
		}
	}
	path := filepath.Join(migrations, fmt.Sprintf("%05d_%s.sql", last+1, name))
	return path, os.WriteFile(path, sql, 0o644)
}

// accountsColumns are the columns exact.accounts and exact.suppliers had before the
// catalogue (migration 00002): the migration adds the others.
var accountsColumns = []string{"division", "id", "code", "name", "is_supplier", "is_sales", "status", "email", "city",
	"country", "vat_number", "blocked", "created", "modified", "exact_timestamp", "raw", "synced_at"}

// reserved are PostgreSQL's keywords that cannot name a column unquoted
// (pg_get_keywords() categories R and T).
var reserved = strings.Fields(`all analyse analyze and any array as asc asymmetric authorization binary both case
cast check collate collation column concurrently constraint create cross current_catalog current_date current_role
current_schema current_time current_timestamp current_user default deferrable desc distinct do else end except false
fetch for foreign freeze from full grant group having ilike in initially inner intersect into is isnull join lateral
leading left like limit localtime localtimestamp natural not notnull null offset on only or order outer overlaps
placing primary references returning right select session_user similar some symmetric table tablesample then to
trailing true union unique user using variadic verbose when where window with`)

func ident(name string) string {
	if slices.Contains(reserved, name) {
		return `"` + name + `"`
	}
	return name
}

// Migration is the SQL of the migration creating the catalogue's tables.
func Migration(all []catalogue.Entity) []byte {
	var b bytes.Buffer
	b.WriteString(generatedHeader + `
--
-- The table of every entity of the catalogue, for downstream applications (see
-- docs/entities.md). Each starts with the division, then one column per scalar field of
-- the entity, in the catalogue's order, typed by its Edm type (doubles and decimals are
-- numeric holding exactly the digits Exact sent; dates are instants converted from
-- Amsterdam time, exact-online-api.md §3.8), then:
--   exact_timestamp  the row version: Exact's Timestamp for entities read from a sync
--                    endpoint (§3.10); for entities read from a regular endpoint (§3.15),
--                    their Modified time in milliseconds since 1970 UTC, 0 without one;
--                    an older version never overwrites a newer one;
--   raw              the record as received, without __metadata, navigation collections
--                    and complex values included;
--   synced_at        when exactsync last changed the row (indexed, for polling).
-- exact.accounts and exact.suppliers existed already: they gain the columns they lacked.
--
-- exact_sync.pass_keys holds the keys a full pass saw as text, so that entities keyed by
-- an integer (system/Divisions' Code) can be reconciled too.

-- +goose Up
ALTER TABLE exact_sync.pass_keys ALTER COLUMN ids TYPE text[] USING ids::text[];
`)
	for _, e := range all {
		if e.Deprecated {
			continue
		}
		b.WriteString("\n")
		if e.Name == "accounts" || e.Name == "suppliers" {
			var add []string
			for _, c := range e.Columns {
				if !slices.Contains(accountsColumns, c.Name) {
					add = append(add, fmt.Sprintf("    ADD COLUMN %s %s", ident(c.Name), c.SQL))
				}
			}
			if len(add) > 0 {
				fmt.Fprintf(&b, "ALTER TABLE %s\n%s;\n", e.Table, strings.Join(add, ",\n"))
			}
			fmt.Fprintf(&b, "CREATE INDEX %s_synced_at_idx ON %s (synced_at);\n", e.Name, e.Table)
		} else {
			b.WriteString(createTable(e))
		}
	}
	for _, e := range all {
		if !e.Deprecated {
			b.WriteString("\n" + strings.Join(Comments(e, nil), "\n") + "\n")
		}
	}
	return b.Bytes()
}

// Docs is docs/entities.md.
func Docs(all []catalogue.Entity) []byte {
	var b bytes.Buffer
	b.WriteString(`<!-- Code generated by exact/catalogue/internal/ddl from exact/catalogue/entities.json. DO NOT EDIT. -->

# Entities and tables

Every entity exactsync can sync, with its table in schema ` + "`exact`" + ` and where it comes
from in Exact Online. Each table has ` + "`division integer`" + `, one column per field, and
` + "`exact_timestamp bigint`" + ` (the row version: Exact's ` + "`Timestamp`" + ` for entities read from a sync
endpoint, the ` + "`Modified`" + ` time in milliseconds since 1970 UTC for the others, 0 without one),
` + "`raw jsonb`" + ` (the record as received, without ` + "`__metadata`" + `; with EXACTSYNC_RAW=extra what
the typed columns do not give back, and ` + "`exact.received(t)`" + ` rebuilds the record) and
` + "`synced_at timestamptz`" + ` (when exactsync last changed the row; ` + "`exact_status.changes`" + ` lists
the keys each write inserted or changed). The primary key is ` + "`(division, key)`" + `.

Select columns by name, not by position: a table made from the catalogue has them in the order
listed below, but a field added to the catalogue later gets its column at the end of its table,
and ` + "`exact.accounts`" + ` and ` + "`exact.suppliers`" + `, older than the catalogue, start with
` + "`" + strings.Join(accountsColumns, "`, `") + "`" + ` and have the other fields' columns after them.

Every table and column carries a comment (` + "`\\d+ exact.accounts`" + ` in psql shows them): the Exact field it
holds, what it means where the catalogue says so, and for a date how to read the Amsterdam date.

Read modes: **sync** pages the sync endpoint by its ` + "`Timestamp`" + ` cursor, 1,000 records a call, and
applies deletions from the division's ` + "`sync/Deleted`" + ` stream by its EntityType; **modified** pages the
regular endpoint, 60 records a call, by a ` + "`Modified`" + ` cursor with a few seconds of overlap; **full**
reads the regular endpoint in full on every run and removes the rows it did not see. Entities
read by Modified learn of deletions only from full passes.

Dates are instants (` + "`timestamptz`" + `), converted from Exact's Amsterdam wall-clock time. The day
Exact shows is ` + "`" + amsterdamDate("date") + "`" + `: a plain ` + "`date::date`" + ` takes the session's time
zone, and in a UTC session a booking of 25 April (midnight in Amsterdam, stored as
` + "`2026-04-24 22:00:00+00`" + `) reads as 24 April. Doubles and decimals are ` + "`numeric`" + ` holding
exactly the digits Exact sent.

| Entity | Table | Endpoint | Read | Key | EntityType |
|---|---|---|---|---|---|
`)
	for _, e := range all {
		if e.Deprecated {
			continue
		}
		fmt.Fprintf(&b, "| [%s](#%s) | `%s` | `%s` | %s | `%s` | %s |\n", e.Name, e.Name, e.Table, e.Path, e.Read, e.KeyColumn, deletedType(e))
	}
	var deprecated []string
	for _, e := range all {
		if e.Deprecated {
			deprecated = append(deprecated, fmt.Sprintf("`%s` (`%s`)", e.Name, e.Path))
		}
	}
	if len(deprecated) > 0 {
		fmt.Fprintf(&b, "\nDeprecated, known but without a table: %s.\n", strings.Join(deprecated, ", "))
	}
	for _, e := range all {
		if e.Deprecated {
			continue
		}
		fmt.Fprintf(&b, "\n## %s\n\n%s\n\n", e.Name, e.Description)
		fmt.Fprintf(&b, "`%s` from `%s`, read: %s, key `%s` (`%s`)", e.Table, e.Path, e.Read, e.KeyColumn, e.Key)
		if e.DeletedType > 0 {
			fmt.Fprintf(&b, ", sync/Deleted EntityType %d", e.DeletedType)
		}
		if e.Keep != nil {
			fmt.Fprintf(&b, "; only records with `%s = %t`", e.Keep.Field, e.Keep.Equals)
		}
		if len(e.WebhookTopics) > 0 {
			fmt.Fprintf(&b, "; webhook topic `%s` triggers its incremental run", strings.Join(e.WebhookTopics, "`, `"))
		}
		b.WriteString(".\n\n| Column | Type | From Exact |\n|---|---|---|\n| `division` | integer | division code |\n")
		for _, c := range e.Columns {
			from := fmt.Sprintf("`%s` (%s)", c.Field, c.Type)
			if c.Trim {
				from += ", padding trimmed"
			}
			if m := meaning(c); m != "" {
				from += ": " + m
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", c.Name, c.SQL, from)
		}
		version := "`Timestamp`"
		if e.Read != catalogue.ReadSync {
			version = "`Modified` in ms since 1970 UTC, 0 without one"
		}
		fmt.Fprintf(&b, "| `exact_timestamp` | bigint | %s |\n| `raw` | jsonb | the record as received |\n| `synced_at` | timestamptz | when exactsync last changed the row |\n", version)
	}
	return b.Bytes()
}

func deletedType(e catalogue.Entity) string {
	if e.DeletedType == 0 {
		return "—"
	}
	return fmt.Sprint(e.DeletedType)
}
