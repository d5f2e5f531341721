package main

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/exact/catalogue"
	"github.com/exactsync/exactsync/sync"
	"github.com/exactsync/exactsync/worker"
)

// inZone reads a cron schedule in a time zone, whatever the zone of the time asked about.
type inZone struct {
	sched cron.Schedule
	loc   *time.Location
}

func (z inZone) Next(t time.Time) time.Time { return z.sched.Next(t.In(z.loc)) }

// workerSchedules turns the configured schedules into the worker's: one per cron spec,
// so that the ticks that fire together queue their jobs together, and each division's
// deletions once after them. The incremental ticks also run when the leader starts.
func workerSchedules(cfg *config.Config, loc *time.Location) ([]worker.Schedule, error) {
	ticks, err := schedules(cfg)
	if err != nil {
		return nil, err
	}
	var out []worker.Schedule
	index := map[string]int{}
	for _, t := range ticks {
		i, ok := index[t.spec]
		if !ok {
			sched, err := cronParser.Parse(t.spec)
			if err != nil {
				return nil, usageError{fmt.Errorf("schedule %q for %s: %w", t.spec, t.entity, err)}
			}
			i = len(out)
			index[t.spec] = i
			out = append(out, worker.Schedule{Spec: t.spec, Next: inZone{sched, loc}, CatchUp: true})
		}
		out[i].Entities = append(out[i].Entities, worker.TickEntity{Entity: t.entity, Full: t.full})
		out[i].Deletions = out[i].Deletions || t.deletions
	}
	// The verification (package verify) ticks on its own schedule, or with the entities
	// of the same one, after them.
	if spec := cfg.VerifySchedule; spec != "" {
		i, ok := index[spec]
		if !ok {
			sched, err := cronParser.Parse(spec)
			if err != nil {
				return nil, usageError{fmt.Errorf("%s %q: %w", config.EnvVerifySchedule, spec, err)}
			}
			i = len(out)
			out = append(out, worker.Schedule{Spec: spec, Next: inZone{sched, loc}})
		}
		out[i].Verify = true
	}
	return out, nil
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

// scheduleIntervals is, for each enabled entity and the deletions (sync.DeletionsJob),
// the longest gap between two ticks of its most frequent schedule over the week from now
// (a schedule of weekdays only has its weekend gap): the interval the alert on the sync
// lag compares the lag with (exactsync_schedule_interval_seconds). An entity with only a
// full pass has the full pass's.
func scheduleIntervals(cfg *config.Config, loc *time.Location, now time.Time) (map[string]time.Duration, error) {
	ticks, err := schedules(cfg)
	if err != nil {
		return nil, err
	}
	incremental, full := map[string]time.Duration{}, map[string]time.Duration{}
	gaps := map[string]time.Duration{}
	keep := func(into map[string]time.Duration, entity string, d time.Duration) {
		if old, ok := into[entity]; d > 0 && (!ok || d < old) {
			into[entity] = d
		}
	}
	for _, t := range ticks {
		gap, ok := gaps[t.spec]
		if !ok {
			sched, err := cronParser.Parse(t.spec)
			if err != nil {
				return nil, usageError{fmt.Errorf("schedule %q for %s: %w", t.spec, t.entity, err)}
			}
			gap = longestGap(inZone{sched, loc}, now, 7*24*time.Hour)
			gaps[t.spec] = gap
		}
		into := incremental
		if t.full {
			into = full
		}
		for _, e := range append([]string{t.entity}, t.with...) {
			keep(into, e, gap)
		}
		if t.deletions {
			keep(incremental, sync.DeletionsJob, gap)
		}
	}
	for e, d := range full {
		if _, ok := incremental[e]; !ok {
			incremental[e] = d
		}
	}
	return incremental, nil
}

// longestGap is the longest time between two ticks of s from now until now+span, with at
// most 20,000 ticks looked at; 0 when s does not tick twice in a year.
func longestGap(s interface{ Next(time.Time) time.Time }, now time.Time, span time.Duration) time.Duration {
	prev := s.Next(now)
	if prev.IsZero() || prev.Sub(now) > 366*24*time.Hour {
		return 0
	}
	var gap time.Duration
	for i := 0; i < 20000 && prev.Sub(now) < span; i++ {
		next := s.Next(prev)
		if next.IsZero() || next.Sub(prev) > 366*24*time.Hour {
			break
		}
		gap = max(gap, next.Sub(prev))
		prev = next
	}
	return gap
}
