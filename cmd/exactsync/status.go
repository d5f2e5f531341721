package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sync"
	"github.com/exactsync/exactsync/worker"
)

type statusCmd struct{}

// Run prints, for every entity of every division of every connection that has run, the
// rows stored, the last run and what the next run will do differently.
func (statusCmd) Run(e *env) error {
	cfg, _, st, err := setup(e, config.Needs{Database: true})
	if err != nil {
		return err
	}
	defer st.Close()
	states, err := st.SyncStates(e.ctx)
	if err != nil {
		return err
	}
	if len(states) == 0 {
		fmt.Fprintln(e.stdout, "nothing synced yet: run `exactsync sync --entity accounts` or `exactsync run`")
		return printQueue(e, cfg)
	}
	tables := map[string]string{} // entity → table
	var names []string
	for _, name := range sync.Names() {
		ent, _ := sync.Lookup(name)
		tables[name] = ent.Table
		names = append(names, ent.Table)
	}
	counts, err := st.Count(e.ctx, names...)
	if err != nil {
		return err
	}
	rows := map[string]int{} // table/division → rows
	for _, c := range counts {
		rows[fmt.Sprintf("%s/%d", c.Table, c.Division)] = c.Rows
	}

	qcounts, err := st.QuarantineCounts(e.ctx)
	if err != nil {
		return err
	}
	quarantined := map[string]int{} // connection/division/entity → records
	total := 0
	for _, q := range qcounts {
		quarantined[fmt.Sprintf("%d/%d/%s", q.ConnectionID, q.Division, q.Entity)] = q.Records
		total += q.Records
	}

	now := time.Now()
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONNECTION\tDIVISION\tENTITY\tROWS\tQUARANTINED\tLAST RUN\tLAST SUCCESS\tCURSOR\tNEXT RUN")
	for _, s := range states {
		fmt.Fprintf(tw, "%d\t%d\t%s\t%d\t%d\t%s\t%s\t%d\t%s\n", s.ConnectionID, s.Division, s.Entity,
			rows[fmt.Sprintf("%s/%d", tables[s.Entity], s.Division)],
			quarantined[fmt.Sprintf("%d/%d/%s", s.ConnectionID, s.Division, s.Entity)], lastRun(now, s.LastRun),
			since(now, s.LastSuccess), s.Cursor.Timestamp, nextRun(now, s))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if total > 0 {
		fmt.Fprintf(e.stdout, "quarantined records: %d. Exact served them in a shape that cannot be stored; "+
			"see exact_sync.rejected_records (reason, record). A good version of a record replaces it, and a full pass retries them.\n", total)
	}
	if err := printSpentDays(e.ctx, e.stdout, st, now); err != nil {
		return err
	}
	return printQueue(e, cfg)
}

// printQueue shows the sync jobs waiting or running in the job queue, per division.
func printQueue(e *env, cfg *config.Config) error {
	pcfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return usageError{fmt.Errorf("parsing database URL: %w; check DATABASE_URL", err)}
	}
	pcfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(e.ctx, pcfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	queue, err := worker.Queue(e.ctx, pool)
	if err != nil {
		return err
	}
	if len(queue) == 0 {
		fmt.Fprintln(e.stdout, "\njob queue: no sync job waiting or running")
		return nil
	}
	fmt.Fprintf(e.stdout, "\njob queue (%s.river_job):\n", worker.Schema)
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONNECTION\tDIVISION\tQUEUED\tRUNNING\tRETRYING\tSNOOZED")
	for _, q := range queue {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d\n", q.Connection, q.Division, q.Queued, q.Running, q.Retrying, q.Snoozed)
	}
	return tw.Flush()
}

// lastRun sums up a run: its status, when, what it changed, and its error.
func lastRun(now time.Time, r sink.RunRecord) string {
	if r.ID == 0 {
		return "never"
	}
	kind := ""
	if r.Full {
		kind = " full"
	}
	if r.Result.Status == sink.RunRunning {
		return fmt.Sprintf("running%s since %s", kind, since(now, r.StartedAt))
	}
	out := fmt.Sprintf("%s%s %s, %d upserted, %d removed", r.Result.Status, kind, since(now, r.FinishedAt),
		r.Result.Upserted, r.Result.Removed)
	if r.Result.Quarantined > 0 {
		out += fmt.Sprintf(", %d quarantined", r.Result.Quarantined)
	}
	if r.Result.Err != "" {
		out += ": " + r.Result.Err
	}
	return out
}

// nextRun says how the next run of s differs from an incremental one.
func nextRun(now time.Time, s sink.SyncState) string {
	switch {
	case s.LastRun.Result.Status == sink.RunRefused && now.Before(s.LastRun.FinishedAt.Add(worker.RefusedPause)):
		return "not before " + s.LastRun.FinishedAt.Add(worker.RefusedPause).Local().Format("15:04") + " (Exact refused the last run; see LAST RUN)"
	case s.Entity == sync.DeletionsJob:
		return "incremental" // the stream has no full pass; the entities' full passes reconcile
	case s.Cursor.Sweep:
		return "goes on with a full pass that removes what it does not see"
	case !s.LastSuccess.IsZero() && now.Sub(s.LastSuccess) > sync.DeletionLogSafeAge:
		return "full pass: last success is older than Exact's deletion log (2 months)"
	case s.Cursor.Timestamp == 0 && s.Cursor.DeletedTimestamp == 0:
		return "from the start"
	}
	return "incremental"
}

func since(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return ago(now.Sub(t)) + " ago"
}
