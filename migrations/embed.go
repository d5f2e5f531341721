// Package migrations holds exactsync's database schema as numbered plain SQL files,
// embedded into the binary.
//
// Each file is a goose migration (a "-- +goose Up" section only: the schema moves forward,
// never back). Package sink applies them with goose under a PostgreSQL advisory lock, so
// several processes starting at once migrate exactly once. An applied file is never edited;
// a change is a new file with the next number.
//
// Schema exact holds the live records downstream applications read (exact.accounts,
// exact.suppliers), as reader roles limited by row-level security to their divisions.
// Schema exact_status holds views for those readers, without secrets. Schema exact_sync
// holds exactsync's own state, readable by no other role: connections and their tokens,
// cursors, run history, divisions and the rate limits last seen, the readers, and goose's
// version table. The public schema is left untouched.
//
// The package has no Go types and no logic: it is the embedded files and nothing else.
//
// A citation such as §3.10 in its comments names a section of docs/exact-online.md, the
// project's reference of Exact Online.
package migrations

import "embed"

// FS holds the migration files, named NNNNN_description.sql.
//
//go:embed *.sql
var FS embed.FS
