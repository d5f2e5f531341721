// Package benchdb is the PostgreSQL side of exactsync's benchmarks: a database of the
// benchmark's own, made fresh and dropped afterwards; a plain COPY into an unindexed table
// (CopyBaseline), the ceiling that the sink's writes are compared with; and that
// comparison for account rows (CompareWrites), shared by the exactsync-bench command and
// BenchmarkWrite.
//
// It writes through package sink as exactsync does, and holds a pool of its own for what
// the sink does not do. No package of the product imports it.
package benchdb

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/sink"
)

// DB is a migrated database that a benchmark writes to.
type DB struct {
	// URL names the database.
	URL string
	// Store writes through the sink, as exactsync does.
	Store *sink.Store
	// Pool is the benchmark's own: the baseline table, the clean-up, the server's version.
	Pool *pgxpool.Pool

	drop bool // Close drops the database (made by Create)
}

// Open opens the database at url and migrates it. Close closes it.
func Open(ctx context.Context, url string, log zerolog.Logger) (*DB, error) {
	st, err := sink.Open(ctx, sink.Config{DatabaseURL: url, Logger: log})
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("migrating the database: %w", err)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("parsing database URL: %w", err)
	}
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("connecting the benchmark's pool: %w", err)
	}
	return &DB{URL: url, Store: st, Pool: pool}, nil
}

// Create makes the database url names afresh, dropping one left over from an earlier run,
// and opens it. Close drops it.
func Create(ctx context.Context, url string, log zerolog.Logger) (*DB, error) {
	if err := sink.DropDatabase(ctx, url); err != nil {
		return nil, err
	}
	if err := sink.EnsureDatabase(ctx, url); err != nil {
		return nil, err
	}
	db, err := Open(ctx, url, log)
	if err != nil {
		_ = sink.DropDatabase(context.WithoutCancel(ctx), url)
		return nil, err
	}
	db.drop = true
	return db, nil
}

// Close closes the pools, and drops the database if Create made it.
func (db *DB) Close(ctx context.Context) error {
	db.Pool.Close()
	db.Store.Close()
	if db.drop {
		return sink.DropDatabase(ctx, db.URL)
	}
	return nil
}

// ServerVersion returns the PostgreSQL server's version, e.g. "15.8".
func (db *DB) ServerVersion(ctx context.Context) (string, error) {
	var v string
	if err := db.Pool.QueryRow(ctx, `SHOW server_version`).Scan(&v); err != nil {
		return "", fmt.Errorf("reading the server version: %w", err)
	}
	return v, nil
}
