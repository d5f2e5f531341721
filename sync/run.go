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

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/trace"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
)

// Source pages through Exact Online. *exact.Client implements it.
type Source interface {
	URL(division int, path string, query url.Values) string
	Page(ctx context.Context, division int, pageURL string) (*exact.Page, error)
}

// Writer stores pages and cursors, and reconciles a division after a full pass: the
// store's roles a run writes through. The PostgreSQL store (package sink) implements it.
// The rows of the batches it is given, and every value in them, hold only until its
// call returns: the Runner then releases their pages (exact.Page.Release), and the next
// answers are read into the same memory. A Writer that keeps rows longer copies them.
type Writer interface {
	BatchWriter
	CursorReader
	Sweeper
	QuarantineReader
}

// BatchWriter writes batches: each batch's rows, removals, rejects, releases and cursor
// in one transaction. A value the store refuses is a *dest.DataError; a batch whose fence
// is no longer the division's fails with dest.ErrLockLost.
type BatchWriter interface {
	WriteBatch(ctx context.Context, b dest.Batch) (dest.BatchResult, error)
	// WriteBatches writes several batches (of several tables) in one transaction.
	WriteBatches(ctx context.Context, bs []dest.Batch) ([]dest.BatchResult, error)
}

// CursorReader reads the stored cursors; the zero Cursor when none is stored.
type CursorReader interface {
	Cursor(ctx context.Context, connID int64, division int, entity string) (dest.Cursor, error)
	// Cursors returns every stored cursor of a division, by entity.
	Cursors(ctx context.Context, connID int64, division int) (map[string]dest.Cursor, error)
}

// Sweeper reconciles a division with a full pass: StartSweep forgets an unfinished
// sweep's keys and reports whether the division holds anything to reconcile; the pass's
// batches carry Cursor.Sweep; FinishSweep removes the rows the pass did not see and
// stores its cursor, returning how many it removed.
type Sweeper interface {
	StartSweep(ctx context.Context, t dest.Table, connID int64, division int, entity string) (bool, error)
	FinishSweep(ctx context.Context, t dest.Table, connID int64, division int, entity string, c dest.Cursor, fence int64) (int, error)
}

// QuarantineReader lists the quarantine.
type QuarantineReader interface {
	// Quarantined returns the refs (dest.Reject.Ref) of the entity's records in
	// quarantine in the division.
	Quarantined(ctx context.Context, connID int64, division int, entity string) ([]string, error)
}

// History records runs. The PostgreSQL store
// (package sink) implements it.
type History interface {
	StartRun(ctx context.Context, r dest.Run) (int64, error)
	FinishRun(ctx context.Context, runID int64, res dest.RunResult) error
	// LastSuccess is when the last successful run finished; zero if none.
	LastSuccess(ctx context.Context, connID int64, division int, entity string) (time.Time, error)
	// JobRuns returns the runs recorded for a queue job (dest.Run.QueueJob), oldest first.
	JobRuns(ctx context.Context, jobID int64) ([]dest.RunRecord, error)
}

// Locker gives one worker at a time a (connection, division). The PostgreSQL
// store (package sink) implements it.
type Locker interface {
	LockDivision(ctx context.Context, connID int64, division int, wait bool) (lock *dest.DivisionLock, ok bool, err error)
}

// RateLimitSource is implemented by a Source that knows the rate limits it
// last saw per division. *exact.Client implements it.
type RateLimitSource interface {
	RateLimit(division int) exact.RateLimit
}

// SyncTimestampSource finds where a sync endpoint's stream reaches a date (§3.10, §3.16),
// for Job.Since. *exact.Client implements it.
type SyncTimestampSource interface {
	SyncTimestamp(ctx context.Context, division int, endpoint string, since time.Time) (exact.SyncPoint, error)
}

var _ SyncTimestampSource = (*exact.Client)(nil)

// RateLimitSaver is implemented by a Writer that keeps the rate limits last
// seen, for status reports. The PostgreSQL store
// (package sink) implements it.
type RateLimitSaver interface {
	SaveRateLimit(ctx context.Context, connID int64, division int, rl dest.RateLimit) error
}

// RateLimitLoader is implemented by a Writer that keeps the rate limits last seen by
// every process. The PostgreSQL store
// (package sink) implements it.
type RateLimitLoader interface {
	RateLimits(ctx context.Context, connID int64) (map[int]dest.RateLimit, error)
}

// DivisionRateLimitLoader is implemented by a Writer that keeps the rate limits last seen
// by every process, read one division at a time: what a run reads once it holds its
// division's lock. The PostgreSQL store (package sink) implements it.
type DivisionRateLimitLoader interface {
	DivisionRateLimit(ctx context.Context, connID int64, division int) (rl dest.RateLimit, ok bool, err error)
}

// DayLimiter is implemented by a Source that can be told a division's day is spent, so
// that it calls the division nothing before the reset. *exact.Client implements it.
type DayLimiter interface {
	SpentDay(division int, reset time.Time)
}

var (
	_ RateLimitSource = (*exact.Client)(nil)
	_ DayLimiter      = (*exact.Client)(nil)
	_ Source          = (*exact.Client)(nil)
)

// Job is one unit of work: an entity of a division of a connection, or, with Entity
// [DeletionsJob], the division's deletion log. A job for an entity reads its endpoint
// once and writes every enabled entity read from the same endpoint (see
// [Runner.Writes]).
type Job struct {
	ConnectionID int64
	Division     int
	Entity       string // an entity's name, or DeletionsJob
	Full         bool   // start from the beginning instead of the stored cursor
	// Since, when set, re-reads the records modified on or after it (exactsync sync
	// --since): an entity read by Timestamp from where read/sync/Sync/SyncTimestamp says its
	// stream reaches Since (§3.10, §3.16), and one read by Modified from Since, each never
	// from above its stored cursor; where Exact cannot say (an endpoint SyncTimestamp does
	// not serve), the run is a full pass. The deletions job ignores it.
	Since time.Time
	// QueueJob is the job queue's id of the job; 0 for a job run outside the queue. A
	// job of the queue whose run already finished is not run again (see
	// [Result.Replayed]).
	QueueJob int64
}

// DeletionsJob is the Job.Entity of the job that reads a division's sync/Deleted
// stream (§3.12) from its own cursor and removes the deleted records from the tables
// of the enabled entities their EntityType names. It is the only reader of
// sync/Deleted: one stream per division, whatever the number of entities.
const DeletionsJob = "deletions"

func (j Job) String() string {
	kind := "incremental"
	switch {
	case j.Full:
		kind = "full"
	case !j.Since.IsZero():
		kind = "re-reading since " + j.Since.Format(time.DateOnly) + ","
	}
	return fmt.Sprintf("%s %s sync of division %d (connection %d)", kind, j.Entity, j.Division, j.ConnectionID)
}

// Result summarises one run.
type Result struct {
	Job Job
	// Status is how the run ended: ok, failed, daily_limit, reauth_required, lock_lost,
	// budget_reserve, canceled, refused; or busy, when it did not begin because another
	// worker holds the division (not a run: neither recorded, logged above debug, nor
	// told to the Observer).
	Status   string
	Upserted int
	Removed  int
	// Quarantined counts the records written to exact_sync.rejected_records: they
	// could not be decoded or stored, and the run went on without them.
	Quarantined int
	// Pages were fetched; Committed of them were written (with their cursor).
	Pages, Committed int
	Calls            int
	// Waited is the time the run spent waiting for Exact's rate limits, retries and
	// the token refresh window.
	Waited     time.Duration
	CursorFrom int64
	CursorTo   int64
	Duration   time.Duration
	// Replayed: the job (Job.QueueJob) had already run to the end, in a process that
	// died before the queue recorded it complete; the run was not repeated and the
	// result is the recorded one's.
	Replayed bool
	// Entities is what the run wrote, entity by entity (the totals above add them
	// up): for a replayed run, what the recorded runs wrote; empty when the run did
	// not begin (busy, failed before it started).
	Entities []EntityResult
}

// Statuses of a run.
const (
	StatusOK             = dest.RunOK
	StatusFailed         = dest.RunFailed
	StatusDailyLimit     = dest.RunDailyLimit
	StatusReauthRequired = dest.RunReauthRequired
	StatusBusy           = "busy"
	// StatusLockLost: the run's division lock was lost (its database session ended)
	// and another worker took the division; the run stopped at its next write.
	StatusLockLost = dest.RunLockLost
	// StatusBudgetReserve: a full pass did not start because the division's day
	// budget is below [BudgetReserve] of its limit; incremental runs go on.
	StatusBudgetReserve = "budget_reserve"
	// StatusCanceled: the run was stopped (its context canceled, e.g. by SIGINT); the
	// pages it committed stay and the next run continues from its cursor.
	StatusCanceled = dest.RunCanceled
	// StatusRefused: Exact refused the run's requests in a way a retry cannot change (see
	// exact.APIError.Refused).
	StatusRefused = dest.RunRefused
)

// BudgetReserve is the share of a division's day budget (§2) kept for incremental
// runs: a full pass does not start while less than this is left.
const BudgetReserve = 0.10

// ModifiedOverlap is how far before its stored cursor a run of an entity read by
// Modified starts (§3.15): records sharing a Modified value across a page boundary or
// a run are read again rather than skipped, and the upserts make the second read a
// no-op. Exact's dates have whole seconds in filters (§3.8).
const ModifiedOverlap = 5 * time.Second

// DefaultBatchPages is the default of [Config.BatchPages]. Writing 8 pages of
// 1,000 accounts in one transaction instead of 8 ran at 1.3–1.5× the rows/s
// on PostgreSQL 15 (BENCHMARKS.md): each COPY and commit has a fixed cost
// besides its rows.
const DefaultBatchPages = 8

// DefaultBatchBytes is the default of [Config.BatchBytes]. A write of
// transaction lines, 2.2 KB a record, then takes up to 4 pages, and a
// million-line sync peaks at 133 MB instead of about 200 (BENCHMARKS.md).
const DefaultBatchBytes = 8 << 20

// DeletionLogSafeAge is how long after its last successful run an entity of a
// division is still synced incrementally. Exact keeps its deletion log two
// months, so a later run could miss deletions: it runs a full pass instead,
// which removes the rows it does not see (docs/exact-online.md §3.12,
// §6.16: "more than about 55 days").
const DeletionLogSafeAge = 55 * 24 * time.Hour

// ErrBusy is returned when another worker holds the division.
var ErrBusy = errors.New("division is being synced by another worker")

// ErrBudgetReserve is returned when a full pass does not start for lack of day budget.
var ErrBudgetReserve = errors.New("day budget below the reserve kept for incremental runs; the full pass waits for the reset")

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
	// BatchBytes bounds, besides BatchPages, the records (their JSON as received)
	// that one write takes together and that wait fetched ahead of the writer
	// (default DefaultBatchBytes); a write takes at least one page. It keeps the
	// memory of a run flat whatever the width of an entity's records.
	BatchBytes int64
	// OmitRaw stores '{}' in every table's raw column instead of the record as
	// received (EXACTSYNC_RAW=off): the typed columns are written as before, and
	// PostgreSQL is spared parsing, compressing and storing each record's JSON,
	// most of the cost of writing a wide row (BENCHMARKS.md). The column stays
	// NOT NULL jsonb. A record PostgreSQL refuses is then quarantined with its
	// typed values as a JSON object instead of the record as received.
	OmitRaw bool
	// RawExtra stores in raw only what the typed columns do not give back
	// (EXACTSYNC_RAW=extra): members without a column, navigation members, fields
	// Exact added after the catalogue, values whose form a column does not keep
	// (a padded code), and "__extra", the catalogue's fields the record lacked.
	// exact.received(t) rebuilds the record as received from the columns and raw.
	// OmitRaw wins over it.
	RawExtra bool
	// WaitForLock makes a run wait for the division lock instead of
	// returning ErrBusy.
	WaitForLock bool
	// Progress, when set, receives the progress of each run as it changes (see
	// Progress); it is called from the run's goroutines and must not block.
	Progress func(Progress)
	// ProgressEvery is how often a run logs a "sync progress" line while it lasts
	// (default DefaultProgressEvery; negative: never).
	ProgressEvery time.Duration
	// Enabled names the entities synced (nil: every entity of [Names]). A job for an
	// entity also writes the enabled entities read from its endpoint; the deletions
	// job removes records of enabled entities only. Unknown names are ignored.
	Enabled []string
	Now     func() time.Time
	// Observer is told how every run ended (default: nobody).
	Observer Observer
	// TracerProvider gives the tracer of a span per run and per write (see trace.go);
	// the client's spans of the run's calls are its children (default: no spans).
	TracerProvider trace.TracerProvider
}

// Runner runs jobs.
type Runner struct {
	cfg     Config
	writer  Writer
	history History
	locker  Locker
	enabled map[string]bool
	tracer  trace.Tracer // nil: no spans
}

// NewRunner returns a Runner writing through w, recording runs in h and
// locking divisions with l.
func NewRunner(cfg Config, w Writer, h History, l Locker) *Runner {
	cfg.WriteTimeout = cmp.Or(cfg.WriteTimeout, 30*time.Second)
	cfg.ProgressEvery = cmp.Or(cfg.ProgressEvery, DefaultProgressEvery)
	cfg.BatchPages = max(cmp.Or(cfg.BatchPages, DefaultBatchPages), 1)
	cfg.BatchBytes = max(cmp.Or(cfg.BatchBytes, DefaultBatchBytes), 1)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	enabled := map[string]bool{}
	names := cfg.Enabled
	if names == nil {
		names = Names()
	}
	for _, n := range names {
		if _, ok := lookup(n); ok {
			enabled[n] = true
		}
	}
	return &Runner{cfg: cfg, writer: w, history: h, locker: l, enabled: enabled, tracer: tracerOf(cfg.TracerProvider)}
}

// Enabled lists the entities the runner syncs, sorted.
func (r *Runner) Enabled() []string {
	out := make([]string, 0, len(r.enabled))
	for n := range r.enabled {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Writes lists the entities a job for entity writes: the entity itself, then the
// enabled entities read from the same endpoint, in the catalogue's order (a job for
// accounts writes accounts and suppliers). For DeletionsJob it lists the enabled
// entities whose deletions it applies.
func (r *Runner) Writes(entity string) ([]string, error) {
	if entity == DeletionsJob {
		var out []string
		for _, e := range r.deletable() {
			out = append(out, e.Name)
		}
		return out, nil
	}
	ms, err := r.members(entity)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ms))
	for i, e := range ms {
		out[i] = e.Name
	}
	return out, nil
}

// Jobs are the jobs of one run of every enabled entity of a division: one per
// endpoint, named after its first enabled entity in the catalogue's order, so that no
// endpoint is read twice, then the deletions job, which comes last so that it
// removes what the others may have just written.
func (r *Runner) Jobs(connID int64, division int, full bool) []Job {
	var jobs []Job
	paths := map[string]bool{}
	for i := range entities {
		e := &entities[i]
		if !r.enabled[e.Name] || paths[e.Path] {
			continue
		}
		paths[e.Path] = true
		jobs = append(jobs, Job{ConnectionID: connID, Division: division, Entity: e.Name, Full: full})
	}
	return append(jobs, Job{ConnectionID: connID, Division: division, Entity: DeletionsJob})
}

// members are the entities a job for name writes (see Writes).
func (r *Runner) members(name string) ([]*Entity, error) {
	e, ok := lookup(name)
	if !ok {
		_, err := Lookup(name)
		return nil, err
	}
	out := []*Entity{e}
	for i := range entities {
		if o := &entities[i]; o != e && o.Path == e.Path && r.enabled[o.Name] {
			out = append(out, o)
		}
	}
	return out, nil
}

// deletable are the enabled entities whose deletions sync/Deleted reports.
func (r *Runner) deletable() []*Entity {
	var out []*Entity
	for i := range entities {
		if e := &entities[i]; r.enabled[e.Name] && e.Read == ReadSync && e.DeletedType > 0 {
			out = append(out, e)
		}
	}
	return out
}

// statusOf is the status of a run that ended with err under ctx.
func statusOf(ctx context.Context, err error) string {
	var (
		daily *exact.DailyLimitError
		api   *exact.APIError
	)
	switch {
	case err == nil:
		return StatusOK
	case errors.Is(err, ErrBusy):
		return StatusBusy
	case errors.As(err, &daily):
		return StatusDailyLimit
	case errors.Is(err, exact.ErrReauthRequired):
		return StatusReauthRequired
	case errors.Is(err, dest.ErrLockLost):
		return StatusLockLost
	case errors.Is(err, ErrBudgetReserve):
		return StatusBudgetReserve
	case errors.Is(err, context.Canceled) && ctx.Err() != nil, errors.Is(err, ErrTurnEnded):
		return StatusCanceled
	case errors.As(err, &api) && api.Refused():
		return StatusRefused
	}
	return StatusFailed
}

// Run runs one job against src and logs its summary, once. It returns the
// result and, for anything but success, an error saying what happened.
func (r *Runner) Run(ctx context.Context, src Source, job Job) (Result, error) {
	start := r.cfg.Now()
	res := Result{Job: job, Status: StatusFailed}
	ctx, span := r.startRun(ctx, job)
	lc := r.cfg.Logger.With().Str("entity", job.Entity).Int("division", job.Division).
		Int64("connection", job.ConnectionID)
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		lc = lc.Str("trace_id", sc.TraceID().String())
	}
	log := lc.Logger()

	prog := newTracker(job, r.cfg.Progress, r.cfg.Now)
	fctx, stopFollow := context.WithCancel(ctx)
	followed := make(chan struct{})
	go func() {
		defer close(followed)
		prog.follow(fctx, r.cfg.ProgressEvery, log)
	}()
	err := r.runRecovered(exact.WithWaitHook(ctx, prog.wait), src, job, &res, prog, log)
	stopFollow()
	<-followed
	res.Waited = prog.finish().Waited
	res.Duration = r.cfg.Now().Sub(start)
	res.Status = statusOf(ctx, err)
	defer func() { endRun(span, res, err) }()

	if res.Status == StatusBusy {
		// Not a run: the job waits for the division (the queue snoozes it), which is how
		// several workers share a division. Nothing was recorded and nothing is counted.
		log.Debug().Err(err).Msg("division busy; the job waits for it")
		return res, err
	}
	ev := log.Info()
	switch {
	case err == nil:
	case errors.Is(err, ErrTurnEnded):
		// The job goes on: one turn of it, not an outcome.
	case res.Status == StatusCanceled:
		ev = log.Warn()
	case res.Status == StatusDailyLimit || res.Status == StatusLockLost || res.Status == StatusBudgetReserve:
		ev = log.Warn().Err(err)
	default:
		ev = log.Error().Err(err)
	}
	ev.Bool("full", res.Job.Full).Str("status", res.Status).Int("rows_upserted", res.Upserted).Int("rows_removed", res.Removed).
		Int("records_quarantined", res.Quarantined).Int("pages", res.Pages).Int("api_calls", res.Calls).Dur("waited_ms", res.Waited).Int64("cursor_from", res.CursorFrom).
		Int64("cursor_to", res.CursorTo).Dur("duration_ms", res.Duration).Bool("replayed", res.Replayed).Msg("sync run finished")
	r.cfg.Observer.RunFinished(res)
	return res, err
}

// primeSpentDay tells src that the job's division has no calls left before its reset when
// a process stored so (exact_sync.rate_limits), when src and the writer support it (see
// DayLimiter, DivisionRateLimitLoader). A run does it once it holds the division's lock, after
// which no other job of the division can learn more: a day Exact ended for one process is
// then ended for all, without a second 429 (§2.4, §2.7). A failure to read is logged; the
// client's own knowledge stands.
func (r *Runner) primeSpentDay(ctx context.Context, src Source, job Job, log zerolog.Logger) {
	dl, ok1 := src.(DayLimiter)
	loader, ok2 := r.writer.(DivisionRateLimitLoader)
	if !ok1 || !ok2 {
		return
	}
	rl, ok, err := loader.DivisionRateLimit(ctx, job.ConnectionID, job.Division)
	if err != nil {
		log.Warn().Err(err).Msg("cannot read the stored rate limits")
		return
	}
	if ok && !rl.DailyReset.IsZero() && rl.DailyRemaining <= 0 {
		dl.SpentDay(job.Division, rl.DailyReset)
	}
}

// saveRateLimit stores the division's rate limits as last seen by src, when
// src and the writer support it (see RateLimitSource, RateLimitSaver). A run saves them
// while it still holds the division's lock.
func (r *Runner) saveRateLimit(ctx context.Context, src Source, job Job, log zerolog.Logger) {
	rs, ok1 := src.(RateLimitSource)
	saver, ok2 := r.writer.(RateLimitSaver)
	if !ok1 || !ok2 {
		return
	}
	rl := rs.RateLimit(job.Division)
	if !rl.Known || rl.DailyLimit == 0 && rl.MinutelyLimit == 0 {
		// Nothing learnt from Exact's headers: a spent day told by primeSpentDay alone
		// must not replace the row it came from with one that lacks the limits.
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := saver.SaveRateLimit(sctx, job.ConnectionID, job.Division, dest.RateLimit{
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
func (r *Runner) runRecovered(ctx context.Context, src Source, job Job, res *Result, prog *tracker, log zerolog.Logger) (err error) {
	defer func() {
		var pe *PanicError
		if errors.As(err, &pe) {
			log.Error().Str("stack", string(pe.Stack)).Msgf("recovered from a panic: %v", pe.Value)
		}
	}()
	defer recoverPanic(&err)
	return r.run(ctx, src, job, res, prog, log)
}
