package sink

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pressly/goose/v3"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/migrations"
)

// Ping checks that PostgreSQL answers on a connection of the pool.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		ce := &ConnectError{Addr: s.addr, Database: s.database, Err: err}
		return &wrapped{msg: fmt.Sprintf("cannot reach PostgreSQL at %s: %s", s.addr, ce.Reason()), err: ce}
	}
	return nil
}

// PendingMigrations returns the versions of the embedded migrations (package migrations)
// that the database has not applied, in order: none when the schema is what this binary
// expects. A database never migrated has every version pending.
func (s *Store) PendingMigrations(ctx context.Context) ([]int64, error) {
	want, err := embeddedVersions()
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT version_id FROM `+versionTable+` WHERE is_applied`)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table: never migrated
			return want, nil
		}
		return nil, fmt.Errorf("reading the applied migrations at %s: %w", s.addr, err)
	}
	applied, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("reading the applied migrations at %s: %w", s.addr, err)
	}
	var pending []int64
	for _, v := range want {
		if !slices.Contains(applied, v) {
			pending = append(pending, v)
		}
	}
	return pending, nil
}

// MigrationVersions are the versions of the migrations this binary embeds, in order.
func MigrationVersions() ([]int64, error) { return embeddedVersions() }

// embeddedVersions are the versions of the embedded migration files, in order.
func embeddedVersions() ([]int64, error) {
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		return nil, err
	}
	out := make([]int64, 0, len(names))
	for _, n := range names {
		v, err := goose.NumericComponent(n)
		if err != nil {
			return nil, fmt.Errorf("embedded migration %s: %w", n, err)
		}
		out = append(out, v)
	}
	slices.Sort(out)
	return out, nil
}

// LastSuccesses returns the last successful run of every (connection, division, entity)
// that has one, ordered by connection, division and entity. It reads the run index once
// per key rather than the whole history, so it stays cheap however many runs are kept.
func (s *Store) LastSuccesses(ctx context.Context) ([]dest.LastSuccess, error) {
	// A loose index scan: each step finds the next key in the index of runs, and the
	// newest ok run of a key is the first of its entries with that status.
	rows, err := s.pool.Query(ctx, `
		WITH RECURSIVE k AS (
			(SELECT connection_id, division, entity FROM exact_sync.runs
			 ORDER BY connection_id, division, entity LIMIT 1)
			UNION ALL
			SELECT n.connection_id, n.division, n.entity FROM k CROSS JOIN LATERAL (
				SELECT r.connection_id, r.division, r.entity FROM exact_sync.runs r
				WHERE (r.connection_id, r.division, r.entity) > (k.connection_id, k.division, k.entity)
				ORDER BY r.connection_id, r.division, r.entity LIMIT 1) n
		)
		SELECT k.connection_id, k.division, k.entity, ok.finished_at,
		       extract(epoch FROM now() - ok.finished_at)::float8
		FROM k CROSS JOIN LATERAL (
			SELECT r.finished_at FROM exact_sync.runs r
			WHERE (r.connection_id, r.division, r.entity) = (k.connection_id, k.division, k.entity)
			  AND r.status = $1 AND r.finished_at IS NOT NULL
			ORDER BY r.started_at DESC LIMIT 1) ok
		ORDER BY 1, 2, 3`, dest.RunOK)
	if err != nil {
		return nil, fmt.Errorf("reading the last successful runs: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (dest.LastSuccess, error) {
		var ls dest.LastSuccess
		var age float64
		err := r.Scan(&ls.ConnectionID, &ls.Division, &ls.Entity, &ls.FinishedAt, &age)
		ls.FinishedAt = ls.FinishedAt.UTC()
		ls.Age = time.Duration(age * float64(time.Second))
		return ls, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading the last successful runs: %w", err)
	}
	return out, nil
}
