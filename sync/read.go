package sync

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
)

// member is one entity a run writes, with its state while the run pages.
type member struct {
	e     *Entity // nil for the deletions job's own cursor
	name  string  // the entity's name, or DeletionsJob
	table dest.Table
	cur   dest.Cursor
	full  bool  // reads from the start
	from  int64 // the cursor the read starts from for this entity
	// noCursor: the member's batches leave its cursor alone (removals routed by the
	// deletions job).
	noCursor bool
	// quarantined holds the refs of the entity's records in quarantine in the
	// division, as of the last write: a good version of one releases it.
	quarantined map[string]bool
	// same is the index of an earlier member with the same columns, whose converted
	// rows this one shares, or -1.
	same  int
	runID int64
	// seen is the highest version (Modified) read so far in this run, in page order;
	// unordered means a record came with a lower one than a record before it: Exact did
	// not honour $orderby=Modified (§3.7: "may be dropped"), so the cursor stays at from
	// until the read reaches its last page.
	seen      int64
	unordered bool

	upserted, removed, rejected int
}

// stream holds the state of one run while it pages.
type stream struct {
	r   *Runner
	src Source
	job Job
	res *Result
	// prog follows the run's progress (Config.Progress, the progress log).
	prog *tracker
	log  zerolog.Logger
	// fence is the division lock's fencing token, checked by every write.
	fence   int64
	members []*member
	// main is the member whose cursor the result reports.
	main int
	// writes counts the transactions written.
	writes int
}

func (r *Runner) run(ctx context.Context, src Source, job Job, res *Result, prog *tracker, log zerolog.Logger) (err error) {
	if job.Entity == DeletionsJob {
		return r.runDeletions(ctx, src, job, res, prog, log)
	}
	ents, err := r.members(job.Entity)
	if err != nil {
		return err
	}
	lock, runs, done, err := r.lockUnlessReplayed(ctx, job, res, log)
	if done || err != nil {
		return err
	}
	// The rate limits Exact's answers gave are stored before the division is let go: the
	// next job of the division, in any process, then knows a day Exact ended (§2.4, §2.7).
	defer func() { r.saveRateLimit(ctx, src, job, log); lock.Unlock() }()
	r.primeSpentDay(ctx, src, job, log)

	s := &stream{r: r, src: src, job: job, res: res, prog: prog, log: log, fence: lock.Fence}
	started := passesStarted(job, runs)
	fullPass := false            // a pass from the start of an incrementally read entity
	points := map[string]int64{} // Job.Since's start by endpoint, asked once for all members
	for i, e := range ents {
		m := &member{e: e, name: e.Name, table: e.Target(), same: -1}
		for j := range i {
			if slices.Equal(ents[j].Columns(), e.Columns()) && ents[j].Read == e.Read {
				m.same = j
				break
			}
		}
		if m.cur, err = r.writer.Cursor(ctx, job.ConnectionID, job.Division, e.Name); err != nil {
			return err // sink names the entity and division
		}
		m.full = job.Full || e.Read == ReadFull
		if at, ok := started[e.Name]; resumesPass(e, m.cur, at, ok) {
			m.full = false // the pass goes on from its cursor
			log.Info().Str("member", e.Name).Time("pass_started", at).Int64("cursor", m.cur.Timestamp).Bool("sweep", m.cur.Sweep).
				Msg("going on with the full pass an earlier attempt of this job started")
		} else if !m.full && e.Read == ReadSync && (m.cur.Timestamp > 0 || m.cur.DeletedTimestamp > 0) {
			last, err := r.history.LastSuccess(ctx, job.ConnectionID, job.Division, e.Name)
			if err != nil {
				return err
			}
			if age := r.cfg.Now().Sub(last); !last.IsZero() && age > DeletionLogSafeAge {
				m.full = true
				log.Info().Str("member", e.Name).Time("last_success", last).
					Msg("last synced longer ago than Exact keeps deletions (2 months): running a full pass that also removes rows deleted meanwhile")
			}
		}
		sinceFrom := int64(-1) // where Job.Since re-reads from; -1: the stored cursor
		if !m.full && !job.Since.IsZero() {
			switch e.Read {
			case ReadModified:
				sinceFrom = job.Since.UnixMilli() // the Modified cursor is in milliseconds
			case ReadSync:
				if sinceFrom, m.full, err = r.sinceTimestamp(ctx, src, job, e, res, points, log); err != nil {
					return err
				}
			}
		}
		if m.full && e.Read != ReadFull {
			fullPass = true
		}
		if !m.full {
			m.from = m.cur.Timestamp
			if sinceFrom >= 0 {
				m.from = min(m.from, sinceFrom)
			}
		}
		s.members = append(s.members, m)
	}
	res.Job.Full = fullPass || ents[0].Read == ReadFull
	if fullPass {
		if err := r.checkReserve(src, job.Division); err != nil {
			return err
		}
	}

	for _, m := range s.members {
		m.runID, err = r.history.StartRun(ctx, dest.Run{
			ConnectionID: job.ConnectionID, Division: job.Division, Entity: m.name,
			Full: m.full, StartedAt: r.cfg.Now(), QueueJob: job.QueueJob,
		})
		if err != nil {
			return err // sink names the run
		}
	}
	defer s.finishRuns(ctx, &err)
	// Deferred after the runs' end, so it runs before it: a panic is recorded as a failure.
	defer recoverPanic(&err)

	for _, m := range s.members {
		refs, err := r.writer.Quarantined(ctx, job.ConnectionID, job.Division, m.name)
		if err != nil {
			return err
		}
		m.quarantined = make(map[string]bool, len(refs))
		for _, ref := range refs {
			m.quarantined[ref] = true
		}
	}
	res.CursorFrom = s.members[0].from
	res.CursorTo = s.members[0].cur.Timestamp
	for _, m := range s.members {
		if m.full {
			// A full pass moves the cursor from the start, so that a pass cut short
			// resumes where it stopped rather than where the last incremental run had
			// got to. It reconciles the division when it holds rows: a row whose
			// deletion has left Exact's log is only noticed by not being seen (§3.12,
			// §6.16); an entity read in full has no other way to lose rows (§3.15).
			m.cur.Timestamp = 0
			m.cur.LastFullAt = r.cfg.Now()
			if m.cur.Sweep, err = r.writer.StartSweep(ctx, m.table, job.ConnectionID, job.Division, m.name); err != nil {
				return err
			}
		}
	}
	// A sweeping pass cut short goes on recording from its cursor (cur.Sweep was
	// stored with it).
	if err := s.records(ctx); err != nil {
		return err
	}
	for _, m := range s.members {
		if !m.cur.Sweep {
			continue
		}
		removed, err := r.finishSweep(ctx, m.table, job.ConnectionID, job.Division, m.name, m.cur, s.fence)
		if err != nil {
			return err
		}
		m.cur.Sweep = false
		m.removed += removed
		res.Removed += removed
		if removed > 0 {
			log.Info().Str("member", m.name).Int("rows_removed", removed).Msg("full pass removed rows that are no longer in Exact")
		}
	}
	return nil
}

// sinceTimestamp is where a run of Job.Since reads e's sync endpoint from: one below the
// Timestamp read/sync/Sync/SyncTimestamp gives for the first record modified on or after
// job.Since (§3.10, §3.16; the cursor is exclusive), or math.MaxInt64 (the stored cursor)
// when no record was. full is true when Exact cannot say: src cannot ask, or Exact refuses
// the endpoint (it serves only some, §3.10); a full pass then re-reads everything. points
// keeps the answers by endpoint, so that members of one endpoint ask once.
func (r *Runner) sinceTimestamp(ctx context.Context, src Source, job Job, e *Entity, res *Result, points map[string]int64, log zerolog.Logger) (from int64, full bool, err error) {
	if from, ok := points[e.Path]; ok {
		return from, from < 0, nil
	}
	ts, ok := src.(SyncTimestampSource)
	if !ok {
		points[e.Path] = -1
		return -1, true, nil
	}
	name := e.Path[strings.LastIndexByte(e.Path, '/')+1:]
	sp, err := ts.SyncTimestamp(ctx, job.Division, name, job.Since)
	res.Calls += sp.Calls
	var apiErr *exact.APIError
	switch {
	case errors.As(err, &apiErr) && apiErr.Status >= 400 && apiErr.Status < 500 &&
		apiErr.Status != http.StatusUnauthorized && apiErr.Status != http.StatusTooManyRequests:
		log.Info().Str("endpoint", e.Path).Str("error", apiErr.Error()).
			Msg("Exact cannot say where this endpoint's stream reaches the date (SyncTimestamp): re-reading it in full")
		points[e.Path] = -1
		return -1, true, nil
	case err != nil:
		return 0, false, err // exact names the endpoint and division
	case !sp.Found:
		from = math.MaxInt64 // nothing modified since: the stored cursor
	default:
		from = sp.Timestamp - 1
	}
	log.Info().Str("endpoint", e.Path).Time("since", job.Since).Bool("found", sp.Found).Int64("timestamp", sp.Timestamp).
		Msg("re-reading from where the stream reaches the date")
	points[e.Path] = from
	return from, false, nil
}

// checkReserve refuses a full pass while the division's day budget, as src last saw
// it, is below BudgetReserve of its limit (§2): a full pass of a large entity could
// spend what the incremental runs of the day need.
func (r *Runner) checkReserve(src Source, division int) error {
	rs, ok := src.(RateLimitSource)
	if !ok {
		return nil
	}
	rl := rs.RateLimit(division)
	if !rl.Known || rl.DailyLimit <= 0 {
		return nil
	}
	if float64(rl.DailyRemaining) < BudgetReserve*float64(rl.DailyLimit) {
		return fmt.Errorf("division %d has %d of %d calls left today: %w", division, rl.DailyRemaining, rl.DailyLimit, ErrBudgetReserve)
	}
	return nil
}

// finishRuns records the end of every member's run, even when ctx is already
// canceled. The job's own entity carries the pages and calls; the others, read by the
// same calls, cost nothing.
func (s *stream) finishRuns(ctx context.Context, errp *error) {
	err := *errp
	status := statusOf(ctx, err)
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for i, m := range s.members {
		if m.runID != 0 || m.upserted+m.removed+m.rejected > 0 { // the deletions job's targets have no run of their own
			s.res.Entities = append(s.res.Entities, EntityResult{Entity: m.name, Upserted: m.upserted, Removed: m.removed, Quarantined: m.rejected})
		}
		if m.runID == 0 {
			continue
		}
		rr := dest.RunResult{
			Upserted: m.upserted, Removed: m.removed, Quarantined: m.rejected,
			CursorFrom: m.from, CursorTo: m.cur.Timestamp, Status: status, Err: msg,
		}
		if i == s.main {
			rr.Pages, rr.APICalls = s.res.Pages, s.res.Calls
		}
		if ferr := s.r.history.FinishRun(fctx, m.runID, rr); ferr != nil && *errp == nil {
			*errp = ferr // sink names the run
		}
	}
}

// fetched is one page, or the error that ended the paging.
type fetched struct {
	n    int
	page *exact.Page
	err  error
	size int64 // bytes of the page's records
	// conv is the page's records converted for every member, when the stream
	// converts ahead (see feed): conv[i*len(members)+k] is record i for member k.
	conv []converted
}

// feed is the pages fetched ahead of the writer, in order: up to BatchPages pages,
// and up to BatchBytes of records, wait while a write runs, and one more is being
// fetched.
type feed struct {
	ch    chan fetched
	done  chan struct{} // closed when the fetching goroutine has returned
	ahead atomic.Int64  // bytes of the pages in ch
	taken chan struct{} // a page was taken from ch
}

// pages fetches pages in order starting at first, ahead of the consumer. prepare,
// when not nil, is run on each page fetched without an error before it is passed on,
// in the fetching goroutine, so that the consumer finds the page's work done.
func (s *stream) pages(ctx context.Context, path, first string, prepare func(f *fetched)) *feed {
	fd := &feed{ch: make(chan fetched, s.r.cfg.BatchPages), taken: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(fd.done)
		defer close(fd.ch)
		next := first
		for n := 1; next != ""; n++ {
			page, err := s.page(ctx, next)
			f := fetched{n: n, page: page, err: err}
			if err == nil {
				s.prog.fetched()
				for _, rec := range page.Records {
					f.size += int64(len(rec.Bytes()))
				}
				if prepare != nil {
					f.err = s.prepare(prepare, &f)
				}
			}
			if f.err != nil {
				f.err = fmt.Errorf("fetching %s page %d for division %d: %w", path, n, s.job.Division, f.err)
			}
			fd.ahead.Add(f.size)
			select {
			case fd.ch <- f:
			case <-ctx.Done():
				return
			}
			if f.err != nil {
				return
			}
			for fd.ahead.Load() >= s.r.cfg.BatchBytes {
				select {
				case <-fd.taken:
				case <-ctx.Done():
					return
				}
			}
			next = page.Next // followed verbatim (§3.6)
		}
	}()
	return fd
}

// take returns the next page fetched; with wait false, only a page already waiting.
// ok is false after the last page, or, with wait false, when none is waiting.
func (fd *feed) take(wait bool) (f fetched, ok bool) {
	if wait {
		f, ok = <-fd.ch
	} else {
		select {
		case f, ok = <-fd.ch:
		default:
		}
	}
	if ok {
		fd.ahead.Add(-f.size)
		select {
		case fd.taken <- struct{}{}:
		default:
		}
	}
	return f, ok
}

// prepare runs fn on f; a panic in it is an error.
func (s *stream) prepare(fn func(f *fetched), f *fetched) (err error) {
	defer recoverPanic(&err)
	fn(f)
	return nil
}

// page fetches one page; a panic while fetching or decoding it is an error.
func (s *stream) page(ctx context.Context, pageURL string) (p *exact.Page, err error) {
	defer recoverPanic(&err)
	return s.src.Page(ctx, s.job.Division, pageURL)
}

// batches returns one empty batch per member, with its cursor.
func (s *stream) batches() []dest.Batch {
	bs := make([]dest.Batch, len(s.members))
	for i, m := range s.members {
		bs[i] = dest.Batch{Table: m.table, ConnectionID: s.job.ConnectionID, Division: s.job.Division, Entity: m.name,
			Cursor: m.cur, Fence: s.fence, NoCursor: m.noCursor}
	}
	return bs
}

// drain pages through path from first. prepare, when not nil, works on each page
// ahead of the writer (see pages); add turns each page into the rows, removals and
// cursors of one batch per member. A write takes the first page that arrives and every
// further page already waiting, up to BatchPages pages and BatchBytes of records, and
// writes the batches in one transaction. Rows and removals carry their versions, so the
// order of pages inside a batch does not matter to the result (see sink.WriteBatch). A
// page that cannot be fetched or read ends the paging after the pages before it are
// written.
func (s *stream) drain(ctx context.Context, path, first string, prepare func(f *fetched), add func(bs []dest.Batch, f fetched) error) error {
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fd := s.pages(fctx, path, first, prepare)
	// The fetching goroutine ends with the drain: nothing of a run outlives it.
	defer func() { cancel(); <-fd.done }()
	type mark struct{ rows, removals, rejects, released int }
	marks := make([]mark, len(s.members))
	cursors := make([]dest.Cursor, len(s.members))
	for {
		f, ok := fd.take(true)
		if !ok {
			break
		}
		if f.err != nil {
			s.res.Calls += exact.CallsMade(f.err)
			return f.err
		}
		bs := s.batches()
		pages := pageRange{first: f.n, last: f.n - 1}
		var added []*exact.Page // released once written: their rows point into them
		records := 0
		var size int64
		var stop error // ends the paging once the pages taken before it are written
		for {
			s.res.Pages++
			s.res.Calls += f.page.Calls
			for i := range bs {
				b := &bs[i]
				marks[i] = mark{len(b.Rows), len(b.Removals), len(b.Rejects), len(b.Released)}
				cursors[i] = b.Cursor
			}
			if err := add(bs, f); err != nil {
				// The pages before this one are still written.
				for i := range bs {
					b, m := &bs[i], marks[i]
					b.Rows, b.Removals, b.Cursor = b.Rows[:m.rows], b.Removals[:m.removals], cursors[i]
					b.Rejects, b.Released = b.Rejects[:m.rejects], b.Released[:m.released]
				}
				stop = err
				break
			}
			added = append(added, f.page)
			records += len(f.page.Records)
			size += f.size
			pages.last = f.n
			if pages.last-pages.first+1 >= s.r.cfg.BatchPages || size >= s.r.cfg.BatchBytes {
				break
			}
			if f, ok = fd.take(false); !ok {
				break // nothing waiting, or no more pages
			}
			if f.err != nil {
				s.res.Calls += exact.CallsMade(f.err)
				stop = f.err
				break
			}
		}
		if records > 0 {
			if err := s.write(ctx, bs, pages, path); err != nil {
				return err
			}
		}
		// Written: nothing reads the pages any more, and the next pages are read into
		// their buffers (exact.Page.Release).
		for _, p := range added {
			p.Release()
		}
		s.res.Committed += pages.last - pages.first + 1
		s.prog.committed(pages.last-pages.first+1, records)
		if stop != nil {
			return stop
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if turnEnded(ctx) && s.resumable() {
			return ErrTurnEnded
		}
	}
	return ctx.Err()
}

// pageRange names the pages of one write in errors.
type pageRange struct{ first, last int }

func (p pageRange) String() string {
	if p.first == p.last {
		return fmt.Sprintf("page %d", p.first)
	}
	return fmt.Sprintf("pages %d-%d", p.first, p.last)
}

// firstURL is the first page of the members' endpoint, from the lowest of their
// cursors.
func (s *stream) firstURL() string {
	e := s.members[0].e
	from := s.members[0].from
	for _, m := range s.members[1:] {
		from = min(from, m.from)
	}
	q := url.Values{"$select": {e.Select()}} // §3.9
	switch e.Read {
	case ReadSync:
		q.Set("$filter", fmt.Sprintf("Timestamp gt %dL", from)) // §3.10
	case ReadModified:
		// §3.15: a Modified cursor, ascending, from a little before the last Modified
		// seen; regular endpoints serve 60 records a page (§3.6).
		if from > 0 {
			q.Set("$filter", "Modified ge datetime'"+modifiedLiteral(from)+"'")
		}
		q.Set("$orderby", "Modified")
	}
	return s.src.URL(s.job.Division, e.Path, q)
}

// modifiedLiteral is the datetime literal of a Modified filter starting ModifiedOverlap
// before the instant ms (milliseconds since 1970 UTC): Amsterdam wall-clock time without
// a zone, which is how Exact reads it (§3.8), in whole seconds rounded down. Within the
// hour after a change of the clocks a wall-clock time can name two instants; the
// literal then starts an hour earlier, so that no reading of it skips a record.
func modifiedLiteral(ms int64) string {
	t := time.UnixMilli(ms).Add(-ModifiedOverlap)
	if exact.AmsterdamOffset(t) != exact.AmsterdamOffset(t.Add(-time.Hour)) {
		t = t.Add(-time.Hour)
	}
	return exact.DateTimeLiteral(t)
}

// converted is one record converted for one member.
type converted struct {
	vals       []any
	key        string
	version    int64
	hasVersion bool
	err        error
}

// records pages through the members' endpoint. A record that cannot be read is
// quarantined (dest.Reject) in its page's transaction, under each member, and the page
// and cursors move on without it. Records are converted into rows in the fetching
// goroutine, while the writer writes the pages before.
func (s *stream) records(ctx context.Context) error {
	e := s.members[0].e
	return s.drain(ctx, e.Path, s.firstURL(), s.convert, func(bs []dest.Batch, f fetched) error {
		for k := range s.members {
			bs[k].Rows = slices.Grow(bs[k].Rows, len(f.page.Records))
		}
		for i, rec := range f.page.Records {
			for k, m := range s.members {
				s.add(&bs[k], m, rec, &f.conv[i*len(s.members)+k], f.n, i)
			}
		}
		if f.page.Next == "" {
			// The read is complete: an unordered one has seen every record by now.
			for k, m := range s.members {
				if m.unordered {
					bs[k].Cursor.Timestamp = max(m.seen, m.from)
				}
			}
		}
		return nil
	})
}

// convert converts every record of a page for every member into f.conv. It reads
// nothing that changes during a run, so it runs ahead of the writer.
func (s *stream) convert(f *fetched) {
	recs := f.page.Records
	f.conv = make([]converted, len(recs)*len(s.members))
	// One backing array per member and page instead of a slice per record.
	backing := make([][]any, len(s.members))
	for k, m := range s.members {
		if m.same < 0 {
			backing[k] = make([]any, len(recs)*len(m.table.Columns))
		}
	}
	shapes := make([]*shape, len(s.members)) // of the last good record, per member
	for i, rec := range recs {
		conv := f.conv[i*len(s.members) : (i+1)*len(s.members)]
		for k, m := range s.members {
			c := &conv[k]
			if err := rec.Err(); err != nil {
				// Invalid JSON, or text PostgreSQL cannot hold: the decoder flagged
				// it (exact.Record.Err); what could be read still names it.
				*c = converted{err: err}
				c.key, _ = m.e.key(rec)
				if m.e.Read == ReadSync {
					var verr error
					if c.version, c.hasVersion, verr = exact.Int64(rec.Field("Timestamp")); verr != nil {
						c.version, c.hasVersion = 0, false
					}
				}
			} else if m.same >= 0 {
				*c = conv[m.same]
			} else {
				cols := len(m.table.Columns)
				c.vals = backing[k][i*cols : (i+1)*cols : (i+1)*cols]
				if shapes[k] == nil || !shapes[k].fits(rec) {
					shapes[k] = m.e.newShape(rec)
				}
				c.key, c.version, c.hasVersion, c.err = m.e.row(s.job.Division, rec, shapes[k], c.vals)
				if s.r.cfg.OmitRaw {
					c.vals[cols-1] = omittedRaw
				} else if s.r.cfg.RawExtra && c.err == nil {
					c.vals[cols-1] = m.e.rawExtra(rec, shapes[k], c.vals)
				}
			}
		}
	}
}

// add puts one converted record, record i of page n, into member m's batch: a row, a
// removal (a record that does not match the member's Keep) or a reject.
func (s *stream) add(b *dest.Batch, m *member, rec exact.Record, c *converted, n, i int) {
	err := c.err
	if err == nil {
		var keep bool
		if keep, err = m.e.keep(rec); err == nil {
			if keep {
				b.Rows = append(b.Rows, c.vals)
			} else {
				b.Removals = append(b.Removals, dest.Removal{Division: s.job.Division, ID: c.key, Version: c.version, Cause: m.e.removalCause()})
			}
			if m.quarantined[c.key] {
				b.Released = append(b.Released, dest.Release{Ref: c.key, Version: c.version})
			}
		}
	}
	if err != nil {
		b.Rejects = append(b.Rejects, dest.Reject{Key: c.key, Timestamp: c.version, HasTimestamp: c.hasVersion,
			Reason: fmt.Sprintf("%s page %d record %d: %v", m.e.Path, n, i, err), Record: rec.Bytes()})
	}
	if c.hasVersion && m.e.Read != ReadFull {
		if m.e.Read == ReadModified && c.version < m.seen && !m.unordered {
			m.unordered = true
			s.log.Warn().Str("entity", m.name).Str("endpoint", m.e.Path).
				Msg("Exact did not return the records in Modified order ($orderby dropped, §3.7); this run keeps the cursor where it started until it has read every page")
		}
		m.seen = max(m.seen, c.version)
		if m.unordered {
			b.Cursor.Timestamp = m.from // a later page may still hold an older record
		} else {
			b.Cursor.Timestamp = max(b.Cursor.Timestamp, c.version)
		}
	}
}

// write stores one write's batches. Once their pages have been fetched they are
// written even if ctx is canceled meanwhile, bounded by the write timeout, so a
// shutdown finishes the current write cleanly.
func (s *stream) write(ctx context.Context, bs []dest.Batch, pages pageRange, path string) error {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.r.cfg.WriteTimeout)
	defer cancel()
	outs, rejects, err := s.storeAll(wctx, bs)
	if err != nil {
		// The writer names the tables and the division (see Writer.WriteBatches).
		return fmt.Errorf("storing %s %s: %w", path, pages, err)
	}
	for k, m := range s.members {
		b := &bs[k]
		if !m.noCursor {
			m.cur = b.Cursor
		}
		m.upserted += outs[k].Upserted
		m.removed += outs[k].Removed
		m.rejected += len(rejects[k])
		s.res.Upserted += outs[k].Upserted
		s.res.Removed += outs[k].Removed
		s.res.Quarantined += len(rejects[k])
		for _, r := range b.Released {
			delete(m.quarantined, r.Ref)
		}
		for _, r := range rejects[k] {
			if m.quarantined != nil {
				m.quarantined[r.Ref()] = true
			}
		}
	}
	s.res.CursorTo = s.members[s.main].cur.Timestamp
	s.writes++
	return nil
}

// storeAll writes the batches in one transaction, leaving out those that would write
// nothing, and returns each one's result and the records it quarantined. When
// PostgreSQL refuses a value (a data exception), each batch is written on its own by
// store, which finds the rows it refuses; each batch carries its own cursor, so the
// result is the same, in several transactions.
func (s *stream) storeAll(ctx context.Context, bs []dest.Batch) ([]dest.BatchResult, [][]dest.Reject, error) {
	outs := make([]dest.BatchResult, len(bs))
	rejects := make([][]dest.Reject, len(bs))
	var idx []int
	var write []dest.Batch
	for k, b := range bs {
		if b.NoCursor && len(b.Rows) == 0 && len(b.Removals) == 0 && len(b.Rejects) == 0 && len(b.Released) == 0 {
			continue
		}
		idx, write = append(idx, k), append(write, b)
	}
	if len(write) == 0 {
		return outs, rejects, nil
	}
	if len(write) == 1 {
		k := idx[0]
		out, rj, err := s.store(ctx, s.members[k], bs[k], s.members[k].cur)
		outs[k], rejects[k] = out, rj
		return outs, rejects, err
	}
	res, err := s.r.writeBatches(ctx, write)
	if err == nil {
		for j, k := range idx {
			outs[k], rejects[k] = res[j], bs[k].Rejects
		}
		return outs, rejects, nil
	}
	if !dest.IsDataError(err) {
		return outs, rejects, err
	}
	for _, k := range idx {
		out, rj, err := s.store(ctx, s.members[k], bs[k], s.members[k].cur)
		outs[k], rejects[k] = out, rj
		if err != nil {
			return outs, rejects, err
		}
	}
	return outs, rejects, nil
}

// store writes b, member m's batch, and returns the records it quarantined. When
// PostgreSQL refuses a value of b's rows (a data exception: a record that decoded but
// cannot be stored), the rows are split in halves, each written on its own, down to
// the single rows that fail, which are quarantined: the other rows of the batch are
// stored and the cursor moves on. The first half is written with the cursor as it was
// (cur), the second with b's, and the removals and releases go with the second; writes
// are idempotent, so a crash between them loses nothing.
func (s *stream) store(ctx context.Context, m *member, b dest.Batch, cur dest.Cursor) (dest.BatchResult, []dest.Reject, error) {
	out, err := s.r.writeBatch(ctx, b)
	if err == nil || !dest.IsDataError(err) || len(b.Rows) == 0 {
		return out, b.Rejects, err
	}
	if len(b.Rows) == 1 {
		row := b.Rows[0]
		key := fmt.Sprint(row[m.e.keyIndex()])
		version, _ := row[len(row)-2].(int64)
		raw, _ := row[len(row)-1].([]byte)
		if s.r.cfg.OmitRaw || s.r.cfg.RawExtra {
			raw = rowRecord(m.table.Columns, row)
		}
		s.log.Warn().Str("entity", m.name).Str("key", key).Str("error", err.Error()).Msg("PostgreSQL refused a record; quarantining it")
		b.Rows = nil
		b.Rejects = append(slices.Clip(b.Rejects), dest.Reject{Key: key, Timestamp: version, HasTimestamp: true,
			Reason: "PostgreSQL refused the record: " + refusal(err), Record: raw})
		out, err := s.r.writeBatch(ctx, b)
		return out, b.Rejects, err
	}
	half := len(b.Rows) / 2
	first := dest.Batch{Table: b.Table, Rows: b.Rows[:half], ConnectionID: b.ConnectionID, Division: b.Division,
		Entity: b.Entity, Cursor: cur, Fence: b.Fence, NoCursor: b.NoCursor}
	o1, r1, err := s.store(ctx, m, first, cur)
	if err != nil {
		return o1, r1, err
	}
	second := b
	second.Rows = b.Rows[half:]
	if len(r1) > 0 {
		// A record just quarantined is not released by the releases of its batch.
		rejected := make(map[string]bool, len(r1))
		for _, r := range r1 {
			rejected[r.Ref()] = true
		}
		second.Released = slices.DeleteFunc(slices.Clone(b.Released), func(r dest.Release) bool { return rejected[r.Ref] })
	}
	o2, r2, err := s.store(ctx, m, second, cur)
	return dest.BatchResult{Upserted: o1.Upserted + o2.Upserted, Removed: o1.Removed + o2.Removed}, append(r1, r2...), err
}

// refusal is the destination's own words about the value it refused (dest.DataError),
// without our wrapping.
func refusal(err error) string {
	if d, ok := errors.AsType[*dest.DataError](err); ok {
		return d.Reason
	}
	return err.Error()
}
