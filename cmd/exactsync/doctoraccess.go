package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/sink"
)

// doctor's checks of what the database gives away: secrets stored in plain text, roles
// that can read them, and the readers' protection (README, "Giving an application
// access"). Like every check, they change nothing.

// keySource says where the current key comes from, for doctor's encryption line.
func keySource(cfg *config.Config) string {
	switch cfg.KeySource {
	case config.KeyGenerated:
		return "generated, in " + cfg.KeyFile + "; production deployments set " + config.EnvEncryptionKey + " or " + config.EnvEncryptionKeyFile + " instead"
	case config.EnvEncryptionKeyFile:
		return "from the file " + config.EnvEncryptionKeyFile + " names"
	}
	return "from " + cfg.KeySource
}

// doctorNoKey is the encryption line of a process with no key configured or generated.
func doctorNoKey(ctx context.Context, cl *checklist, cfg *config.Config, st *sink.Store) {
	state, err := st.KeyState(ctx)
	switch {
	case err != nil:
		cl.fail("encryption", "%s", oneLine(err.Error()))
	case state.Missing() != nil:
		cl.fail("encryption", "%s", oneLine(keyProblem(cfg, state.Missing())))
	case cfg.KeyFile == "":
		cl.warn("encryption", "no key, and no state directory to generate one into → set %s (or %s), or %s", config.EnvEncryptionKey, config.EnvEncryptionKeyFile, config.EnvStateDir)
	case state.Plaintext > 0:
		cl.ok("encryption", "no key yet: the next start of sync, run or migrate generates one into %s and seals the stored secrets (production deployments set %s or %s instead)",
			cfg.KeyFile, config.EnvEncryptionKey, config.EnvEncryptionKeyFile)
	default:
		cl.ok("encryption", "no key yet: the first command that stores a secret generates one into %s (production deployments set %s or %s instead)",
			cfg.KeyFile, config.EnvEncryptionKey, config.EnvEncryptionKeyFile)
	}
}

// doctorPlaintext FAILs when a token or client secret is stored in plain text without the
// explicit opt-out, and WARNs with it.
func doctorPlaintext(ctx context.Context, cl *checklist, cfg *config.Config, st *sink.Store) {
	const subject = "stored secrets"
	conns, err := st.Connections(ctx)
	if err != nil {
		cl.fail(subject, "%s", oneLine(err.Error()))
		return
	}
	var which []string
	for _, c := range conns {
		if slices.Contains(c.KeyIDs, "") {
			which = append(which, fmt.Sprint(c.ID))
		}
	}
	state, err := st.KeyState(ctx)
	if err != nil {
		cl.fail(subject, "%s", oneLine(err.Error()))
		return
	}
	sealed := 0
	for _, n := range state.Sealed {
		sealed += n
	}
	switch {
	case state.Plaintext == 0 && sealed == 0:
		cl.ok(subject, "none stored yet")
	case state.Plaintext == 0:
		cl.ok(subject, "all %d sealed; none in plain text", sealed)
	case cfg.Unencrypted:
		cl.warn(subject, "%d in plain text (connection %s), as %s=%s asks → unset it: the next start of sync or run seals them",
			state.Plaintext, strings.Join(which, ", "), config.EnvEncryptionKey, config.KeyNone)
	default:
		cl.fail(subject, "%d in plain text (connection %s), readable by anyone who can read exact_sync.connections → run exactsync sync, run or migrate: each seals them at start",
			state.Plaintext, strings.Join(which, ", "))
	}
}

// doctorSecretAccess FAILs when a role other than exactsync's own (PUBLIC included) can
// read exact_sync.connections, which holds the tokens and client secrets.
func doctorSecretAccess(ctx context.Context, cl *checklist, st *sink.Store) {
	const subject = "secrets access"
	a, err := st.Access(ctx)
	if err != nil {
		cl.fail(subject, "%s", oneLine(err.Error()))
		return
	}
	if len(a.SecretReaders) > 0 {
		who := strings.Join(a.SecretReaders, ", ")
		cl.fail(subject, "%s can read exact_sync.connections, which holds the tokens and client secrets → as %s run REVOKE ALL ON SCHEMA exact_sync FROM %s; REVOKE ALL ON ALL TABLES IN SCHEMA exact_sync FROM %[3]s (and take back any role membership that gives it); applications read exact and exact_status as readers (exactsync readers add)",
			who, a.Self, who)
		return
	}
	msg := fmt.Sprintf("only exactsync's role %s can read exact_sync.connections", a.Self)
	if len(a.Superusers) > 0 {
		msg += fmt.Sprintf(" (and the superusers %s, which can read anything)", strings.Join(a.Superusers, ", "))
	}
	cl.ok(subject, "%s", msg)
}

// doctorReaders reports the readers, and FAILs when a table of exact lacks the division
// policy that limits them.
func doctorReaders(ctx context.Context, cl *checklist, st *sink.Store) {
	const subject = "readers"
	a, err := st.Access(ctx)
	if err != nil {
		cl.fail(subject, "%s", oneLine(err.Error()))
		return
	}
	if len(a.Unprotected) > 0 {
		cl.fail(subject, "%s without row-level security or the division policy: readers limited to divisions see all of them there → run exactsync migrate",
			strings.Join(a.Unprotected, ", "))
		return
	}
	readers, err := st.Readers(ctx)
	if err != nil {
		cl.fail(subject, "%s", oneLine(err.Error()))
		return
	}
	var list, broken []string
	for _, r := range readers {
		switch {
		case r.Missing:
			broken = append(broken, r.Name+" (its role is gone)")
		case !r.Member:
			broken = append(broken, r.Name+" (not in "+sink.ReaderGroup+")")
		default:
			list = append(list, r.Name+" ("+divisionsText(r.Divisions)+")")
		}
	}
	switch {
	case len(broken) > 0:
		cl.warn(subject, "%s → exactsync readers remove, then add them again", strings.Join(broken, ", "))
	case len(readers) == 0 && !a.GroupExists && !a.CanCreateRoles:
		cl.ok(subject, "none; exactsync readers add needs CREATEROLE for exactsync's role %s (ALTER ROLE %[1]s CREATEROLE, as a superuser)", a.Self)
	case len(readers) == 0:
		cl.ok(subject, "none; every table of exact is limited by division for the readers exactsync readers add makes")
	default:
		cl.ok(subject, "%d, each limited by row-level security: %s", len(readers), strings.Join(list, ", "))
	}
}

// divisionsText says which divisions a reader sees.
func divisionsText(divs []int) string {
	if divs == nil {
		return "all divisions"
	}
	s := make([]string, len(divs))
	for i, d := range divs {
		s[i] = fmt.Sprint(d)
	}
	if len(s) == 1 {
		return "division " + s[0]
	}
	return "divisions " + strings.Join(s, ", ")
}
