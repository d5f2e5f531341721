package main

import (
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/exact/catalogue"
	"github.com/exactsync/exactsync/sync"
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
