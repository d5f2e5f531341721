package sync

import (
	"context"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/dest"
)

// replayed reports whether job, a job of the queue, has already run to the end: the
// queue delivers a job at least once, and a process that dies after a run finished but
// before the queue recorded the job complete leaves the job to another process. If so,
// it fills res with the recorded run's result, and the job is not run again. The caller
// holds the division's lock, so no other attempt of the job can be running meanwhile.
//
// Only a run that ended ok counts as done. Any other recorded end is one the queue
// retries on purpose (failed, lock_lost), snoozes (daily_limit) or cancels
// (reauth_required: the worker looks at the connection before running a job; refused),
// and a run still 'running' belongs to an attempt that died before it finished: StartRun
// marks it abandoned and the job runs again. A job that writes several entities ends all their
// runs with one status; the run of the job's own entity decides, and res adds up the
// rows of every member's ok run, as the run itself did. runs are the job's recorded runs
// (History.JobRuns).
func replayed(job Job, runs []dest.RunRecord, res *Result, log zerolog.Logger) bool {
	if job.QueueJob == 0 {
		return false
	}
	// The job's id alone would do; the division and connection guard against a queue
	// whose ids started over.
	ok := func(rr dest.RunRecord) bool {
		return rr.Result.Status == dest.RunOK && rr.ConnectionID == job.ConnectionID && rr.Division == job.Division
	}
	var own *dest.RunRecord
	for i := range runs {
		if ok(runs[i]) && runs[i].Entity == job.Entity {
			own = &runs[i]
		}
	}
	if own == nil {
		return false
	}
	res.Replayed = true
	res.Pages, res.Calls = own.Result.Pages, own.Result.APICalls
	res.Committed = res.Pages // a run recorded ok wrote every page it fetched
	res.CursorFrom, res.CursorTo = own.Result.CursorFrom, own.Result.CursorTo
	for _, rr := range runs {
		if !ok(rr) {
			continue
		}
		res.Upserted += rr.Result.Upserted
		res.Removed += rr.Result.Removed
		res.Quarantined += rr.Result.Quarantined
		res.Entities = append(res.Entities, EntityResult{Entity: rr.Entity, Upserted: rr.Result.Upserted, Removed: rr.Result.Removed, Quarantined: rr.Result.Quarantined})
		res.Job.Full = res.Job.Full || rr.Full
	}
	log.Info().Int64("job_id", job.QueueJob).Int64("run_id", own.ID).Time("finished_at", own.FinishedAt).
		Msg("this job's run already finished in a process that died before the queue recorded it; not run again")
	return true
}

// lockUnlessReplayed takes job's division lock (ErrBusy when another worker holds it and
// Config.WaitForLock is off), and reads the job's recorded runs once for what needs them
// (replayed, passesStarted): none for a job outside the queue. done means the job ran to
// its end before (see replayed): res is filled in, the lock released, and nothing is left
// to do. Otherwise the caller owns the lock and unlocks it.
func (r *Runner) lockUnlessReplayed(ctx context.Context, job Job, res *Result, log zerolog.Logger) (lock *dest.DivisionLock, runs []dest.RunRecord, done bool, err error) {
	lock, ok, err := r.locker.LockDivision(ctx, job.ConnectionID, job.Division, r.cfg.WaitForLock)
	if err != nil {
		return nil, nil, false, fmt.Errorf("locking division %d of connection %d: %w", job.Division, job.ConnectionID, err)
	}
	if !ok {
		return nil, nil, false, fmt.Errorf("%s: %w", job, ErrBusy)
	}
	if job.QueueJob != 0 {
		if runs, err = r.history.JobRuns(ctx, job.QueueJob); err != nil {
			lock.Unlock()
			return nil, nil, false, err // sink names the job
		}
	}
	if replayed(job, runs, res, log) {
		lock.Unlock()
		return nil, nil, true, nil
	}
	return lock, runs, false, nil
}
