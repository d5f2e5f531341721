package sync

import (
	"fmt"
	"slices"
	"time"

	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/exact/catalogue"
)

// Exact allows each app 5,000 calls a day per division (docs/exact-online.md §2.1). A schedule is
// only accepted when its forecast leaves a fifth of that free, for retries, full passes of
// large divisions and what people do by hand; while running, a division that has spent
// nine tenths of its day only runs incremental syncs (see Config).
const (
	DailyCallBudget = exact.DailyCallLimit
	// ForecastLimit is the share of DailyCallBudget a forecast may take.
	ForecastLimit = 0.8
	// ListingsPerDay is how often run lists a connection's divisions: hourly.
	ListingsPerDay = 24
)

// Plan is how often one enabled entity runs in a day, as its schedules say.
type Plan struct {
	Entity string
	// Schedule and FullSchedule are the cron specs ("" for none): entities of one
	// endpoint with the same specs are read together.
	Schedule, FullSchedule string
	IncrementalPerDay      int
	FullPerDay             int
}

// Forecast is the calls a day one division costs, at least: each run at its minimum
// cost of one call (a quiet incremental run reads one page; a full pass at least one).
type Forecast struct {
	// Entities are the calls charged to each enabled entity. An entity that shares its
	// endpoint and schedule with an earlier one (suppliers with accounts) costs nothing
	// of its own and names it in SharedWith.
	Entities   map[string]int
	SharedWith map[string]string
	// Deletions are the reads of the division's one shared sync/Deleted stream: one at
	// each distinct time a sync entity runs (DeletionsPerDay of ForecastCalls).
	Deletions int
	// Listing are the division listings (run's hourly refresh), charged to every
	// division since which division answers them is not known in advance.
	Listing int
	// Verify are the calls of the scheduled verifications (package verify), at their
	// least: set by the caller, which adds them to Total.
	Verify int
	Total  int
}

// Limit is the most calls a day a forecast may reach.
func Limit() int { return int(DailyCallBudget * ForecastLimit) }

// Over reports whether the forecast exceeds Limit.
func (f Forecast) Over() bool { return f.Total > Limit() }

// ForecastCalls forecasts a division's calls a day for the enabled entities' plans (in
// any order; unknown entities are an error). deletionsPerDay is how many distinct times a
// day some enabled sync entity runs: the deletions stream is read once at each.
func ForecastCalls(plans []Plan, deletionsPerDay int) (Forecast, error) {
	f := Forecast{Entities: map[string]int{}, SharedWith: map[string]string{}, Listing: ListingsPerDay}
	type stream struct{ path, schedule, full string }
	owner := map[stream]string{}
	order := map[string]int{}
	for i, e := range catalogue.All() {
		order[e.Name] = i
	}
	plans = slices.Clone(plans)
	for _, p := range plans {
		if _, ok := order[p.Entity]; !ok {
			return Forecast{}, fmt.Errorf("forecasting calls: unknown entity %q", p.Entity)
		}
	}
	slices.SortFunc(plans, func(a, b Plan) int { return order[a.Entity] - order[b.Entity] })
	anySync := false
	for _, p := range plans {
		e, _ := catalogue.Lookup(p.Entity)
		anySync = anySync || e.Read == catalogue.ReadSync
		k := stream{e.Path, p.Schedule, p.FullSchedule}
		if first, ok := owner[k]; ok {
			f.Entities[p.Entity] = 0
			f.SharedWith[p.Entity] = first
			continue
		}
		owner[k] = p.Entity
		f.Entities[p.Entity] = p.IncrementalPerDay + p.FullPerDay
		f.Total += f.Entities[p.Entity]
	}
	if anySync {
		f.Deletions = deletionsPerDay
	}
	f.Total += f.Deletions + f.Listing
	return f, nil
}

// DayBudget is a division's day budget as Exact's headers last gave it
// (exact_sync.rate_limits), with the calls this app's runs recorded in that day. The
// headers are the truth, not a count of our own calls (docs/exact-online.md §2.7): since 2025 Exact
// is reported to cap the calls of all applications of a licence together, on top of each
// app's 5,000, so other applications can end a division's day long before this app has
// spent its own.
type DayBudget struct {
	Limit, Remaining int       // X-RateLimit-Limit and -Remaining as last seen
	Reset            time.Time // X-RateLimit-Reset: 00:00 UTC, the end of the day (§2.3)
	// Own are the calls this app's runs recorded in the division since the day began
	// (Reset less a day), as the run history counts them.
	Own int
}

// DayStart is when the day that ends at reset began (the daily window is the UTC day, §2.3).
func DayStart(reset time.Time) time.Time { return reset.Add(-24 * time.Hour) }

// Spent reports whether Exact said, at the last answer, that the division has no call left
// before Reset, and Reset is still to come at now.
func (b DayBudget) Spent(now time.Time) bool {
	return b.Limit > 0 && b.Remaining <= 0 && now.Before(b.Reset)
}

// SpentByOthers reports whether the day is Spent while this app's own calls were well
// short of its limit: the rest went to other applications of the licence (§2.7). The
// margin, a tenth of the limit, covers this app's calls that no run records (division
// listings, webhook subscriptions, runs of a process that died), so that a day this app
// spent itself is never put down to others.
func (b DayBudget) SpentByOthers(now time.Time) bool {
	return b.Spent(now) && b.Own < b.Limit-max(b.Limit/10, 2*ListingsPerDay)
}
