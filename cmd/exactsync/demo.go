package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sync"
	"github.com/exactsync/exactsync/verify"
	"github.com/exactsync/exactsync/worker"
)

// defaultDemoDatabaseURL is used when DATABASE_URL is not set.
const defaultDemoDatabaseURL = "postgres://postgres@127.0.0.1:5432/exactsync_demo?sslmode=disable"

type demoCmd struct {
	Accounts  int    `default:"2500" help:"Accounts per division in the simulator."`
	Divisions []int  `default:"101,102" help:"The simulator's divisions."`
	Reader    string `default:"exactsync_demo_reader" help:"The example reader role the demo makes (or updates), limited to the first division, with a new password each run; empty makes none."`
}

func (c *demoCmd) Run(e *env) error {
	if c.Accounts < 0 || len(c.Divisions) == 0 {
		return usageError{fmt.Errorf("--accounts must be 0 or more and --divisions must name at least one division")}
	}
	// The demo prints its own summary: by default its logs are short
	// console lines, warnings and errors only.
	defaults := map[string]string{
		config.EnvDatabaseURL: defaultDemoDatabaseURL,
		config.EnvLogLevel:    "warn",
		config.EnvLogFormat:   "console",
	}
	getenv := func(k string) string {
		if v := e.getenv(k); v != "" {
			return v
		}
		return defaults[k]
	}
	const clientID, clientSecret = "exactsync-demo", "exactsync-demo-secret"
	// A small company's books; every other entity gets a few records.
	records := fmt.Sprintf("transaction_lines=%d,sales_invoices=%d,items=%d,gl_accounts=150,contacts=%d,addresses=%d",
		4*c.Accounts, c.Accounts/2, c.Accounts/5, c.Accounts/2, c.Accounts)
	divs := make([]string, len(c.Divisions))
	for i, d := range c.Divisions {
		divs[i] = strconv.Itoa(d)
	}
	sim, err := startSimulator(e.ctx, "--client-id", clientID, "--client-secret", clientSecret,
		"--divisions", strings.Join(divs, ","), "--accounts", strconv.Itoa(c.Accounts), "--records", records, "--seed", "1",
		"--minutely-limit", "60", "--daily-limit", "5000") // Exact's limits (docs/exact-online.md §2.1)
	if err != nil {
		return err
	}
	defer sim.stop()
	cfg, err := loadConfig(&env{ctx: e.ctx, getenv: getenv, environ: e.environ, flagEnvs: e.flagEnvs}, config.Needs{Database: true})
	if err != nil {
		return err
	}
	cfg.BaseURL, cfg.ClientID, cfg.ClientSecret, cfg.Divisions = sim.url, clientID, clientSecret, c.Divisions
	log := newLogger(cfg, e.stderr)

	fmt.Fprintf(e.stdout, "simulator of Exact Online at %s: divisions %v, %d accounts each\n", sim.url, c.Divisions, c.Accounts)
	if e.getenv(config.EnvDatabaseURL) == "" {
		// The demo's own database starts empty on every run, so that each run tells
		// the same story. A database named by DATABASE_URL is never dropped.
		if err := sink.DropDatabase(e.ctx, cfg.DatabaseURL); err != nil {
			return err
		}
	}
	if err := sink.EnsureDatabase(e.ctx, cfg.DatabaseURL); err != nil {
		return err
	}
	st, err := openStore(e, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Fprintf(e.stdout, "database %s migrated\n", redactURL(cfg.DatabaseURL))
	if e.getenv(config.EnvDatabaseURL) != "" {
		// A database the demo keeps holds the connections of earlier demos, whose
		// simulators stopped with them: this one replaces them.
		if err := removeEarlierDemos(e, cfg, st, clientID, sim.url); err != nil {
			return err
		}
	}

	if err := sealingKey(e, cfg, st, log, true); err != nil {
		return err
	}
	conn, _, err := importToken(e, cfg, st, sim.refreshToken, false, true, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "refresh token imported: connection %d\n", conn.ID)
	client, err := newClient(cfg, st, conn, log)
	if err != nil {
		return err
	}
	// The division list, as a sync without --division stores it: doctor and status read it.
	if _, err := saveDivisions(e.ctx, st, conn.ID, client, cfg.Divisions, log); err != nil {
		return err
	}
	runner := sync.NewRunner(sync.Config{Logger: log, WaitForLock: true, Enabled: cfg.Entities, OmitRaw: cfg.OmitRaw, RawExtra: cfg.RawExtra}, st, st, st)
	fmt.Fprintf(e.stdout, "entities: %s (EXACTSYNC_ENTITIES)\n", strings.Join(runner.Enabled(), ", "))
	pass := func(title string) error {
		fmt.Fprintf(e.stdout, "\n%s\n", title)
		// One job per endpoint (accounts and suppliers share theirs); the deletions
		// job comes last: it applies sync/Deleted for every entity.
		for _, d := range c.Divisions {
			for _, job := range runner.Jobs(conn.ID, d, false) {
				res, err := runner.Run(e.ctx, client, job)
				printResult(e, res)
				if err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := pass("first sync (everything):"); err != nil {
		return err
	}

	// Change a few records in the simulator, as users of Exact would.
	d := c.Divisions[0]
	accs, err := sim.accounts(e.ctx, d)
	if err != nil {
		return err
	}
	if len(accs) >= 3 {
		renamed, flipped, gone := accs[0], accs[1], accs[2]
		err := sim.changeAccounts(e.ctx, d, []map[string]any{
			{"ID": renamed.ID, "Name": renamed.Name + " (renamed)"},
			{"ID": flipped.ID, "IsSupplier": !flipped.IsSupplier},
		}, []string{gone.ID})
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "\nin Exact: renamed %s, flipped IsSupplier of %s, deleted %s in division %d\n", renamed.ID, flipped.ID, gone.ID, d)
		if err := pass("incremental sync (only what changed):"); err != nil {
			return err
		}
	}

	// The copy compared with Exact, as exactsync verify and run's schedule do, for the two
	// entities the demo changed: within Exact's 60 calls a minute, which the passes above
	// have nearly spent (every entity, and the ledger's totals, would hold the demo up for
	// a minute or more).
	check := []string{"accounts", "suppliers"}
	fmt.Fprintln(e.stdout, "\nthe copy compared with Exact (exactsync verify, here for the entities the demo changed; it compares every entity and the ledger's totals):")
	v := verify.New(verify.Options{Logger: log, ConnectionID: conn.ID,
		LastClean: func(ctx context.Context, division int, entity string) (time.Time, error) {
			return st.LastClean(ctx, conn.ID, division, entity)
		}}, client, st, verify.RunnerSyncer{Runner: runner, Source: client, ConnectionID: conn.ID})
	for _, d := range c.Divisions {
		res, err := v.Division(e.ctx, d, check)
		if err != nil {
			return fmt.Errorf("verifying division %d: %w", d, err)
		}
		fmt.Fprintf(e.stdout, "division %d: %s\n", d, verificationSummary(res))
	}

	var tables []string
	for _, name := range runner.Enabled() {
		if ent, err := sync.Lookup(name); err == nil {
			tables = append(tables, ent.Table)
		}
	}
	sum, err := st.Count(e.ctx, tables...)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "\nwhat landed in PostgreSQL:")
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tDIVISION\tROWS\tLAST SYNCED")
	for _, s := range sum {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", s.Table, s.Division, s.Rows, s.LastSynced.UTC().Format(time.RFC3339))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "\nquery them: psql %q -c 'select code, name, city, country from exact.suppliers limit 5'\n", redactURL(cfg.DatabaseURL))
	if c.Reader != "" {
		demoReader(e, st, cfg.DatabaseURL, c.Reader, c.Divisions[0])
	}
	return nil
}

// demoReader makes the example reader of the demo, limited to division, and shows what
// an application connected as it sees. A server where the demo's role may not create
// roles gets a note instead.
func demoReader(e *env, st *sink.Store, databaseURL, name string, division int) {
	pw := make([]byte, 18)
	rand.Read(pw)
	password := base64.RawURLEncoding.EncodeToString(pw)
	if _, err := st.AddReader(e.ctx, name, []int{division}, password); err != nil {
		fmt.Fprintf(e.stdout, "\nno example reader: %s\n", oneLine(err.Error()))
		return
	}
	u, err := url.Parse(databaseURL)
	if err != nil {
		return
	}
	u.User = url.UserPassword(name, password)
	fmt.Fprintf(e.stdout, "\nan application's view: reader %s sees division %d only (row-level security), and nothing of exactsync's own:\n", name, division)
	fmt.Fprintf(e.stdout, "  psql '%s' -c 'select division, count(*) from exact.accounts group by 1'\n", u)
	seen, err := sink.SeenBy(e.ctx, u.String())
	if err != nil {
		fmt.Fprintf(e.stdout, "  (as %s: %s)\n", name, oneLine(err.Error()))
		return
	}
	mine, others := 0, 0
	for d, n := range seen.Accounts {
		if d == division {
			mine += n
		} else {
			others += n
		}
	}
	secrets := "permission denied"
	if seen.SecretsVisible {
		secrets = "readable"
	}
	fmt.Fprintf(e.stdout, "  as %s: %d accounts of division %d, %d of the others; exact_sync.connections: %s\n", name, mine, division, others, secrets)
}

// removeEarlierDemos removes the connections of earlier demos (the demo's app on a
// loopback simulator other than this one's), with their queued jobs; their rows stay,
// for this demo's connection syncs the same divisions.
func removeEarlierDemos(e *env, cfg *config.Config, st *sink.Store, clientID, simURL string) error {
	conns, err := st.Connections(e.ctx)
	if err != nil {
		return fmt.Errorf("reading connections: %w", err)
	}
	for _, c := range conns {
		u, err := url.Parse(c.BaseURL)
		if err != nil || c.ClientID != clientID || c.BaseURL == simURL || !exact.IsLoopbackHost(u.Hostname()) {
			continue
		}
		pool, err := newQueuePool(e.ctx, cfg, 1)
		if err != nil {
			return err
		}
		queue, err := worker.NewQueue(pool)
		if err == nil {
			_, err = queue.CancelConnection(e.ctx, c.ID)
		}
		pool.Close()
		if err != nil {
			return err
		}
		if _, err := st.RemoveConnection(e.ctx, c.ID, false); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "removed connection %d of an earlier demo (its simulator at %s stopped with it)\n", c.ID, c.BaseURL)
	}
	return nil
}

// verificationSummary says a division's verification in one line: how many entities
// agree, the ledger groups compared, and any entity not clean with its status.
func verificationSummary(res []dest.Verification) string {
	last := map[string]dest.Verification{} // an entity's last result (after a repair)
	var order []string
	for _, r := range res {
		if _, ok := last[r.Entity]; !ok {
			order = append(order, r.Entity)
		}
		last[r.Entity] = r
	}
	clean, groups := 0, 0
	var other []string
	for _, name := range order {
		r := last[name]
		groups += r.Groups
		if r.Status == dest.VerifyClean {
			clean++
		} else {
			other = append(other, name+" "+r.Status)
		}
	}
	line := fmt.Sprintf("%d of %d entities agree with Exact", clean, len(order))
	if groups > 0 {
		line += fmt.Sprintf(", %d ledger groups compared", groups)
	}
	if len(other) > 0 {
		line += "; " + strings.Join(other, ", ")
	}
	return line
}
