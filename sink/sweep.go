package sink

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/exactsync/exactsync/dest"
)

// A sweep reconciles one division of one table with a full pass over Exact's records.
// Exact keeps its deletion log two months (exact-online-api.md §3.12, §6.16): a row whose
// deletion has left the log is never reported again, so only a full pass can tell that it
// is gone. The caller starts a sweep with StartSweep, writes the pass's pages with
// dest.Cursor.Sweep set (WriteBatch then records the key of every row it is given, stored or
// unchanged alike, in exact_sync.pass_keys, in the page's transaction; the rows of a
// sweeping batch must all be of its Division), and, once the pass
// has read every record, calls FinishSweep, which removes the rows of the division the
// pass did not see. A pass cut short keeps its recorded keys and its cursor's Sweep flag,
// so the next run goes on recording from where it stopped. Sweeps need a two-column key
// (division, key), like removals.

const forgetPassKeysSQL = `DELETE FROM exact_sync.pass_keys WHERE connection_id = $1 AND division = $2 AND entity = $3`

// StartSweep forgets the keys recorded by an earlier, unfinished sweep of (connID,
// division, entity) and reports whether t holds any row of the division, or the entity
// any quarantined record of it: when there are none there is nothing to reconcile, and
// the pass need not record its keys.
func (s *Store) StartSweep(ctx context.Context, t dest.Table, connID int64, division int, entity string) (bool, error) {
	target, err := sweepTarget(t)
	if err != nil {
		return false, err
	}
	if _, err := s.pool.Exec(ctx, forgetPassKeysSQL, connID, division, entity); err != nil {
		return false, fmt.Errorf("starting the sweep of %s in division %d: %w", t.Name, division, err)
	}
	var any bool
	q := `SELECT EXISTS (SELECT 1 FROM ` + target + ` WHERE ` + pgx.Identifier{t.Key[0]}.Sanitize() + ` = $1)
		OR EXISTS (SELECT 1 FROM exact_sync.rejected_records WHERE connection_id = $2 AND division = $1 AND entity = $3)`
	if err := s.pool.QueryRow(ctx, q, division, connID, entity).Scan(&any); err != nil {
		return false, fmt.Errorf("starting the sweep of %s in division %d: %w", t.Name, division, err)
	}
	return any, nil
}

// FinishSweep ends the sweep of (connID, division, entity) in one transaction: it removes
// the rows of the division in t whose key the pass did not record, and the quarantined
// records of the entity whose key the pass did not see either, forgets the recorded keys
// and stores c, with Sweep cleared, as the cursor, announcing the removals on
// NotifyChannel. It returns the number of rows removed. A non-zero fence is checked as
// in dest.Batch.Fence.
func (s *Store) FinishSweep(ctx context.Context, t dest.Table, connID int64, division int, entity string, c dest.Cursor, fence int64) (int, error) {
	target, err := sweepTarget(t)
	if err != nil {
		return 0, err
	}
	div, id := pgx.Identifier{t.Key[0]}.Sanitize(), pgx.Identifier{t.Key[1]}.Sanitize()
	c.Sweep = false
	removed := 0
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if fence != 0 {
			if err := checkFence(ctx, tx, connID, division, fence); err != nil {
				return err
			}
		}
		// A quarantined record whose key the pass did not see is gone from Exact. Its
		// ref is its key; refs of unreadable keys are hashes, never uuids.
		if _, err := tx.Exec(ctx, `DELETE FROM exact_sync.rejected_records AS q
			WHERE q.connection_id = $1 AND q.division = $2 AND q.entity = $3 AND q.record_key IS NOT NULL
			  AND NOT EXISTS (
				SELECT 1 FROM exact_sync.pass_keys AS k
				WHERE k.connection_id = $1 AND k.division = $2 AND k.entity = $3
				  AND q.record_key = ANY(k.ids))`, connID, division, entity); err != nil {
			return err
		}
		// The rows go to the deletions trail, and their history ends, as not seen.
		if _, err := tx.Exec(ctx, setEndedSQL, dest.CauseNotSeen); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `WITH gone AS (
			DELETE FROM `+target+` AS t WHERE t.`+div+` = $2 AND NOT EXISTS (
				SELECT 1 FROM (
					SELECT unnest(ids) AS id FROM exact_sync.pass_keys
					WHERE connection_id = $1 AND division = $2 AND entity = $3
				) AS k WHERE k.id = t.`+id+`::text)
			RETURNING t.`+div+` AS division, t.`+id+`::text AS key, to_jsonb(t) AS record,
			          NULL::timestamptz AS deleted_at, NULL::uuid AS deleted_by)
		`+trailInsert("$1", "$3", "$4"),
			connID, division, entity, dest.CauseNotSeen)
		if err != nil {
			return err
		}
		removed = int(tag.RowsAffected())
		if _, err := tx.Exec(ctx, forgetPassKeysSQL, connID, division, entity); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, upsertCursorSQL, cursorArgs(connID, division, entity, c)...); err != nil {
			return err
		}
		n := Notification{Connection: connID, Division: division, Entity: entity, Removed: removed, Cursor: c.Timestamp}
		return notify(ctx, tx, []Notification{n}, []bool{true})
	})
	if err != nil {
		return 0, fmt.Errorf("finishing the sweep of %s in division %d: %w", t.Name, division, err)
	}
	return removed, nil
}

// recordPassKeys records the keys of a sweeping page's rows, in its transaction: one row
// holding them all, as text (a GUID in its canonical form, an integer in decimal), which
// costs about 40 bytes a key.
func recordPassKeys(ctx context.Context, tx pgx.Tx, p *tablePlan, b dest.Batch) error {
	di, ii := p.keyIndexes[0], p.keyIndexes[1]
	ids := make([]any, len(b.Rows), len(b.Rows)+len(b.Rejects))
	for i, r := range b.Rows {
		var d int64
		switch v := r[di].(type) {
		case int32:
			d = int64(v)
		case int:
			d = int64(v)
		case int64:
			d = v
		}
		if d != int64(b.Division) {
			return fmt.Errorf("sweeping division %d: row %d is of division %v", b.Division, i, r[di])
		}
		ids[i] = keyText(r[ii])
	}
	// A quarantined record was seen: the row of an earlier, good version of it stays.
	for _, r := range b.Rejects {
		if r.Key != "" {
			ids = append(ids, r.Key)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO exact_sync.pass_keys (connection_id, division, entity, ids) VALUES ($1, $2, $3, $4::text[])`,
		b.ConnectionID, b.Division, b.Entity, ids)
	if err != nil {
		return fmt.Errorf("recording the keys of %d rows for the sweep: %w", len(b.Rows), err)
	}
	return nil
}

// keyText is a key value as PostgreSQL writes its text: a uuid given as text is already
// canonical (lower case, with hyphens), as exact's parsers return it.
func keyText(v any) any {
	switch k := v.(type) {
	case string:
		return k
	case int32:
		return strconv.FormatInt(int64(k), 10)
	case int64:
		return strconv.FormatInt(k, 10)
	case int:
		return strconv.Itoa(k)
	}
	return fmt.Sprint(v)
}

// sweepTarget checks that t can be swept and returns its quoted name.
func sweepTarget(t dest.Table) (string, error) {
	if len(t.Key) != 2 {
		return "", fmt.Errorf("sweeping %s: a sweep needs a two-column key (division, id), have %v", t.Name, t.Key)
	}
	return sanitizeTable(t.Name)
}
