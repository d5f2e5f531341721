package alert

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/exactsync/exactsync/dest"
)

// Conditions, as exact_sync.alerts.condition and the body's condition field.
const (
	ReauthRequired   = "reauth_required"
	RefreshTokenIdle = "refresh_token_idle"
	DayBudgetSpent   = "day_budget_spent"
	EntityRefused    = "entity_refused"
	SyncLag          = "sync_lag"
)

// IdleAfter is how long a refresh token may go unused before RefreshTokenIdle: Exact
// expires it at 30 days (docs/exact-online.md §1.7), which leaves a week to act.
const IdleAfter = 23 * 24 * time.Hour

// LagFactor times an entity's schedule interval is the lag that raises SyncLag.
const LagFactor = 3

// Entity is where one entity of one division stands, as the run history says.
type Entity struct {
	ConnectionID int64
	Division     int
	Entity       string
	LastStatus   string    // the latest run's status (dest.RunOK, dest.RunRefused, …)
	LastError    string    // the latest run's error, without secrets
	LastSuccess  time.Time // when the last successful run finished; zero if none
}

// Inputs are what the conditions are judged from.
type Inputs struct {
	Now         time.Time
	Connections []dest.Connection
	Entities    []Entity
	// Intervals are the schedule intervals of the scheduled entities; an entity without
	// one has no lag to judge.
	Intervals map[string]time.Duration
}

// Budget statuses: a run stopped at Exact's daily limit or at the reserve of the day's
// budget kept for other work.
var budgetStatuses = []string{dest.RunDailyLimit, "budget_reserve"}

// Evaluate returns the conditions that hold, in a stable order.
func Evaluate(in Inputs) []dest.Alert {
	var out []dest.Alert
	reauth := map[int64]bool{}
	for _, c := range in.Connections {
		subject := fmt.Sprintf("connection %d", c.ID)
		base := map[string]any{"connection": c.ID, "host": host(c.BaseURL), "user": c.UserKey}
		switch {
		case c.State == dest.StateReauthRequired:
			reauth[c.ID] = true
			d := with(base, "reason", c.StateReason)
			if c.StateCause != "" {
				d["cause"] = string(c.StateCause)
			}
			fix := "run exactsync auth login (or auth import) to re-authorize it"
			if c.StateCause == dest.ReauthForeignRefresh {
				fix = "another installation uses the same Exact user and app"
			}
			out = append(out, dest.Alert{Condition: ReauthRequired, Subject: subject, Details: d,
				Text: fmt.Sprintf("exactsync: Exact Online connection %d (%s) needs re-authorization: %s; %s", c.ID, host(c.BaseURL), c.StateReason, fix)})
		case !c.RefreshTokenIssuedAt.IsZero() && in.Now.Sub(c.RefreshTokenIssuedAt) > IdleAfter:
			age := in.Now.Sub(c.RefreshTokenIssuedAt)
			out = append(out, dest.Alert{Condition: RefreshTokenIdle, Subject: subject,
				Details: with(base, "refresh_token_age_days", int(age.Hours()/24)),
				Text: fmt.Sprintf("exactsync: the refresh token of connection %d (%s) has not been used for %d days; Exact expires it at 30: is a run process up, with a keep-alive under 23 days? exactsync doctor checks it",
					c.ID, host(c.BaseURL), int(age.Hours()/24))})
		}
	}

	type divKey struct {
		conn int64
		div  int
	}
	budget := map[divKey][]string{}
	lag := map[divKey][]string{}
	var divs []divKey
	seen := map[divKey]bool{}
	for _, e := range in.Entities {
		if reauth[e.ConnectionID] {
			continue // the re-authorization is the one thing to do
		}
		k := divKey{e.ConnectionID, e.Division}
		if !seen[k] {
			seen[k] = true
			divs = append(divs, k)
		}
		switch {
		case e.LastStatus == dest.RunRefused:
			out = append(out, dest.Alert{Condition: EntityRefused,
				Subject: fmt.Sprintf("connection %d division %d entity %s", e.ConnectionID, e.Division, e.Entity),
				Details: map[string]any{"connection": e.ConnectionID, "division": e.Division, "entity": e.Entity, "reason": e.LastError},
				Text: fmt.Sprintf("exactsync: Exact refused %s in division %d (connection %d): %s; exactsync doctor names the fix, or leave the entity out with EXACTSYNC_ENTITIES",
					e.Entity, e.Division, e.ConnectionID, oneLine(e.LastError))})
			continue
		case slices.Contains(budgetStatuses, e.LastStatus):
			budget[k] = append(budget[k], e.Entity)
		}
		iv, ok := in.Intervals[e.Entity]
		if ok && iv > 0 && !e.LastSuccess.IsZero() && in.Now.Sub(e.LastSuccess) > LagFactor*iv {
			lag[k] = append(lag[k], e.Entity)
		}
	}
	for _, k := range divs {
		subject := fmt.Sprintf("connection %d division %d", k.conn, k.div)
		if es := budget[k]; len(es) > 0 {
			out = append(out, dest.Alert{Condition: DayBudgetSpent, Subject: subject,
				Details: map[string]any{"connection": k.conn, "division": k.div, "entities": es},
				Text: fmt.Sprintf("exactsync: the day's API budget of division %d (connection %d) ran out before the schedules finished (%s); they go on after the reset; exactsync doctor checks the schedules against the budget",
					k.div, k.conn, strings.Join(es, ", "))})
		}
		if es := lag[k]; len(es) > 0 {
			out = append(out, dest.Alert{Condition: SyncLag, Subject: subject,
				Details: map[string]any{"connection": k.conn, "division": k.div, "entities": es},
				Text: fmt.Sprintf("exactsync: division %d (connection %d) is more than %d schedule intervals behind for %s; exactsync status shows the last runs",
					k.div, k.conn, LagFactor, strings.Join(es, ", "))})
		}
	}
	return out
}

func with(m map[string]any, k string, v any) map[string]any {
	m[k] = v
	return m
}

// host is the host of an Exact base URL, for people.
func host(baseURL string) string {
	s := strings.TrimPrefix(strings.TrimPrefix(baseURL, "https://"), "http://")
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	return s
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
