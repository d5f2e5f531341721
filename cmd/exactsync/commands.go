package main

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/exact/catalogue"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sync"
	"github.com/exactsync/exactsync/worker"
)

type migrateCmd struct{}

func (migrateCmd) Run(e *env) error {
	cfg, log, st, err := setup(e, config.Needs{Database: true})
	if err != nil {
		return err
	}
	st.Close()
	pool, err := openQueue(e.ctx, cfg, log, 2)
	if err != nil {
		return err
	}
	pool.Close()
	fmt.Fprintln(e.stdout, "database schema is up to date")
	return nil
}

type entitiesCmd struct{}

// Run lists every entity of the catalogue: its table and endpoint, whether it is enabled,
// its schedules and its share of a division's forecast calls a day.
func (entitiesCmd) Run(e *env) error {
	cfg, err := loadConfig(e, config.Needs{})
	if err != nil {
		return err
	}
	loc, err := time.LoadLocation(cfg.TimeZone)
	if err != nil {
		return usageError{fmt.Errorf("%s: %q is not a time zone; use a name such as Europe/Amsterdam", config.EnvTimeZone, cfg.TimeZone)}
	}
	f, err := forecast(cfg, loc, time.Now())
	if err != nil {
		return err
	}
	enabled := map[string]bool{}
	for _, n := range cfg.Entities {
		enabled[n] = true
	}
	opts := configOptions()
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENTITY\tTABLE\tENDPOINT\tREAD\tENABLED\tSCHEDULE\tFULL PASS\tCALLS/DAY")
	for _, ent := range catalogue.All() {
		state, sched, full, calls := "no", "-", "-", "-"
		switch {
		case opts.Unsupported[ent.Name] != "":
			state = "no: " + opts.Unsupported[ent.Name]
		case enabled[ent.Name]:
			state = "yes"
			calls = strconv.Itoa(f.Entities[ent.Name])
			if with := f.SharedWith[ent.Name]; with != "" {
				calls = "0 (read with " + with + ")"
			}
		}
		if opts.Unsupported[ent.Name] == "" {
			sched, full = orOff(cfg.Schedules[ent.Name]), orOff(cfg.FullSchedules[ent.Name])
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ent.Name, ent.Table, ent.Path, ent.Read, state, sched, full, calls)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	verdict := "within"
	if f.Over() {
		verdict = "OVER"
	}
	fmt.Fprintf(e.stdout, "\nforecast per division: %d calls a day (entities %d, sync/Deleted %d, division listing %d), %s the %d that schedules may use (%.0f%% of Exact's %d a day)\n",
		f.Total, f.Total-f.Deletions-f.Listing, f.Deletions, f.Listing, verdict, sync.Limit(), sync.ForecastLimit*100, sync.DailyCallBudget)
	return nil
}

func orOff(spec string) string {
	if spec == "" {
		return "off"
	}
	return spec
}

type syncCmd struct {
	Entity     string `required:"" help:"What to sync: ${entities}."`
	Division   *int   `help:"Only this division (default: EXACT_DIVISIONS, or every division each connection can see)."`
	Connection int64  `help:"Only this connection (see auth status; default: every connection)."`
	Full       bool   `help:"Start from the beginning instead of the stored cursor."`
	Enqueue    bool   `help:"Hand the jobs to the running workers (exactsync run) instead of running them here; prints their job ids."`
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
	if c.Connection < 0 {
		return usageError{fmt.Errorf("--connection %d is not a connection id; see exactsync auth status", c.Connection)}
	}
	// Each connection brings its own host, client id and stored client
	// secret: no credentials are needed here.
	cfg, log, st, err := setup(e, config.Needs{Database: true})
	if err != nil {
		return err
	}
	defer st.Close()
	conns, err := connections(e.ctx, cfg, st)
	if err != nil {
		return err
	}
	if c.Connection != 0 {
		i := slices.IndexFunc(conns, func(x sink.Connection) bool { return x.ID == c.Connection })
		if i < 0 {
			return usageError{fmt.Errorf("--connection %d: no such connection; see exactsync auth status", c.Connection)}
		}
		conns = conns[i : i+1]
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
	runner := sync.NewRunner(sync.Config{Logger: log, WaitForLock: true, Enabled: enabled, OmitRaw: cfg.OmitRaw}, st, st, st)
	// With --enqueue, the jobs go to the queue; the division list is read here all the same.
	var runJob func(sync.Job) error
	if c.Enqueue {
		pool, err := openQueue(e.ctx, cfg, log, 2)
		if err != nil {
			return err
		}
		defer pool.Close()
		runJob = func(job sync.Job) error {
			id, dup, err := worker.Enqueue(e.ctx, pool, job)
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
		if conn.State == sink.StateReauthRequired {
			errs = append(errs, errors.New(reauthMessage(conn)))
			continue
		}
		client, err := newClientContext(e.ctx, cfg, st, conn, log)
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
				var err error
				if runJob != nil {
					err = runJob(job)
				} else {
					var res sync.Result
					res, err = runner.Run(e.ctx, client, job)
					printResult(e, res)
				}
				if err != nil {
					errs = append(errs, err)
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
	return joinOneLine(errs)
}

func printResult(e *env, res sync.Result) {
	quarantined := ""
	if res.Quarantined > 0 {
		quarantined = fmt.Sprintf(", %d quarantined (see exactsync status)", res.Quarantined)
	}
	fmt.Fprintf(e.stdout, "%s division %d: %s, %d upserted, %d removed%s, %d pages, %d API calls, cursor %d → %d, %s\n",
		res.Job.Entity, res.Job.Division, res.Status, res.Upserted, res.Removed, quarantined, res.Pages, res.Calls,
		res.CursorFrom, res.CursorTo, res.Duration.Round(time.Millisecond))
}

// joinOneLine reports several errors in one line.
func joinOneLine(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	msgs := make([]string, len(errs))
	for i, err := range errs {
		msgs[i] = err.Error()
	}
	return fmt.Errorf("%d failures: %s", len(errs), strings.Join(msgs, "; "))
}

type authCmd struct {
	Login     authLoginCmd     `cmd:"" help:"Connect an Exact Online user: open the authorization page, receive the code, store the tokens."`
	Import    authImportCmd    `cmd:"" help:"Store a refresh token you already hold (for example from Postman)."`
	Status    authStatusCmd    `cmd:"" help:"Show each connection's state, without secrets."`
	RotateKey authRotateKeyCmd `cmd:"" name:"rotate-key" help:"Re-encrypt stored secrets with the current encryption key."`
}

type authImportCmd struct {
	RefreshToken string `required:"" name:"refresh-token" help:"The refresh token; - reads it from standard input."`
}

func (c *authImportCmd) Run(e *env) error {
	token := c.RefreshToken
	if token == "-" {
		t, err := readAllTrim(e.stdin)
		if err != nil {
			return fmt.Errorf("reading the refresh token from standard input: %w", err)
		}
		token = t
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return usageError{errors.New("--refresh-token is empty; pass the token, or - to read it from standard input")}
	}
	if strings.Contains(token, "%21") || strings.Contains(token, "%2521") {
		// §1.10: a token copied from a URL is still percent-encoded.
		return usageError{errors.New("the refresh token contains %21: it is still URL-encoded; decode it first (%21 is !)")}
	}
	cfg, log, st, err := setup(e, config.Needs{Database: true, Credentials: true})
	if err != nil {
		return err
	}
	defer st.Close()
	conn, err := importToken(e, cfg, st, token, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "connection %d (%s, user %s) is ready\n", conn.ID, host(conn.BaseURL), conn.UserKey)
	printDivisions(e, st, conn.ID)
	return nil
}
