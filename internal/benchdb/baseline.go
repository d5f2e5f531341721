package benchdb

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/sink"
)

// CopyBaseline is a plain COPY into an unindexed table of the same shape as a target
// table: the ceiling that writes to the target are compared with. Its table,
// public.exactsync_bench_copy_NAME for SCHEMA.NAME, has the target's columns, with their
// types, NOT NULL, storage and compression, and nothing else (no key, index, other
// constraint or default). NewCopyBaseline creates it empty, Drop drops it.
//
// Rows are copied with sink.Copier, the COPY that WriteBatch writes with, so that a
// comparison measures the writes, not two encoders.
type CopyBaseline struct {
	db      *DB
	ident   pgx.Identifier
	columns []string // the target's written columns, then synced_at
	copier  *sink.Copier
}

// NewCopyBaseline creates, replacing any left over, the baseline table of t.
func (db *DB) NewCopyBaseline(ctx context.Context, t dest.Table) (*CopyBaseline, error) {
	target := pgx.Identifier(strings.Split(t.Name, "."))
	if len(target) != 2 || slices.Contains(target, "") {
		return nil, fmt.Errorf("invalid table name %q: want schema.table", t.Name)
	}
	b := &CopyBaseline{db: db, ident: pgx.Identifier{"public", "exactsync_bench_copy_" + target[1]},
		columns: append(slices.Clone(t.Columns), "synced_at")}
	if err := b.Drop(ctx); err != nil {
		return nil, err
	}
	// LIKE copies the column types, NOT NULL, and how values are stored and compressed
	// (a wide row's raw JSON is compressed into TOAST), but no key, index or default.
	if _, err := db.Pool.Exec(ctx, `CREATE TABLE `+b.ident.Sanitize()+` (LIKE `+target.Sanitize()+` INCLUDING STORAGE INCLUDING COMPRESSION)`); err != nil {
		return nil, fmt.Errorf("creating the baseline table of %s: %w", t.Name, err)
	}
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		var err error
		b.copier, err = sink.NewCopier(ctx, tx, b.ident, b.columns)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("preparing the baseline of %s: %w", t.Name, err)
	}
	return b, nil
}

// Rows returns rows, in the target's Columns order, as the baseline copies them: with a
// synced_at value of now appended. Build them before timing Copy.
func (b *CopyBaseline) Rows(rows [][]any) [][]any {
	now := time.Now()
	n := len(b.columns)
	backing := make([]any, len(rows)*n)
	out := make([][]any, len(rows))
	for i, r := range rows {
		out[i] = backing[i*n : (i+1)*n : (i+1)*n]
		copy(out[i], r)
		out[i][n-1] = now
	}
	return out
}

// Copy copies rows (from Rows) into the baseline table in one transaction, committed
// with the server's settings.
func (b *CopyBaseline) Copy(ctx context.Context, rows [][]any) error {
	return pgx.BeginFunc(ctx, b.db.Pool, func(tx pgx.Tx) error {
		_, err := b.copier.Copy(ctx, tx, rows)
		return err
	})
}

// Drop drops the baseline table.
func (b *CopyBaseline) Drop(ctx context.Context) error {
	if _, err := b.db.Pool.Exec(ctx, `DROP TABLE IF EXISTS `+b.ident.Sanitize()); err != nil {
		return fmt.Errorf("dropping the baseline table %s: %w", b.ident.Sanitize(), err)
	}
	return nil
}
