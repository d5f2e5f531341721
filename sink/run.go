package sink

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/exactsync/exactsync/dest"
)

// StartRun records the start of a run and returns its id. The caller holds the
// division's lock, so a run of the same entity and division still 'running' belongs to
// a process that died or was cut off: it is marked dest.RunAbandoned first.
func (s *Store) StartRun(ctx context.Context, r dest.Run) (int64, error) {
	// One statement, so one round trip and one transaction: both parts see the runs as
	// they were before it, so the new run is not among those it marks abandoned.
	var id int64
	err := s.pool.QueryRow(ctx, `
		WITH abandoned AS (
			UPDATE exact_sync.runs SET status = $7, finished_at = now(),
				error = 'the process running it ended before it finished'
			WHERE connection_id = $1 AND division = $2 AND entity = $3 AND status = $8)
		INSERT INTO exact_sync.runs (connection_id, division, entity, full_sync, started_at, job_id)
		VALUES ($1, $2, $3, $4, coalesce($5, now()), nullif($6, 0)) RETURNING id`,
		r.ConnectionID, r.Division, r.Entity, r.Full, orNull(r.StartedAt), r.QueueJob, dest.RunAbandoned, dest.RunRunning).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("recording the start of a %s run of division %d: %w", r.Entity, r.Division, err)
	}
	return id, nil
}

// FinishRun records how run runID ended. An empty Status means dest.RunOK when Err is empty and
// RunFailed otherwise.
func (s *Store) FinishRun(ctx context.Context, runID int64, res dest.RunResult) error {
	status := res.Status
	if status == "" {
		status = dest.RunOK
		if res.Err != "" {
			status = dest.RunFailed
		}
	}
	tag, err := s.pool.Exec(ctx, `
		UPDATE exact_sync.runs
		SET finished_at = now(), status = $2, upserted = $3, removed = $4, pages = $5, api_calls = $6,
		    cursor_from = $7, cursor_to = $8, error = $9, quarantined = $10
		WHERE id = $1`,
		runID, status, res.Upserted, res.Removed, res.Pages, res.APICalls, res.CursorFrom, res.CursorTo, res.Err, res.Quarantined)
	if err == nil && tag.RowsAffected() == 0 {
		err = fmt.Errorf("run %d: %w", runID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("recording the end of run %d: %w", runID, err)
	}
	return nil
}

// JobRuns returns the runs of queue job jobID, in the order they started: one per entity
// the job writes and attempt that got as far as recording its start.
func (s *Store) JobRuns(ctx context.Context, jobID int64) ([]dest.RunRecord, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+runColumns+` FROM exact_sync.runs WHERE job_id = $1 ORDER BY id`, jobID)
	if err != nil {
		return nil, fmt.Errorf("reading the runs of job %d: %w", jobID, err)
	}
	runs, err := pgx.CollectRows(rows, scanRun)
	if err != nil {
		return nil, fmt.Errorf("reading the runs of job %d: %w", jobID, err)
	}
	return runs, nil
}

// runColumns are the columns scanRun reads.
const runColumns = `id, connection_id, division, entity, full_sync, started_at, coalesce(job_id, 0), finished_at, status,
	upserted, removed, pages, api_calls, coalesce(cursor_from, 0), coalesce(cursor_to, 0), error, quarantined`

// scanRun reads a row of runColumns.
func scanRun(r pgx.CollectableRow) (dest.RunRecord, error) {
	var rr dest.RunRecord
	var fin *time.Time
	err := r.Scan(&rr.ID, &rr.ConnectionID, &rr.Division, &rr.Entity, &rr.Full, &rr.StartedAt, &rr.QueueJob, &fin,
		&rr.Result.Status, &rr.Result.Upserted, &rr.Result.Removed, &rr.Result.Pages, &rr.Result.APICalls,
		&rr.Result.CursorFrom, &rr.Result.CursorTo, &rr.Result.Err, &rr.Result.Quarantined)
	rr.StartedAt, rr.FinishedAt = rr.StartedAt.UTC(), orZero(fin)
	return rr, err
}

// LastSuccess returns when the last successful run of (connID, division, entity)
// finished, or the zero time when none has. The division lock keeps the runs of a division
// from overlapping, so the last to finish is the last to start: read backwards through
// the runs by their start, it is found without reading the rest of the history.
func (s *Store) LastSuccess(ctx context.Context, connID int64, division int, entity string) (time.Time, error) {
	var at *time.Time
	err := s.pool.QueryRow(ctx, `
		SELECT finished_at FROM exact_sync.runs
		WHERE connection_id = $1 AND division = $2 AND entity = $3 AND status = $4
		ORDER BY started_at DESC LIMIT 1`,
		connID, division, entity, dest.RunOK).Scan(&at)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("reading the last successful %s run of division %d: %w", entity, division, err)
	}
	return orZero(at), nil
}

// PruneRuns deletes the runs that started before cutoff and returns how many it deleted.
// The newest successful run of each entity in each division is kept whatever its age:
// LastSuccess reads it to decide whether Exact's deletion log still reaches back to it.
// It also deletes the change log's entries older than ChangeLogRetention.
func (s *Store) PruneRuns(ctx context.Context, cutoff time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `
		DELETE FROM exact_sync.runs AS r
		WHERE r.started_at < $1
		  AND r.id NOT IN (
			SELECT DISTINCT ON (connection_id, division, entity) id FROM exact_sync.runs
			WHERE status = $2
			ORDER BY connection_id, division, entity, started_at DESC, id DESC)`,
		cutoff, dest.RunOK)
	if err != nil {
		return 0, fmt.Errorf("pruning the run history: %w", err)
	}
	if _, err := s.pruneChanges(ctx); err != nil { // hourly too, on its own retention
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}

// LastRun returns the latest run of entity in a division of connection connID; its ID is
// 0 when there is none.
func (s *Store) LastRun(ctx context.Context, connID int64, division int, entity string) (dest.RunRecord, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+runColumns+` FROM exact_sync.runs
		WHERE (connection_id, division, entity) = ($1, $2, $3) ORDER BY started_at DESC, id DESC LIMIT 1`, connID, division, entity)
	if err != nil {
		return dest.RunRecord{}, fmt.Errorf("reading the last run of %s in division %d: %w", entity, division, err)
	}
	runs, err := pgx.CollectRows(rows, scanRun)
	if err != nil {
		return dest.RunRecord{}, fmt.Errorf("reading the last run of %s in division %d: %w", entity, division, err)
	}
	if len(runs) == 0 {
		return dest.RunRecord{}, nil
	}
	return runs[0], nil
}
