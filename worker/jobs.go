package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/internal/divisions"
	"github.com/exactsync/exactsync/sync"
)

// Job kinds, as River's job table names them.
const (
	KindSync      = "exactsync_sync"
	KindTick      = "exactsync_tick"
	KindDivisions = "exactsync_divisions"
	KindKeepAlive = "exactsync_keepalive"
	KindPrune     = "exactsync_prune"
	KindVerify    = "exactsync_verify"
)

// SyncArgs are the arguments of a sync job: one sync.Job. A job is unique by
// (connection, division, entity, full) while it is queued, snoozed, retrying or running,
// so that a tick never queues a second one; Tick is when the tick that queued it fired
// (zero for a job queued by hand) and takes no part in that.
type SyncArgs struct {
	Connection int64     `json:"connection" river:"unique"`
	Division   int       `json:"division" river:"unique"`
	Entity     string    `json:"entity" river:"unique"`
	Full       bool      `json:"full" river:"unique"`
	Tick       time.Time `json:"tick,omitzero"`
	// Webhook is when the first webhook delivery that queued the job arrived (zero for a
	// job of a tick or by hand); like Tick, it takes no part in the uniqueness.
	Webhook time.Time `json:"webhook,omitzero"`
}

func (SyncArgs) Kind() string { return KindSync }

// InsertOpts: the sync queue, unique while waiting or running, a few retries; a
// division's deletions job comes after the entities' jobs queued with it.
func (a SyncArgs) InsertOpts() river.InsertOpts {
	prio := 1
	if a.Entity == sync.DeletionsJob {
		prio = 2
	}
	return river.InsertOpts{
		Queue: QueueSync, Priority: prio, MaxAttempts: SyncMaxAttempts,
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: uniqueStates},
	}
}

// Job is the sync.Job of the arguments.
func (a SyncArgs) Job() sync.Job {
	return sync.Job{ConnectionID: a.Connection, Division: a.Division, Entity: a.Entity, Full: a.Full}
}

// syncWorker runs sync jobs.
type syncWorker struct {
	river.WorkerDefaults[SyncArgs]
	w *Worker
}

// Timeout is RescueAfter: a turn ends at half of it (see Work), and River's rescuer takes
// a job that has run longer for one whose process died.
func (s *syncWorker) Timeout(*river.Job[SyncArgs]) time.Duration { return s.w.cfg.RescueAfter }

// NextRetry spaces the runs of a failed job by exact's retry policy (Config.Retry), which
// also bounds them (SyncMaxAttempts): a failing endpoint costs a job at most
// exact.RetryPolicy.FailingJobCalls calls.
func (s *syncWorker) NextRetry(job *river.Job[SyncArgs]) time.Time {
	return time.Now().Add(s.w.cfg.Retry.JobWait(job.Attempt))
}

// Work runs the job. A division held by another job snoozes it; a spent day budget
// snoozes it until the budget resets; a broken token chain cancels it and every other
// queued job of the connection; a refusal of Exact cancels it, and the schedules and
// webhooks leave the entity alone in the division for RefusedPause; other errors are
// retried with backoff.
func (s *syncWorker) Work(ctx context.Context, job *river.Job[SyncArgs]) error {
	w := s.w
	a := job.Args
	log := w.log.With().Int64("job_id", job.ID).Int64("connection", a.Connection).Int("division", a.Division).
		Str("entity", a.Entity).Logger()
	if len(w.cfg.Divisions) > 0 && !slices.Contains(w.cfg.Divisions, a.Division) {
		// Queued before the divisions were restricted, or by hand elsewhere: the
		// restriction holds for every job this process runs, as it does for the ticks.
		log.Info().Ints("divisions", w.cfg.Divisions).Msg("job cancelled: its division is not among the divisions this process syncs")
		return river.JobCancel(fmt.Errorf("division %d is not among the divisions this process syncs (EXACT_DIVISIONS %s)", a.Division, joinInts(w.cfg.Divisions)))
	}
	conn, ok, err := w.connection(ctx, a.Connection)
	if err != nil {
		return err
	}
	if !ok {
		return river.JobCancel(fmt.Errorf("connection %d is not stored", a.Connection))
	}
	if conn.State == dest.StateReauthRequired {
		return w.cancelConnection(ctx, job.ID, conn, errors.New(conn.StateReason))
	}
	if !a.Tick.IsZero() || !a.Webhook.IsZero() {
		// §2.5: each refused call counts towards the endpoint's 10 errors an hour; a job
		// queued by hand (exactsync sync --enqueue) tries anyway, after a fix.
		last, err := w.cfg.Store.LastRun(ctx, a.Connection, a.Division, a.Entity)
		if err != nil {
			return err
		}
		// finished_at is the database's time, so the pause is judged on the real clock.
		if until := last.FinishedAt.Add(RefusedPause); last.Result.Status == dest.RunRefused && time.Now().Before(until) {
			log.Debug().Time("until", until).Str("refusal", last.Result.Err).Msg("Exact refused the last run; not tried again yet")
			return nil
		}
	}
	client, err := w.client(ctx, conn)
	if err != nil {
		return err
	}
	// The runner logs the outcome once. With the job's id, an attempt after one that ran
	// to the end in a process that died before River recorded it is not run again, and
	// one after a turn goes on with the turn's full pass.
	sj := a.Job()
	sj.QueueJob = job.ID
	// The turn: once the run has run for w.turn(), it stops after its next committed
	// write (sync.WithTurn), and the job is snoozed for no time: any process goes on
	// with it from its committed cursor. A run still going at three quarters of
	// RescueAfter (a wait for Exact's rate limit, a slow call) is cancelled, as on a
	// shutdown; the pages it fetched are written. A live job so never runs for as long
	// as River's rescuer waits before it takes the job for lost.
	end := make(chan struct{})
	turn := time.AfterFunc(w.turn(), func() { close(end) })
	rctx, cut := context.WithCancel(ctx)
	deadline := time.AfterFunc(w.cfg.RescueAfter*3/4, cut)
	res, err := w.cfg.Runner.Run(sync.WithTurn(rctx, end), client, sj)
	turn.Stop()
	wasCut := !deadline.Stop()
	cut()
	var daily *exact.DailyLimitError
	switch {
	case err == nil:
		if !a.Webhook.IsZero() {
			latency := w.cfg.Now().Sub(a.Webhook)
			log.Info().Dur("webhook_latency_ms", latency).Msg("webhook-triggered run committed")
			if w.cfg.WebhookCommitted != nil {
				w.cfg.WebhookCommitted(a.Entity, latency)
			}
		}
		return nil
	case errors.Is(err, sync.ErrTurnEnded):
		// Not an attempt: River's snooze gives the attempt back.
		log.Debug().Int("pages", res.Committed).Dur("turn_ms", w.turn()).Msg("turn ended; the job goes on from its committed cursor")
		return river.JobSnooze(0)
	case wasCut && !errors.Is(ctx.Err(), context.Canceled) && errors.Is(err, context.Canceled):
		// Cut by the turn's deadline, not by a shutdown (River's own timeout may have
		// passed meanwhile, while the fetched pages were written: River still takes the
		// snooze).
		if res.Committed == 0 && res.Waited == 0 {
			// Neither a page nor a wait for Exact in all that time: an attempt, so that a
			// job that cannot move is bounded by SyncMaxAttempts.
			return fmt.Errorf("%s: no page committed within %s", sj, w.cfg.RescueAfter*3/4)
		}
		log.Debug().Int("pages", res.Committed).Dur("waited_ms", res.Waited).Msg("turn cut; the job goes on from its committed cursor")
		return river.JobSnooze(0)
	case errors.Is(err, sync.ErrBusy):
		return river.JobSnooze(w.cfg.BusySnooze + jitter(w.cfg.BusySnooze))
	case errors.As(err, &daily):
		// Exact's headers are the truth, whoever spent the day (§2.4, §2.7): the job waits
		// for the reset without calling, however many calls this app counted left.
		wait := min(max(daily.Reset.Sub(w.cfg.Now()), 0)+jitter(time.Minute), w.cfg.MaxSnooze)
		log.Debug().Dur("snooze_ms", wait).Time("reset", daily.Reset).Int("expected_left", daily.Expected).Msg("day budget spent; job snoozed")
		return river.JobSnooze(wait)
	case errors.Is(err, exact.ErrReauthRequired):
		return w.cancelConnection(ctx, job.ID, conn, err)
	case errors.Is(err, sync.ErrBudgetReserve):
		return nil // recorded as budget_reserve; the next tick tries again
	case refused(err):
		// §2.5: Exact blocks a key for an hour (longer when it repeats) after 10 errors of
		// 400, 401, 403 or 404 an hour on an endpoint, and advises not to retry them; River's
		// retries would spend that budget in minutes.
		log.Info().Dur("pause_ms", RefusedPause).Msg("not retried: Exact's answer would be the same; schedules try again after the pause")
		return river.JobCancel(err)
	default:
		return err
	}
}

// refused reports whether err is an answer of Exact that a retry cannot change (see
// exact.APIError.Refused).
func refused(err error) bool {
	var api *exact.APIError
	return errors.As(err, &api) && api.Refused()
}

// cancelConnection cancels the queued jobs of a connection whose token chain needs
// re-authorization, and returns the cancellation of the current one.
func (w *Worker) cancelConnection(ctx context.Context, current int64, conn dest.Connection, cause error) error {
	msg := fmt.Errorf("connection %d needs re-authorization: %w", conn.ID, cause)
	cancelled, _ := cancelJobs(ctx, w.river, conn.ID, []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateScheduled, rivertype.JobStateRetryable,
	}, current)
	w.log.Error().Err(msg).Int64("connection", conn.ID).Int("jobs_cancelled", cancelled+1).
		Msg("cancelled the connection's jobs until it is re-authorized")
	return river.JobCancel(msg)
}

// TickArgs are the arguments of a tick job: queue the entities' jobs for every division.
type TickArgs struct {
	Schedule  string       `json:"schedule"`
	Entities  []TickEntity `json:"entities"`
	Deletions bool         `json:"deletions,omitempty"`
	// CatchUp marks the tick River queues when a process becomes the leader (see
	// Schedule.CatchUp).
	CatchUp bool `json:"catch_up,omitempty"`
	Verify  bool `json:"verify,omitempty"`
}

func (TickArgs) Kind() string { return KindTick }

func (TickArgs) InsertOpts() river.InsertOpts { return controlOpts() }

func controlOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueControl, MaxAttempts: 3,
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: uniqueStates}}
}

type tickWorker struct {
	river.WorkerDefaults[TickArgs]
	w *Worker
}

// Timeout: a tick only reads and inserts rows; River's rescuer takes a tick whose
// process died for lost after RescueAfter, at least a minute.
func (t *tickWorker) Timeout(*river.Job[TickArgs]) time.Duration {
	return max(t.w.cfg.RescueAfter, time.Minute)
}

// Work queues the tick's jobs, entity by entity across the divisions (so that the
// jobs fetched together are of different divisions), then the deletions jobs.
func (t *tickWorker) Work(ctx context.Context, job *river.Job[TickArgs]) error {
	w := t.w
	if job.Args.CatchUp {
		last, err := w.lastTick(ctx, job)
		if err != nil {
			return err
		}
		if s, ok := w.schedule(job.Args.Schedule); ok && !last.IsZero() && s.Next.Next(last).After(job.ScheduledAt) {
			w.log.Info().Str("schedule", job.Args.Schedule).Time("last_tick", last).Time("next_tick", s.Next.Next(last)).
				Msg("catch-up: no tick of the schedule was missed; nothing queued")
			return nil
		}
	}
	conns, err := w.cfg.Store.Connections(ctx)
	if err != nil {
		return fmt.Errorf("reading connections: %w", err)
	}
	type div struct {
		conn int64
		code int
	}
	var divs []div
	for _, conn := range conns {
		if conn.State == dest.StateReauthRequired {
			w.log.Error().Int64("connection", conn.ID).Str("reason", conn.StateReason).
				Msg("connection needs re-authorization; nothing of it is queued")
			continue
		}
		codes, err := w.divisions(ctx, conn)
		if err != nil {
			w.log.Warn().Err(err).Int64("connection", conn.ID).Msg("cannot list divisions")
			continue
		}
		for _, c := range codes {
			divs = append(divs, div{conn.ID, c})
		}
	}
	tick := job.ScheduledAt.UTC()
	var params []river.InsertManyParams
	for _, e := range job.Args.Entities {
		for _, d := range divs {
			params = append(params, river.InsertManyParams{Args: SyncArgs{Connection: d.conn, Division: d.code, Entity: e.Entity, Full: e.Full, Tick: tick}})
		}
	}
	if job.Args.Deletions {
		for _, d := range divs {
			params = append(params, river.InsertManyParams{Args: SyncArgs{Connection: d.conn, Division: d.code, Entity: sync.DeletionsJob, Tick: tick}})
		}
	}
	if job.Args.Verify {
		for _, d := range divs {
			params = append(params, river.InsertManyParams{Args: VerifyArgs{Connection: d.conn, Division: d.code}})
		}
	}
	queued, skipped := 0, 0
	for len(params) > 0 {
		n := min(len(params), 1000)
		res, err := w.river.InsertMany(ctx, params[:n])
		if err != nil {
			return fmt.Errorf("queueing the jobs of tick %s: %w", job.Args.Schedule, err)
		}
		for _, r := range res {
			if r.UniqueSkippedAsDuplicate {
				skipped++
			} else {
				queued++
			}
		}
		params = params[n:]
	}
	w.log.Info().Str("schedule", job.Args.Schedule).Time("tick", tick).Int("divisions", len(divs)).
		Int("jobs_queued", queued).Int("jobs_already_queued", skipped).Msg("tick")
	return nil
}

// tickStates are the states of a tick that queued, or will queue, its jobs.
var tickStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateScheduled,
	rivertype.JobStateRunning, rivertype.JobStateRetryable, rivertype.JobStateCompleted,
}

// lastTick is when the schedule of job last fired before job (a tick or a catch-up
// tick, queued by any leader, River's JobList tells), zero when it never did.
func (w *Worker) lastTick(ctx context.Context, job *river.Job[TickArgs]) (time.Time, error) {
	params := river.NewJobListParams().Kinds(KindTick).States(tickStates...).
		Where("args->>'schedule' = @schedule", river.NamedArgs{"schedule": job.Args.Schedule}).
		OrderBy(river.JobListOrderByScheduledAt, river.SortOrderDesc).First(3)
	res, err := w.river.JobList(ctx, params)
	if err != nil {
		return time.Time{}, fmt.Errorf("reading the last tick of schedule %s: %w", job.Args.Schedule, err)
	}
	for _, j := range res.Jobs {
		if j.ID != job.ID && !j.ScheduledAt.After(job.ScheduledAt) {
			return j.ScheduledAt, nil
		}
	}
	return time.Time{}, nil
}

// schedule is the configured schedule of spec.
func (w *Worker) schedule(spec string) (Schedule, bool) {
	for _, s := range w.cfg.Schedules {
		if s.Spec == spec {
			return s, true
		}
	}
	return Schedule{}, false
}

// divisions are the divisions of conn to sync: the stored list (read from Exact hourly
// by the divisions job), or a fresh one when none is stored yet.
func (w *Worker) divisions(ctx context.Context, conn dest.Connection) ([]int, error) {
	stored, err := w.cfg.Store.Divisions(ctx, conn.ID)
	if err != nil {
		return nil, err
	}
	if len(stored) == 0 {
		client, err := w.client(ctx, conn)
		if err != nil {
			return nil, err
		}
		if stored, err = divisions.Save(ctx, w.cfg.Store, conn.ID, client, w.cfg.Divisions, w.log); err != nil {
			return nil, err
		}
	}
	return divisions.Filter(divisions.Codes(stored), w.cfg.Divisions), nil
}

// DivisionsArgs are the arguments of the job that reads every connection's division
// list from Exact (hourly, through a division with day budget left).
type DivisionsArgs struct{}

func (DivisionsArgs) Kind() string { return KindDivisions }

func (DivisionsArgs) InsertOpts() river.InsertOpts { return controlOpts() }

type divisionsWorker struct {
	river.WorkerDefaults[DivisionsArgs]
	w *Worker
}

// Timeout: the listing waits for Exact's rate limits like a run.
func (d *divisionsWorker) Timeout(*river.Job[DivisionsArgs]) time.Duration { return d.w.cfg.RunTimeout }

// Work lists the divisions of every connection that does not need re-authorization.
// The list is read even when Config.Divisions names the divisions: it is how a division
// moved by Exact is noticed (§3.10).
func (d *divisionsWorker) Work(ctx context.Context, _ *river.Job[DivisionsArgs]) error {
	w := d.w
	conns, err := w.cfg.Store.Connections(ctx)
	if err != nil {
		return fmt.Errorf("reading connections: %w", err)
	}
	for _, conn := range conns {
		if conn.State == dest.StateReauthRequired {
			continue
		}
		client, err := w.client(ctx, conn)
		if err == nil {
			_, err = divisions.Save(ctx, w.cfg.Store, conn.ID, client, w.cfg.Divisions, w.log)
		}
		if err != nil && ctx.Err() == nil {
			w.log.Warn().Err(err).Int64("connection", conn.ID).Msg("cannot list divisions")
		}
	}
	return nil
}

// PruneArgs are the arguments of the job that prunes the run history.
type PruneArgs struct{}

func (PruneArgs) Kind() string { return KindPrune }

func (PruneArgs) InsertOpts() river.InsertOpts { return controlOpts() }

type pruneWorker struct {
	river.WorkerDefaults[PruneArgs]
	w *Worker
}

// Timeout: pruning a long history may take a while.
func (p *pruneWorker) Timeout(*river.Job[PruneArgs]) time.Duration { return p.w.cfg.RunTimeout }

// Work deletes the runs older than Config.RunHistory, except the last successful run
// of each entity in each division (see RunHistory.PruneRuns), and the removals of the
// deletions trail older than Config.DeletionsRetention.
func (p *pruneWorker) Work(ctx context.Context, _ *river.Job[PruneArgs]) error {
	w := p.w
	if w.cfg.RunHistory > 0 {
		n, err := w.cfg.Store.PruneRuns(ctx, w.cfg.Now().Add(-w.cfg.RunHistory))
		if err != nil {
			return fmt.Errorf("pruning the run history: %w", err)
		}
		if n > 0 {
			w.log.Info().Int("runs_deleted", n).Dur("run_history_ms", w.cfg.RunHistory).Msg("pruned the run history")
		}
	}
	if w.pruneDeletions() {
		n, err := w.cfg.PruneDeletions(ctx, w.cfg.Now().Add(-w.cfg.DeletionsRetention))
		if err != nil {
			return fmt.Errorf("pruning the deletions trail: %w", err)
		}
		if n > 0 {
			w.log.Info().Int("removals_deleted", n).Dur("deletions_retention_ms", w.cfg.DeletionsRetention).Msg("pruned the deletions trail")
		}
	}
	return nil
}

// pruneDeletions reports whether the prune job prunes the deletions trail.
func (w *Worker) pruneDeletions() bool {
	return w.cfg.DeletionsRetention > 0 && w.cfg.PruneDeletions != nil
}

func joinInts(vs []int) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ",")
}

// VerifyArgs are the arguments of a verification job: compare one division of a
// connection with Exact and repair what differs (Config.Verify). Unique while queued or
// running.
type VerifyArgs struct {
	Connection int64 `json:"connection" river:"unique"`
	Division   int   `json:"division" river:"unique"`
}

func (VerifyArgs) Kind() string { return KindVerify }

// InsertOpts: the sync queue, after the syncs and deletions queued with it.
func (VerifyArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueSync, Priority: 3, MaxAttempts: SyncMaxAttempts,
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: uniqueStates}}
}

type verifyWorker struct {
	river.WorkerDefaults[VerifyArgs]
	w *Worker
}

func (v *verifyWorker) Timeout(*river.Job[VerifyArgs]) time.Duration { return v.w.cfg.RunTimeout }

// Work verifies the division through Config.Verify. A division another job holds
// snoozes it, a spent day waits for the reset, a broken token chain cancels it.
func (v *verifyWorker) Work(ctx context.Context, job *river.Job[VerifyArgs]) error {
	w := v.w
	a := job.Args
	if w.cfg.Verify == nil {
		return river.JobCancel(errors.New("this process does not verify (no verification configured)"))
	}
	conn, ok, err := w.connection(ctx, a.Connection)
	if err != nil {
		return err
	}
	if !ok {
		return river.JobCancel(fmt.Errorf("connection %d is not stored", a.Connection))
	}
	if conn.State == dest.StateReauthRequired {
		return river.JobCancel(fmt.Errorf("connection %d needs re-authorization: %s", conn.ID, conn.StateReason))
	}
	client, err := w.client(ctx, conn)
	if err != nil {
		return err
	}
	err = w.cfg.Verify(ctx, client, conn, a.Division)
	var daily *exact.DailyLimitError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sync.ErrBusy):
		return river.JobSnooze(w.cfg.BusySnooze + jitter(w.cfg.BusySnooze))
	case errors.As(err, &daily):
		return river.JobSnooze(min(max(daily.Reset.Sub(w.cfg.Now()), 0)+jitter(time.Minute), w.cfg.MaxSnooze))
	case errors.Is(err, exact.ErrReauthRequired):
		return river.JobCancel(err)
	default:
		return err
	}
}
