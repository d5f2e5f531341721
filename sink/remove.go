package sink

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/exactsync/exactsync/dest"
)

// Removed is what RemoveConnection removed, and what it left.
type Removed struct {
	Connection dest.Connection
	// Cursors, Runs and Quarantined count the connection's cursors, run history and
	// quarantined records, removed with it.
	Cursors, Runs, Quarantined int
	// Divisions are the divisions the connection synced or listed, sorted; Shared those of
	// them another connection syncs or lists too, whose rows stay whatever was asked.
	Divisions, Shared []int
	// Rows counts the rows of the divisions only this connection synced, in the tables
	// given: deleted when RowsDeleted, else kept.
	Rows        int
	RowsDeleted bool
}

// Own are the divisions whose rows belong to the connection alone (Divisions less Shared).
func (r Removed) Own() []int {
	var out []int
	for _, d := range r.Divisions {
		if !slices.Contains(r.Shared, d) {
			out = append(out, d)
		}
	}
	return out
}

// RemoveConnection deletes connection id with its tokens and client secret, cursors, run
// history, division list, rate limits, quarantined records and division locks, in one
// transaction that first locks the connection's row (a refresh in flight finishes first);
// with deleteRows it also deletes, from tables, the rows of the divisions no other
// connection syncs. Rows of a division another connection syncs stay either way: the
// tables are keyed by division, not by connection. A recovery file of the connection is
// removed after the commit. ErrNotFound when there is no such connection.
func (s *Store) RemoveConnection(ctx context.Context, id int64, deleteRows bool, tables ...dest.Table) (Removed, error) {
	var out Removed
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return out, fmt.Errorf("removing connection %d: %w", id, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	c, err := scanConnection(tx.QueryRow(ctx, `SELECT `+connectionColumns+` FROM exact_sync.connections WHERE id = $1 FOR UPDATE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return out, fmt.Errorf("connection %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return out, fmt.Errorf("removing connection %d: %w", id, err)
	}
	out.Connection = c
	err = tx.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM exact_sync.cursors WHERE connection_id = $1),
		(SELECT count(*) FROM exact_sync.runs WHERE connection_id = $1),
		(SELECT count(*) FROM exact_sync.rejected_records WHERE connection_id = $1)`, id).Scan(&out.Cursors, &out.Runs, &out.Quarantined)
	if err != nil {
		return out, fmt.Errorf("removing connection %d: %w", id, err)
	}
	divisionsOf := func(where string) ([]int, error) {
		rows, err := tx.Query(ctx, `
			SELECT division FROM exact_sync.divisions WHERE `+where+`
			UNION SELECT division FROM exact_sync.cursors WHERE `+where+`
			UNION SELECT division FROM exact_sync.runs WHERE `+where+`
			ORDER BY 1`, id)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, pgx.RowTo[int])
	}
	if out.Divisions, err = divisionsOf("connection_id = $1"); err != nil {
		return out, fmt.Errorf("removing connection %d: reading its divisions: %w", id, err)
	}
	others, err := divisionsOf("connection_id <> $1")
	if err != nil {
		return out, fmt.Errorf("removing connection %d: reading the divisions of the others: %w", id, err)
	}
	for _, d := range out.Divisions {
		if slices.Contains(others, d) {
			out.Shared = append(out.Shared, d)
		}
	}
	if own := out.Own(); len(own) > 0 {
		if deleteRows {
			// The rows' history, where a table has one, ends with the connection.
			if _, err := tx.Exec(ctx, setEndedSQL, dest.CauseConnectionRemoved); err != nil {
				return out, fmt.Errorf("removing connection %d: %w", id, err)
			}
		}
		for _, t := range tables {
			name, err := sanitizeTable(t.Name)
			if err != nil {
				return out, err
			}
			q := `SELECT count(*) FROM ` + name + ` WHERE division = ANY($1)`
			args := []any{own}
			if deleteRows && len(t.Key) == 2 {
				// Into the deletions trail, as every removal.
				_, entity, _ := strings.Cut(t.Name, ".")
				q = `WITH gone AS (DELETE FROM ` + name + ` AS t WHERE division = ANY($1)
					RETURNING t.division, t.` + pgx.Identifier{t.Key[1]}.Sanitize() + `::text AS key, to_jsonb(t) AS record,
						NULL::timestamptz AS deleted_at, NULL::uuid AS deleted_by),
				trail AS (` + trailInsert("$2", "$3", "$4") + ` RETURNING 1)
				SELECT count(*) FROM trail`
				args = append(args, id, entity, dest.CauseConnectionRemoved)
			} else if deleteRows {
				q = `WITH d AS (DELETE FROM ` + name + ` WHERE division = ANY($1) RETURNING 1) SELECT count(*) FROM d`
			}
			var n int
			if err := tx.QueryRow(ctx, q, args...).Scan(&n); err != nil {
				return out, fmt.Errorf("removing connection %d: %s: %w", id, t.Name, err)
			}
			out.Rows += n
		}
		out.RowsDeleted = deleteRows
	}
	if _, err := tx.Exec(ctx, `DELETE FROM exact_sync.division_locks WHERE connection_id = $1`, id); err != nil {
		return out, fmt.Errorf("removing connection %d: %w", id, err)
	}
	// The rest goes with the row (ON DELETE CASCADE).
	if _, err := tx.Exec(ctx, `DELETE FROM exact_sync.connections WHERE id = $1`, id); err != nil {
		return out, fmt.Errorf("removing connection %d: %w", id, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return out, fmt.Errorf("removing connection %d: %w", id, err)
	}
	if p := s.recoveryPath(tokenRow{connID: c.ID, baseURL: c.BaseURL, clientID: c.ClientID}); p != "" {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Warn().Err(err).Str("file", p).Msg("cannot remove the removed connection's recovery file")
		}
	}
	return out, nil
}
