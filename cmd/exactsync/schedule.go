package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/internal/alert"
	"github.com/exactsync/exactsync/internal/metrics"
	"github.com/exactsync/exactsync/internal/statuspage"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sync"
	"github.com/exactsync/exactsync/worker"
)

// Keep-alive bounds: Exact expires a refresh token unused for 30 days (docs/exact-online.md §1.7,
// §6.4), and refreshing more often than every 570 s is refused (§1.8).
const (
	minKeepalive = 10 * time.Minute
	maxKeepalive = exact.RefreshTokenIdleLifetime - 24*time.Hour
)

type runCmd struct {
	Workers     int           `default:"4" help:"How many jobs this process runs at the same time; any number of processes share the queue."`
	RunTimeout  time.Duration `default:"2h" help:"Upper bound for one run (a sync job runs in turns of at most half of --rescue-after)."`
	Grace       time.Duration `default:"25s" help:"On SIGTERM, how long the current pages may take to finish."`
	Keepalive   time.Duration `default:"168h" env:"EXACTSYNC_KEEPALIVE" help:"Refresh each connection's tokens at least this often, even when nothing is synced, so that Exact's 30-day expiry of unused refresh tokens never hits a quiet connection."`
	RunHistory  time.Duration `default:"2160h" env:"EXACTSYNC_RUN_HISTORY" help:"How long exact_sync.runs keeps a run (default 90 days; 0 keeps every run). The last successful run of each entity in each division is always kept."`
	RescueAfter time.Duration `default:"5m" name:"rescue-after" help:"How long a job may run before River counts it as lost with a process that died, and runs it again; a live job works in turns of half of it. At least four times --grace."`
	Listen      string        `env:"EXACTSYNC_LISTEN" placeholder:"HOST:PORT" help:"Serve Prometheus metrics at /metrics, liveness at /healthz, readiness at /readyz and the status page at / on this address, e.g. 127.0.0.1:9464 (empty: no server)."`
}

func (c *runCmd) Run(e *env) error {
	if c.Workers < 1 {
		return usageError{fmt.Errorf("--workers %d: use 1 or more", c.Workers)}
	}
	if c.Keepalive < minKeepalive || c.Keepalive > maxKeepalive {
		return usageError{fmt.Errorf("--keepalive (EXACTSYNC_KEEPALIVE) %s: use a duration from %s to %s; Exact expires refresh tokens unused for 30 days",
			c.Keepalive, minKeepalive, maxKeepalive)}
	}
	if c.RunHistory != 0 && c.RunHistory < time.Hour {
		return usageError{fmt.Errorf("--run-history (EXACTSYNC_RUN_HISTORY) %s: use 0 to keep every run, or a duration of 1h or more, e.g. 2160h for 90 days", c.RunHistory)}
	}
	if c.Grace <= 0 {
		return usageError{fmt.Errorf("--grace %s: use a duration above 0, e.g. 25s", c.Grace)}
	}
	if c.RunTimeout <= 0 {
		return usageError{fmt.Errorf("--run-timeout %s: use a duration above 0, e.g. 2h", c.RunTimeout)}
	}
	if c.RescueAfter < time.Second {
		return usageError{fmt.Errorf("--rescue-after %s: use a duration of 1s or more", c.RescueAfter)}
	}
	if c.RescueAfter < 4*c.Grace {
		// A turn still running at three quarters of RescueAfter is cut, and its fetched
		// page may take up to four fifths of the grace period to write: all of it must end
		// before River's rescuer takes the job for lost while it is still alive.
		return usageError{fmt.Errorf("--rescue-after %s is shorter than four times --grace %s: a job cut at three quarters of it may still be writing its page when River takes it for lost and runs it again; use --rescue-after %s or more, or a shorter --grace", c.RescueAfter, c.Grace, 4*c.Grace)}
	}
	if err := checkListen(c.Listen); err != nil {
		return err
	}
	cfg, err := loadConfig(e, config.Needs{Database: true})
	if err != nil {
		return err
	}
	if err := checkWebhooks(cfg, c.Listen, c.Workers); err != nil {
		return err
	}
	log := newLogger(cfg, e.stderr)
	tp, stopTracing, err := startTracing(e.ctx, e.getenv, log)
	if err != nil {
		return usageError{err}
	}
	defer stopTracing()
	loc, err := time.LoadLocation(cfg.TimeZone)
	if err != nil {
		return usageError{fmt.Errorf("%s: %q is not a time zone; use a name such as Europe/Amsterdam", config.EnvTimeZone, cfg.TimeZone)}
	}
	// A schedule over the day's budget is refused before anything is touched.
	fc, err := checkBudget(cfg, loc, time.Now())
	if err != nil {
		return err
	}
	log.Info().Int("forecast_calls", fc.Total).Int("verify_calls", fc.Verify).Int("limit", sync.Limit()).
		Msg("day budget forecast per division (exactsync entities shows its parts)")
	scheds, err := workerSchedules(cfg, loc)
	if err != nil {
		return err
	}
	intervals, err := scheduleIntervals(cfg, loc, time.Now())
	if err != nil {
		return err
	}
	// The store and the queue's pool connect on first use: the server below answers
	// (/readyz 503) while the start waits for PostgreSQL.
	st, err := sink.New(e.ctx, storeConfig(cfg, log))
	if err != nil {
		return usageError{err}
	}
	defer st.Close()
	pool, err := newQueuePool(e.ctx, cfg, int32(c.Workers/4+8))
	if err != nil {
		return err
	}
	defer pool.Close()

	m := newMetrics(cfg, st, intervals, log)
	newClient := func(ctx context.Context, conn dest.Connection) (*exact.Client, error) {
		return newClientContext(ctx, cfg, st, conn, log, func(ec *exact.Config) { ec.Observer, ec.TracerProvider = m, tp })
	}
	newWorker := func() (*worker.Worker, error) {
		// A page being written when SIGTERM arrives gets less time than the
		// grace period, so that it commits or rolls back before the exit.
		runner := sync.NewRunner(sync.Config{Logger: log, WriteTimeout: c.Grace * 4 / 5, Enabled: cfg.Entities, OmitRaw: cfg.OmitRaw, RawExtra: cfg.RawExtra, ProgressEvery: cfg.ProgressInterval,
			Observer: m, TracerProvider: tp}, st, st, st)
		return worker.New(worker.Config{
			Pool: pool, Store: st, Logger: log,
			Runner:    runner,
			Verify:    scheduledVerify(cfg, st, runner, log, m),
			NewClient: newClient,
			Schedules: scheds, Divisions: cfg.Divisions, Workers: c.Workers, RunTimeout: c.RunTimeout,
			Keepalive: c.Keepalive, RunHistory: c.RunHistory, RescueAfter: c.RescueAfter, ID: processID(),
			DeletionsRetention: cfg.DeletionsRetention, PruneDeletions: st.PruneDeletions,
			WebhookCommitted: m.Committed, TracerProvider: tp,
		})
	}
	hooks, err := newWebhooks(cfg, st, pool, log, fc.Total, m)
	if err != nil {
		return err
	}
	startup := metrics.NewStartup(stepConnect)
	status := statuspage.Handler(statusSource(cfg, st, intervals, loc), log)
	_, stopServer, err := serve(e.ctx, c.Listen, cfg.ListenToken, m, status, st, startup, log, hooks.mount)
	if err != nil {
		return err
	}
	defer stopServer()
	w, err := (&starter{e: e, cfg: cfg, st: st, pool: pool, log: log, startup: startup, newWorker: newWorker, newClient: newClient}).start(e.ctx)
	if err != nil {
		if e.ctx.Err() != nil {
			log.Info().Msg("stopped before the worker started")
			return nil
		}
		return err
	}
	startup.Started()
	if err := hooks.start(e.ctx); err != nil {
		_ = w.Stop(context.Background())
		return err
	}
	notifier := newNotifier(cfg, st, intervals, log)
	notifier.Start(e.ctx)
	<-e.ctx.Done()
	log.Info().Msg("shutting down: no new runs; finishing the current pages")
	ctx, cancel := context.WithTimeout(context.Background(), c.Grace)
	defer cancel()
	_ = notifier.Stop(ctx)
	hooks.stop(ctx)
	if err := w.Stop(ctx); err != nil {
		log.Warn().Dur("grace_ms", c.Grace).Msg("stopped with runs still finishing; their last page is rolled back and other processes take them over")
		return nil
	}
	log.Info().Msg("stopped")
	return nil
}

// newNotifier returns the notifier of EXACTSYNC_ALERT_URL; with none set, one that does
// nothing.
func newNotifier(cfg *config.Config, st *sink.Store, intervals map[string]time.Duration, log zerolog.Logger) *alert.Notifier {
	if cfg.AlertURL == "" {
		return nil
	}
	return alert.New(alert.Config{URL: cfg.AlertURL, Store: st, Inputs: alertInputs(st, intervals), Logger: log})
}

// newQueuePool returns the pool of the job queue, which connects on first use.
func newQueuePool(ctx context.Context, cfg *config.Config, maxConns int32) (*pgxpool.Pool, error) {
	pcfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, usageError{fmt.Errorf("parsing database URL: %w; check DATABASE_URL", err)}
	}
	pcfg.MaxConns = maxConns
	return pgxpool.NewWithConfig(ctx, pcfg)
}

// openQueue opens the pool of the job queue and brings its tables up to date.
func openQueue(ctx context.Context, cfg *config.Config, log zerolog.Logger, maxConns int32) (*pgxpool.Pool, error) {
	pool, err := newQueuePool(ctx, cfg, maxConns)
	if err != nil {
		return nil, err
	}
	if err := worker.Migrate(ctx, pool, log); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// processID names this process in the queue (River's attempted_by, leader): host, pid
// and start time.
func processID() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s_%d_%s", cmp.Or(host, "unknown"), os.Getpid(), time.Now().UTC().Format("20060102T150405"))
}
