package main

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/sync"
	"github.com/exactsync/exactsync/worker"
)

// interruptNotice is what sync says when SIGINT or SIGTERM stops it.
const interruptNotice = "exactsync: interrupted: finishing the write in flight, then stopping; interrupt again to stop at once"

type syncCmd struct {
	Entity     string `required:"" help:"What to sync: ${entities}."`
	Division   *int   `help:"Only this division (default: EXACT_DIVISIONS, or every division each connection can see)."`
	Connection int64  `help:"Only this connection (see auth status; default: every connection)."`
	Full       bool   `help:"Start from the beginning instead of the stored cursor."`
	Since      string `help:"Re-read the records modified on or after this date (2026-01-01, Amsterdam time; or RFC 3339): from where Exact's SyncTimestamp says the entity's stream reaches it, else (an endpoint SyncTimestamp does not serve) a full pass."`
	Enqueue    bool   `help:"Hand the jobs to the running workers (exactsync run) instead of running them here; prints their job ids."`
	Progress   string `enum:"auto,always,never" default:"auto" help:"Show a live progress line per run: auto (when standard error is a terminal), always or never. Off a terminal, runs log their progress every 10 s."`
}

func (c *syncCmd) Run(e *env) error {
	ent, err := sync.Lookup(c.Entity)
	if err != nil {
		return usageError{err}
	}
	division := 0
	if c.Division != nil {
		if division = *c.Division; division <= 0 {
			return usageError{fmt.Errorf("--division %d is not a division code; use a positive number such as 101, or leave --division out to sync every division", division)}
		}
	}
	since, err := parseSince(c.Since)
	switch {
	case err != nil:
		return usageError{err}
	case !since.IsZero() && c.Full:
		return usageError{errors.New("--since and --full both say where to start: give one")}
	case !since.IsZero() && c.Enqueue:
		return usageError{errors.New("--since runs here, not on the workers: leave out --enqueue")}
	}
	if c.Connection < 0 {
		return usageError{fmt.Errorf("--connection %d is not a connection id; see exactsync auth status", c.Connection)}
	}
	if _, err := tracingWanted(e.getenv); err != nil {
		return usageError{err} // before the database is touched
	}
	// Each connection brings its own host, client id and stored client
	// secret: no credentials are needed here.
	cfg, log, st, err := setup(e, config.Needs{Database: true})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := applyHistory(e.ctx, cfg, st, false, log); err != nil {
		return err
	}
	tp, stopTracing, err := startTracing(e.ctx, e.getenv, log)
	if err != nil {
		return usageError{err}
	}
	defer stopTracing()
	conns, err := connections(e.ctx, cfg, st)
	if err != nil {
		return err
	}
	if conns, err = onlyConnection(conns, c.Connection); err != nil {
		return err
	}
	var only []int
	if division != 0 {
		only = []int{division}
	}
	// The entity is written with every enabled entity of its endpoint, and the
	// deletions run applies to all of them.
	enabled := cfg.Entities
	if !slices.Contains(enabled, ent.Name) {
		enabled = append(slices.Clone(enabled), ent.Name)
	}
	display := newProgressDisplay(e.stderr, c.Progress)
	every := cfg.ProgressInterval
	if display.w != nil {
		every = -1 // the live line shows the progress; a log line would break it
	}
	runner := sync.NewRunner(sync.Config{Logger: log, WaitForLock: true, Enabled: enabled, OmitRaw: cfg.OmitRaw, RawExtra: cfg.RawExtra, Progress: display.update, ProgressEvery: every,
		TracerProvider: tp}, st, st, st)
	// Whoever interrupts a sync hears at once what happens next, since the write in
	// flight may take a while to finish.
	returned, told := make(chan struct{}), make(chan struct{})
	defer func() { close(returned); <-told }()
	go func() {
		defer close(told)
		select {
		case <-e.ctx.Done():
			display.say(e.stderr, interruptNotice)
		case <-returned:
		}
	}()
	var total syncTotal
	// With --enqueue, the jobs go to the queue; the division list is read here all the same.
	var runJob func(sync.Job) error
	if c.Enqueue {
		pool, err := openQueue(e.ctx, cfg, log, 2)
		if err != nil {
			return err
		}
		defer pool.Close()
		queue, err := worker.NewQueue(pool)
		if err != nil {
			return err
		}
		// Jobs queued where no worker runs wait silently: say so once they are queued.
		defer func() {
			if _, alive, err := queue.Leader(e.ctx); err == nil && !alive {
				fmt.Fprintln(e.stdout, noWorkerHint)
			}
		}()
		runJob = func(job sync.Job) error {
			id, dup, err := queue.Enqueue(e.ctx, job)
			if err != nil {
				return err
			}
			state := "queued"
			if dup {
				state = "already queued or running"
			}
			fmt.Fprintf(e.stdout, "%s division %d: %s as job %d\n", job.Entity, job.Division, state, id)
			return nil
		}
	}
	var errs []error
	jobs := 0
	for _, conn := range conns {
		if conn.State == dest.StateReauthRequired {
			errs = append(errs, errors.New(reauthMessage(conn)))
			continue
		}
		client, err := newClientContext(e.ctx, cfg, st, conn, log, func(ec *exact.Config) { ec.TracerProvider = tp })
		if err != nil {
			errs = append(errs, err)
			continue
		}
		divs, err := connectionDivisions(e.ctx, cfg, st, conn, client, only, log)
		if err != nil {
			errs = append(errs, fmt.Errorf("connection %d (%s): %w", conn.ID, host(conn.BaseURL), err))
			continue
		}
	divisions:
		for _, div := range divs {
			jobs++
			// The entity's records, then the division's deletions, which the
			// deletions job applies for every entity.
			for _, name := range []string{ent.Name, sync.DeletionsJob} {
				job := sync.Job{ConnectionID: conn.ID, Division: div, Entity: name, Full: c.Full && name != sync.DeletionsJob}
				if name != sync.DeletionsJob {
					job.Since = since
				}
				var err error
				if runJob != nil {
					err = runJob(job)
				} else {
					var res sync.Result
					res, err = runner.Run(e.ctx, client, job)
					display.clear()
					printResult(e, res)
					total.add(res)
				}
				if err != nil {
					if errors.Is(err, exact.ErrReauthRequired) {
						err = fmt.Errorf("connection %d: %w; or remove the connection with `exactsync auth remove --connection %d`", conn.ID, err, conn.ID)
					}
					errs = append(errs, refusalHint(err, name))
					if errors.Is(err, exact.ErrReauthRequired) || e.ctx.Err() != nil {
						break divisions
					}
					break
				}
			}
		}
	}
	if jobs == 0 && len(errs) == 0 {
		what := "the divisions in " + config.EnvDivisions
		if division != 0 {
			what = fmt.Sprintf("division %d", division)
		}
		return usageError{fmt.Errorf("no connection has access to %s; see exactsync auth status", what)}
	}
	if e.ctx.Err() != nil {
		// SIGINT or SIGTERM: the runs recorded themselves canceled, keeping what they
		// committed.
		return interruptedError{pages: total.committed}
	}
	total.print(e)
	return joinOneLine(errs)
}

// parseSince reads --since: a date (midnight in Amsterdam, as Exact reads dates, §3.8) or
// an RFC 3339 instant; "" is none.
func parseSince(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	loc, err := time.LoadLocation("Europe/Amsterdam") // embedded by package exact (time/tzdata)
	if err != nil {
		return time.Time{}, fmt.Errorf("--since: loading Amsterdam's time zone: %w", err)
	}
	t, err := time.ParseInLocation(time.DateOnly, s, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("--since %q is not a date: give one like 2026-01-01 (Amsterdam time) or an RFC 3339 time", s)
	}
	return t, nil
}
