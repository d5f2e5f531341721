package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/riverqueue/river"
)

// RescueArgs are the arguments of the job that finds the sync jobs of dead processes.
type RescueArgs struct{}

func (RescueArgs) Kind() string { return KindRescue }

func (RescueArgs) InsertOpts() river.InsertOpts { return controlOpts() }

type rescueWorker struct {
	river.WorkerDefaults[RescueArgs]
	w *Worker
}

// Work makes available again the sync jobs whose process died. River marks a job
// running when a process fetches it and finished when the process says so; a process
// killed in between leaves it running, and River's own rescuer only steps in after
// Config.RunTimeout (a live job may run that long). A running sync job holds its
// division's lock on a database session of its process, which PostgreSQL releases when
// the process dies: a job running for longer than Config.RescueAfter whose division
// nobody holds, at two looks in a row, has lost its process.
func (r *rescueWorker) Work(ctx context.Context, _ *river.Job[RescueArgs]) error {
	w := r.w
	rows, err := w.cfg.Pool.Query(ctx, `
		SELECT id, (args->>'connection')::int8, (args->>'division')::int, attempt, attempted_at
		FROM `+Schema+`.river_job
		WHERE kind = $1 AND state = 'running' AND attempted_at < now() - $2::interval`,
		KindSync, fmt.Sprintf("%d milliseconds", w.cfg.RescueAfter.Milliseconds()))
	if err != nil {
		return fmt.Errorf("reading the running jobs: %w", err)
	}
	type running struct {
		id, conn    int64
		division    int
		attempt     int
		attemptedAt time.Time
	}
	var jobs []running
	for rows.Next() {
		var j running
		if err := rows.Scan(&j.id, &j.conn, &j.division, &j.attempt, &j.attemptedAt); err != nil {
			rows.Close()
			return err
		}
		jobs = append(jobs, j)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	held := map[int64]map[int]bool{}
	suspects := map[int64]int{}
	for _, j := range jobs {
		if held[j.conn] == nil {
			h, err := w.cfg.Store.HeldDivisionLocks(ctx, j.conn)
			if err != nil {
				return err
			}
			held[j.conn] = h
		}
		if held[j.conn][j.division] {
			continue
		}
		w.mu.Lock()
		looks := w.suspects[j.id] + 1
		w.mu.Unlock()
		if looks < 2 {
			suspects[j.id] = looks
			continue
		}
		msg, _ := json.Marshal(map[string]any{
			"at": time.Now().UTC(), "attempt": j.attempt, "trace": "",
			"error": "rescued: the job's process stopped while running it (its division was not locked)",
		})
		tag, err := w.cfg.Pool.Exec(ctx, `
			UPDATE `+Schema+`.river_job
			SET state = 'available', scheduled_at = now(), errors = array_append(errors, $2::jsonb)
			WHERE id = $1 AND state = 'running' AND attempted_at = $3`, j.id, msg, j.attemptedAt)
		if err != nil {
			return fmt.Errorf("rescuing job %d: %w", j.id, err)
		}
		if tag.RowsAffected() == 1 {
			w.log.Warn().Int64("job_id", j.id).Int64("connection", j.conn).Int("division", j.division).
				Time("attempted_at", j.attemptedAt).Msg("rescued a job whose process stopped; it runs again")
		}
	}
	w.mu.Lock()
	w.suspects = suspects
	w.mu.Unlock()
	return nil
}
