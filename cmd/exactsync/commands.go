package main

import (
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/exact/catalogue"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sync"
	"github.com/exactsync/exactsync/verify"
	"github.com/exactsync/exactsync/worker"
)

type migrateCmd struct{}

// Run brings both schemas up to date (exactsync's, and the job queue's) and says what it
// applied, or that there was nothing to apply.
func (migrateCmd) Run(e *env) error {
	cfg, err := loadConfig(e, config.Needs{Database: true})
	if err != nil {
		return err
	}
	log := newLogger(cfg, e.stderr)
	st, err := sink.Open(e.ctx, storeConfig(cfg, log))
	if err != nil {
		return err
	}
	defer st.Close()
	pending, err := st.PendingMigrations(e.ctx)
	if err != nil {
		return err
	}
	if err := prepareStore(e, cfg, st, log); err != nil {
		return err
	}
	pool, err := newQueuePool(e.ctx, cfg, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	before, err := worker.QueueVersion(e.ctx, pool)
	if err != nil {
		return err
	}
	if err := worker.Migrate(e.ctx, pool, log); err != nil {
		return err
	}
	all, err := sink.MigrationVersions()
	if err != nil {
		return err
	}
	now := fmt.Sprintf("exactsync schema at %05d, job queue at River version %d", all[len(all)-1], worker.RiverVersion)
	if len(pending) == 0 && before >= worker.RiverVersion {
		fmt.Fprintf(e.stdout, "database schema is up to date (%s)\n", now)
		return nil
	}
	fmt.Fprintf(e.stdout, "applied %d migrations of exactsync's schema and %d of the job queue's (%s)\n",
		len(pending), max(worker.RiverVersion-before, 0), now)
	return nil
}

type entitiesCmd struct{}

// Run lists the enabled entities with their endpoint, schedules and share of a division's
// forecast calls a day, then the other entities of the catalogue with their endpoint.
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
	// The enabled entities with their schedules and calls, then the others without: a
	// table that fits a terminal rather than one line of every fact about all 73.
	fmt.Fprintf(e.stdout, "enabled (%s):\n", config.EnvEntities)
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENTITY\tENDPOINT\tREAD\tSCHEDULE\tFULL PASS\tCALLS/DAY")
	for _, ent := range catalogue.All() {
		if !enabled[ent.Name] {
			continue
		}
		calls := strconv.Itoa(f.Entities[ent.Name])
		if with := f.SharedWith[ent.Name]; with != "" {
			calls = "with " + with // one read of the endpoint serves both
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", ent.Name, ent.Path, ent.Read, orOff(cfg.Schedules[ent.Name]), orOff(cfg.FullSchedules[ent.Name]), calls)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "\nnot enabled (add them to %s; they get the default schedules, or %s):\n", config.EnvEntities, config.ScheduleEnv("<entity>"))
	tw = tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENTITY\tENDPOINT\tREAD")
	var unsupported []string
	for _, ent := range catalogue.All() {
		switch {
		case enabled[ent.Name]:
		case opts.Unsupported[ent.Name] != "":
			unsupported = append(unsupported, fmt.Sprintf("  %s: %s", ent.Name, opts.Unsupported[ent.Name]))
		default:
			fmt.Fprintf(tw, "%s\t%s\t%s\n", ent.Name, ent.Path, ent.Read)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(unsupported) > 0 {
		fmt.Fprintf(e.stdout, "\nnot synced:\n%s\n", strings.Join(unsupported, "\n"))
	}
	fmt.Fprintln(e.stdout, "\neach entity's table is exact.<entity>; docs/entities.md lists their columns")
	verdict := "within"
	if f.Over() {
		verdict = "OVER"
	}
	fmt.Fprintf(e.stdout, "\nforecast per division: %d calls a day (entities %d, sync/Deleted %d, division listing %d, verification %d),\n%s the %d that schedules may use (%.0f%% of Exact's %d a day)\n",
		f.Total, f.Total-f.Deletions-f.Listing-f.Verify, f.Deletions, f.Listing, f.Verify, verdict, sync.Limit(), sync.ForecastLimit*100, sync.DailyCallBudget)
	fmt.Fprintf(e.stdout, "verification (%s %s): %d calls per division, +1 per 60 ledger groups over 60\n",
		config.EnvVerifySchedule, orOff(cfg.VerifySchedule), verify.Calls(cfg.Entities, 0))
	return nil
}

func orOff(spec string) string {
	if spec == "" {
		return "off"
	}
	return spec
}
