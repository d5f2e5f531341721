package worker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/exact/exacttest"
	"github.com/exactsync/exactsync/internal/onboard"
	"github.com/exactsync/exactsync/sink/sinktest"
	"github.com/exactsync/exactsync/sync"
	"github.com/exactsync/exactsync/verify"
	"github.com/exactsync/exactsync/worker"
)

// store is what the tests do with the PostgreSQL store: the roles the worker and the runs
// take, and the writes a test makes to set a scene.
type store interface {
	worker.Store
	worker.WebhookStore
	sync.Writer
	sync.History
	sync.Locker
	sync.TokenRows
	sync.RateLimitSaver
	onboard.Store
	verify.Store
}

// world is a simulator, a migrated database with one imported connection, and the
// workers started on it.
type world struct {
	t    *testing.T
	sim  *exacttest.Server
	st   store
	pool *pgxpool.Pool
	conn dest.Connection
	// retry is the retry policy of the clients and workers (zero: exact's defaults).
	retry exact.RetryPolicy
}

func newWorld(t *testing.T, opts exacttest.Options) *world {
	t.Helper()
	opts.ClientID, opts.ClientSecret = testClientID, testClientSecret
	sim := exacttest.NewServer(opts)
	t.Cleanup(sim.Close)
	st, pool := sinktest.NewStorePool(t)
	ctx := context.Background()
	if err := worker.Migrate(ctx, pool, zerolog.Nop()); err != nil {
		t.Fatal(err)
	}
	conn := sinktest.NewConnection(t, st, sim.URL, testClientID, sim.RefreshToken())
	return &world{t: t, sim: sim, st: st, pool: pool, conn: conn}
}

// start starts a worker (one run process) with cfg over the world's defaults, and stops
// it when the test ends.
func (w *world) start(cfg worker.Config) *worker.Worker {
	w.t.Helper()
	cfg.Pool, cfg.Store, cfg.Now, cfg.Retry = w.pool, w.st, w.sim.Now, w.retry
	cfg.Runner = sync.NewRunner(sync.Config{Logger: cfg.Logger, Enabled: []string{"accounts"}, Now: w.sim.Now}, w.st, w.st, w.st)
	cfg.NewClient = w.newClient(nil)
	wk, err := worker.New(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := wk.Start(context.Background()); err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := wk.Stop(ctx); err != nil {
			w.t.Errorf("Stop: %v", err)
		}
	})
	return wk
}

// newClient returns the worker's client builder: clients of the simulator on its clock,
// waiting with sleep (nil: real time).
func (w *world) newClient(sleep func(context.Context, time.Duration) error) func(context.Context, dest.Connection) (*exact.Client, error) {
	return func(_ context.Context, conn dest.Connection) (*exact.Client, error) {
		return exact.New(exact.Config{BaseURL: conn.BaseURL, ClientID: testClientID, ClientSecret: testClientSecret,
			Logger: zerolog.Nop(), Now: w.sim.Now, Sleep: sleep, Retry: w.retry}, sync.NewTokenStore(w.st, conn.ID))
	}
}

// count runs a count query.
func (w *world) count(sql string, args ...any) int {
	w.t.Helper()
	var n int
	if err := w.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		w.t.Fatal(err)
	}
	return n
}

// waitFor polls cond until it holds or the deadline passes.
func (w *world) waitFor(what string, d time.Duration, cond func() bool) {
	w.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			w.t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// every is a schedule firing every d, for ticks in tests.
type every time.Duration

func (e every) Next(t time.Time) time.Time { return t.Add(time.Duration(e)) }

// A tick is queued once however many processes run: three workers on one database,
// one catch-up tick, one job per division and entity, each run once.
func TestTickIsQueuedOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for River's leader and snoozes; skipped with -short")
	}
	t.Parallel()
	divs := []int{101, 102, 103, 104}
	w := newWorld(t, exacttest.Options{Divisions: divs, Accounts: 5, FreezeClock: true})
	cfg := worker.Config{Logger: zerolog.Nop(), Workers: 2, Schedules: []worker.Schedule{{
		Spec: "hourly", Next: every(time.Hour), Entities: []worker.TickEntity{{Entity: "accounts"}}, Deletions: true, CatchUp: true,
	}}}
	for range 3 {
		w.start(cfg)
	}
	want := 2 * len(divs) // accounts and deletions
	w.waitFor("every job completed", 30*time.Second, func() bool {
		return w.count(`SELECT count(*) FROM exact_river.river_job WHERE kind = $1 AND state = 'completed'`, worker.KindSync) >= want
	})
	// Only a process that becomes the leader queues the catch-up tick, as it starts
	// leading. While the leader in office is the one that queued the tick, no other
	// process has started to lead, so the count of ticks read now is final: no waiting
	// for a second tick that might come.
	var leader string
	var elected, queued time.Time
	if err := w.pool.QueryRow(context.Background(), `SELECT l.leader_id, l.elected_at, j.created_at
		FROM exact_river.river_leader l, exact_river.river_job j WHERE j.kind = $1 ORDER BY j.id LIMIT 1`, worker.KindTick).
		Scan(&leader, &elected, &queued); err != nil {
		t.Fatalf("reading the leader and the first tick: %v", err)
	}
	if elected.After(queued) {
		t.Fatalf("the leader in office (%s) was elected at %s, after the tick was queued at %s: leadership changed during the test, and a new leader queues its catch-up tick",
			leader, elected.Format(time.RFC3339Nano), queued.Format(time.RFC3339Nano))
	}
	if n := w.count(`SELECT count(*) FROM exact_river.river_job WHERE kind = $1`, worker.KindTick); n != 1 {
		t.Errorf("%d tick jobs with three processes, want 1", n)
	}
	if n := w.count(`SELECT count(*) FROM exact_river.river_job WHERE kind = $1`, worker.KindSync); n != want {
		t.Errorf("%d sync jobs, want %d (one per division and job)", n, want)
	}
	if n := w.count(`SELECT count(*) FROM exact_sync.runs WHERE status = 'ok'`); n != want {
		t.Errorf("%d ok runs, want %d", n, want)
	}
	for div, n := range w.sim.Stats().MaxConcurrent {
		if n > 1 {
			t.Errorf("division %s had %d calls in flight at once, want 1", div, n)
		}
	}
}

// A new leader queues no catch-up tick when no firing of the schedule was missed since
// the last tick: the first leader's catch-up queued every job, and after a leader change
// the second one's catch-up tick queues nothing, so each division and entity runs once.
func TestCatchUpAfterALeaderChangeQueuesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for River's leader elections; skipped with -short")
	}
	t.Parallel()
	divs := []int{101, 102}
	w := newWorld(t, exacttest.Options{Divisions: divs, Accounts: 5, FreezeClock: true})
	cfg := worker.Config{Logger: zerolog.Nop(), Workers: 2, Schedules: []worker.Schedule{{
		Spec: "hourly", Next: every(time.Hour), Entities: []worker.TickEntity{{Entity: "accounts"}}, Deletions: true, CatchUp: true,
	}}}
	want := 2 * len(divs) // accounts and deletions
	first := w.start(cfg)
	w.waitFor("the first leader's jobs completed", 2*time.Minute, func() bool {
		return w.count(`SELECT count(*) FROM exact_river.river_job WHERE kind = $1 AND state = 'completed'`, worker.KindSync) >= want
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := first.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	w.start(cfg)
	w.waitFor("the second leader's catch-up tick completed", 2*time.Minute, func() bool {
		return w.count(`SELECT count(*) FROM exact_river.river_job WHERE kind = $1 AND state = 'completed'`, worker.KindTick) == 2
	})
	if n := w.count(`SELECT count(*) FROM exact_river.river_job WHERE kind = $1`, worker.KindSync); n != want {
		t.Errorf("%d sync jobs after a leader change, want %d: the new leader's catch-up queued the tick again", n, want)
	}
	if n := w.count(`SELECT count(*) FROM exact_sync.runs WHERE status = 'ok'`); n != want {
		t.Errorf("%d ok runs, want %d", n, want)
	}
}

// A job that spends its division's day budget snoozes, and runs to the end after
// Exact's day turns.
func TestSpentBudgetSnoozesUntilTheDayTurns(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for River's leader and snoozes; skipped with -short")
	}
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 4500, DailyLimit: 3, FreezeClock: true})
	w.start(worker.Config{Logger: zerolog.Nop(), MaxSnooze: 200 * time.Millisecond, Schedules: []worker.Schedule{{
		Spec: "hourly", Next: every(time.Hour), Entities: []worker.TickEntity{{Entity: "accounts"}}, CatchUp: true,
	}}})
	w.waitFor("the job snoozed for the day budget", 30*time.Second, func() bool {
		return w.count(`SELECT count(*) FROM exact_sync.runs WHERE status = 'daily_limit'`) >= 2
	})
	var state string
	var snoozes int
	if err := w.pool.QueryRow(context.Background(), `
		SELECT state, coalesce((metadata->>'snoozes')::int, 0) FROM exact_river.river_job WHERE kind = $1`, worker.KindSync).Scan(&state, &snoozes); err != nil {
		t.Fatal(err)
	}
	if state == "completed" || snoozes == 0 {
		t.Fatalf("job %s after %d snoozes, want snoozed before the day turns", state, snoozes)
	}
	// Each snooze is an attempt of the job that finds the budget spent: three more of
	// them are three chances to call Exact, counted instead of waited for.
	calls := w.sim.Stats().Calls(101, "sync/CRM/Accounts")
	w.waitFor("three more snoozes", 30*time.Second, func() bool {
		return w.count(`SELECT coalesce((metadata->>'snoozes')::int, 0) FROM exact_river.river_job WHERE kind = $1`, worker.KindSync) >= snoozes+3
	})
	if more := w.sim.Stats().Calls(101, "sync/CRM/Accounts") - calls; more > 1 {
		t.Errorf("%d calls in three attempts while the day budget was spent, want at most 1", more)
	}

	// 4500 accounts take five calls, three a day (one of them may list the divisions).
	completed := func() bool {
		return w.count(`SELECT count(*) FROM exact_river.river_job WHERE kind = $1 AND state = 'completed'`, worker.KindSync) == 1
	}
	for day := 1; !completed(); day++ {
		if day > 3 {
			t.Fatal("the job did not complete in three days")
		}
		w.sim.Advance(24 * time.Hour)
		deadline := time.Now().Add(5 * time.Second)
		for !completed() && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if n := w.count(`SELECT count(*) FROM exact.accounts`); n != 4500 {
		t.Errorf("%d accounts stored, want 4500", n)
	}
}

func TestNewNeedsItsParts(t *testing.T) {
	if _, err := worker.New(worker.Config{}); err == nil {
		t.Error("New without Pool, Store, Runner and NewClient succeeded")
	}
}

// Queue counts the waiting jobs per division and entity; Enqueue refuses a duplicate.
func TestEnqueueAndQueue(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, FreezeClock: true})
	ctx := context.Background()
	job := sync.Job{ConnectionID: w.conn.ID, Division: 101, Entity: "accounts"}
	id, dup, err := queueOf(t, w.pool).Enqueue(ctx, job)
	if err != nil || dup || id == 0 {
		t.Fatalf("Enqueue: id %d, duplicate %v, err %v", id, dup, err)
	}
	again, dup, err := queueOf(t, w.pool).Enqueue(ctx, job)
	if err != nil || !dup || again != id {
		t.Errorf("Enqueue again: id %d, duplicate %v, err %v; want id %d, duplicate", again, dup, err, id)
	}
	// A job River holds for later is a snoozed one (the queue's jobs are never
	// scheduled for later by hand).
	rc, err := river.NewClient(riverpgxv5.New(w.pool), &river.Config{Schema: worker.Schema})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Insert(ctx, worker.SyncArgs{Connection: w.conn.ID, Division: 101, Entity: "items"},
		&river.InsertOpts{ScheduledAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	q, err := queueOf(t, w.pool).Waiting(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []worker.Waiting{
		{Connection: w.conn.ID, Division: 101, Entity: "accounts", Queued: 1},
		{Connection: w.conn.ID, Division: 101, Entity: "items", Snoozed: 1},
	}
	if d := cmp.Diff(want, q); d != "" {
		t.Errorf("Waiting (-want +got):\n%s", d)
	}
	unmigrated := sinktest.NewPool(t, sinktest.NewDatabase(t))
	if q, err := queueOf(t, unmigrated).Waiting(ctx); err != nil || len(q) != 0 {
		t.Errorf("Queue of an unmigrated database: %v, %v; want nothing, no error", q, err)
	}
	if id, ok, err := queueOf(t, w.pool).Leader(ctx); err != nil || ok {
		t.Errorf("Leader with no worker: %q, %t, %v; want none", id, ok, err)
	}
	if id, ok, err := queueOf(t, unmigrated).Leader(ctx); err != nil || ok {
		t.Errorf("Leader of an unmigrated database: %q, %t, %v; want none, no error", id, ok, err)
	}
}

// Leader names the run process that leads the queue while one runs.
func TestLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for River's election; skipped with -short")
	}
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, FreezeClock: true})
	w.start(worker.Config{Logger: zerolog.Nop(), ID: "leader-test-process"})
	w.waitFor("a leader", 30*time.Second, func() bool {
		id, ok, err := queueOf(t, w.pool).Leader(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return ok && id == "leader-test-process"
	})
}

// A job delivered again after its process died between the run's end and River's record
// of it completes without a second run: the ok run recorded with its job id stands. A
// job without such a run runs, and its run carries its id.
func TestAJobWhoseRunFinishedIsNotRunAgain(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for River to work two jobs; skipped with -short")
	}
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101, 102}, Accounts: 5, FreezeClock: true})
	ctx := context.Background()
	done, _, err := queueOf(t, w.pool).Enqueue(ctx, sync.Job{ConnectionID: w.conn.ID, Division: 101, Entity: "accounts"})
	if err != nil {
		t.Fatal(err)
	}
	fresh, _, err := queueOf(t, w.pool).Enqueue(ctx, sync.Job{ConnectionID: w.conn.ID, Division: 102, Entity: "accounts"})
	if err != nil {
		t.Fatal(err)
	}
	// The run of the process that died before River recorded the job complete.
	run, err := w.st.StartRun(ctx, dest.Run{ConnectionID: w.conn.ID, Division: 101, Entity: "accounts", QueueJob: done})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.st.FinishRun(ctx, run, dest.RunResult{Upserted: 5, Pages: 1, APICalls: 1, CursorTo: 5}); err != nil {
		t.Fatal(err)
	}
	w.start(worker.Config{Logger: zerolog.Nop(), Workers: 2})
	w.waitFor("both jobs completed", 30*time.Second, func() bool {
		return w.count(`SELECT count(*) FROM exact_river.river_job WHERE id IN ($1, $2) AND state = 'completed'`, done, fresh) == 2
	})
	if n := w.sim.Stats().APICalls["101 sync/CRM/Accounts"]; n != 0 {
		t.Errorf("the finished job made %d calls to Exact, want 0", n)
	}
	if n := w.sim.Stats().APICalls["102 sync/CRM/Accounts"]; n == 0 {
		t.Errorf("the fresh job made no call to Exact")
	}
	for _, j := range []struct {
		name string
		id   int64
	}{{"finished", done}, {"fresh", fresh}} {
		if n := w.count(`SELECT count(*) FROM exact_sync.runs WHERE job_id = $1`, j.id); n != 1 {
			t.Errorf("the %s job has %d runs, want 1", j.name, n)
		}
		if n := w.count(`SELECT count(*) FROM exact_sync.runs WHERE job_id = $1 AND status = 'ok'`, j.id); n != 1 {
			t.Errorf("the %s job has %d ok runs, want 1", j.name, n)
		}
	}
}

// TestRefusedJobIsNotRetried: a job Exact answers with a refusal (here 403, the division
// out of the app's scope) is recorded refused and cancelled after its first attempt: each
// retry would count towards Exact's 10 errors an hour per endpoint (§2.5). For an hour,
// the jobs of the schedules leave the entity alone in that division without a call; a job
// queued by hand tries anyway, and after the pause the schedules try again.
func TestRefusedJobIsNotRetried(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for River's retries; skipped with -short")
	}
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101, 102}, Accounts: 10, FreezeClock: true})
	w.sim.RevokeDivision(102)
	w.start(worker.Config{Logger: zerolog.Nop()})
	ctx := context.Background()
	rc, err := river.NewClient(riverpgxv5.New(w.pool), &river.Config{Schema: worker.Schema})
	if err != nil {
		t.Fatal(err)
	}
	calls := func() int { return w.sim.Stats().Calls(102, "sync/CRM/Accounts") }
	// run queues a job of division 102 (by a tick, or by hand) and waits for its end.
	run := func(tick bool) (state string, attempts int) {
		t.Helper()
		args := worker.SyncArgs{Connection: w.conn.ID, Division: 102, Entity: "accounts"}
		if tick {
			args.Tick = time.Now().UTC()
		}
		res, err := rc.Insert(ctx, args, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Completed, cancelled and discarded are final: a job in one of them is never
		// attempted again, so its attempts are then all it will have had. A job that is
		// retried passes through retryable and is waited for until it ends.
		w.waitFor("the job to end", 30*time.Second, func() bool {
			_ = w.pool.QueryRow(ctx, `SELECT state, attempt FROM exact_river.river_job WHERE id = $1`, res.Job.ID).Scan(&state, &attempts)
			return state == "completed" || state == "cancelled" || state == "discarded"
		})
		return state, attempts
	}
	lastStatus := func() string {
		var s string
		_ = w.pool.QueryRow(ctx, `SELECT status FROM exact_sync.runs WHERE division = 102 ORDER BY id DESC LIMIT 1`).Scan(&s)
		return s
	}

	if state, attempts := run(true); state != "cancelled" || attempts != 1 || calls() != 1 || lastStatus() != "refused" {
		t.Fatalf("refused job: %s after %d attempts, %d calls, run %q; want cancelled after 1 attempt, 1 call, run refused",
			state, attempts, calls(), lastStatus())
	}
	if state, _ := run(true); state != "completed" || calls() != 1 {
		t.Errorf("a scheduled job within the pause: %s with %d calls in all, want completed without a call", state, calls())
	}
	if state, _ := run(false); state != "cancelled" || calls() != 2 {
		t.Errorf("a job queued by hand within the pause: %s with %d calls in all, want cancelled after its call", state, calls())
	}
	if _, err := w.pool.Exec(ctx, `UPDATE exact_sync.runs SET finished_at = finished_at - interval '61 minutes' WHERE division = 102`); err != nil {
		t.Fatal(err)
	}
	if state, _ := run(true); state != "cancelled" || calls() != 3 {
		t.Errorf("a scheduled job after the pause: %s with %d calls in all, want cancelled after its call", state, calls())
	}
}

// A job of a division outside Config.Divisions (EXACT_DIVISIONS), queued before the
// divisions were restricted, is cancelled with the reason and calls nothing; a job of a
// division inside it runs.
func TestJobOutsideTheDivisionsIsCancelled(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the worker; skipped with -short")
	}
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101, 102}, Accounts: 5, FreezeClock: true})
	ctx := context.Background()
	ids := map[int]int64{}
	for _, d := range []int{101, 102} {
		id, _, err := queueOf(t, w.pool).Enqueue(ctx, sync.Job{ConnectionID: w.conn.ID, Division: d, Entity: "accounts"})
		if err != nil {
			t.Fatal(err)
		}
		ids[d] = id
	}
	w.start(worker.Config{Logger: zerolog.Nop(), Divisions: []int{101}})
	state := func(id int64) (string, string) {
		var st, errs string
		if err := w.pool.QueryRow(ctx, `SELECT state::text, coalesce(errors::text, '') FROM exact_river.river_job WHERE id = $1`, id).Scan(&st, &errs); err != nil {
			t.Fatal(err)
		}
		return st, errs
	}
	w.waitFor("both jobs finalized", 30*time.Second, func() bool {
		a, _ := state(ids[101])
		b, _ := state(ids[102])
		return a == "completed" && b == "cancelled"
	})
	if _, errs := state(ids[102]); !strings.Contains(errs, "division 102 is not among the divisions this process syncs (EXACT_DIVISIONS 101)") {
		t.Errorf("the cancelled job's errors %s do not give the reason", errs)
	}
	if n := w.count(`SELECT count(*) FROM exact_sync.runs WHERE division = 102`); n != 0 {
		t.Errorf("%d runs of division 102, want none", n)
	}
	if n := w.count(`SELECT count(*) FROM exact_sync.runs WHERE division = 101 AND status = 'ok'`); n != 1 {
		t.Errorf("%d ok runs of division 101, want 1", n)
	}
}

// CancelConnection cancels the unfinished jobs of one connection and leaves the others'.
func TestCancelConnection(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, FreezeClock: true})
	ctx := context.Background()
	other, err := w.st.UpsertConnection(ctx, "https://start.exactonline.be", "other-app", "other-user")
	if err != nil {
		t.Fatal(err)
	}
	for _, job := range []sync.Job{
		{ConnectionID: w.conn.ID, Division: 101, Entity: "accounts"},
		{ConnectionID: w.conn.ID, Division: 101, Entity: sync.DeletionsJob},
		{ConnectionID: other.ID, Division: 101, Entity: "accounts"},
	} {
		if _, _, err := queueOf(t, w.pool).Enqueue(ctx, job); err != nil {
			t.Fatal(err)
		}
	}
	n, err := queueOf(t, w.pool).CancelConnection(ctx, w.conn.ID)
	if err != nil || n != 2 {
		t.Fatalf("CancelConnection: %d, %v; want 2 jobs cancelled", n, err)
	}
	if c := w.count(`SELECT count(*) FROM exact_river.river_job WHERE state = 'cancelled' AND (args->>'connection')::bigint = $1`, w.conn.ID); c != 2 {
		t.Errorf("%d cancelled jobs of the connection, want 2", c)
	}
	if c := w.count(`SELECT count(*) FROM exact_river.river_job WHERE state = 'available' AND (args->>'connection')::bigint = $1`, other.ID); c != 1 {
		t.Errorf("%d queued jobs of the other connection, want 1", c)
	}
	if n, err := queueOf(t, sinktest.NewPool(t, sinktest.NewDatabase(t))).CancelConnection(ctx, 1); err != nil || n != 0 {
		t.Errorf("CancelConnection on an unmigrated database: %d, %v; want 0, no error", n, err)
	}
}

// queueOf is the Queue of pool's database.
func queueOf(t *testing.T, pool *pgxpool.Pool) *worker.Queue {
	t.Helper()
	q, err := worker.NewQueue(pool)
	if err != nil {
		t.Fatal(err)
	}
	return q
}
