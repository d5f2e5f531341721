package sync

import (
	"context"
	"fmt"
	"net/url"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
)

// runDeletions reads the division's sync/Deleted stream once, from the deletions
// job's own cursor, and routes each deletion by its EntityType (§3.12) to the tables
// of the enabled entities of that type; a deletion of any other type is skipped, and
// the cursor moves past it all the same. A write's removals, in every table, and the
// cursor commit in one transaction. A deletion record that cannot be read is
// quarantined under DeletionsJob.
//
// The first run in a division, before the shared cursor existed, starts from the lowest
// deletion cursor the enabled entities stored when each read sync/Deleted itself, so
// that no deletion they had not applied yet is missed.
func (r *Runner) runDeletions(ctx context.Context, src Source, job Job, res *Result, prog *tracker, log zerolog.Logger) (err error) {
	lock, _, done, err := r.lockUnlessReplayed(ctx, job, res, log)
	if done || err != nil {
		return err
	}
	// The rate limits Exact's answers gave are stored before the division is let go: the
	// next job of the division, in any process, then knows a day Exact ended (§2.4, §2.7).
	defer func() { r.saveRateLimit(ctx, src, job, log); lock.Unlock() }()
	r.primeSpentDay(ctx, src, job, log)

	cursors, err := r.writer.Cursors(ctx, job.ConnectionID, job.Division)
	if err != nil {
		return err // sink names the division
	}
	targets := r.deletable()
	cur, stored := cursors[DeletionsJob]
	if !stored {
		first := true
		for _, e := range targets {
			c, ok := cursors[e.Name]
			if !ok || (c.Timestamp == 0 && c.DeletedTimestamp == 0) {
				continue // never synced: it holds nothing to delete
			}
			if first || c.DeletedTimestamp < cur.Timestamp {
				cur.Timestamp, first = c.DeletedTimestamp, false
			}
		}
	}
	if job.Full {
		cur.Timestamp = 0
	}
	// The deletions stream has no table to reconcile: a sweep flag set on every cursor
	// of a division (as a division move does) means nothing here.
	cur.Sweep = false

	s := &stream{r: r, src: src, job: job, res: res, prog: prog, log: log, fence: lock.Fence}
	routes := map[int][]int{} // EntityType → members
	for _, e := range targets {
		routes[e.DeletedType] = append(routes[e.DeletedType], len(s.members))
		s.members = append(s.members, &member{e: e, name: e.Name, table: e.Target(), noCursor: true, same: -1})
	}
	own := &member{name: DeletionsJob, cur: cur, from: cur.Timestamp, same: -1, quarantined: map[string]bool{}}
	s.main = len(s.members)
	s.members = append(s.members, own)

	own.runID, err = r.history.StartRun(ctx, dest.Run{
		ConnectionID: job.ConnectionID, Division: job.Division, Entity: DeletionsJob,
		Full: job.Full, StartedAt: r.cfg.Now(), QueueJob: job.QueueJob,
	})
	if err != nil {
		return err // sink names the run
	}
	defer s.finishRuns(ctx, &err)
	defer recoverPanic(&err)

	res.CursorFrom, res.CursorTo = cur.Timestamp, cur.Timestamp
	const path = "sync/Deleted"
	q := url.Values{
		"$filter": {fmt.Sprintf("Timestamp gt %dL", cur.Timestamp)},
		"$select": {"DeletedBy,DeletedDate,EntityKey,EntityType,Timestamp"},
	}
	err = s.drain(ctx, path, src.URL(job.Division, path, q), nil, func(bs []dest.Batch, f fetched) error {
		b := &bs[s.main]
		for i, rec := range f.page.Records {
			bad := func(format string, args ...any) {
				// The ref is the hash of the record: a deletion record shares no key
				// with the entities' own quarantined records.
				b.Rejects = append(b.Rejects, dest.Reject{Reason: fmt.Sprintf("%s page %d record %d: ", path, f.n, i) + fmt.Sprintf(format, args...),
					Record: rec.Bytes()})
			}
			if err := rec.Err(); err != nil {
				bad("%v", err)
				continue
			}
			ts, ok, err := exact.Int64(rec.Field("Timestamp"))
			if err != nil || !ok {
				bad("field Timestamp: %v", errOrNull(err))
				continue
			}
			b.Cursor.Timestamp = max(b.Cursor.Timestamp, ts)
			typ, ok, err := exact.Int32(rec.Field("EntityType"))
			if err != nil || !ok {
				bad("field EntityType: %v", errOrNull(err))
				continue
			}
			to := routes[int(typ)]
			if len(to) == 0 {
				continue // an entity not synced here
			}
			key, ok, err := exact.GUID(rec.Field("EntityKey"))
			if err != nil || !ok {
				bad("field EntityKey: %v", errOrNull(err))
				continue
			}
			// Who deleted it and when go to the deletions trail; a value that cannot be
			// read is left out rather than holding up the deletion.
			by, _, _ := exact.GUID(rec.Field("DeletedBy"))
			at, _, _ := exact.Date(rec.Field("DeletedDate"))
			for _, k := range to {
				// Apply a deletion only to a row at most as new as it (§3.12); a
				// quarantined version of the record leaves the quarantine.
				bs[k].Removals = append(bs[k].Removals, dest.Removal{Division: job.Division, ID: key, Version: ts,
					Cause: dest.CauseDeleted, DeletedAt: at, DeletedBy: by})
				bs[k].Released = append(bs[k].Released, dest.Release{Ref: key, Version: ts})
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !stored && s.writes == 0 {
		// Store the starting point even when there was nothing to delete, so that the
		// next run need not work it out again.
		b := dest.Batch{ConnectionID: job.ConnectionID, Division: job.Division, Entity: DeletionsJob, Cursor: own.cur, Fence: s.fence}
		if _, err := r.writeBatches(ctx, []dest.Batch{b}); err != nil {
			return fmt.Errorf("storing the deletions cursor of division %d: %w", job.Division, err)
		}
	}
	return nil
}
