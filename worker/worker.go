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
	DefaultRescueAfter = time.Minute
	// DivisionsEvery is how often the division lists are read from Exact.
	DivisionsEvery = time.Hour
	// PruneEvery is how often the run history is pruned.
	PruneEvery = time.Hour
	// SyncMaxAttempts bounds the retries of a failing sync job; the next tick queues
	// it afresh.
	SyncMaxAttempts = 5
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
	// RunTimeout bounds one sync job (default 2h).
	RunTimeout time.Duration
	// Keepalive is the longest a connection's token chain goes unrefreshed (default
	// 168h); the check runs every quarter of it, at most hourly.
	Keepalive time.Duration
	// RunHistory is how long a run stays in exact_sync.runs; zero keeps every run.
	RunHistory time.Duration
	// BusySnooze is how long a job whose division another job holds waits before it
	// tries again, plus up to as much jitter (default 2s).
	BusySnooze time.Duration
	// MaxSnooze is the longest a job snoozes for a spent day budget before it looks
	// again (default 1h): the budget resets at Exact's midnight, and a shorter look
	// also covers a clock that differs from Exact's.
	MaxSnooze time.Duration
	// RescueAfter is how long a sync job may run without its division's lock before
	// it counts as lost with its process and is made available again (default 1m).
	// The leader looks every half of it; a job is rescued after two looks.
	RescueAfter time.Duration
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
}

// Worker runs sync jobs from the queue shared by every exactsync run process of a
// database, and, while it is the leader, queues them on the schedules.
type Worker struct {
	cfg   Config
	log   zerolog.Logger
	river *river.Client[pgx.Tx]

	mu       gosync.Mutex
	clients  map[int64]*exact.Client
	suspects map[int64]int // rescue: running job id → looks that found its division unlocked
	started  bool
	stopped  bool
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
	w := &Worker{cfg: cfg, log: cfg.Logger, clients: map[int64]*exact.Client{}, suspects: map[int64]int{}}

	workers := river.NewWorkers()
	river.AddWorker(workers, &syncWorker{w: w})
	river.AddWorker(workers, &tickWorker{w: w})
	river.AddWorker(workers, &divisionsWorker{w: w})
	river.AddWorker(workers, &keepAliveWorker{w: w})
	river.AddWorker(workers, &pruneWorker{w: w})
	river.AddWorker(workers, &rescueWorker{w: w})
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
		JobTimeout:   cfg.RunTimeout,
		// Sync jobs of a process that died are found much sooner by the rescue job,
		// which knows whether the division's lock is still held.
		RescueStuckJobsAfter: cfg.RunTimeout + time.Hour,
		FetchCooldown:        50 * time.Millisecond,
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
// rescued by the other processes, see Config.RescueAfter).
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
