package worker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	gosync "sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/trace"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/internal/divisions"
	"github.com/exactsync/exactsync/sync"
)

// Queues: sync runs in one, with Config.Workers slots; ticks, division listing,
// keep-alive, pruning and rescue in the other, so that they never wait behind a cycle.
const (
	QueueSync    = "sync"
	QueueControl = "control"
)

// Defaults of the Config fields.
const (
	DefaultWorkers     = 4
	DefaultRunTimeout  = 2 * time.Hour
	DefaultKeepalive   = 7 * 24 * time.Hour
	DefaultBusySnooze  = 2 * time.Second
	DefaultMaxSnooze   = time.Hour
	DefaultRescueAfter = 5 * time.Minute
	// DivisionsEvery is how often the division lists are read from Exact.
	DivisionsEvery = time.Hour
	// PruneEvery is how often the run history is pruned.
	PruneEvery = time.Hour
	// SyncMaxAttempts bounds the runs of a failing sync job (exact.JobAttempts, part of
	// exact's retry policy); the next tick queues it afresh.
	SyncMaxAttempts = exact.JobAttempts
	// RefusedPause is how long the schedules and webhooks leave an entity alone in a
	// division after Exact refused its run (400, 403, 404): at most one refused call an
	// hour per endpoint and division, well within the 10 errors an hour Exact allows (§2.5).
	RefusedPause = time.Hour
)

// Config configures a [Worker]. Zero values mean the defaults.
type Config struct {
	// Pool is the database of River's job queue, the one the store writes to. Required.
	Pool *pgxpool.Pool
	// Store holds connections, tokens, runs and division locks. Required.
	Store Store
	// Runner runs one sync job; it should not wait for a division's lock (a busy
	// division snoozes the job instead). Required.
	Runner *sync.Runner
	// NewClient builds the Exact client of a connection. Required. The worker keeps
	// one client per connection.
	NewClient func(ctx context.Context, conn dest.Connection) (*exact.Client, error)
	Logger    zerolog.Logger
	// Schedules are the periodic ticks; each queues its entities' jobs for every
	// division of every connection.
	Schedules []Schedule
	// Divisions restricts the synced divisions (EXACT_DIVISIONS); empty: every division
	// each connection can see.
	Divisions []int
	// Workers is how many sync jobs this process runs at a time (default 4).
	Workers int
	// RunTimeout bounds one run: one turn of a sync job (a turn is at most half of
	// RescueAfter), and one job of the division listing, the keep-alive or the pruning
	// (default 2h).
	RunTimeout time.Duration
	// Keepalive is the longest a connection's token chain goes unrefreshed (default
	// 168h); the check runs every quarter of it, at most hourly.
	Keepalive time.Duration
	// RunHistory is how long a run stays in exact_sync.runs; zero keeps every run.
	RunHistory time.Duration
	// DeletionsRetention is how long a removal stays in the deletions trail
	// (exact_history.deletions), pruned with the runs by PruneDeletions; zero keeps
	// every one.
	DeletionsRetention time.Duration
	// PruneDeletions deletes the removals of the trail made before its argument, and
	// returns how many; needed with DeletionsRetention.
	PruneDeletions func(ctx context.Context, before time.Time) (int, error)
	// BusySnooze is how long a job whose division another job holds waits before it
	// tries again, plus up to as much jitter (default 2s).
	BusySnooze time.Duration
	// MaxSnooze is the longest a job snoozes for a spent day budget before it looks
	// again (default 1h): the budget resets at Exact's midnight, and a shorter look
	// also covers a clock that differs from Exact's.
	MaxSnooze time.Duration
	// RescueAfter is how long a sync job may run before River counts it as lost with its
	// process and makes it available again (River's RescueStuckJobsAfter; default 5m). A
	// live job never runs that long: it works in turns of half of it, each ending at a
	// committed page, and goes on from its committed cursor in the next turn.
	RescueAfter time.Duration
	// Retry is the retry policy of the Exact clients NewClient builds, whose JobWait
	// spaces the runs of a failed sync job (default: exact's).
	Retry exact.RetryPolicy
	// Now is the clock of the keep-alive and of snoozes (default time.Now).
	Now func() time.Time
	// ID names this process among the workers (default River's: host and time).
	ID string
	// Verify, when set, verifies one division of a connection and repairs what differs:
	// the work of the verification jobs a Schedule with Verify queues.
	Verify func(ctx context.Context, client *exact.Client, conn dest.Connection, division int) error
	// WebhookCommitted, when set, is told how long after its first webhook delivery a
	// webhook-triggered run committed (see SyncArgs.Webhook), for metrics.
	WebhookCommitted func(entity string, latency time.Duration)
	// TracerProvider gives the tracer of a span per job of the queue (see trace.go), a
	// sync job's the parent of its run's (sync.Config.TracerProvider); default: no spans.
	TracerProvider trace.TracerProvider
}

// Worker runs sync jobs from the queue shared by every exactsync run process of a
// database, and, while it is the leader, queues them on the schedules.
type Worker struct {
	cfg   Config
	log   zerolog.Logger
	river *river.Client[pgx.Tx]

	mu      gosync.Mutex
	clients map[int64]*exact.Client
	started bool
	stopped bool
}

// New checks cfg and builds a Worker; Start starts it.
func New(cfg Config) (*Worker, error) {
	if cfg.Pool == nil || cfg.Store == nil || cfg.Runner == nil || cfg.NewClient == nil {
		return nil, errors.New("worker: Config.Pool, Store, Runner and NewClient are required")
	}
	if cfg.Workers < 0 {
		return nil, fmt.Errorf("worker: %d workers: use 1 or more", cfg.Workers)
	}
	cfg.Workers = cmp.Or(cfg.Workers, DefaultWorkers)
	cfg.RunTimeout = cmp.Or(cfg.RunTimeout, DefaultRunTimeout)
	cfg.Keepalive = cmp.Or(cfg.Keepalive, DefaultKeepalive)
	cfg.BusySnooze = cmp.Or(cfg.BusySnooze, DefaultBusySnooze)
	cfg.MaxSnooze = cmp.Or(cfg.MaxSnooze, DefaultMaxSnooze)
	cfg.RescueAfter = cmp.Or(cfg.RescueAfter, DefaultRescueAfter)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	w := &Worker{cfg: cfg, log: cfg.Logger, clients: map[int64]*exact.Client{}}

	workers := river.NewWorkers()
	river.AddWorker(workers, &syncWorker{w: w})
	river.AddWorker(workers, &tickWorker{w: w})
	river.AddWorker(workers, &divisionsWorker{w: w})
	river.AddWorker(workers, &keepAliveWorker{w: w})
	river.AddWorker(workers, &pruneWorker{w: w})
	river.AddWorker(workers, &verifyWorker{w: w})

	rc, err := river.NewClient(riverpgxv5.New(cfg.Pool), &river.Config{
		ID:     cfg.ID,
		Schema: Schema,
		Logger: newSlogger(cfg.Logger),
		Queues: map[string]river.QueueConfig{
			QueueSync:    {MaxWorkers: cfg.Workers},
			QueueControl: {MaxWorkers: 2},
		},
		Workers:      workers,
		PeriodicJobs: w.periodicJobs(),
		// River's own rescue: a job running for longer than RescueAfter, and longer than
		// its timeout, lost its process. Each kind's worker sets its timeout; a sync job's
		// is RescueAfter, and its turns end well before.
		JobTimeout:           cfg.RescueAfter,
		RescueStuckJobsAfter: cfg.RescueAfter,
		FetchCooldown:        50 * time.Millisecond,
		Middleware:           w.middleware(),
	})
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	w.river = rc
	return w, nil
}

// Start starts working the queue: it returns once River's client runs, and the worker
// goes on until Stop, whatever becomes of ctx.
func (w *Worker) Start(ctx context.Context) error {
	w.mu.Lock()
	if w.started {
		w.mu.Unlock()
		return errors.New("worker: started twice")
	}
	w.started = true
	w.mu.Unlock()
	if err := w.river.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("starting the worker: %w", err)
	}
	for _, s := range w.cfg.Schedules {
		w.log.Info().Str("schedule", s.Spec).Any("entities", s.Entities).Bool("deletions", s.Deletions).Msg("scheduled")
	}
	w.log.Info().Int("workers", w.cfg.Workers).Dur("keepalive_ms", w.cfg.Keepalive).Dur("check_every_ms", w.keepAliveEvery()).
		Msg("worker started")
	return nil
}

// Stop stops fetching jobs and cancels the running ones: each writes the page it has
// fetched (within the runner's write timeout) and returns, and its job is retried by
// whichever process fetches it next. Stop returns when every job and goroutine has
// returned, or with ctx's error when ctx is done first (the jobs still running are then
// rescued by River in the other processes, see Config.RescueAfter).
func (w *Worker) Stop(ctx context.Context) error {
	w.mu.Lock()
	if !w.started || w.stopped {
		w.mu.Unlock()
		return nil
	}
	w.stopped = true
	w.mu.Unlock()
	return w.river.StopAndCancel(ctx)
}

// client returns the Exact client of conn, building it the first time.
func (w *Worker) client(ctx context.Context, conn dest.Connection) (*exact.Client, error) {
	w.mu.Lock()
	c, ok := w.clients[conn.ID]
	w.mu.Unlock()
	if ok {
		return c, nil
	}
	c, err := w.cfg.NewClient(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("building the client of connection %d: %w", conn.ID, err)
	}
	// Divisions whose day budget another process saw spent get no call until their reset.
	if _, err := divisions.PrimeRateLimits(ctx, w.cfg.Store, conn.ID, c); err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if prev, ok := w.clients[conn.ID]; ok {
		return prev, nil
	}
	w.clients[conn.ID] = c
	return c, nil
}

// connection reads one stored connection.
func (w *Worker) connection(ctx context.Context, id int64) (dest.Connection, bool, error) {
	conns, err := w.cfg.Store.Connections(ctx)
	if err != nil {
		return dest.Connection{}, false, fmt.Errorf("reading connections: %w", err)
	}
	for _, c := range conns {
		if c.ID == id {
			return c, true, nil
		}
	}
	return dest.Connection{}, false, nil
}

// turn is how long one turn of a sync job runs before it stops after its next committed
// write: half of RescueAfter, so that the page in flight and its write end before River
// would count the job as lost, and at most RunTimeout.
func (w *Worker) turn() time.Duration { return min(w.cfg.RescueAfter/2, w.cfg.RunTimeout) }

// jitter is a random duration in [0, d).
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d)
}

// uniqueStates are the states in which a job blocks the insertion of its duplicate:
// queued (incl. snoozed and waiting for a retry) or running.
var uniqueStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
	rivertype.JobStateRetryable, rivertype.JobStateScheduled,
}
