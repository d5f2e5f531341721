package sink

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/exactsync/exactsync/dest"
)

// RowCount counts the rows of division in table (schema-qualified, such as
// exact.suppliers).
func (s *Store) RowCount(ctx context.Context, table string, division int) (int64, error) {
	name, err := sanitizeTable(table)
	if err != nil {
		return 0, err
	}
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM `+name+` WHERE division = $1`, division).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting the rows of division %d in %s: %w", division, table, err)
	}
	return n, nil
}

// LedgerTotals groups division's rows of exact.transaction_lines as
// financial/ReportingBalance groups its rows (docs/exact-online.md §3.16): financial year
// and period, G/L account, cost centre and unit (trimmed, "" for none), type and status,
// with the number of lines and the exact sum of amount_dc.
func (s *Store) LedgerTotals(ctx context.Context, division int) ([]dest.LedgerGroup, error) {
	rows, err := s.pool.Query(ctx, `
SELECT coalesce(financial_year, 0), coalesce(financial_period, 0), coalesce(gl_account::text, ''),
       coalesce(trim(cost_center), ''), coalesce(trim(cost_unit), ''),
       coalesce(type, 0), coalesce(status, 0), count(*), coalesce(sum(amount_dc), 0)::text
FROM exact.transaction_lines
WHERE division = $1
GROUP BY 1, 2, 3, 4, 5, 6, 7
ORDER BY 1, 2, 3, 4, 5, 6, 7`, division)
	if err != nil {
		return nil, fmt.Errorf("summing the ledger of division %d: %w", division, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (dest.LedgerGroup, error) {
		var g dest.LedgerGroup
		return g, r.Scan(&g.Year, &g.Period, &g.GLAccount, &g.CostCenter, &g.CostUnit, &g.Type, &g.Status, &g.Count, &g.Amount)
	})
	if err != nil {
		return nil, fmt.Errorf("summing the ledger of division %d: %w", division, err)
	}
	return out, nil
}

// Keys returns the keys (as text) of division's rows in table, whose key column is
// keyColumn.
func (s *Store) Keys(ctx context.Context, table, keyColumn string, division int) ([]string, error) {
	name, err := sanitizeTable(table)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+pgx.Identifier{keyColumn}.Sanitize()+`::text FROM `+name+` WHERE division = $1`, division)
	if err != nil {
		return nil, fmt.Errorf("reading the keys of division %d in %s: %w", division, table, err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("reading the keys of division %d in %s: %w", division, table, err)
	}
	return keys, nil
}

// RemoveKeys deletes division's rows of table whose key (as text) is one of keys, rows a
// verification of connection connID found Exact no longer has, and returns how many it
// deleted. The rows go to the deletions trail under entity, with cause
// dest.CauseNotInExact, and their history, if any, ends with it.
func (s *Store) RemoveKeys(ctx context.Context, connID int64, entity, table, keyColumn string, division int, keys []string) (int64, error) {
	name, err := sanitizeTable(table)
	if err != nil {
		return 0, err
	}
	key := pgx.Identifier{keyColumn}.Sanitize()
	var n int64
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, setEndedSQL, dest.CauseNotInExact); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `WITH gone AS (
			DELETE FROM `+name+` AS t WHERE t.division = $1 AND t.`+key+`::text = ANY($2)
			RETURNING t.division, t.`+key+`::text AS key, to_jsonb(t) AS record, NULL::timestamptz AS deleted_at, NULL::uuid AS deleted_by)
		`+trailInsert("$3", "$4", "$5"), division, keys, connID, entity, dest.CauseNotInExact)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("removing %d rows of division %d from %s: %w", len(keys), division, table, err)
	}
	return n, nil
}

// SaveVerification records one entity's verification in exact_sync.verifications.
func (s *Store) SaveVerification(ctx context.Context, v dest.Verification) error {
	diffs := v.Differences
	if diffs == nil {
		diffs = []dest.Difference{}
	}
	js, err := json.Marshal(diffs)
	if err != nil {
		return fmt.Errorf("recording the verification of %s in division %d: %w", v.Entity, v.Division, err)
	}
	var exactCount *int64
	if v.ExactCount >= 0 {
		exactCount = &v.ExactCount
	}
	finished := v.Finished
	if finished.IsZero() {
		finished = time.Now()
	}
	_, err = s.pool.Exec(ctx, `
INSERT INTO exact_sync.verifications (connection_id, division, entity, started_at, finished_at, status,
    exact_count, local_count, groups, differences, resynced, repair, calls, note)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		v.ConnectionID, v.Division, v.Entity, v.Started, finished, v.Status, exactCount, v.LocalCount, v.Groups,
		js, v.Resynced, v.Repair, v.Calls, v.Note)
	if err != nil {
		return fmt.Errorf("recording the verification of %s in division %d: %w", v.Entity, v.Division, err)
	}
	return nil
}

// LastVerifications returns the latest verification of each (connection, division,
// entity), ordered by them.
func (s *Store) LastVerifications(ctx context.Context) ([]dest.Verification, error) {
	rows, err := s.pool.Query(ctx, `
SELECT DISTINCT ON (connection_id, division, entity) connection_id, division, entity, started_at, finished_at,
       status, coalesce(exact_count, -1), local_count, groups, differences, resynced, repair, calls, note
FROM exact_sync.verifications
ORDER BY connection_id, division, entity, finished_at DESC, id DESC`)
	if err != nil {
		return nil, fmt.Errorf("reading the last verifications: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (dest.Verification, error) {
		var v dest.Verification
		var js []byte
		if err := r.Scan(&v.ConnectionID, &v.Division, &v.Entity, &v.Started, &v.Finished, &v.Status, &v.ExactCount,
			&v.LocalCount, &v.Groups, &js, &v.Resynced, &v.Repair, &v.Calls, &v.Note); err != nil {
			return v, err
		}
		return v, json.Unmarshal(js, &v.Differences)
	})
	if err != nil {
		return nil, fmt.Errorf("reading the last verifications: %w", err)
	}
	return out, nil
}

// LastClean returns when entity last verified clean in division of connection connID; zero
// when never.
func (s *Store) LastClean(ctx context.Context, connID int64, division int, entity string) (time.Time, error) {
	var at *time.Time
	err := s.pool.QueryRow(ctx, `SELECT max(started_at) FROM exact_sync.verifications
WHERE connection_id = $1 AND division = $2 AND entity = $3 AND status = 'clean'`, connID, division, entity).Scan(&at)
	if err != nil {
		return time.Time{}, fmt.Errorf("reading the last clean verification of %s in division %d: %w", entity, division, err)
	}
	if at == nil {
		return time.Time{}, nil
	}
	return *at, nil
}
