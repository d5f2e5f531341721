package sink

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/exactsync/exactsync/dest"
)

// Cursor returns the stored cursor of (connID, division, entity), or the zero dest.Cursor.
func (s *Store) Cursor(ctx context.Context, connID int64, division int, entity string) (dest.Cursor, error) {
	var c dest.Cursor
	var full *time.Time
	err := s.pool.QueryRow(ctx, `
		SELECT cursor_timestamp, deleted_timestamp, last_full_at, sweeping FROM exact_sync.cursors
		WHERE connection_id = $1 AND division = $2 AND entity = $3`, connID, division, entity).
		Scan(&c.Timestamp, &c.DeletedTimestamp, &full, &c.Sweep)
	if errors.Is(err, pgx.ErrNoRows) {
		return dest.Cursor{}, nil
	}
	if err != nil {
		return dest.Cursor{}, fmt.Errorf("reading the %s cursor of division %d: %w", entity, division, err)
	}
	c.LastFullAt = orZero(full)
	return c, nil
}

const upsertCursorSQL = `
	INSERT INTO exact_sync.cursors AS c (connection_id, division, entity, cursor_timestamp, deleted_timestamp, last_full_at, sweeping)
	VALUES ($1, $2, $3, $4, $5, $6, $7)
	ON CONFLICT (connection_id, division, entity) DO UPDATE
	SET cursor_timestamp = EXCLUDED.cursor_timestamp, deleted_timestamp = EXCLUDED.deleted_timestamp,
	    last_full_at = EXCLUDED.last_full_at, sweeping = EXCLUDED.sweeping, updated_at = now()`

// cursorArgs are the arguments of upsertCursorSQL.
func cursorArgs(connID int64, division int, entity string, c dest.Cursor) []any {
	return []any{connID, division, entity, c.Timestamp, c.DeletedTimestamp, orNull(c.LastFullAt), c.Sweep}
}

// Cursors returns every stored cursor of a division of a connection, by entity.
func (s *Store) Cursors(ctx context.Context, connID int64, division int) (map[string]dest.Cursor, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT entity, cursor_timestamp, deleted_timestamp, last_full_at, sweeping FROM exact_sync.cursors
		WHERE connection_id = $1 AND division = $2`, connID, division)
	if err != nil {
		return nil, fmt.Errorf("reading the cursors of division %d: %w", division, err)
	}
	out := map[string]dest.Cursor{}
	var (
		entity string
		c      dest.Cursor
		full   *time.Time
	)
	_, err = pgx.ForEachRow(rows, []any{&entity, &c.Timestamp, &c.DeletedTimestamp, &full, &c.Sweep}, func() error {
		c.LastFullAt = orZero(full)
		out[entity] = c
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the cursors of division %d: %w", division, err)
	}
	return out, nil
}
