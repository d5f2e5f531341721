package sink

import (
	"context"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/exactsync/exactsync/migrations"
)

// migrationLockID is the advisory lock (single bigint form) that serializes migrations of
// one database across processes. It differs from goose's default so that other goose users
// of the same database do not queue behind exactsync.
const migrationLockID int64 = 0x6578_7379_6e63_6d67 // "exsyncmg"

// versionTable is goose's bookkeeping table, kept out of the public schema.
const versionTable = "exact_sync.goose_db_version"

// Migrate applies the pending migrations embedded in package migrations. Processes that
// migrate at the same time serialize on a PostgreSQL advisory lock: one applies, the
// others find nothing left to do. Up only. Then, under the same lock, it puts whatever
// table a migration added to a schema of records under the readers' division policy and
// grants (see access.go), so no run writes to a table readers could read unlimited.
func (s *Store) Migrate(ctx context.Context) error {
	return s.migrate(ctx, migrations.FS)
}

// migrate applies the migrations of fsys (NNNNN_name.sql files).
func (s *Store) migrate(ctx context.Context, fsys fs.FS) error {
	// goose creates its version table before the first migration runs, so the schema that
	// holds it must exist first. CREATE SCHEMA IF NOT EXISTS is not safe against a
	// concurrent twin, hence the transaction-level advisory lock.
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migrating database at %s: %w", s.addr, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockID); err != nil {
		return fmt.Errorf("migrating database at %s: taking the migration lock: %w", s.addr, err)
	}
	if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS exact_sync`); err != nil {
		return fmt.Errorf("migrating database at %s: creating schema exact_sync: %w", s.addr, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migrating database at %s: %w", s.addr, err)
	}

	db := stdlib.OpenDB(*s.pool.Config().ConnConfig.Copy())
	defer db.Close()
	locker, err := lock.NewPostgresSessionLocker(
		lock.WithLockID(migrationLockID),
		lock.WithLockTimeout(1, 600), // poll every second, for up to 10 minutes
	)
	if err != nil {
		return fmt.Errorf("migrating database at %s: %w", s.addr, err)
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithTableName(versionTable),
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return fmt.Errorf("migrating database at %s: %w", s.addr, err)
	}
	results, err := provider.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrating database at %s: %w", s.addr, err)
	}
	for _, r := range results {
		s.log.Info().Int64("version", r.Source.Version).Str("migration", r.Source.Path).
			Dur("duration_ms", r.Duration).Msg("applied migration")
	}
	if err := s.secureReaders(ctx); err != nil {
		return fmt.Errorf("migrating database at %s: %w", s.addr, err)
	}
	return nil
}
