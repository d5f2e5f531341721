package sync

import (
	"time"

	"github.com/exactsync/exactsync/dest"
)

// passesStarted returns, for a job of the queue, when an earlier attempt of the same job
// started a full pass of each entity (its first full run), when that attempt ended
// otherwise than ok: cut short by the end of its turn (the worker bounds each attempt,
// see package worker), a failure, or the death of its process. Nothing for a job outside
// the queue.
//
// A full pass moves its cursor from the start and writes it, with the time the pass
// started (Cursor.LastFullAt) and its Sweep flag, with every page. When the stored
// cursor is that pass's (LastFullAt at or after the earlier run's start), the pass has
// committed pages, and the attempt goes on from the cursor as the next incremental run
// would, recording the keys of its sweep and finishing it, instead of starting over: a
// pass longer than an attempt ends. An entity read in full each run (ReadFull) has no
// cursor to go on from and starts over. runs are the job's recorded runs
// (History.JobRuns).
func passesStarted(job Job, runs []dest.RunRecord) map[string]time.Time {
	if job.QueueJob == 0 {
		return nil
	}
	var out map[string]time.Time
	for _, rr := range runs {
		if !rr.Full || rr.Result.Status == dest.RunOK || rr.ConnectionID != job.ConnectionID || rr.Division != job.Division {
			continue
		}
		if _, ok := out[rr.Entity]; ok {
			continue // runs come oldest first: the pass started with the first
		}
		if out == nil {
			out = map[string]time.Time{}
		}
		out[rr.Entity] = rr.StartedAt
	}
	return out
}

// resumesPass reports whether member m goes on with the full pass an earlier attempt of
// its job started at started (see passesStarted).
func resumesPass(e *Entity, cur dest.Cursor, started time.Time, ok bool) bool {
	return ok && e.Read != ReadFull && !cur.LastFullAt.IsZero() && !cur.LastFullAt.Before(started)
}
