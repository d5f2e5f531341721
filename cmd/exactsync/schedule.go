package main

import (
	"context"
	"fmt"
	"hash/fnv"
	"runtime/debug"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/exact/catalogue"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sync"
)

// Keep-alive bounds: Exact expires a refresh token unused for 30 days (fact sheet §1.7,
// §6.4), and refreshing more often than every 570 s is refused (§1.8).
const (
	minKeepalive = 10 * time.Minute
	maxKeepalive = 29 * 24 * time.Hour
)

type runCmd struct {
	Workers    int           `default:"4" help:"How many divisions are synced at the same time."`
	RunTimeout time.Duration `default:"2h" help:"Upper bound for one run."`
	Grace      time.Duration `default:"25s" help:"On SIGTERM, how long the current pages may take to finish."`
	Keepalive  time.Duration `default:"168h" env:"EXACTSYNC_KEEPALIVE" help:"Refresh each connection's tokens at least this often, even when nothing is synced, so that Exact's 30-day expiry of unused refresh tokens never hits a quiet connection."`
	RunHistory time.Duration `default:"2160h" env:"EXACTSYNC_RUN_HISTORY" help:"How long exact_sync.runs keeps a run (default 90 days; 0 keeps every run). The last successful run of each entity in each division is always kept."`
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
	cfg, err := loadConfig(e, config.Needs{Database: true})
	if err != nil {
		return err
	}
	log := newLogger(cfg, e.stderr)
	loc, err := time.LoadLocation(cfg.TimeZone)
	if err != nil {
		return usageError{fmt.Errorf("%s: %q is not a time zone; use a name such as Europe/Amsterdam", config.EnvTimeZone, cfg.TimeZone)}
	}
	// A schedule over the day's budget is refused before anything is touched.
	if _, err := checkBudget(cfg, loc, time.Now()); err != nil {
		return err
	}
	st, err := openStore(e.ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()

	s := &scheduler{
		cfg: cfg, st: st, log: log, runTimeout: c.RunTimeout,
		keepalive: c.Keepalive, runHistory: c.RunHistory, now: time.Now,
		// A page being written when SIGTERM arrives gets less time than the
		// grace period, so that it commits or rolls back before the exit.
		runner:  sync.NewRunner(sync.Config{Logger: log, WriteTimeout: c.Grace * 4 / 5, Enabled: cfg.Entities, OmitRaw: cfg.OmitRaw}, st, st, st),
		clients: map[int64]*exact.Client{},
		divs:    map[int64]cachedDivisions{},
		pending: map[sync.Job]bool{},
		queues:  make([]chan sync.Job, c.Workers),
	}
	// Workers keep running until their queues close, so that a page being
	// written when SIGTERM arrives is finished; jobs see ctx canceled.
	var wg gosync.WaitGroup
	for i := range s.queues {
		s.queues[i] = make(chan sync.Job, 1024)
		wg.Add(1)
		go func(q chan sync.Job) {
			defer wg.Done()
			for job := range q {
				s.work(e.ctx, job)
			}
		}(s.queues[i])
	}

	// A panic in a tick (listing divisions, queueing) is logged and the scheduler goes on.
	cr := cron.New(cron.WithLocation(loc), cron.WithParser(cronParser),
		cron.WithChain(cron.Recover(cronLogger{log})))
	ticks, err := schedules(cfg)
	if err != nil {
		return err
	}
	for _, t := range ticks {
		if _, err := cr.AddFunc(t.spec, func() { s.enqueueAll(e.ctx, t) }); err != nil {
			return usageError{fmt.Errorf("schedule %q for %s: %w", t.spec, t.entity, err)}
		}
		log.Info().Str("entity", t.entity).Strs("with", t.with).Bool("full", t.full).Str("schedule", t.spec).
			Str("time_zone", loc.String()).Msg("scheduled")
	}
	// Keep-alive: checked a few times per period (at most hourly), so that a refresh is
	// never much later than the period.
	every := max(min(c.Keepalive/4, time.Hour), time.Minute)
	cr.Schedule(cron.Every(every), cron.FuncJob(func() { s.keepAlive(e.ctx) }))
	log.Info().Dur("keepalive", c.Keepalive).Dur("check_every", every).Msg("token keep-alive scheduled")
	go s.keepAlive(e.ctx)
	if c.RunHistory > 0 {
		cr.Schedule(cron.Every(time.Hour), cron.FuncJob(func() { s.pruneRuns(e.ctx) }))
		go s.pruneRuns(e.ctx)
	}
	cr.Start()
	// A start catches up at once instead of waiting for the first tick.
	for _, t := range ticks {
		if !t.full {
			s.enqueueAll(e.ctx, t)
		}
	}

	<-e.ctx.Done()
	log.Info().Msg("shutting down: no new runs; finishing the current pages")
	cr.Stop()
	s.mu.Lock()
	s.closed = true
	for _, q := range s.queues {
		close(q)
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		log.Info().Msg("stopped")
	case <-time.After(c.Grace):
		log.Warn().Dur("grace", c.Grace).Msg("stopped with runs still finishing; their last page is rolled back")
	}
	return nil
}

// cronLogger hands robfig/cron's messages (panics it recovered) to zerolog.
type cronLogger struct{ log zerolog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug().Fields(kv).Msg(msg) }

func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error().Err(err).Fields(kv).Msg(msg)
}

type cachedDivisions struct {
	codes []int
	at    time.Time
}

// scheduler turns cron ticks into jobs and spreads them over workers. A
// (connection, division) always goes to the same worker, so one process
// never runs two jobs of one division at once; the sink's advisory lock
// does the same across processes.
type scheduler struct {
	cfg        *config.Config
	st         *sink.Store
	log        zerolog.Logger
	runner     *sync.Runner
	runTimeout time.Duration
	keepalive  time.Duration    // longest time a connection's chain may go unrefreshed
	runHistory time.Duration    // how long a run stays in exact_sync.runs; 0 = for ever
	now        func() time.Time // the clock of the keep-alive
	// newClient builds a connection's client; nil means newClient with cfg.
	newClient func(sink.Connection) (*exact.Client, error)
	keeping   atomic.Bool // a keep-alive pass is running

	mu      gosync.Mutex
	clients map[int64]*exact.Client
	divs    map[int64]cachedDivisions
	pending map[sync.Job]bool
	queues  []chan sync.Job
	closed  bool
}

// tick is the work of one schedule: a run of one endpoint's entities (entity names
// the job; with are the other enabled entities it writes, read in the same calls) and,
// after a sync entity's run, the division's deletions.
type tick struct {
	spec      string
	entity    string
	with      []string
	full      bool
	deletions bool
}

// schedules groups the enabled entities' schedules: entities of one endpoint with the
// same schedule share one job (one read for accounts and suppliers).
func schedules(cfg *config.Config) ([]*tick, error) {
	type key struct {
		path, spec string
		full       bool
	}
	groups := map[key]*tick{}
	var out []*tick
	for _, name := range cfg.Entities {
		ent, err := sync.Lookup(name)
		if err != nil {
			return nil, usageError{err}
		}
		for _, v := range []struct {
			spec string
			full bool
		}{{cfg.Schedules[name], false}, {cfg.FullSchedules[name], true}} {
			if v.spec == "" {
				continue
			}
			k := key{ent.Path, v.spec, v.full}
			if t := groups[k]; t != nil {
				t.with = append(t.with, name)
				continue
			}
			t := &tick{spec: v.spec, entity: name, full: v.full, deletions: ent.Read == catalogue.ReadSync}
			groups[k] = t
			out = append(out, t)
		}
	}
	return out, nil
}

func (s *scheduler) enqueueAll(ctx context.Context, t *tick) {
	conns, err := connections(ctx, s.cfg, s.st)
	if err != nil {
		s.log.Error().Err(err).Msg("cannot schedule")
		return
	}
	for _, conn := range conns {
		if conn.State == "reauth_required" {
			s.log.Error().Int64("connection", conn.ID).Msg(reauthMessage(conn))
			continue
		}
		client, err := s.client(conn)
		if err != nil {
			s.log.Error().Err(err).Int64("connection", conn.ID).Msg("cannot build the client")
			continue
		}
		divs, err := s.divisions(ctx, conn, client)
		if err != nil {
			s.log.Warn().Err(err).Int64("connection", conn.ID).Msg("cannot list divisions")
			continue
		}
		for _, d := range divs {
			s.enqueue(sync.Job{ConnectionID: conn.ID, Division: d, Entity: t.entity, Full: t.full})
			if t.deletions {
				// After the entity's run in the division's queue; one pending at a time.
				s.enqueue(sync.Job{ConnectionID: conn.ID, Division: d, Entity: sync.DeletionsJob})
			}
		}
	}
}

func (s *scheduler) enqueue(job sync.Job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.pending[job] {
		return // already queued or running: runs never overlap
	}
	h := fnv.New32a()
	fmt.Fprintf(h, "%d/%d", job.ConnectionID, job.Division)
	q := s.queues[int(h.Sum32()%uint32(len(s.queues)))]
	select {
	case q <- job:
		s.pending[job] = true
	default:
		s.log.Warn().Stringer("job", job).Msg("queue full; skipping this tick")
	}
}

func (s *scheduler) work(ctx context.Context, job sync.Job) {
	defer func() {
		s.mu.Lock()
		delete(s.pending, job)
		s.mu.Unlock()
	}()
	// The runner recovers from panics inside a run and records it as failed; this
	// catches the rest, so that one job never takes the worker down.
	defer func() {
		if v := recover(); v != nil {
			s.log.Error().Stringer("job", job).Str("stack", string(debug.Stack())).Msgf("recovered from a panic: %v", v)
		}
	}()
	if ctx.Err() != nil {
		return
	}
	s.mu.Lock()
	client := s.clients[job.ConnectionID]
	s.mu.Unlock()
	rctx, cancel := context.WithTimeout(ctx, s.runTimeout)
	defer cancel()
	// The runner logs the outcome once; nothing to add here.
	_, _ = s.runner.Run(rctx, client, job)
}

func (s *scheduler) client(conn sink.Connection) (*exact.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.clients[conn.ID]; ok {
		return c, nil
	}
	build := s.newClient
	if build == nil {
		build = func(conn sink.Connection) (*exact.Client, error) { return newClient(s.cfg, s.st, conn, s.log) }
	}
	c, err := build(conn)
	if err != nil {
		return nil, err
	}
	s.clients[conn.ID] = c
	return c, nil
}

// keepAlive refreshes the token chain of every connection that was not refreshed for
// s.keepalive, whether or not anything is due to sync: Exact expires a refresh token that
// goes unused for 30 days (§1.7, §6.4), which would strand a quiet connection. The refresh
// is exact.Client.Refresh: under the connection's row lock like every refresh, and never
// earlier than 570 s after the last one (§1.8). Connections needing re-authorization are
// skipped; the sync schedules already report them.
func (s *scheduler) keepAlive(ctx context.Context) {
	if !s.keeping.CompareAndSwap(false, true) {
		return // the previous pass is still running
	}
	defer s.keeping.Store(false)
	conns, err := s.st.Connections(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error().Err(err).Msg("keep-alive: cannot read the connections")
		}
		return
	}
	for _, conn := range conns {
		if ctx.Err() != nil {
			return
		}
		if conn.State == sink.StateReauthRequired {
			continue
		}
		log := s.log.With().Int64("connection", conn.ID).Logger()
		tok, err := s.st.LoadToken(ctx, conn.ID)
		if err != nil {
			log.Error().Err(err).Msg("keep-alive: cannot read the token")
			continue
		}
		// IssuedAt is when the current pair was issued: the last refresh, by whoever.
		if !tok.IssuedAt.IsZero() && s.now().Sub(tok.IssuedAt) < s.keepalive {
			continue
		}
		client, err := s.client(conn)
		if err != nil {
			log.Error().Err(err).Msg("keep-alive: cannot build the client")
			continue
		}
		// Judged again under the row lock: another process's keep-alive may have
		// rotated the chain since the read above.
		rotated, err := client.RefreshIfOlder(ctx, s.keepalive)
		if err != nil {
			if ctx.Err() == nil {
				log.Error().Err(err).Msg("keep-alive: refreshing the token failed")
			}
			continue
		}
		if !rotated {
			continue
		}
		ev := log.Info().Dur("keepalive", s.keepalive)
		if !tok.IssuedAt.IsZero() {
			ev = ev.Time("last_refresh", tok.IssuedAt)
		}
		ev.Msg("keep-alive: refreshed the token chain")
	}
}

// pruneRuns deletes the runs older than s.runHistory, except the last successful run of
// each entity in each division (see sink.Store.PruneRuns).
func (s *scheduler) pruneRuns(ctx context.Context) {
	n, err := s.st.PruneRuns(ctx, s.now().Add(-s.runHistory))
	switch {
	case err != nil && ctx.Err() == nil:
		s.log.Error().Err(err).Msg("cannot prune the run history")
	case n > 0:
		s.log.Info().Int("runs_deleted", n).Dur("run_history", s.runHistory).Msg("pruned the run history")
	}
}

// divisions caches the division list of a connection for an hour.
func (s *scheduler) divisions(ctx context.Context, conn sink.Connection, client *exact.Client) ([]int, error) {
	connID := conn.ID
	s.mu.Lock()
	cached, ok := s.divs[connID]
	s.mu.Unlock()
	if ok && time.Since(cached.at) < time.Hour {
		return cached.codes, nil
	}
	// The list is fetched even when EXACT_DIVISIONS names the divisions: once
	// an hour it is how a division moved by Exact is noticed (§3.10).
	ds, err := saveDivisions(ctx, s.st, conn.ID, client, s.cfg.Divisions, s.log)
	if err != nil {
		return nil, err
	}
	all := make([]int, len(ds))
	for i, d := range ds {
		all[i] = d.Code
	}
	codes := filterDivisions(all, s.cfg.Divisions)
	s.mu.Lock()
	s.divs[connID] = cachedDivisions{codes: codes, at: time.Now()}
	s.mu.Unlock()
	return codes, nil
}
