package sink

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/exactsync/exactsync/dest"
)

// Quarantined returns the refs (see dest.Reject.Ref) of the records of (connID, division,
// entity) in quarantine.
func (s *Store) Quarantined(ctx context.Context, connID int64, division int, entity string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT ref FROM exact_sync.rejected_records
		WHERE connection_id = $1 AND division = $2 AND entity = $3`, connID, division, entity)
	if err != nil {
		return nil, fmt.Errorf("reading the quarantined %s records of division %d: %w", entity, division, err)
	}
	refs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("reading the quarantined %s records of division %d: %w", entity, division, err)
	}
	return refs, nil
}

// RejectedRecord is a record in quarantine, as stored in exact_sync.rejected_records.
type RejectedRecord struct {
	ConnectionID int64
	Division     int
	Entity       string
	dest.Reject
}

// RejectedRecords lists the records in quarantine of connection connID (every
// connection when connID is 0), oldest first; limit <= 0 means 1,000.
func (s *Store) RejectedRecords(ctx context.Context, connID int64, limit int) ([]RejectedRecord, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := s.pool.Query(ctx, `SELECT connection_id, division, entity, coalesce(record_key, ''),
			exact_timestamp, reason, record
		FROM exact_sync.rejected_records WHERE $1 = 0 OR connection_id = $1
		ORDER BY rejected_at, connection_id, division, entity, ref LIMIT $2`, connID, limit)
	if err != nil {
		return nil, fmt.Errorf("listing the quarantined records: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (RejectedRecord, error) {
		var rr RejectedRecord
		var ts *int64
		err := r.Scan(&rr.ConnectionID, &rr.Division, &rr.Entity, &rr.Key, &ts, &rr.Reason, &rr.Record)
		if ts != nil {
			rr.Timestamp, rr.HasTimestamp = *ts, true
		}
		return rr, err
	})
	if err != nil {
		return nil, fmt.Errorf("listing the quarantined records: %w", err)
	}
	return out, nil
}

// writeRejects forgets b's released records and stores its rejects, in b's
// transaction. Of a record both released and rejected in one batch (two versions of it
// on different pages), the newer version decides.
func writeRejects(ctx context.Context, tx pgx.Tx, b dest.Batch) error {
	relRefs := make([]string, len(b.Released))
	relVersions := make([]int64, len(b.Released))
	for i, r := range b.Released {
		relRefs[i], relVersions[i] = r.Ref, r.Version
	}
	if len(b.Released) > 0 {
		_, err := tx.Exec(ctx, `DELETE FROM exact_sync.rejected_records
			WHERE connection_id = $1 AND division = $2 AND entity = $3 AND ref = ANY($4::text[])`,
			b.ConnectionID, b.Division, b.Entity, relRefs)
		if err != nil {
			return fmt.Errorf("releasing %d records from quarantine: %w", len(b.Released), err)
		}
	}
	if len(b.Rejects) == 0 {
		return nil
	}
	refs := make([]string, len(b.Rejects))
	keys := make([]*string, len(b.Rejects))
	stamps := make([]*int64, len(b.Rejects))
	reasons := make([]string, len(b.Rejects))
	records := make([][]byte, len(b.Rejects))
	for i := range b.Rejects {
		r := &b.Rejects[i]
		refs[i], reasons[i], records[i] = r.Ref(), r.Reason, r.Record
		if r.Key != "" {
			keys[i] = &r.Key
		}
		if r.HasTimestamp {
			stamps[i] = &r.Timestamp
		}
	}
	// A ref twice in one batch (a record served on two pages) keeps its last version.
	_, err := tx.Exec(ctx, `
		INSERT INTO exact_sync.rejected_records AS q
			(connection_id, division, entity, ref, record_key, exact_timestamp, reason, record)
		SELECT DISTINCT ON (u.ref) $1, $2, $3, u.ref, u.record_key, u.exact_timestamp, u.reason, u.record
		FROM unnest($4::text[], $5::text[], $6::bigint[], $7::text[], $8::bytea[]) WITH ORDINALITY
			AS u(ref, record_key, exact_timestamp, reason, record, n)
		WHERE NOT EXISTS (
			SELECT 1 FROM unnest($9::text[], $10::bigint[]) AS r(ref, version)
			WHERE r.ref = u.ref AND r.version > coalesce(u.exact_timestamp, -1))
		ORDER BY u.ref, u.n DESC
		ON CONFLICT (connection_id, division, entity, ref) DO UPDATE
		SET record_key = EXCLUDED.record_key, exact_timestamp = EXCLUDED.exact_timestamp,
		    reason = EXCLUDED.reason, record = EXCLUDED.record, rejected_at = now()`,
		b.ConnectionID, b.Division, b.Entity, refs, keys, stamps, reasons, records, relRefs, relVersions)
	if err != nil {
		return fmt.Errorf("quarantining %d records: %w", len(b.Rejects), err)
	}
	return nil
}

// checkFence fails with dest.ErrLockLost unless fence is still the division's fencing token.
// The row stays share-locked until the transaction ends, so the division's lock cannot
// change hands while the transaction writes.
func checkFence(ctx context.Context, tx pgx.Tx, connID int64, division int, fence int64) error {
	var cur int64
	err := tx.QueryRow(ctx, `SELECT fence FROM exact_sync.division_locks
		WHERE connection_id = $1 AND division = $2 FOR SHARE`, connID, division).Scan(&cur)
	if errors.Is(err, pgx.ErrNoRows) {
		cur = 0
	} else if err != nil {
		return fmt.Errorf("checking the division lock: %w", err)
	}
	if cur != fence {
		return fmt.Errorf("division %d of connection %d (fence %d, now %d): %w", division, connID, fence, cur, dest.ErrLockLost)
	}
	return nil
}

// dataError returns err as a *dest.DataError when it is PostgreSQL refusing a value
// (SQLSTATE class 22, data exception: text with NUL, invalid JSON for jsonb, a number out
// of range): a problem of the data written, not of the database. Any other err is
// returned as it is.
func dataError(err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || !strings.HasPrefix(pgErr.Code, "22") {
		return err
	}
	return &dest.DataError{Reason: pgErr.Message + " (SQLSTATE " + pgErr.Code + ")", Err: err}
}

// QuarantineCount is how many records of an entity in a division are in quarantine.
type QuarantineCount struct {
	ConnectionID int64
	Division     int
	Entity       string
	Records      int
}

// QuarantineCounts counts the records in quarantine per connection, division and entity.
func (s *Store) QuarantineCounts(ctx context.Context) ([]QuarantineCount, error) {
	rows, err := s.pool.Query(ctx, `SELECT connection_id, division, entity, count(*)
		FROM exact_sync.rejected_records GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`)
	if err != nil {
		return nil, fmt.Errorf("counting the quarantined records: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[QuarantineCount])
	if err != nil {
		return nil, fmt.Errorf("counting the quarantined records: %w", err)
	}
	return out, nil
}
