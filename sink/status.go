package sink

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/exactsync/exactsync/dest"
)

// SyncState is where one entity of one division of one connection stands: its cursor and
// its latest and latest successful runs.
type SyncState struct {
	ConnectionID int64
	Division     int
	Entity       string
	Cursor       dest.Cursor    // zero when no page has been written
	LastRun      dest.RunRecord // zero ID when it never ran
	LastSuccess  time.Time      // when the last successful run finished; zero if none
}

// SyncStates returns the state of every (connection, division, entity) that has a cursor or
// a run, ordered by connection, division and entity.
func (s *Store) SyncStates(ctx context.Context) ([]SyncState, error) {
	rows, err := s.pool.Query(ctx, `
		WITH k AS (
			SELECT connection_id, division, entity FROM exact_sync.cursors
			UNION
			SELECT connection_id, division, entity FROM exact_sync.runs
		)
		SELECT k.connection_id, k.division, k.entity,
		       coalesce(c.cursor_timestamp, 0), coalesce(c.deleted_timestamp, 0), c.last_full_at, coalesce(c.sweeping, false),
		       coalesce(r.id, 0), coalesce(r.full_sync, false), r.started_at, r.finished_at, coalesce(r.status, ''),
		       coalesce(r.upserted, 0), coalesce(r.removed, 0), coalesce(r.api_calls, 0), coalesce(r.error, ''),
		       ok.finished_at
		FROM k
		LEFT JOIN exact_sync.cursors c USING (connection_id, division, entity)
		LEFT JOIN LATERAL (
			SELECT * FROM exact_sync.runs r
			WHERE (r.connection_id, r.division, r.entity) = (k.connection_id, k.division, k.entity)
			ORDER BY r.started_at DESC, r.id DESC LIMIT 1
		) r ON true
		LEFT JOIN LATERAL (
			SELECT max(finished_at) AS finished_at FROM exact_sync.runs o
			WHERE (o.connection_id, o.division, o.entity) = (k.connection_id, k.division, k.entity) AND o.status = $1
		) ok ON true
		ORDER BY k.connection_id, k.division, k.entity`, dest.RunOK)
	if err != nil {
		return nil, fmt.Errorf("reading the sync states: %w", err)
	}
	states, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SyncState, error) {
		var st SyncState
		var lastFull, started, finished, success *time.Time
		err := r.Scan(&st.ConnectionID, &st.Division, &st.Entity,
			&st.Cursor.Timestamp, &st.Cursor.DeletedTimestamp, &lastFull, &st.Cursor.Sweep,
			&st.LastRun.ID, &st.LastRun.Full, &started, &finished, &st.LastRun.Result.Status,
			&st.LastRun.Result.Upserted, &st.LastRun.Result.Removed, &st.LastRun.Result.APICalls, &st.LastRun.Result.Err,
			&success)
		st.Cursor.LastFullAt, st.LastRun.StartedAt, st.LastRun.FinishedAt, st.LastSuccess =
			orZero(lastFull), orZero(started), orZero(finished), orZero(success)
		st.LastRun.ConnectionID, st.LastRun.Division, st.LastRun.Entity = st.ConnectionID, st.Division, st.Entity
		return st, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading the sync states: %w", err)
	}
	return states, nil
}
