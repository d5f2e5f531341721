package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sync"
	"github.com/exactsync/exactsync/worker"
)

type statusCmd struct{}

// statusKey names one line of status: an entity (or the deletions job) of a division of
// a connection.
type statusKey struct {
	conn     int64
	division int
	entity   string
}

// Run prints a line for every enabled entity of every division of every connection,
// whether it ran or not, and for an entity no longer enabled whose table still holds rows
// of the division: the rows stored, the job queued or running, the last run and last
// success, and what the next run does and when.
func (statusCmd) Run(e *env) error {
	cfg, _, st, err := setup(e, config.Needs{Database: true})
	if err != nil {
		return err
	}
	defer st.Close()
	loc, err := time.LoadLocation(cfg.TimeZone)
	if err != nil {
		return usageError{fmt.Errorf("%s: %q is not a time zone; use a name such as Europe/Amsterdam", config.EnvTimeZone, cfg.TimeZone)}
	}
	conns, err := st.Connections(e.ctx)
	if err != nil {
		return fmt.Errorf("reading connections: %w", err)
	}
	if len(conns) == 0 {
		fmt.Fprintln(e.stdout, "no Exact Online connection is stored: run `exactsync auth login` or `exactsync auth import --refresh-token TOKEN`")
		return printQueue(e, cfg, nil)
	}
	states, err := st.SyncStates(e.ctx)
	if err != nil {
		return err
	}
	stateOf := map[statusKey]sink.SyncState{}
	for _, s := range states {
		stateOf[statusKey{s.ConnectionID, s.Division, s.Entity}] = s
	}
	qs, err := readQueue(e.ctx, cfg)
	if err != nil {
		return err
	}
	queue := qs.jobs

	rows, err := tableRows(e.ctx, st)
	if err != nil {
		return err
	}
	qcounts, err := st.QuarantineCounts(e.ctx)
	if err != nil {
		return err
	}
	quarantined := map[statusKey]int{}
	total := 0
	for _, q := range qcounts {
		quarantined[statusKey{q.ConnectionID, q.Division, q.Entity}] = q.Records
		total += q.Records
	}

	keys, unlisted, err := statusKeys(e.ctx, cfg, st, conns, states, queue, rows)
	if err != nil {
		return err
	}
	sched := newNextTicks(cfg, loc)
	now := time.Now()
	if len(keys) > 0 {
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CONNECTION\tDIVISION\tENTITY\tROWS\tQUARANTINED\tJOB\tLAST RUN\tLAST SUCCESS\tCURSOR\tNEXT RUN")
		for _, k := range keys {
			s := stateOf[k]
			s.ConnectionID, s.Division, s.Entity = k.conn, k.division, k.entity
			fmt.Fprintf(tw, "%d\t%d\t%s\t%d\t%d\t%s\t%s\t%s\t%d\t%s\n", k.conn, k.division, k.entity,
				rows[tableDivision(k.entity, k.division)], quarantined[k], jobState(cfg, queue, k), lastRun(now, s.LastRun),
				since(now, s.LastSuccess), s.Cursor.Timestamp, nextRun(now, cfg, sched, s))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, c := range unlisted {
		fmt.Fprintf(e.stdout, "connection %d (%s): divisions not listed yet; `exactsync sync --entity accounts` or `exactsync run` lists them\n", c.ID, host(c.BaseURL))
	}
	if len(states) == 0 {
		fmt.Fprintln(e.stdout, "nothing synced yet: run `exactsync sync --entity accounts` or `exactsync run`")
	}
	if total > 0 {
		fmt.Fprintf(e.stdout, "quarantined records: %d. Exact served them in a shape that cannot be stored; "+
			"see exact_sync.rejected_records (reason, record). A good version of a record replaces it, and a full pass retries them.\n", total)
	}
	if err := printSpentDays(e.ctx, e.stdout, st, now); err != nil {
		return err
	}
	if err := printLastVerification(e.ctx, e.stdout, st, now); err != nil {
		return err
	}
	return printQueue(e, cfg, &qs)
}

// statusKeys are the lines of status, ordered by connection, division and entity: every
// enabled entity and the deletions job in each division of each connection (the stored
// list, within EXACT_DIVISIONS), every entity that ran or has a queued job, less those
// no longer enabled whose table holds no row of the division. unlisted are the
// connections whose divisions are not known.
func statusKeys(ctx context.Context, cfg *config.Config, st *sink.Store, conns []dest.Connection, states []sink.SyncState,
	queue []worker.Waiting, rows map[string]int) (keys []statusKey, unlisted []dest.Connection, err error) {
	enabled := enabledJobs(cfg)
	seen := map[statusKey]bool{}
	add := func(k statusKey) {
		if seen[k] {
			return
		}
		if !slices.Contains(enabled, k.entity) && rows[tableDivision(k.entity, k.division)] == 0 {
			return // no longer synced, and nothing of it is kept
		}
		seen[k] = true
		keys = append(keys, k)
	}
	for _, c := range conns {
		stored, err := st.Divisions(ctx, c.ID)
		if err != nil {
			return nil, nil, err
		}
		var divs []int
		for _, d := range stored {
			if len(cfg.Divisions) == 0 || slices.Contains(cfg.Divisions, d.Code) {
				divs = append(divs, d.Code)
			}
		}
		if len(stored) == 0 {
			divs = slices.Clone(cfg.Divisions)
		}
		if len(divs) == 0 && !slices.ContainsFunc(states, func(s sink.SyncState) bool { return s.ConnectionID == c.ID }) {
			unlisted = append(unlisted, c)
		}
		for _, d := range divs {
			for _, name := range enabled {
				add(statusKey{c.ID, d, name})
			}
			// A table that holds rows of the division though its entity is no longer
			// enabled: the rows stay until someone deletes them.
			for _, name := range sync.Names() {
				add(statusKey{c.ID, d, name})
			}
		}
	}
	for _, s := range states {
		add(statusKey{s.ConnectionID, s.Division, s.Entity})
	}
	for _, q := range queue {
		add(statusKey{q.Connection, q.Division, q.Entity})
	}
	slices.SortFunc(keys, func(a, b statusKey) int {
		return cmp.Or(cmp.Compare(a.conn, b.conn), cmp.Compare(a.division, b.division), cmp.Compare(a.entity, b.entity))
	})
	return keys, unlisted, nil
}

// enabledJobs are the enabled entities and, when any of them reads its deletions from
// sync/Deleted, the deletions job.
func enabledJobs(cfg *config.Config) []string {
	out := slices.Clone(cfg.Entities)
	for _, name := range cfg.Entities {
		if ent, err := sync.Lookup(name); err == nil && ent.Read == sync.ReadSync && ent.DeletedType > 0 {
			return append(out, sync.DeletionsJob)
		}
	}
	return out
}

// tableRows counts the rows of every entity's table per division, keyed by tableDivision.
func tableRows(ctx context.Context, st *sink.Store) (map[string]int, error) {
	var tables []string
	byTable := map[string]string{}
	for _, name := range sync.Names() {
		ent, _ := sync.Lookup(name)
		tables = append(tables, ent.Table)
		byTable[ent.Table] = name
	}
	counts, err := st.Count(ctx, tables...)
	if err != nil {
		return nil, err
	}
	rows := map[string]int{}
	for _, c := range counts {
		rows[tableDivision(byTable[c.Table], c.Division)] = c.Rows
	}
	return rows, nil
}

// tableDivision keys an entity's rows of a division.
func tableDivision(entity string, division int) string { return fmt.Sprintf("%s/%d", entity, division) }

// jobState says what the queue holds for an entity of a division: the jobs that write it
// (its own, and the job of an enabled entity read from the same endpoint, such as
// accounts for suppliers), by state; "-" when none.
func jobState(cfg *config.Config, queue []worker.Waiting, k statusKey) string {
	var running, queued, snoozed, retrying int
	for _, q := range queue {
		if q.Connection != k.conn || q.Division != k.division || !writes(cfg, q.Entity, k.entity) {
			continue
		}
		running, queued, snoozed, retrying = running+q.Running, queued+q.Queued, snoozed+q.Snoozed, retrying+q.Retrying
	}
	var parts []string
	for _, p := range []struct {
		n    int
		name string
	}{{running, "running"}, {queued, "queued"}, {snoozed, "snoozed"}, {retrying, "retrying"}} {
		if p.n > 0 {
			parts = append(parts, p.name)
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// writes reports whether a job named job writes entity: its own, or one of the same
// endpoint when entity is enabled.
func writes(cfg *config.Config, job, entity string) bool {
	if job == entity {
		return true
	}
	if job == sync.DeletionsJob || entity == sync.DeletionsJob || !slices.Contains(cfg.Entities, entity) {
		return false
	}
	a, err1 := sync.Lookup(job)
	b, err2 := sync.Lookup(entity)
	return err1 == nil && err2 == nil && a.Path == b.Path
}

// queueState is what the job queue holds: its sync jobs per division and entity, and
// whether a run process leads it (is alive).
type queueState struct {
	jobs  []worker.Waiting
	alive bool
}

// readQueue reads the job queue.
func readQueue(ctx context.Context, cfg *config.Config) (queueState, error) {
	pcfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return queueState{}, usageError{fmt.Errorf("parsing database URL: %w; check DATABASE_URL", err)}
	}
	pcfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return queueState{}, err
	}
	defer pool.Close()
	var q queueState
	queue, err := worker.NewQueue(pool)
	if err != nil {
		return q, err
	}
	if q.jobs, err = queue.Waiting(ctx); err != nil {
		return q, err
	}
	_, q.alive, err = queue.Leader(ctx)
	return q, err
}

// noWorkerHint is said when no run process is alive on the database.
const noWorkerHint = "no `exactsync run` process is running on this database: queued jobs wait and the schedules start nothing until one runs"

// printQueue shows the sync jobs waiting or running in the job queue, per division, and
// says so when no run process is alive to run them.
func printQueue(e *env, cfg *config.Config, q *queueState) error {
	if q == nil {
		read, err := readQueue(e.ctx, cfg)
		if err != nil {
			return err
		}
		q = &read
	}
	queue := q.jobs
	if !q.alive {
		defer fmt.Fprintln(e.stdout, "\n"+noWorkerHint)
	}
	type div struct {
		conn     int64
		division int
	}
	var order []div
	sums := map[div]*worker.Waiting{}
	for _, q := range queue {
		d := div{q.Connection, q.Division}
		s := sums[d]
		if s == nil {
			s = &worker.Waiting{Connection: q.Connection, Division: q.Division}
			sums[d] = s
			order = append(order, d)
		}
		s.Queued, s.Running, s.Retrying, s.Snoozed = s.Queued+q.Queued, s.Running+q.Running, s.Retrying+q.Retrying, s.Snoozed+q.Snoozed
	}
	if len(order) == 0 {
		fmt.Fprintln(e.stdout, "\njob queue: no sync job waiting or running")
		return nil
	}
	fmt.Fprintf(e.stdout, "\njob queue (%s.river_job):\n", worker.Schema)
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONNECTION\tDIVISION\tQUEUED\tRUNNING\tRETRYING\tSNOOZED")
	for _, d := range order {
		q := sums[d]
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d\n", q.Connection, q.Division, q.Queued, q.Running, q.Retrying, q.Snoozed)
	}
	return tw.Flush()
}

// lastRun sums up a run: its status, when, what it changed, and its error.
func lastRun(now time.Time, r dest.RunRecord) string {
	if r.ID == 0 {
		return "never"
	}
	kind := ""
	if r.Full {
		kind = " full"
	}
	if r.Result.Status == dest.RunRunning {
		return fmt.Sprintf("running%s since %s", kind, since(now, r.StartedAt))
	}
	out := fmt.Sprintf("%s%s %s, %d upserted, %d removed", r.Result.Status, kind, since(now, r.FinishedAt),
		r.Result.Upserted, r.Result.Removed)
	if r.Result.Quarantined > 0 {
		out += fmt.Sprintf(", %d quarantined", r.Result.Quarantined)
	}
	switch {
	case r.Result.Status == dest.RunCanceled:
		// Its error is the context's: say what it means instead.
		out += ": stopped by a shutdown or Ctrl-C; the next run goes on from its cursor"
	case r.Result.Status == dest.RunAbandoned:
		out += ": its process ended before it did; the next run goes on from its cursor"
	case r.Result.Err != "":
		out += ": " + r.Result.Err
	}
	return out
}

// nextRun says what the next run of s does, and when the schedules start it.
func nextRun(now time.Time, cfg *config.Config, ticks nextTicks, s sink.SyncState) string {
	if !slices.Contains(enabledJobs(cfg), s.Entity) {
		return "none: not in " + config.EnvEntities + " (its rows stay)"
	}
	if len(cfg.Divisions) > 0 && !slices.Contains(cfg.Divisions, s.Division) {
		return "none: division not in " + config.EnvDivisions
	}
	if s.LastRun.Result.Status == dest.RunRefused && now.Before(s.LastRun.FinishedAt.Add(worker.RefusedPause)) {
		return "not before " + clock(now, s.LastRun.FinishedAt.Add(worker.RefusedPause)) + " (Exact refused the last run; see LAST RUN)"
	}
	var kind string
	switch {
	case s.Entity == sync.DeletionsJob:
		kind = "incremental" // the stream has no full pass; the entities' full passes reconcile
	case s.Cursor.Sweep:
		kind = "goes on with a full pass that removes what it does not see"
	case !s.LastSuccess.IsZero() && now.Sub(s.LastSuccess) > sync.DeletionLogSafeAge:
		kind = "full pass: last success is older than Exact's deletion log (2 months)"
	case s.Cursor.Timestamp == 0 && s.Cursor.DeletedTimestamp == 0:
		kind = "from the start"
	default:
		kind = "incremental"
	}
	at, ok := ticks.next(s.Entity, now)
	if !ok {
		return "by hand only (schedule off), " + kind
	}
	return clock(now, at) + ", " + kind
}

// clock is a time of the coming hours as 15:04, a later one with its date.
func clock(now, t time.Time) string {
	t = t.Local()
	if t.Sub(now) < 20*time.Hour {
		return t.Format("15:04")
	}
	return t.Format("Jan 2 15:04")
}

// nextTicks is when the schedules next start each entity's incremental run.
type nextTicks struct {
	cfg *config.Config
	loc *time.Location
}

func newNextTicks(cfg *config.Config, loc *time.Location) nextTicks { return nextTicks{cfg, loc} }

// next is the next incremental tick of entity after now; for the deletions job, the
// first of the sync entities' ticks, after which it runs. ok is false when no schedule
// starts it.
func (n nextTicks) next(entity string, now time.Time) (t time.Time, ok bool) {
	specs := []string{n.cfg.Schedules[entity]}
	if entity == sync.DeletionsJob {
		specs = nil
		for _, name := range n.cfg.Entities {
			if ent, err := sync.Lookup(name); err == nil && ent.Read == sync.ReadSync {
				specs = append(specs, n.cfg.Schedules[name])
			}
		}
	}
	for _, spec := range specs {
		if spec == "" {
			continue
		}
		sched, err := cronParser.Parse(spec)
		if err != nil {
			continue
		}
		if at := (inZone{sched, n.loc}).Next(now); !ok || at.Before(t) {
			t, ok = at, true
		}
	}
	return t, ok
}

func since(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return ago(now.Sub(t)) + " ago"
}
