package sink

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Division is a division (an Exact Online company) a connection has been granted, as
// last listed.
type Division struct {
	Code        int
	Description string
	Status      int // as Exact reports it: 0 inactive, 1 active, 2 archived
	SeenAt      time.Time
}

// SaveDivisions replaces the divisions stored for a connection with divs, the complete
// list as just seen. Divisions no longer listed are forgotten.
func (s *Store) SaveDivisions(ctx context.Context, connID int64, divs []Division) error {
	codes := make([]int32, len(divs))
	descs := make([]string, len(divs))
	statuses := make([]int32, len(divs))
	for i, d := range divs {
		codes[i], descs[i], statuses[i] = int32(d.Code), d.Description, int32(d.Status)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM exact_sync.divisions WHERE connection_id = $1 AND division <> ALL($2)`, connID, codes)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO exact_sync.divisions (connection_id, division, description, status, seen_at)
			SELECT $1, d.code, d.description, d.status, now()
			FROM unnest($2::int[], $3::text[], $4::int[]) AS d (code, description, status)
			ON CONFLICT (connection_id, division) DO UPDATE
			SET description = EXCLUDED.description, status = EXCLUDED.status, seen_at = EXCLUDED.seen_at`,
			connID, codes, descs, statuses)
		return err
	})
	if err != nil {
		return fmt.Errorf("storing the divisions of connection %d: %w", connID, err)
	}
	return nil
}

// Divisions returns the divisions stored for a connection, ordered by code; none when
// they were never listed.
func (s *Store) Divisions(ctx context.Context, connID int64) ([]Division, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT division, description, coalesce(status, 0), seen_at
		FROM exact_sync.divisions WHERE connection_id = $1 ORDER BY division`, connID)
	if err != nil {
		return nil, fmt.Errorf("reading the divisions of connection %d: %w", connID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Division, error) {
		var d Division
		err := r.Scan(&d.Code, &d.Description, &d.Status, &d.SeenAt)
		d.SeenAt = d.SeenAt.UTC()
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading the divisions of connection %d: %w", connID, err)
	}
	return out, nil
}
