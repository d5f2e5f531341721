package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sync"
)

type doctorCmd struct {
	NoExact bool `name:"no-exact" help:"Do not ask Exact Online for its clock (the one call doctor makes, unauthenticated, counted against no division)."`
}

// checklist prints doctor's lines: OK, WARN or FAIL, what was checked, what was found
// and, for WARN and FAIL, the fix.
type checklist struct {
	w     io.Writer
	fails int
}

func (c *checklist) line(status, subject, format string, args ...any) {
	if status == "FAIL" {
		c.fails++
	}
	fmt.Fprintf(c.w, "%-4s  %-18s %s\n", status, subject, fmt.Sprintf(format, args...))
}

func (c *checklist) ok(subject, format string, args ...any) { c.line("OK", subject, format, args...) }
func (c *checklist) warn(subject, format string, args ...any) {
	c.line("WARN", subject, format, args...)
}
func (c *checklist) fail(subject, format string, args ...any) {
	c.line("FAIL", subject, format, args...)
}

// Run checks the setup without changing it: it neither migrates nor refreshes a token.
func (c *doctorCmd) Run(e *env) error {
	cl := &checklist{w: e.stdout}
	defer func() {
		fmt.Fprintf(e.stdout, "\n%d failed\n", cl.fails)
	}()
	cfg, err := loadConfig(e, config.Needs{Database: true})
	if err != nil {
		cl.fail("configuration", "%s", oneLine(err.Error()))
		return errDoctor
	}
	cl.ok("configuration", "read from the environment")
	loc, err := time.LoadLocation(cfg.TimeZone)
	if err != nil {
		cl.fail("time zone", "%q is not a time zone → set %s to a name such as Europe/Amsterdam", cfg.TimeZone, config.EnvTimeZone)
		return errDoctor
	}
	log := newLogger(cfg, io.Discard)
	ctx, cancel := context.WithTimeout(e.ctx, time.Minute)
	defer cancel()
	st, err := sink.Open(ctx, sink.Config{DatabaseURL: cfg.DatabaseURL, Logger: log, Keyring: cfg.Keyring, StateDir: cfg.StateDir})
	if err != nil {
		cl.fail("database", "%s", databaseTrouble(err))
		return errDoctor
	}
	defer st.Close()
	if err := within(ctx, 5*time.Second, st.Ping); err != nil {
		cl.fail("database", "%s", databaseTrouble(err))
		return errDoctor
	}
	schema, err := doctorSchema(ctx, cl, cfg, st)
	if err != nil {
		return errDoctor
	}
	now := time.Now()
	var conns []dest.Connection
	if schema {
		conns = doctorStored(ctx, cl, cfg, loc, st, now)
	} else {
		doctorNoSchema(cl, cfg)
	}
	if !c.NoExact {
		doctorClocks(ctx, cl, cfg, conns)
	}
	if f, err := forecast(cfg, loc, now); err != nil {
		cl.fail("schedules", "%s", oneLine(err.Error()))
	} else if f.Over() {
		cl.fail("schedules", "forecast %d API calls a day per division, over the %d schedules may use → make them less frequent or enable fewer entities (see exactsync entities)", f.Total, sync.Limit())
	} else {
		cl.ok("schedules", "forecast %d API calls a day per division, within the %d schedules may use", f.Total, sync.Limit())
	}
	return doctorDone(cl)
}

// doctorStored checks what is stored: the secrets against the key, who can read them, the
// readers, each connection, its divisions and their day budgets, the runs Exact refused. It returns the connections.
func doctorStored(ctx context.Context, cl *checklist, cfg *config.Config, loc *time.Location, st *sink.Store, now time.Time) []dest.Connection {
	doctorSecrets(ctx, cl, cfg, st)
	doctorPlaintext(ctx, cl, cfg, st)
	doctorSecretAccess(ctx, cl, st)
	doctorReaders(ctx, cl, st)
	conns, err := st.Connections(ctx)
	if err != nil {
		cl.fail("connections", "%s", oneLine(err.Error()))
		return nil
	}
	if len(conns) == 0 {
		cl.fail("connections", "none stored → run exactsync auth login, or exactsync auth import --refresh-token TOKEN")
	}
	for _, conn := range conns {
		doctorConnection(cl, conn, now)
		doctorDivisions(ctx, cl, cfg, st, conn)
		doctorSpentDays(ctx, cl, cfg, loc, st, conn, now)
	}
	doctorRefused(ctx, cl, st)
	doctorDrift(ctx, cl, st)
	return conns
}

// errDoctor is doctor's error when a check failed: the checklist has said what.
var errDoctor = errors.New("some checks failed")

func doctorDone(cl *checklist) error {
	if cl.fails > 0 {
		return errDoctor
	}
	return nil
}

// within runs fn with a timeout.
func within(ctx context.Context, d time.Duration, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return fn(ctx)
}
