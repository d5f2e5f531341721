package sink

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/exactsync/exactsync/dest"
)

// SaveDivisionsResettingMoved is SaveDivisions that also notices divisions whose move
// date changed since they were last stored. A move regenerates every row version of a
// division, so in the same transaction, for each moved division, the connection's cursors
// start again from 0 and the stored versions of its rows in tables are set to 0, so that
// the next pass rewrites every row whatever its new version. It returns the moved divisions.
func (s *Store) SaveDivisionsResettingMoved(ctx context.Context, connID int64, divs []dest.Division, tables ...dest.Table) ([]int, error) {
	codes := make([]int32, len(divs))
	descs := make([]string, len(divs))
	statuses := make([]int32, len(divs))
	moves := make([]*time.Time, len(divs))
	for i, d := range divs {
		codes[i], descs[i], statuses[i], moves[i] = int32(d.Code), d.Description, int32(d.Status), orNull(d.MoveDate)
	}
	var moved []int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		moved = moved[:0]
		_, err := tx.Exec(ctx, `DELETE FROM exact_sync.divisions WHERE connection_id = $1 AND division <> ALL($2)`, connID, codes)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `
			SELECT d.division FROM exact_sync.divisions AS d
			JOIN unnest($2::int[], $3::timestamptz[]) AS n (code, move_date) ON n.code = d.division
			WHERE d.connection_id = $1 AND d.move_date IS DISTINCT FROM n.move_date
			FOR UPDATE OF d`, connID, codes, moves)
		if err != nil {
			return err
		}
		if moved, err = pgx.CollectRows(rows, pgx.RowTo[int]); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO exact_sync.divisions (connection_id, division, description, status, move_date, seen_at)
			SELECT $1, d.code, d.description, d.status, d.move_date, now()
			FROM unnest($2::int[], $3::text[], $4::int[], $5::timestamptz[]) AS d (code, description, status, move_date)
			ON CONFLICT (connection_id, division) DO UPDATE
			SET description = EXCLUDED.description, status = EXCLUDED.status,
			    move_date = EXCLUDED.move_date, seen_at = EXCLUDED.seen_at`,
			connID, codes, descs, statuses, moves)
		if err != nil {
			return err
		}
		for _, d := range moved {
			if _, err := tx.Exec(ctx, `
				UPDATE exact_sync.cursors SET cursor_timestamp = 0, deleted_timestamp = 0, sweeping = true, updated_at = now()
				WHERE connection_id = $1 AND division = $2`, connID, d); err != nil {
				return err
			}
			// The reread from the start reconciles the division (see StartSweep).
			if _, err := tx.Exec(ctx, `DELETE FROM exact_sync.pass_keys WHERE connection_id = $1 AND division = $2`, connID, d); err != nil {
				return err
			}
			for _, t := range tables {
				name, err := sanitizeTable(t.Name)
				if err != nil {
					return err
				}
				if len(t.Key) == 0 || t.VersionColumn == "" {
					return fmt.Errorf("table %s needs a key and a version column", t.Name)
				}
				if _, err := tx.Exec(ctx, `UPDATE `+name+` SET `+pgx.Identifier{t.VersionColumn}.Sanitize()+` = 0 WHERE `+
					pgx.Identifier{t.Key[0]}.Sanitize()+` = $1`, d); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storing the divisions of connection %d: %w", connID, err)
	}
	return moved, nil
}

// sanitizeTable quotes a schema.table name.
func sanitizeTable(name string) (string, error) {
	parts := strings.Split(name, ".")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return "", fmt.Errorf("invalid table name %q: want schema.table", name)
	}
	return pgx.Identifier(parts).Sanitize(), nil
}

// Divisions returns the divisions stored for a connection, ordered by code; none when
// they were never listed.
func (s *Store) Divisions(ctx context.Context, connID int64) ([]dest.Division, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT division, description, coalesce(status, 0), move_date, seen_at
		FROM exact_sync.divisions WHERE connection_id = $1 ORDER BY division`, connID)
	if err != nil {
		return nil, fmt.Errorf("reading the divisions of connection %d: %w", connID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (dest.Division, error) {
		var d dest.Division
		var move *time.Time
		err := r.Scan(&d.Code, &d.Description, &d.Status, &move, &d.SeenAt)
		d.SeenAt, d.MoveDate = d.SeenAt.UTC(), orZero(move)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading the divisions of connection %d: %w", connID, err)
	}
	return out, nil
}
