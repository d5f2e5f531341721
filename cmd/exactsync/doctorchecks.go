package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sink/seal"
	"github.com/exactsync/exactsync/sync"
)

func doctorSecrets(ctx context.Context, cl *checklist, cfg *config.Config, st *sink.Store) {
	rep, err := st.CheckSecrets(ctx)
	switch {
	case errors.Is(err, seal.ErrNoKey):
		cl.fail("encryption", "%s → set the key that sealed them (or add it to %s and run exactsync auth rotate-key)", oneLine(keyProblem(cfg, err)), config.EnvEncryptionKeyOld)
	case err != nil:
		cl.fail("encryption", "%s", oneLine(err.Error()))
	case cfg.Unencrypted:
		cl.warn("encryption", "%s=%s: secrets are stored unencrypted → unset it, or set a key: the next start seals them", config.EnvEncryptionKey, config.KeyNone)
	case cfg.Keyring == nil:
		doctorNoKey(ctx, cl, cfg, st)
	case rep.OtherKey > 0:
		cl.warn("encryption", "%d secrets not sealed with the current key %s → run exactsync auth rotate-key", rep.OtherKey, rep.CurrentKeyID)
	default:
		cl.ok("encryption", "key %s (%s) opens all %d stored secrets", rep.CurrentKeyID, keySource(cfg), rep.Values-rep.Plaintext)
	}
}

func doctorConnection(cl *checklist, c dest.Connection, now time.Time) {
	subject := fmt.Sprintf("connection %d", c.ID)
	who := c.UserKey
	if who == "" {
		who = "user not known yet"
	}
	head := fmt.Sprintf("%s, %s", host(c.BaseURL), who)
	if c.State == dest.StateReauthRequired && c.StateCause == dest.ReauthForeignRefresh {
		cl.fail(subject, "%s: %s; or remove it: exactsync auth remove --connection %d", head, c.StateReason, c.ID)
		return
	}
	if c.State == dest.StateReauthRequired {
		cl.fail(subject, "%s: needs re-authorization (%s) → run exactsync auth login, or exactsync auth import with a new refresh token; or remove it: exactsync auth remove --connection %d", head, c.StateReason, c.ID)
		return
	}
	var parts []string
	if !c.RefreshTokenIssuedAt.IsZero() {
		age := now.Sub(c.RefreshTokenIssuedAt)
		parts = append(parts, "refresh token "+ago(age)+" old")
		if left := exact.RefreshTokenIdleLifetime - age; left <= 0 {
			cl.fail(subject, "%s: refresh token %s old, past Exact's 30 days → re-authorize with exactsync auth login", head, ago(age))
			return
		} else if left < 7*24*time.Hour {
			cl.warn(subject, "%s: refresh token %s old; Exact expires it unused in %d days → keep exactsync run going (its keep-alive refreshes weekly) or run a sync", head, ago(age), int(left.Hours()/24))
			return
		}
	}
	switch {
	case c.AccessTokenExpiry.IsZero():
		parts = append(parts, "next refresh at the first call")
	case c.AccessTokenExpiry.After(now.Add(30 * time.Second)):
		parts = append(parts, "next refresh in "+c.AccessTokenExpiry.Add(-30*time.Second).Sub(now).Round(time.Second).String())
	default:
		parts = append(parts, "next refresh at the next call")
	}
	if c.LastRefreshAt.IsZero() {
		parts = append(parts, "never refreshed")
	} else {
		parts = append(parts, "last refresh "+ago(now.Sub(c.LastRefreshAt))+" ago")
	}
	if c.UserKey == "" {
		cl.warn(subject, "%s: %s; stored unchecked → the first run proves the token", head, strings.Join(parts, ", "))
		return
	}
	cl.ok(subject, "%s: %s", head, strings.Join(parts, ", "))
}

func doctorDivisions(ctx context.Context, cl *checklist, cfg *config.Config, st *sink.Store, c dest.Connection) {
	subject := "  divisions"
	ds, err := st.Divisions(ctx, c.ID)
	if err != nil {
		cl.fail(subject, "%s", oneLine(err.Error()))
		return
	}
	if len(ds) == 0 {
		doctorUnlisted(ctx, cl, subject, st, c)
	} else {
		granted := make([]int, len(ds))
		for i, d := range ds {
			granted[i] = d.Code
		}
		var missing []string
		for _, d := range cfg.Divisions {
			if !slices.Contains(granted, d) {
				missing = append(missing, fmt.Sprint(d))
			}
		}
		if len(missing) > 0 {
			cl.fail(subject, "%s names %s, not granted to connection %d (granted: %s) → remove them, or grant them to the user in Exact Online", config.EnvDivisions, strings.Join(missing, ", "), c.ID, divisionList(ds))
		} else {
			cl.ok(subject, "granted: %s", divisionList(ds))
		}
	}
	limits, err := st.RateLimits(ctx, c.ID)
	if err != nil {
		cl.fail("  day budget", "%s", oneLine(err.Error()))
		return
	}
	for _, d := range slices.Sorted(maps.Keys(limits)) {
		rl := limits[d]
		if rl.DailyLimit == 0 {
			continue
		}
		msg := fmt.Sprintf("division %d: %d of %d calls left (as of %s)", d, rl.DailyRemaining, rl.DailyLimit, stamp(rl.ObservedAt))
		reset := rl.DailyReset.Before(time.Now())
		switch {
		case reset:
			cl.ok("  day budget", "%s; reset since", msg)
		case float64(rl.DailyRemaining) < sync.BudgetReserve*float64(rl.DailyLimit):
			cl.warn("  day budget", "%s, below the reserve kept for incremental runs → full passes wait for the reset at %s", msg, stamp(rl.DailyReset))
		default:
			cl.ok("  day budget", "%s", msg)
		}
	}
}

// doctorClock compares the local clock with Exact's, from the Date header of an
// unauthenticated call (§2.2 names no limit on it; it carries no division).
func doctorClock(ctx context.Context, cl *checklist, base string) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	diff, ok, err := exact.ClockOffset(ctx, base, nil)
	switch {
	case err != nil:
		cl.fail("Exact Online", "%s → check the network, proxy and firewall", oneLine(err.Error()))
		return
	case !ok:
		cl.warn("Exact Online", "%s answered without a Date header; the clock cannot be compared", host(base))
		return
	}
	switch {
	case diff.Abs() > 2*time.Minute:
		cl.warn("clock", "Exact's clock %s → exactsync follows Exact's clock for tokens, but schedules and logs use the local one: sync it (NTP)", clockDiff(diff))
	default:
		cl.ok("clock", "%s reachable; its clock %s", host(base), clockDiff(diff))
	}
}

// clockDiff says how Exact's clock stands to this machine's.
func clockDiff(d time.Duration) string {
	switch {
	case d > 0:
		return "is " + d.String() + " ahead of this machine's"
	case d < 0:
		return "is " + (-d).String() + " behind this machine's"
	}
	return "agrees with this machine's"
}

// doctorRefused names each entity whose last run Exact refused (400, 403, 404), with the
// way out: such a refusal does not go away by waiting.
func doctorRefused(ctx context.Context, cl *checklist, st *sink.Store) {
	states, err := st.SyncStates(ctx)
	if err != nil {
		cl.fail("runs", "%s", oneLine(err.Error()))
		return
	}
	refused := 0
	for _, s := range states {
		if s.LastRun.Result.Status != dest.RunRefused {
			continue
		}
		refused++
		cl.warn("runs", "Exact refused %s in division %d of connection %d: %s → %s",
			s.Entity, s.Division, s.ConnectionID, oneLine(s.LastRun.Result.Err), refusalFix(s.Entity, "it"))
	}
	if refused == 0 {
		cl.ok("runs", "no entity refused by Exact in its last run")
	}
}

// doctorUnlisted speaks of a connection whose division list was never stored (an import
// with --no-check, a sync by hand of named divisions only): the divisions it synced so
// far, and what lists them.
func doctorUnlisted(ctx context.Context, cl *checklist, subject string, st *sink.Store, c dest.Connection) {
	states, err := st.SyncStates(ctx)
	if err != nil {
		cl.fail(subject, "%s", oneLine(err.Error()))
		return
	}
	var synced []int
	for _, s := range states {
		if s.ConnectionID == c.ID && !slices.Contains(synced, s.Division) {
			synced = append(synced, s.Division)
		}
	}
	if len(synced) == 0 {
		cl.warn(subject, "not listed yet → exactsync sync or run lists them")
		return
	}
	cl.warn(subject, "not listed from Exact yet; synced so far: %s → exactsync run lists them within the hour, or run exactsync sync without --division", joinInts(synced))
}
