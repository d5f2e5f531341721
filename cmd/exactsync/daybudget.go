package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sync"
)

// spentDay is a division of a connection whose day Exact ended, as its stored rate
// limits say, with this app's own calls in that day.
type spentDay struct {
	division int
	budget   sync.DayBudget
}

// spentDays returns the divisions of conn whose day budget is spent at now, by division.
func spentDays(ctx context.Context, st *sink.Store, conn dest.Connection, now time.Time) ([]spentDay, error) {
	limits, err := st.RateLimits(ctx, conn.ID)
	if err != nil {
		return nil, err
	}
	var out []spentDay
	for _, d := range slices.Sorted(maps.Keys(limits)) {
		rl := limits[d]
		b := sync.DayBudget{Limit: rl.DailyLimit, Remaining: rl.DailyRemaining, Reset: rl.DailyReset}
		if !b.Spent(now) {
			continue
		}
		if b.Own, err = st.AppCalls(ctx, conn.ID, d, sync.DayStart(rl.DailyReset)); err != nil {
			return nil, err
		}
		out = append(out, spentDay{division: d, budget: b})
	}
	return out, nil
}

// byOthers says who spent a day Exact ended early: other applications of the licence
// (docs/exact-online.md §2.7: since 2025 Exact is reported to cap the calls of all of a licence's
// applications together, on top of each app's own budget).
func (s spentDay) byOthers() string {
	return fmt.Sprintf("Exact ended its day at %d of this app's %d calls: other applications of the licence spent a daily cap they share with it (docs/exact-online.md §2.7)",
		s.budget.Own, s.budget.Limit)
}

// doctorSpentDays adds a line for each division of c whose day other applications of the
// licence spent, with the schedules' forecast it falls short of: waiting is the cure, and
// the line says so. A day this app spent itself is doctorDivisions' to report.
func doctorSpentDays(ctx context.Context, cl *checklist, cfg *config.Config, loc *time.Location, st *sink.Store, c dest.Connection, now time.Time) {
	days, err := spentDays(ctx, st, c, now)
	if err != nil {
		cl.fail("  day budget", "%s", oneLine(err.Error()))
		return
	}
	want := ""
	if f, err := forecast(cfg, loc, now); err == nil {
		want = fmt.Sprintf(", short of the %d a day the schedules forecast", f.Total)
	}
	for _, d := range days {
		if !d.budget.SpentByOthers(now) {
			continue
		}
		cl.warn("  day budget", "division %d: %s%s → nothing to fix here: its jobs wait without calling and resume at %s; "+
			"if it recurs, find which applications use the licence (Exact's App Center) or ask Exact about the licence's limits",
			d.division, d.byOthers(), want, stamp(d.budget.Reset))
	}
}

// printSpentDays tells, after status's table, which divisions have no calls left today,
// who spent them, and when their jobs resume.
func printSpentDays(ctx context.Context, w io.Writer, st *sink.Store, now time.Time) error {
	conns, err := st.Connections(ctx)
	if err != nil {
		return err
	}
	var lines []string
	for _, c := range conns {
		days, err := spentDays(ctx, st, c, now)
		if err != nil {
			return err
		}
		for _, d := range days {
			who := fmt.Sprintf("this app spent its %d calls", d.budget.Limit)
			if d.budget.SpentByOthers(now) {
				who = d.byOthers()
			}
			lines = append(lines, fmt.Sprintf("  connection %d, division %d: no calls left until %s: %s; its jobs wait without calling and resume then",
				c.ID, d.division, stamp(d.budget.Reset), who))
		}
	}
	if len(lines) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nday budgets spent:")
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	return nil
}
