package main

import (
	"context"
	"fmt"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact/exacttest"
	"github.com/exactsync/exactsync/internal/benchdb"
	"github.com/exactsync/exactsync/sync"
)

// The history benchmark (--history): what EXACTSYNC_HISTORY costs the transaction lines.
// A full sync of --lines lines with history off and on, each in a fresh database, against
// a plain COPY of the same rows (the transaction-lines benchmark's copy side); and an
// incremental run after 1 % of --history-lines lines changed in Exact, then a quiet one
// (nothing changed), with history off and on. The sides run in this process, one after
// the other, in an order that alternates by round.

// historyTargetRatio is the target of a full sync with history on vs plain COPY:
// reported, never enforced.
const historyTargetRatio = 0.5

// historyChanged is the share of lines the incremental run finds changed.
const historyChanged = 0.01

// historyRound is one round of the history benchmark.
type historyRound struct {
	copy              linesResult
	fullOff, fullOn   historyRun
	incrOff, incrOn   historyRun
	quietOff, quietOn historyRun
	offsFirst         bool
}

// historyRun is one timed run.
type historyRun struct {
	Records  int // rows the run upserted
	Seconds  float64
	Versions int64 // versions the run added to exact_history.transaction_lines
}

func (r historyRun) rate() float64 { return float64(r.Records) / r.Seconds }

// runHistory runs --rounds rounds of the history benchmark and prints them.
func (c *benchCmd) runHistory(e *env, base string) error {
	lines, incr := c.Lines, c.HistoryLines
	if c.Quick {
		lines, incr = min(lines, 20_000), min(incr, 20_000)
	}
	if lines < 1 || incr < 100 {
		return usageError{fmt.Errorf("--history needs --lines of 1 or more and --history-lines of 100 or more")}
	}
	log := zerolog.New(e.stderr).Level(zerolog.WarnLevel).With().Timestamp().Logger()
	batch := c.batch()
	var rounds []historyRound
	for i := range c.Rounds {
		r := historyRound{offsFirst: i%2 == 0}
		var err error
		if r.copy, err = benchLines(e.ctx, base, linesCopy, lines, false, "", "", batch); err != nil {
			return err
		}
		order := []bool{false, true}
		if !r.offsFirst {
			order = []bool{true, false}
		}
		for _, on := range order {
			full, err := historyFull(e.ctx, base, lines, on, batch, log)
			if err != nil {
				return err
			}
			inc, quiet, err := historyIncremental(e.ctx, base, incr, on, batch, log)
			if err != nil {
				return err
			}
			if on {
				r.fullOn, r.incrOn, r.quietOn = full, inc, quiet
			} else {
				r.fullOff, r.incrOff, r.quietOff = full, inc, quiet
			}
		}
		rounds = append(rounds, r)
	}
	out := e.stdout
	printBenchHeader(out, rounds[0].copy.Server)
	fmt.Fprintf(out, "HISTORY: transaction lines of one division from the in-process simulator (no rate limits), history (EXACTSYNC_HISTORY=transaction_lines) off and on, each run in a fresh database\n")
	fmt.Fprintf(out, "  full: full sync of %s lines through the Runner; COPY: the same rows by plain COPY into an unindexed table (as in TRANSACTION LINES)\n", fmtInt(lines))
	fmt.Fprintf(out, "  incremental: after a full sync of %s lines, %s of them (%.0f %%) changed in Exact, then an incremental run; quiet: one more incremental run, nothing changed\n",
		fmtInt(incr), fmtInt(int(float64(incr)*historyChanged)), historyChanged*100)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "round\tfirst\tCOPY rows/s\tfull off rec/s\tfull on rec/s\ton/COPY\ton/off\tincr off s\tincr on s\tincr versions\tquiet off s\tquiet on s\tquiet versions\t")
	for i, r := range rounds {
		first := "off"
		if !r.offsFirst {
			first = "on"
		}
		fmt.Fprintf(tw, "%d\t%s\t%.0f\t%.0f\t%.0f\t%.2f×\t%.2f×\t%.2f\t%.2f\t%d\t%.2f\t%.2f\t%d\t\n", i+1, first,
			r.copy.CopyRate(), r.fullOff.rate(), r.fullOn.rate(), r.fullOn.rate()/r.copy.CopyRate(), r.fullOn.rate()/r.fullOff.rate(),
			r.incrOff.Seconds, r.incrOn.Seconds, r.incrOn.Versions, r.quietOff.Seconds, r.quietOn.Seconds, r.quietOn.Versions)
	}
	tw.Flush()
	ratios := make([]float64, len(rounds))
	for i, r := range rounds {
		ratios[i] = r.fullOn.rate() / r.copy.CopyRate()
	}
	fmt.Fprintf(out, "  full sync with history on vs plain COPY: %s, target ≥ %.2f×: %s\n",
		floatRange(ratios, "%.2f×"), historyTargetRatio, verdict(slices.Min(ratios) >= historyTargetRatio))
	return nil
}

// historyTable is the table the benchmark keeps the history of.
func historyTable() (dest.Table, error) {
	e, err := sync.Lookup(linesEntity)
	if err != nil {
		return dest.Table{}, err
	}
	return e.Target(), nil
}

// historyWorld is a fresh database, a simulator of lines transaction lines, the
// connection and a Runner, with history on or off, for fn. With prerender, the pages
// of a full pass are rendered before fn runs (an untimed pass records them, as the
// transaction-lines benchmark does), so that a timed full sync measures exactsync and
// not the simulator, like the COPY it is compared with.
func historyWorld(ctx context.Context, base, name string, lines int, on, prerender bool, batch benchBatch, log zerolog.Logger,
	fn func(db *benchdb.DB, sim *exacttest.Server, sync func(full bool) (historyRun, error)) error) error {
	sim := exacttest.NewServer(exacttest.Options{Divisions: []int{101}, Seed: 1, Records: map[string]int{linesEntity: lines}})
	defer sim.Close()
	return withBenchStore(ctx, base, name, log, func(db *benchdb.DB) error {
		st := db.Store
		w := &benchWorld{sim: sim, st: st, log: log, divs: []int{101}}
		if err := w.connect(ctx); err != nil {
			return err
		}
		client, err := w.client(nil, nil, nil)
		if err != nil {
			return err
		}
		cfg := batch.config(sync.Config{Logger: log, WaitForLock: true, Enabled: []string{linesEntity}})
		if prerender {
			var pages *pageRecorder
			if client, pages, err = prerenderLines(ctx, w, cfg); err != nil {
				return err
			}
			defer pages.Close()
		}
		if on {
			t, err := historyTable()
			if err != nil {
				return err
			}
			if _, err := st.SetHistory(ctx, []dest.Table{t}); err != nil {
				return err
			}
		}
		runner := sync.NewRunner(cfg, st, st, st)
		versions := func() (int64, error) {
			if !on {
				return 0, nil
			}
			var n int64
			err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM exact_history.`+linesEntity).Scan(&n)
			return n, err
		}
		run := func(full bool) (historyRun, error) {
			var r historyRun
			before, err := versions()
			if err != nil {
				return r, err
			}
			start := time.Now()
			for _, job := range runner.Jobs(w.conn.ID, 101, full) {
				res, err := runner.Run(ctx, client, job)
				if err != nil {
					return r, err
				}
				r.Records += res.Upserted
			}
			r.Seconds = time.Since(start).Seconds()
			after, err := versions()
			r.Versions = after - before
			return r, err
		}
		return fn(db, sim, run)
	})
}

// historyFull is a full sync of lines transaction lines into a fresh database.
func historyFull(ctx context.Context, base string, lines int, on bool, batch benchBatch, log zerolog.Logger) (historyRun, error) {
	var r historyRun
	err := historyWorld(ctx, base, "history_full", lines, on, true, batch, log, func(_ *benchdb.DB, _ *exacttest.Server, run func(bool) (historyRun, error)) error {
		var err error
		r, err = run(true)
		if err == nil && r.Records != lines {
			err = fmt.Errorf("history benchmark: the full sync upserted %d lines, want %d", r.Records, lines)
		}
		if err == nil && on && r.Versions != int64(lines) {
			err = fmt.Errorf("history benchmark: the full sync wrote %d versions, want %d", r.Versions, lines)
		}
		return err
	})
	return r, err
}

// historyIncremental syncs lines transaction lines, changes 1 % of them in Exact, and
// times the incremental run that follows, then a quiet one.
func historyIncremental(ctx context.Context, base string, lines int, on bool, batch benchBatch, log zerolog.Logger) (inc, quiet historyRun, err error) {
	err = historyWorld(ctx, base, "history_incr", lines, on, false, batch, log, func(db *benchdb.DB, sim *exacttest.Server, run func(bool) (historyRun, error)) error {
		if _, err := run(true); err != nil {
			return err
		}
		n := int(float64(lines) * historyChanged)
		rows, err := db.Pool.Query(ctx, `SELECT id::text FROM exact.`+linesEntity+` ORDER BY md5(id::text) LIMIT $1`, n)
		if err != nil {
			return err
		}
		var changes []map[string]any
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			changes = append(changes, map[string]any{"ID": id, "AmountDC": fmt.Sprintf("%d.%02d", len(changes), len(changes)%100)})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if _, err := sim.UpsertRecords(linesEntity, 101, changes...); err != nil {
			return err
		}
		if inc, err = run(false); err != nil {
			return err
		}
		if inc.Records != n || on && inc.Versions != int64(n) {
			return fmt.Errorf("history benchmark: the incremental run upserted %d lines and wrote %d versions, want %d", inc.Records, inc.Versions, n)
		}
		quiet, err = run(false)
		if err == nil && (quiet.Records != 0 || quiet.Versions != 0) {
			err = fmt.Errorf("history benchmark: the quiet run upserted %d lines and wrote %d versions, want none", quiet.Records, quiet.Versions)
		}
		return err
	})
	return inc, quiet, err
}
