package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/sink"
)

// databaseTrouble is doctor's line for a database it cannot use: what went wrong, once,
// and the fix.
func databaseTrouble(err error) string {
	var ce *sink.ConnectError
	if errors.As(err, &ce) {
		if ce.NoDatabase() {
			return fmt.Sprintf("PostgreSQL at %s has no database %q → create it, or correct %s", ce.Addr, ce.Database, config.EnvDatabaseURL)
		}
		return fmt.Sprintf("cannot connect to PostgreSQL at %s: %s → check %s, and that PostgreSQL runs and accepts this user", ce.Addr, ce.Reason(), config.EnvDatabaseURL)
	}
	return oneLine(err.Error()) + " → check " + config.EnvDatabaseURL + ", and that PostgreSQL runs and accepts this user"
}

// doctorSchema says whether the schema is this binary's, and reports whether there is one
// to check the stored state in: false for a database never migrated. A schema that
// cannot be read is a failure (err).
func doctorSchema(ctx context.Context, cl *checklist, cfg *config.Config, st *sink.Store) (bool, error) {
	pending, err := st.PendingMigrations(ctx)
	if err != nil {
		cl.fail("database", "reachable, but the schema cannot be read: %s", oneLine(err.Error()))
		return false, err
	}
	all, err := sink.MigrationVersions()
	if err != nil {
		cl.fail("database", "%s", oneLine(err.Error()))
		return false, err
	}
	switch {
	case len(pending) == 0:
		cl.ok("database", "reachable at %s, schema current", redactURL(cfg.DatabaseURL))
		return true, nil
	case len(pending) == len(all):
		cl.warn("database", "reachable at %s; no exactsync schema yet → run exactsync migrate (run and sync do it too)", redactURL(cfg.DatabaseURL))
		return false, nil
	}
	cl.warn("database", "reachable at %s; %d of %d migrations not applied (up to %05d) → run exactsync migrate (run and sync do it too)",
		redactURL(cfg.DatabaseURL), len(pending), len(all), pending[len(pending)-1])
	return true, nil
}

// doctorNoSchema is what doctor can say of a database without exactsync's schema: the
// key, from the configuration alone, and that nothing can sync without a connection.
func doctorNoSchema(cl *checklist, cfg *config.Config) {
	switch {
	case cfg.Unencrypted:
		cl.warn("encryption", "%s=%s: the secrets stored from now on are plaintext → unset it, or set a key", config.EnvEncryptionKey, config.KeyNone)
	case cfg.Keyring != nil:
		cl.ok("encryption", "key %s set; no secret stored yet", cfg.Keyring.CurrentID())
	case cfg.KeyFile == "":
		cl.warn("encryption", "no key, and no state directory to generate one into → set %s (or %s), or %s", config.EnvEncryptionKey, config.EnvEncryptionKeyFile, config.EnvStateDir)
	default:
		cl.ok("encryption", "no key yet: the first command that stores a secret generates one into %s (production deployments set %s or %s instead)",
			cfg.KeyFile, config.EnvEncryptionKey, config.EnvEncryptionKeyFile)
	}
	cl.fail("connections", "none stored: the database has no exactsync schema yet → run exactsync migrate, then exactsync auth login (or exactsync auth import --refresh-token TOKEN)")
}

// doctorClocks compares this machine's clock with Exact's, once per host the connections
// use (the configured one without a connection). A simulator on a loopback address that
// does not answer is a warning, not a failure: a demo's simulator stops with the demo.
func doctorClocks(ctx context.Context, cl *checklist, cfg *config.Config, conns []dest.Connection) {
	var bases []string
	users := map[string][]string{} // base URL → connection ids
	for _, c := range conns {
		if !slices.Contains(bases, c.BaseURL) {
			bases = append(bases, c.BaseURL)
		}
		users[c.BaseURL] = append(users[c.BaseURL], fmt.Sprint(c.ID))
	}
	if len(bases) == 0 {
		bases = []string{cfg.BaseURL}
	}
	for _, base := range bases {
		u, err := url.Parse(base)
		if err == nil && exact.IsLoopbackHost(u.Hostname()) {
			if err := probeClock(ctx, base); err != nil {
				ids := users[base]
				remove := "exactsync auth remove --connection " + ids[0]
				if len(ids) > 1 {
					remove = "exactsync auth remove --connection ID, for each"
				}
				cl.warn("Exact Online", "the simulator at %s (connection %s) does not answer: a demo's simulator stops with the demo → start exactsim there again (its --state keeps the token chain), or remove the connection: %s",
					base, strings.Join(ids, ", "), remove)
				continue
			}
		}
		doctorClock(ctx, cl, base)
	}
}

// probeClock is one unauthenticated call to base, as doctorClock makes.
func probeClock(ctx context.Context, base string) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	_, _, err := exact.ClockOffset(ctx, base, nil)
	return err
}
