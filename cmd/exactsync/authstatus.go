package main

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/sink"
)

// divisionStatus is how a division's status shows after its name: nothing for an
// active one.
func divisionStatus(status int) string {
	switch status {
	case exact.DivisionInactive:
		return " (inactive)"
	case exact.DivisionArchived:
		return " (archived)"
	}
	return ""
}

// printDivisions prints the divisions stored for a connection, one line.
func printDivisions(e *env, st *sink.Store, connID int64) {
	ds, err := st.Divisions(e.ctx, connID)
	if err != nil || len(ds) == 0 {
		return
	}
	fmt.Fprintf(e.stdout, "divisions granted: %s\n", divisionList(ds))
}

func divisionList(ds []dest.Division) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprint(d.Code)
		if d.Description != "" {
			parts[i] += " " + d.Description
		}
		parts[i] += divisionStatus(d.Status)
	}
	return strings.Join(parts, ", ")
}

type authStatusCmd struct{}

// Run prints each connection's state. It never prints a secret: the stored
// secrets are not even opened, only how they are stored is shown.
func (authStatusCmd) Run(e *env) error {
	cfg, _, st, err := setup(e, config.Needs{Database: true})
	if err != nil {
		return err
	}
	defer st.Close()
	conns, err := st.Connections(e.ctx)
	if err != nil {
		return err
	}
	if len(conns) == 0 {
		fmt.Fprintln(e.stdout, "no connections: run `exactsync auth login` or `exactsync auth import --refresh-token TOKEN`")
		return nil
	}
	now := time.Now().UTC()
	for i, c := range conns {
		if i > 0 {
			fmt.Fprintln(e.stdout)
		}
		divs, err := st.Divisions(e.ctx, c.ID)
		if err != nil {
			return err
		}
		limits, err := st.RateLimits(e.ctx, c.ID)
		if err != nil {
			return err
		}
		printStatus(e.stdout, now, cfg, c, divs, limits)
	}
	return nil
}

// printStatus writes the status block of one connection.
func printStatus(w io.Writer, now time.Time, cfg *config.Config, c dest.Connection, divs []dest.Division, limits map[int]dest.RateLimit) {
	line := func(label, format string, args ...any) {
		fmt.Fprintf(w, "  %-19s %s\n", label+":", fmt.Sprintf(format, args...))
	}
	fmt.Fprintf(w, "connection %d\n", c.ID)
	line("host", "%s", host(c.BaseURL))
	line("client id", "%s", c.ClientID)
	line("user", "%s", cmp.Or(c.UserKey, "(not known yet)"))
	switch {
	case c.State == dest.StateReauthRequired && c.StateCause == dest.ReauthForeignRefresh:
		line("state", "reauth_required: %s", c.StateReason) // the reason names the fix
	case c.State == dest.StateReauthRequired:
		line("state", "reauth_required: %s; re-authorize with `exactsync auth login` or `exactsync auth import`", c.StateReason)
	default:
		line("state", "%s", c.State)
	}
	switch {
	case c.AccessTokenExpiry.IsZero():
		line("access token", "none yet (obtained at the next run)")
	case c.AccessTokenExpiry.After(now):
		line("access token", "expires %s (in %s)", stamp(c.AccessTokenExpiry), c.AccessTokenExpiry.Sub(now).Round(time.Second))
	default:
		line("access token", "expired %s (refreshed at the next run)", stamp(c.AccessTokenExpiry))
	}
	if c.LastRefreshAt.IsZero() {
		line("last refresh", "never")
	} else {
		line("last refresh", "%s (%s ago)", stamp(c.LastRefreshAt), ago(now.Sub(c.LastRefreshAt)))
	}
	if c.RefreshTokenIssuedAt.IsZero() {
		line("refresh token", "age unknown")
	} else {
		age := now.Sub(c.RefreshTokenIssuedAt)
		left := exact.RefreshTokenIdleLifetime - age
		if left > 0 {
			line("refresh token", "received %s (%s ago); expires if unused in %d days", stamp(c.RefreshTokenIssuedAt), ago(age), int(left.Hours()/24))
		} else {
			line("refresh token", "received %s (%s ago); older than %d days, probably expired: re-authorize", stamp(c.RefreshTokenIssuedAt), ago(age), int(exact.RefreshTokenIdleLifetime.Hours()/24))
		}
	}
	if c.HasClientSecret {
		line("client secret", "stored")
	} else {
		line("client secret", "not stored (uses %s)", config.EnvClientSecret)
	}
	line("encryption", "%s", encryption(c.KeyIDs, cfg.Keyring.CurrentID()))
	if len(divs) == 0 {
		line("divisions", "not listed yet")
	} else {
		line("divisions", "%s", divisionList(divs))
	}
	var parts []string
	for _, d := range slices.Sorted(maps.Keys(limits)) {
		rl := limits[d]
		if rl.DailyLimit == 0 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%d: %d of %d (as of %s)", d, rl.DailyRemaining, rl.DailyLimit, stamp(rl.ObservedAt)))
	}
	if len(parts) == 0 {
		line("daily calls left", "not seen yet")
	} else {
		line("daily calls left", "%s", strings.Join(parts, ", "))
	}
}

// encryption says how a connection's secrets are stored.
func encryption(keyIDs []string, current string) string {
	switch {
	case len(keyIDs) == 0:
		return "no secrets stored"
	case len(keyIDs) == 1 && keyIDs[0] == "":
		return "none: stored as plaintext; unless " + config.EnvEncryptionKey + "=" + config.KeyNone + " is meant, unset it (or set a key): the next start seals them"
	case len(keyIDs) == 1 && keyIDs[0] == current:
		return "AES-256-GCM, key " + current
	}
	var parts []string
	for _, id := range keyIDs {
		if id == "" {
			parts = append(parts, "plaintext")
		} else {
			parts = append(parts, "key "+id)
		}
	}
	return "mixed (" + strings.Join(parts, ", ") + "); run `exactsync auth rotate-key`"
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func ago(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Hour:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		return d.Round(time.Minute).String()
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}
