package main

import (
	"context"
	"fmt"
	"hash/fnv"
	gosync "sync"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sync"
)

type runCmd struct {
	Workers    int           `default:"4" help:"How many divisions are synced at the same time."`
	RunTimeout time.Duration `default:"2h" help:"Upper bound for one run."`
	Grace      time.Duration `default:"25s" help:"On SIGTERM, how long the current pages may take to finish."`
}

func (c *runCmd) Run(e *env) error {
	if c.Workers < 1 {
		return usageError{fmt.Errorf("--workers %d: use 1 or more", c.Workers)}
	}
	cfg, err := loadConfig(e, config.Needs{Database: true, Credentials: true})
	if err != nil {
		return err
	}
	log := newLogger(cfg, e.stderr)
	loc, err := time.LoadLocation(cfg.TimeZone)
	if err != nil {
		return usageError{fmt.Errorf("%s: %q is not a time zone; use a name such as Europe/Amsterdam", config.EnvTimeZone, cfg.TimeZone)}
	}
	st, err := openStore(e.ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()

	s := &scheduler{
		cfg: cfg, st: st, log: log, runTimeout: c.RunTimeout,
		runner:  sync.NewRunner(sync.Config{Logger: log}, st, st, st),
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

	cr := cron.New(cron.WithLocation(loc), cron.WithParser(cronParser))
	for _, name := range sync.Names() {
		for _, v := range []struct {
			spec string
			full bool
		}{{cfg.Schedules[name], false}, {cfg.FullSchedules[name], true}} {
			if v.spec == "" {
				continue
			}
			if _, err := cr.AddFunc(v.spec, func() { s.enqueueAll(e.ctx, name, v.full) }); err != nil {
				return usageError{fmt.Errorf("schedule %q for %s: %w", v.spec, name, err)}
			}
			log.Info().Str("entity", name).Bool("full", v.full).Str("schedule", v.spec).Str("time_zone", loc.String()).Msg("scheduled")
		}
	}
	cr.Start()
	// A start catches up at once instead of waiting for the first tick.
	for _, name := range sync.Names() {
		if cfg.Schedules[name] != "" {
			s.enqueueAll(e.ctx, name, false)
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

	mu      gosync.Mutex
	clients map[int64]*exact.Client
	divs    map[int64]cachedDivisions
	pending map[sync.Job]bool
	queues  []chan sync.Job
	closed  bool
}

func (s *scheduler) enqueueAll(ctx context.Context, entity string, full bool) {
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
		divs, err := s.divisions(ctx, conn.ID, client)
		if err != nil {
			s.log.Warn().Err(err).Int64("connection", conn.ID).Msg("cannot list divisions")
			continue
		}
		for _, d := range divs {
			s.enqueue(sync.Job{ConnectionID: conn.ID, Division: d, Entity: entity, Full: full})
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
	c, err := newClient(s.cfg, s.st, conn, s.log)
	if err != nil {
		return nil, err
	}
	s.clients[conn.ID] = c
	return c, nil
}

// divisions caches the division list of a connection for an hour.
func (s *scheduler) divisions(ctx context.Context, connID int64, client *exact.Client) ([]int, error) {
	s.mu.Lock()
	cached, ok := s.divs[connID]
	s.mu.Unlock()
	if ok && time.Since(cached.at) < time.Hour {
		return cached.codes, nil
	}
	codes, err := divisions(ctx, s.cfg, client)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.divs[connID] = cachedDivisions{codes: codes, at: time.Now()}
	s.mu.Unlock()
	return codes, nil
}
