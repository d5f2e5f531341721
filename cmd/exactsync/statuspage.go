package main

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/internal/statuspage"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sync"
)

// statusSource gathers the status page of a run process from st at each request: the
// connections with doctor's verdict, where each enabled entity (and the deletions) of each
// division stands, the day's calls, the quarantine, and the failed last runs with the fix
// doctor gives. loc is the time zone of the schedules, whose midnight starts the day of the
// calls per entity.
func statusSource(cfg *config.Config, st *sink.Store, intervals map[string]time.Duration, loc *time.Location) statuspage.Source {
	entities := slices.Concat(cfg.Entities, []string{sync.DeletionsJob})
	return func(ctx context.Context) (*statuspage.Data, error) {
		now := time.Now()
		d := &statuspage.Data{Now: now, Entities: entities, Intervals: intervals}
		conns, err := st.Connections(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading the connections: %w", err)
		}
		for _, c := range conns {
			d.Connections = append(d.Connections, statusConnection(c, now))
		}
		states, err := st.SyncStates(ctx)
		if err != nil {
			return nil, err
		}
		for _, s := range states {
			if !slices.Contains(entities, s.Entity) {
				continue
			}
			lag := time.Duration(-1)
			if !s.LastSuccess.IsZero() {
				lag = max(now.Sub(s.LastSuccess), 0)
			}
			status := s.LastRun.Result.Status
			d.Cells = append(d.Cells, statuspage.Cell{Division: s.Division, Entity: s.Entity, Status: status, Lag: lag})
			if fix, failed := runFix(s.Entity, status); failed {
				d.Failures = append(d.Failures, statuspage.Failure{Connection: s.ConnectionID, Division: s.Division, Entity: s.Entity,
					Status: status, At: s.LastRun.FinishedAt, Reason: oneLine(s.LastRun.Result.Err), Fix: fix})
			}
		}
		used := map[int]statuspage.DivisionBudget{}
		for _, c := range conns {
			limits, err := st.RateLimits(ctx, c.ID)
			if err != nil {
				return nil, err
			}
			for div, rl := range limits {
				b := statuspage.DivisionBudget{Division: div, Limit: rl.DailyLimit}
				if rl.DailyLimit > 0 && rl.DailyReset.After(now) {
					b.Used = rl.DailyLimit - rl.DailyRemaining
				}
				if old, ok := used[div]; !ok || b.Used > old.Used {
					used[div] = b
				}
			}
		}
		for _, b := range used {
			d.Budget = append(d.Budget, b)
		}
		y, m, day := now.In(loc).Date()
		calls, err := st.CallsByEntity(ctx, time.Date(y, m, day, 0, 0, 0, 0, loc))
		if err != nil {
			return nil, err
		}
		for _, c := range calls {
			d.Calls = append(d.Calls, statuspage.EntityCalls{Entity: c.Entity, Calls: c.Calls})
		}
		qs, err := st.QuarantineCounts(ctx)
		if err != nil {
			return nil, err
		}
		for _, q := range qs {
			i := slices.IndexFunc(d.Quarantined, func(x statuspage.Quarantined) bool { return x.Division == q.Division && x.Entity == q.Entity })
			if i < 0 {
				d.Quarantined = append(d.Quarantined, statuspage.Quarantined{Division: q.Division, Entity: q.Entity})
				i = len(d.Quarantined) - 1
			}
			d.Quarantined[i].Records += q.Records
		}
		return d, nil
	}
}

// statusConnection is a connection with doctor's line about it.
func statusConnection(c dest.Connection, now time.Time) statuspage.Connection {
	var buf bytes.Buffer
	doctorConnection(&checklist{w: &buf}, c, now)
	line := strings.TrimSpace(buf.String())
	level, rest, _ := strings.Cut(line, " ")
	rest = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), fmt.Sprintf("connection %d", c.ID)))
	who := cmp.Or(c.UserKey, "user not known yet")
	rest = strings.TrimPrefix(rest, host(c.BaseURL)+", "+who+": ") // the page shows them already
	return statuspage.Connection{ID: c.ID, Host: host(c.BaseURL), User: c.UserKey, State: c.State, Level: level, Line: rest}
}

// runFix is what a last run that ended with status needs, as doctor says it, and whether
// it failed at all.
func runFix(entity, status string) (fix string, failed bool) {
	switch status {
	case dest.RunRefused:
		return refusalFix(entity, entity), true
	case dest.RunReauthRequired:
		return "run exactsync auth login, or exactsync auth import with a new refresh token", true
	case dest.RunDailyLimit:
		return "the day's calls are spent: runs go on after Exact's reset at midnight; exactsync doctor checks the schedules against the day's budget", true
	case sync.StatusBudgetReserve:
		return "the full pass waits for a day with budget left; exactsync doctor checks the schedules against the day's budget", true
	case dest.RunFailed, dest.RunAbandoned:
		return "the next run tries again from its cursor; the log of the run process has the whole error", true
	}
	return "", false
}
