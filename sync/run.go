package sync

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"runtime/debug"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/sink"
)

// Source pages through Exact Online. *exact.Client implements it.
type Source interface {
	URL(division int, path string, query url.Values) string
	Page(ctx context.Context, division int, pageURL string) (*exact.Page, error)
}

// Writer stores pages and cursors, and reconciles a division after a full
// pass. *sink.Store implements it.
type Writer interface {
	Cursor(ctx context.Context, connID int64, division int, entity string) (sink.Cursor, error)
	WriteBatch(ctx context.Context, b sink.Batch) (sink.BatchResult, error)
	StartSweep(ctx context.Context, t sink.Table, connID int64, division int, entity string) (bool, error)
	FinishSweep(ctx context.Context, t sink.Table, connID int64, division int, entity string, c sink.Cursor, fence int64) (int, error)
	// Quarantined returns the refs (sink.Reject.Ref) of the entity's records in
	// quarantine in the division.
	Quarantined(ctx context.Context, connID int64, division int, entity string) ([]string, error)
}

// History records runs. *sink.Store implements it.
type History interface {
	StartRun(ctx context.Context, r sink.Run) (int64, error)
	FinishRun(ctx context.Context, runID int64, res sink.RunResult) error
	// LastSuccess is when the last successful run finished; zero if none.
	LastSuccess(ctx context.Context, connID int64, division int, entity string) (time.Time, error)
}

// Locker gives one worker at a time a (connection, division). *sink.Store
// implements it.
type Locker interface {
	LockDivision(ctx context.Context, connID int64, division int, wait bool) (lock *sink.DivisionLock, ok bool, err error)
}

// RateLimitSource is implemented by a Source that knows the rate limits it
// last saw per division. *exact.Client implements it.
type RateLimitSource interface {
	RateLimit(division int) exact.RateLimit
}

// RateLimitSaver is implemented by a Writer that keeps the rate limits last
// seen, for status reports. *sink.Store implements it.
type RateLimitSaver interface {
	SaveRateLimit(ctx context.Context, connID int64, division int, rl sink.RateLimit) error
}

var (
	_ RateLimitSource = (*exact.Client)(nil)
	_ RateLimitSaver  = (*sink.Store)(nil)
	_ Source          = (*exact.Client)(nil)
	_ Writer          = (*sink.Store)(nil)
	_ History         = (*sink.Store)(nil)
	_ Locker          = (*sink.Store)(nil)
)

// Job is one unit of work: an entity of a division of a connection.
type Job struct {
	ConnectionID int64
	Division     int
	Entity       string
	Full         bool // start from the beginning instead of the stored cursor
}

func (j Job) String() string {
	kind := "incremental"
	if j.Full {
		kind = "full"
	}
	return fmt.Sprintf("%s %s sync of division %d (connection %d)", kind, j.Entity, j.Division, j.ConnectionID)
}

// Result summarises one run.
type Result struct {
	Job      Job
	Status   string // ok, failed, daily_limit, reauth_required, busy, lock_lost
	Upserted int
	Removed  int
	// Quarantined counts the records written to exact_sync.rejected_records: they
	// could not be decoded or stored, and the run went on without them.
	Quarantined int
	Pages       int
	Calls       int
	CursorFrom  int64
	CursorTo    int64
	Duration    time.Duration
}

// Statuses of a run.
const (
	StatusOK             = "ok"
	StatusFailed         = "failed"
	StatusDailyLimit     = "daily_limit"
	StatusReauthRequired = "reauth_required"
	StatusBusy           = "busy"
	// StatusLockLost: the run's division lock was lost (its database session ended)
	// and another worker took the division; the run stopped at its next write.
	StatusLockLost = sink.RunLockLost
)

// DefaultBatchPages is the default of [Config.BatchPages]. Writing 8 pages of
// 1,000 accounts in one transaction instead of 8 ran at 1.3–1.5× the rows/s
// on PostgreSQL 15 (BENCHMARKS.md): each COPY and commit has a fixed cost
// besides its rows.
const DefaultBatchPages = 8

// DeletionLogSafeAge is how long after its last successful run an entity of a
// division is still synced incrementally. Exact keeps its deletion log two
// months, so a later run could miss deletions: it runs a full pass instead,
// which removes the rows it does not see (fact sheet §3.12, §6.16: "> ~55
// days").
const DeletionLogSafeAge = 55 * 24 * time.Hour

// ErrBusy is returned when another worker holds the division.
var ErrBusy = errors.New("division is being synced by another worker")

// Config configures a [Runner]. Zero values mean defaults.
type Config struct {
	Logger zerolog.Logger
	// WriteTimeout bounds one write (default 30s). Pages whose fetch has
	// finished are written even while shutting down, within it.
	WriteTimeout time.Duration
	// BatchPages bounds how many fetched pages one write takes together
	// (default 8; 1 writes every page on its own). Pages are only taken
	// together when they are already waiting, that is when the writer is the
	// slower side, so a run at Exact's pace still writes each page as it
	// arrives. It is also how many pages are fetched ahead of the writer.
	BatchPages int
	// WaitForLock makes a run wait for the division lock instead of
	// returning ErrBusy.
	WaitForLock bool
	Now         func() time.Time
}

// Runner runs jobs.
type Runner struct {
	cfg     Config
	writer  Writer
	history History
	locker  Locker
}

// NewRunner returns a Runner writing through w, recording runs in h and
// locking divisions with l.
func NewRunner(cfg Config, w Writer, h History, l Locker) *Runner {
	cfg.WriteTimeout = cmp.Or(cfg.WriteTimeout, 30*time.Second)
	cfg.BatchPages = max(cmp.Or(cfg.BatchPages, DefaultBatchPages), 1)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Runner{cfg: cfg, writer: w, history: h, locker: l}
}

// Run runs one job against src and logs its summary, once. It returns the
// result and, for anything but success, an error saying what happened.
func (r *Runner) Run(ctx context.Context, src Source, job Job) (Result, error) {
	start := r.cfg.Now()
	res := Result{Job: job, Status: StatusFailed}
	log := r.cfg.Logger.With().Str("entity", job.Entity).Int("division", job.Division).
		Int64("connection", job.ConnectionID).Logger()

	err := r.runRecovered(ctx, src, job, &res, log)
	res.Duration = r.cfg.Now().Sub(start)
	r.saveRateLimit(ctx, src, job, log)
	var daily *exact.DailyLimitError
	switch {
	case err == nil:
		res.Status = StatusOK
	case errors.Is(err, ErrBusy):
		res.Status = StatusBusy
	case errors.As(err, &daily):
		res.Status = StatusDailyLimit
	case errors.Is(err, exact.ErrReauthRequired):
		res.Status = StatusReauthRequired
	case errors.Is(err, sink.ErrLockLost):
		res.Status = StatusLockLost
	}

	ev := log.Info()
	switch {
	case err == nil:
	case errors.Is(err, context.Canceled):
		ev = log.Warn().Str("status", "canceled")
	case res.Status == StatusBusy || res.Status == StatusDailyLimit || res.Status == StatusLockLost:
		ev = log.Warn().Err(err)
	default:
		ev = log.Error().Err(err)
	}
	ev.Bool("full", res.Job.Full).Str("status", res.Status).Int("rows_upserted", res.Upserted).Int("rows_removed", res.Removed).
		Int("records_quarantined", res.Quarantined).Int("pages", res.Pages).Int("api_calls", res.Calls).Int64("cursor_from", res.CursorFrom).
		Int64("cursor_to", res.CursorTo).Dur("duration", res.Duration).Msg("sync run finished")
	return res, err
}

// saveRateLimit stores the division's rate limits as last seen by src, when
// src and the writer support it (see RateLimitSource, RateLimitSaver).
func (r *Runner) saveRateLimit(ctx context.Context, src Source, job Job, log zerolog.Logger) {
	rs, ok1 := src.(RateLimitSource)
	saver, ok2 := r.writer.(RateLimitSaver)
	if !ok1 || !ok2 {
		return
	}
	rl := rs.RateLimit(job.Division)
	if !rl.Known {
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := saver.SaveRateLimit(sctx, job.ConnectionID, job.Division, sink.RateLimit{
		DailyLimit: rl.DailyLimit, DailyRemaining: rl.DailyRemaining, DailyReset: rl.DailyReset,
		MinutelyLimit: rl.MinutelyLimit, MinutelyRemaining: rl.MinutelyRemaining, MinutelyReset: rl.MinutelyReset,
		ObservedAt: r.cfg.Now(),
	})
	if err != nil {
		log.Warn().Err(err).Msg("cannot store the rate limits")
	}
}

// PanicError is a panic inside a run, recovered so that one bad input never takes
// the process (and every other division's runs) down. Stack is the panicking
// goroutine's stack, for the log.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("internal error (panic): %v", e.Value) }

// recoverPanic turns a panic into a *PanicError in *err.
func recoverPanic(err *error) {
	if v := recover(); v != nil {
		*err = &PanicError{Value: v, Stack: debug.Stack()}
	}
}

// runRecovered is run with panics recovered and logged with their stack.
func (r *Runner) runRecovered(ctx context.Context, src Source, job Job, res *Result, log zerolog.Logger) (err error) {
	defer func() {
		var pe *PanicError
		if errors.As(err, &pe) {
			log.Error().Str("stack", string(pe.Stack)).Msgf("recovered from a panic: %v", pe.Value)
		}
	}()
	defer recoverPanic(&err)
	return r.run(ctx, src, job, res, log)
}

func (r *Runner) run(ctx context.Context, src Source, job Job, res *Result, log zerolog.Logger) (err error) {
	e, err := Lookup(job.Entity)
	if err != nil {
		return err
	}
	lock, ok, err := r.locker.LockDivision(ctx, job.ConnectionID, job.Division, r.cfg.WaitForLock)
	if err != nil {
		return fmt.Errorf("locking division %d of connection %d: %w", job.Division, job.ConnectionID, err)
	}
	if !ok {
		return fmt.Errorf("%s: %w", job, ErrBusy)
	}
	defer lock.Unlock()

	cur, err := r.writer.Cursor(ctx, job.ConnectionID, job.Division, e.Name)
	if err != nil {
		return fmt.Errorf("reading the cursor: %w", err)
	}
	full := job.Full
	if !full && (cur.Timestamp > 0 || cur.DeletedTimestamp > 0) {
		last, err := r.history.LastSuccess(ctx, job.ConnectionID, job.Division, e.Name)
		if err != nil {
			return err
		}
		if age := r.cfg.Now().Sub(last); !last.IsZero() && age > DeletionLogSafeAge {
			full = true
			res.Job.Full = true
			log.Info().Time("last_success", last).
				Msg("last synced longer ago than Exact keeps deletions (2 months): running a full pass that also removes rows deleted meanwhile")
		}
	}

	runID, err := r.history.StartRun(ctx, sink.Run{
		ConnectionID: job.ConnectionID, Division: job.Division, Entity: job.Entity,
		Full: full, StartedAt: r.cfg.Now(),
	})
	if err != nil {
		return fmt.Errorf("recording the start of the run: %w", err)
	}
	defer func() {
		rr := sink.RunResult{
			Upserted: res.Upserted, Removed: res.Removed, Pages: res.Pages, APICalls: res.Calls, Quarantined: res.Quarantined,
			CursorFrom: res.CursorFrom, CursorTo: res.CursorTo, Status: StatusOK,
		}
		if err != nil {
			rr.Err = err.Error()
			rr.Status = StatusFailed
			var daily *exact.DailyLimitError
			switch {
			case errors.As(err, &daily):
				rr.Status = StatusDailyLimit
			case errors.Is(err, exact.ErrReauthRequired):
				rr.Status = StatusReauthRequired
			case errors.Is(err, sink.ErrLockLost):
				rr.Status = sink.RunLockLost
			}
		}
		// The run's outcome is recorded even when ctx is already canceled.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if ferr := r.history.FinishRun(fctx, runID, rr); ferr != nil && err == nil {
			err = fmt.Errorf("recording the end of the run: %w", ferr)
		}
	}()
	// Deferred after FinishRun, so it runs before it: a panic is recorded as a failure.
	defer recoverPanic(&err)

	refs, err := r.writer.Quarantined(ctx, job.ConnectionID, job.Division, e.Name)
	if err != nil {
		return err
	}
	quarantined := make(map[string]bool, len(refs))
	for _, ref := range refs {
		quarantined[ref] = true
	}

	from := cur.Timestamp
	if full {
		from = 0
	}
	res.CursorFrom = from
	res.CursorTo = cur.Timestamp

	s := &stream{r: r, src: src, job: job, e: e, res: res, cur: cur, fence: lock.Fence, quarantined: quarantined, log: log}
	table := e.Target()
	if full {
		// A full pass moves the cursor from the start, so that a pass cut
		// short resumes where it stopped rather than where the last
		// incremental run had got to. It reconciles the division when it
		// holds rows: a row whose deletion has left Exact's log is only
		// noticed by not being seen (§3.12, §6.16).
		s.cur.Timestamp = 0
		s.cur.LastFullAt = r.cfg.Now()
		if s.cur.Sweep, err = r.writer.StartSweep(ctx, table, job.ConnectionID, job.Division, e.Name); err != nil {
			return err
		}
	}
	// A sweeping pass cut short goes on recording from its cursor (s.cur.Sweep
	// was stored with it).
	if err := s.records(ctx, from); err != nil {
		return err
	}
	if s.cur.Sweep {
		removed, err := r.writer.FinishSweep(ctx, table, job.ConnectionID, job.Division, e.Name, s.cur, s.fence)
		if err != nil {
			return err
		}
		s.cur.Sweep = false
		res.Removed += removed
		if removed > 0 {
			log.Info().Int("rows_removed", removed).Msg("full pass removed rows that are no longer in Exact")
		}
	}
	return s.deletions(ctx)
}

// stream holds the state of one run while it pages.
type stream struct {
	r   *Runner
	src Source
	job Job
	e   *Entity
	res *Result
	cur sink.Cursor
	log zerolog.Logger
	// fence is the division lock's fencing token, checked by every write.
	fence int64
	// quarantined holds the refs of the entity's records in quarantine in the
	// division, as of the last write: a good version of one releases it.
	quarantined map[string]bool
}

// fetched is one page, or the error that ended the paging.
type fetched struct {
	n    int
	page *exact.Page
	err  error
}

// pages fetches pages in order starting at first, ahead of the consumer: up to
// BatchPages pages wait while a write runs, and one more is being fetched.
func (s *stream) pages(ctx context.Context, path, first string) <-chan fetched {
	ch := make(chan fetched, s.r.cfg.BatchPages)
	go func() {
		defer close(ch)
		next := first
		for n := 1; next != ""; n++ {
			page, err := s.page(ctx, next)
			if err != nil {
				err = fmt.Errorf("fetching %s page %d for division %d: %w", path, n, s.job.Division, err)
			}
			select {
			case ch <- fetched{n: n, page: page, err: err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
			next = page.Next
		}
	}()
	return ch
}

// page fetches one page; a panic while fetching or decoding it is an error.
func (s *stream) page(ctx context.Context, pageURL string) (p *exact.Page, err error) {
	defer recoverPanic(&err)
	return s.src.Page(ctx, s.job.Division, pageURL)
}

// drain pages through path from first. add turns each page into the rows,
// removals and cursor of a batch; a batch takes the first page that arrives
// and every further page already waiting, up to BatchPages, and is written in
// one transaction. Rows and removals carry their versions, so the order of
// pages inside a batch does not matter to the result (see sink.WriteBatch).
// A page that cannot be fetched or read ends the paging after the pages
// before it are written.
func (s *stream) drain(ctx context.Context, path, first string, add func(b *sink.Batch, f fetched) error) error {
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	table := s.e.Target()
	ch := s.pages(fctx, path, first)
	for f := range ch {
		if f.err != nil {
			s.res.Calls += exact.CallsMade(f.err)
			return f.err
		}
		b := sink.Batch{Table: table, ConnectionID: s.job.ConnectionID, Division: s.job.Division, Entity: s.e.Name, Cursor: s.cur, Fence: s.fence}
		pages := pageRange{first: f.n, last: f.n - 1}
		records := 0
		var stop error // ends the paging once the pages taken before it are written
		for {
			s.res.Pages++
			s.res.Calls += f.page.Calls
			rows, removals, rejects, released, cursor := len(b.Rows), len(b.Removals), len(b.Rejects), len(b.Released), b.Cursor
			if err := add(&b, f); err != nil {
				// The pages before this one are still written.
				b.Rows, b.Removals, b.Cursor = b.Rows[:rows], b.Removals[:removals], cursor
				b.Rejects, b.Released = b.Rejects[:rejects], b.Released[:released]
				stop = err
				break
			}
			records += len(f.page.Records)
			pages.last = f.n
			if pages.last-pages.first+1 >= s.r.cfg.BatchPages {
				break
			}
			var ok bool
			select {
			case f, ok = <-ch:
			default:
			}
			if !ok {
				break // nothing waiting, or no more pages
			}
			if f.err != nil {
				s.res.Calls += exact.CallsMade(f.err)
				stop = f.err
				break
			}
		}
		if records > 0 {
			if err := s.write(ctx, b, pages, path); err != nil {
				return err
			}
		}
		if stop != nil {
			return stop
		}
		if err := ctx.Err(); err != nil {
			return err
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

// records pages through the entity's sync endpoint from the given cursor. A
// record that cannot be read is quarantined (sink.Reject) in its page's
// transaction, and the page and cursor move on without it.
func (s *stream) records(ctx context.Context, from int64) error {
	q := url.Values{
		"$filter": {fmt.Sprintf("Timestamp gt %dL", from)}, // §3.10
		"$select": {s.e.Select()},                          // §3.9
	}
	cols := len(s.e.Columns())
	return s.drain(ctx, s.e.SyncPath, s.src.URL(s.job.Division, s.e.SyncPath, q), func(b *sink.Batch, f fetched) error {
		// One backing array for the page's values instead of a slice per record.
		backing := make([]any, len(f.page.Records)*cols)
		b.Rows = slices.Grow(b.Rows, len(f.page.Records))
		for i, rec := range f.page.Records {
			vals := backing[i*cols : (i+1)*cols : (i+1)*cols]
			if err := rec.Err(); err != nil {
				// Invalid JSON, or text PostgreSQL cannot hold: the decoder flagged
				// it (exact.Record.Err); what could be read still names it.
				id, _, _ := exact.GUID(rec.Field(s.e.Key))
				version, hasVersion, verr := exact.Int64(rec.Field("Timestamp"))
				if verr != nil {
					hasVersion = false
				}
				s.reject(b, sink.Reject{Key: id, Timestamp: version, HasTimestamp: hasVersion,
					Reason: fmt.Sprintf("%s page %d record %d: %v", s.e.SyncPath, f.n, i, err), Record: rec.Bytes()})
				if hasVersion {
					b.Cursor.Timestamp = max(b.Cursor.Timestamp, version)
				}
				continue
			}
			id, version, hasVersion, err := s.e.row(s.job.Division, rec, vals)
			if err == nil {
				var keep bool
				if keep, err = s.e.keep(rec); err == nil {
					if keep {
						b.Rows = append(b.Rows, vals)
					} else {
						b.Removals = append(b.Removals, sink.Removal{Division: s.job.Division, ID: id, Version: version})
					}
					s.release(b, id, version)
				}
			}
			if err != nil {
				s.reject(b, sink.Reject{Key: id, Timestamp: version, HasTimestamp: hasVersion,
					Reason: fmt.Sprintf("%s page %d record %d: %v", s.e.SyncPath, f.n, i, err), Record: rec.Bytes()})
			}
			if hasVersion {
				b.Cursor.Timestamp = max(b.Cursor.Timestamp, version)
			}
		}
		return nil
	})
}

// release takes a record out of quarantine once a good version of it, or its
// deletion, is in the batch.
func (s *stream) release(b *sink.Batch, ref string, version int64) {
	if s.quarantined[ref] {
		b.Released = append(b.Released, sink.Release{Ref: ref, Version: version})
	}
}

// reject adds a record to the batch's quarantine.
func (s *stream) reject(b *sink.Batch, r sink.Reject) {
	b.Rejects = append(b.Rejects, r)
}

// deletions applies sync/Deleted from the stored deletion cursor (§3.12). A
// deletion record that cannot be read is quarantined under the entity, with a
// reason naming sync/Deleted.
func (s *stream) deletions(ctx context.Context) error {
	const path = "sync/Deleted"
	q := url.Values{
		"$filter": {fmt.Sprintf("Timestamp gt %dL", s.cur.DeletedTimestamp)},
		"$select": {"EntityKey,EntityType,Timestamp"},
	}
	return s.drain(ctx, path, s.src.URL(s.job.Division, path, q), func(b *sink.Batch, f fetched) error {
		for i, rec := range f.page.Records {
			bad := func(format string, args ...any) {
				// The ref is the hash of the record: a deletion record shares no key
				// with the entity's own quarantined records.
				s.reject(b, sink.Reject{Reason: fmt.Sprintf("%s page %d record %d: ", path, f.n, i) + fmt.Sprintf(format, args...),
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
			b.Cursor.DeletedTimestamp = max(b.Cursor.DeletedTimestamp, ts)
			typ, ok, err := exact.Int32(rec.Field("EntityType"))
			if err != nil || !ok {
				bad("field EntityType: %v", errOrNull(err))
				continue
			}
			if int(typ) != s.e.DeletedType {
				continue
			}
			key, ok, err := exact.GUID(rec.Field("EntityKey"))
			if err != nil || !ok {
				bad("field EntityKey: %v", errOrNull(err))
				continue
			}
			b.Removals = append(b.Removals, sink.Removal{Division: s.job.Division, ID: key, Version: ts})
			s.release(b, key, ts)
		}
		return nil
	})
}

// write stores one batch. Once its pages have been fetched they are written
// even if ctx is canceled meanwhile, bounded by the write timeout, so a
// shutdown finishes the current write cleanly.
func (s *stream) write(ctx context.Context, b sink.Batch, pages pageRange, path string) error {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.r.cfg.WriteTimeout)
	defer cancel()
	out, rejects, err := s.store(wctx, b)
	if err != nil {
		return fmt.Errorf("writing %s %s for division %d into %s: %w", path, pages, s.job.Division, b.Table.Name, err)
	}
	s.cur = b.Cursor
	s.res.Upserted += out.Upserted
	s.res.Removed += out.Removed
	s.res.Quarantined += len(rejects)
	s.res.CursorTo = b.Cursor.Timestamp
	for _, r := range b.Released {
		delete(s.quarantined, r.Ref)
	}
	for _, r := range rejects {
		s.quarantined[r.Ref()] = true
	}
	return nil
}

// store writes b and returns the records it quarantined. When PostgreSQL refuses
// a value of b's rows (a data exception: a record that decoded but cannot be
// stored), the rows are split in halves, each written on its own, down to the
// single rows that fail, which are quarantined: the other rows of the batch are
// stored and the cursor moves on. The first half is written with the cursor as
// it was, the second with b's, and the removals and releases go with the second;
// writes are idempotent, so a crash between them loses nothing.
func (s *stream) store(ctx context.Context, b sink.Batch) (sink.BatchResult, []sink.Reject, error) {
	out, err := s.r.writer.WriteBatch(ctx, b)
	if err == nil || !sink.IsDataError(err) || len(b.Rows) == 0 {
		return out, b.Rejects, err
	}
	if len(b.Rows) == 1 {
		row := b.Rows[0]
		id, _ := row[1].(string)
		version, _ := row[len(row)-2].(int64)
		raw, _ := row[len(row)-1].([]byte)
		s.log.Warn().Str("id", id).Str("error", err.Error()).Msg("PostgreSQL refused a record; quarantining it")
		b.Rows = nil
		b.Rejects = append(slices.Clip(b.Rejects), sink.Reject{Key: id, Timestamp: version, HasTimestamp: true,
			Reason: "PostgreSQL refused the record: " + pgMessage(err), Record: raw})
		out, err := s.r.writer.WriteBatch(ctx, b)
		return out, b.Rejects, err
	}
	half := len(b.Rows) / 2
	first := sink.Batch{Table: b.Table, Rows: b.Rows[:half], ConnectionID: b.ConnectionID, Division: b.Division,
		Entity: b.Entity, Cursor: s.cur, Fence: b.Fence}
	o1, r1, err := s.store(ctx, first)
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
		second.Released = slices.DeleteFunc(slices.Clone(b.Released), func(r sink.Release) bool { return rejected[r.Ref] })
	}
	o2, r2, err := s.store(ctx, second)
	return sink.BatchResult{Upserted: o1.Upserted + o2.Upserted, Removed: o1.Removed + o2.Removed}, append(r1, r2...), err
}

// pgMessage is PostgreSQL's message of err, without our wrapping.
func pgMessage(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Message + " (SQLSTATE " + pgErr.Code + ")"
	}
	return err.Error()
}
