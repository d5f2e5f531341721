package main

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"
	"github.com/sethvargo/go-retry"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/internal/metrics"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/worker"
)

// The steps of run's start, as startHook and /readyz name them.
const (
	stepConnect       = "connecting to PostgreSQL"
	stepMigrate       = "migrating the database"
	stepDivisions     = "checking " + config.EnvDivisions
	stepMigrateQueue  = "migrating the job queue"
	stepStartWorker   = "starting the worker"
	startPingTimeout  = 15 * time.Second
	startBackoffFirst = time.Second
	startBackoffMax   = 30 * time.Second
)

// starter brings run's worker up: it connects, migrates and starts the worker, and while
// PostgreSQL cannot be reached (at the start, or dropping in the middle of it) tries
// again with a capped exponential backoff, saying so once per change of state in the
// log and on /readyz, instead of ending the process. A mistake (a wrong key, a refused
// EXACT_DIVISIONS, a failing migration) ends it as before.
type starter struct {
	e       *env
	cfg     *config.Config
	st      *sink.Store
	pool    *pgxpool.Pool
	log     zerolog.Logger
	startup *metrics.Startup
	// newWorker builds the worker of one attempt: River's client cannot be started again
	// once its start failed.
	newWorker func() (*worker.Worker, error)
	// newClient builds a connection's Exact client, as the worker does.
	newClient func(context.Context, dest.Connection) (*exact.Client, error)
	// waiting: PostgreSQL could not be reached, and the log has said so.
	waiting bool
}

// start returns the started worker, or the error that ends run: a mistake, or ctx's
// when the process is told to stop before the worker runs.
func (s *starter) start(ctx context.Context) (*worker.Worker, error) {
	backoff := retry.WithJitterPercent(20, retry.WithCappedDuration(startBackoffMax, retry.NewExponential(startBackoffFirst)))
	for attempt := 1; ; attempt++ {
		w, err := s.attempt(ctx, attempt)
		if err == nil {
			return w, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !sink.Unavailable(err) {
			return nil, err
		}
		next, _ := backoff.Next()
		s.startup.Set(fmt.Sprintf("waiting for PostgreSQL (attempt %d, next in %s): %s", attempt, next.Round(100*time.Millisecond), err))
		if !s.waiting {
			s.waiting = true
			s.log.Warn().Err(err).Msg("cannot reach PostgreSQL while starting; trying again with backoff until it answers (/readyz answers 503 meanwhile)")
		} else {
			s.log.Debug().Err(err).Int("attempt", attempt).Dur("next_ms", next).Msg("PostgreSQL still cannot be reached")
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(next):
		}
	}
}

// attempt is one try at the whole start.
func (s *starter) attempt(ctx context.Context, attempt int) (*worker.Worker, error) {
	s.step(stepConnect)
	pctx, cancel := context.WithTimeout(ctx, startPingTimeout)
	err := s.st.Ping(pctx)
	cancel()
	if err != nil {
		return nil, err
	}
	if s.waiting {
		s.waiting = false
		s.log.Info().Int("attempt", attempt).Msg("PostgreSQL answers again; the start goes on")
	}
	s.step(stepMigrate)
	if err := prepareStore(s.e, s.cfg, s.st, s.log); err != nil {
		return nil, err
	}
	if err := applyHistory(ctx, s.cfg, s.st, true, s.log); err != nil {
		return nil, err
	}
	s.step(stepMigrateQueue)
	if err := worker.Migrate(ctx, s.pool, s.log); err != nil {
		return nil, err
	}
	s.step(stepDivisions)
	if err := checkRunDivisions(ctx, s.cfg, s.st, s.newClient, s.log); err != nil {
		return nil, err
	}
	s.step(stepStartWorker)
	w, err := s.newWorker()
	if err != nil {
		return nil, err
	}
	if err := w.Start(ctx); err != nil {
		_ = w.Stop(context.WithoutCancel(ctx))
		return nil, err
	}
	return w, nil
}

// step says which step of the start begins. While the start waits for PostgreSQL,
// /readyz keeps saying so.
func (s *starter) step(name string) {
	if !s.waiting {
		s.startup.Set(name)
	}
	if s.e.startHook != nil {
		s.e.startHook(name)
	}
}
