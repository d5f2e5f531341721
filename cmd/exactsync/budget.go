package main

import (
	"fmt"
	"maps"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/exact/catalogue"
	"github.com/exactsync/exactsync/sync"
	"github.com/exactsync/exactsync/verify"
)

// defaultEntities is the bookkeeping set synced when EXACTSYNC_ENTITIES is unset: the
// ledger (GL accounts and their classifications, journals, periods, transaction lines,
// VAT codes), relations (accounts, suppliers, contacts, addresses), sales invoices, items,
// payment terms, cost centres and units, and the divisions themselves.
var defaultEntities = []string{
	"accounts", "suppliers", "contacts", "addresses", "gl_accounts", "gl_classifications",
	"transaction_lines", "payment_terms", "sales_invoices", "items", "journals", "vat_codes",
	"costcenters", "costunits", "divisions", "financial_periods",
}

// Default schedules, in the configured time zone (Europe/Amsterdam): sync entities every
// 15 minutes, reference data (read by Modified or in full) hourly. The nightly full pass
// of accounts and suppliers (one read of their shared endpoint) runs at 02:30, clear of Exact's 04:00–04:30 CET
// maintenance window (docs/exact-online.md §0, §6.11); other entities get a full pass only when
// their last success is older than Exact's deletion log (sync.DeletionLogSafeAge) or by
// their own schedule.
const (
	defaultSyncSchedule      = "*/15 * * * *"
	defaultReferenceSchedule = "5 * * * *"
	// defaultReferenceFullSchedule reads reference data read by Modified in full nightly,
	// which is how rows deleted in Exact leave it.
	defaultReferenceFullSchedule = "15 2 * * *"
)

// defaultVerifySchedule verifies the copy daily at a quiet hour: after Exact's maintenance
// window and the nightly full passes, before the working day.
const defaultVerifySchedule = "40 5 * * *"

var defaultFullSchedules = map[string]string{"accounts": "30 2 * * *", "suppliers": "30 2 * * *"}

// configOptions are the catalogue's choices for config.Load.
func configOptions() config.Options {
	opts := config.Options{
		Entities:              sync.Names(),
		DefaultEntities:       nil,
		Unsupported:           map[string]string{},
		ParseSchedule:         func(spec string) error { _, err := cronParser.Parse(spec); return err },
		DefaultSchedule:       defaultSyncSchedule,
		DefaultFullSchedule:   "off",
		DefaultSchedules:      map[string]string{},
		DefaultFullSchedules:  maps.Clone(defaultFullSchedules),
		DefaultVerifySchedule: defaultVerifySchedule,
	}
	selectable := map[string]bool{}
	for _, n := range opts.Entities {
		selectable[n] = true
	}
	for _, e := range catalogue.All() {
		switch {
		case e.Deprecated:
			opts.Unsupported[e.Name] = "Exact marks " + e.Path + " deprecated"
		case !selectable[e.Name]:
			opts.Unsupported[e.Name] = "this version of exactsync does not sync it yet"
		case e.Read != catalogue.ReadSync:
			opts.DefaultSchedules[e.Name] = defaultReferenceSchedule
			if e.Read == catalogue.ReadModified {
				// Reading by Modified never sees a deletion: a nightly full read does.
				opts.DefaultFullSchedules[e.Name] = defaultReferenceFullSchedule
			}
		}
	}
	for _, n := range defaultEntities {
		if selectable[n] {
			opts.DefaultEntities = append(opts.DefaultEntities, n)
		}
	}
	return opts
}

// runsPerDay is the most times spec fires on one day of the coming week in loc; "" never.
func runsPerDay(spec string, loc *time.Location, now time.Time) (int, error) {
	if spec == "" {
		return 0, nil
	}
	sched, err := cronParser.Parse(spec)
	if err != nil {
		return 0, err
	}
	most := 0
	for _, day := range days(loc, now) {
		n := 0
		for t := sched.Next(day.Add(-time.Nanosecond)); t.Before(day.AddDate(0, 0, 1)); t = sched.Next(t) {
			n++
		}
		most = max(most, n)
	}
	return most, nil
}

// days are the starts of the seven days after now's in loc.
func days(loc *time.Location, now time.Time) []time.Time {
	y, m, d := now.In(loc).Date()
	out := make([]time.Time, 7)
	for i := range out {
		out[i] = time.Date(y, m, d+1+i, 0, 0, 0, 0, loc)
	}
	return out
}

// forecast works out a division's calls a day for the enabled entities and schedules.
func forecast(cfg *config.Config, loc *time.Location, now time.Time) (sync.Forecast, error) {
	var plans []sync.Plan
	var syncScheds []cron.Schedule
	for _, name := range cfg.Entities {
		inc, err := runsPerDay(cfg.Schedules[name], loc, now)
		if err != nil {
			return sync.Forecast{}, err
		}
		full, err := runsPerDay(cfg.FullSchedules[name], loc, now)
		if err != nil {
			return sync.Forecast{}, err
		}
		plans = append(plans, sync.Plan{Entity: name, Schedule: cfg.Schedules[name], FullSchedule: cfg.FullSchedules[name],
			IncrementalPerDay: inc, FullPerDay: full})
		if e, ok := catalogue.Lookup(name); ok && e.Read == catalogue.ReadSync {
			for _, spec := range []string{cfg.Schedules[name], cfg.FullSchedules[name]} {
				if spec != "" {
					s, _ := cronParser.Parse(spec)
					syncScheds = append(syncScheds, s)
				}
			}
		}
	}
	// The deletions stream is read whenever some sync entity runs: count the distinct
	// times of all their schedules.
	deletions := 0
	for _, day := range days(loc, now) {
		times := map[time.Time]bool{}
		for _, s := range syncScheds {
			for t := s.Next(day.Add(-time.Nanosecond)); t.Before(day.AddDate(0, 0, 1)); t = s.Next(t) {
				times[t] = true
			}
		}
		deletions = max(deletions, len(times))
	}
	f, err := sync.ForecastCalls(plans, deletions)
	if err != nil {
		return f, err
	}
	// The scheduled verification: its counts and one page of ReportingBalance each time
	// (a division of more than 60 ledger groups costs a call more per 60).
	n, err := runsPerDay(cfg.VerifySchedule, loc, now)
	if err != nil {
		return f, err
	}
	f.Verify = n * verify.Calls(cfg.Entities, 0)
	f.Total += f.Verify
	return f, nil
}

// checkBudget refuses a configuration whose forecast exceeds the share of Exact's day
// budget a schedule may take.
func checkBudget(cfg *config.Config, loc *time.Location, now time.Time) (sync.Forecast, error) {
	f, err := forecast(cfg, loc, now)
	if err != nil {
		return f, err
	}
	if f.Over() {
		return f, usageError{fmt.Errorf("the schedules forecast %d API calls a day per division, over %d (%.0f%% of Exact's %d a day): "+
			"make %s less frequent (e.g. \"0 * * * *\"), set slower schedules per entity (EXACTSYNC_SCHEDULE_<ENTITY>), "+
			"or enable fewer entities with %s; `exactsync entities` shows each entity's share",
			f.Total, sync.Limit(), sync.ForecastLimit*100, sync.DailyCallBudget, config.EnvScheduleDefault, config.EnvEntities)}
	}
	return f, nil
}
