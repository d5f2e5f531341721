package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/exact/catalogue"
	"github.com/exactsync/exactsync/exact/exacttest"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sink/sinktest"
	"github.com/exactsync/exactsync/sync"
	"github.com/exactsync/exactsync/worker"
)

// TestLicenceCapSnoozesAndConverges runs exactsync against a licence whose daily cap on the
// calls of all its applications (docs/exact-online.md §2.7) another application has spent to 90 %.
// Two run processes (the worker, wired as `exactsync run` wires it, on the simulator's clock
// so that a day can pass) start syncing two divisions with the default entities and
// schedules. Exact ends each division's day with a 429 while the app's own headers still
// showed nearly 5,000 calls left: each division gets that one 429 and no other, its jobs
// snooze and wake and snooze again without calling, and `exactsync doctor` and
// `exactsync status` say that other applications spent the day, against the forecast.
// The next day every job completes and the tables hold what Exact holds.
func TestLicenceCapSnoozesAndConverges(t *testing.T) {
	t.Parallel()
	// The simulated day is this machine's, so that doctor and status, which judge Exact's
	// reset on the local clock, see the day the workers see (unless it is about to turn).
	start := time.Now().UTC()
	if next := start.Truncate(24 * time.Hour).Add(24 * time.Hour); next.Sub(start) < 15*time.Minute {
		start = next.Add(time.Minute)
	}
	const licence = 100
	divs := []int{101, 102}
	w := newWorld(t, exacttest.Options{Divisions: divs, Accounts: 30, Records: map[string]int{"*": 3},
		DailyLimit: 5000, Start: start, Licence: exacttest.Licence{DailyLimit: licence}})
	w.importToken()
	// Another application of the licence spends 90 % of the day's cap.
	if err := w.sim.SpendLicence(101, licence*9/10); err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	e := &env{ctx: ctx, stdout: io.Discard, stderr: io.Discard, getenv: func(k string) string { return w.env[k] }}
	cfg, err := loadConfig(e, config.Needs{Database: true})
	if err != nil {
		t.Fatal(err)
	}
	scheds, err := workerSchedules(cfg, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		w.startWorker(cfg, scheds)
	}

	// Day one: every division meets the cap, and each sync job left snoozes, wakes and
	// snoozes again (the wake-up asks the client, which refuses without a call).
	jobsLeft := func() int {
		return w.count(`SELECT count(*) FROM exact_river.river_job WHERE kind = $1 AND state <> 'completed'`, worker.KindSync)
	}
	w.waitUntil("every division's day ended and its jobs snoozed and woke", 90*time.Second, func() bool {
		st := w.sim.Stats()
		return st.TooManyByDivision["101"] >= 1 && st.TooManyByDivision["102"] >= 1 && jobsLeft() > 0 &&
			w.count(`SELECT count(*) FROM exact_river.river_job WHERE kind = $1 AND state <> 'completed'
				AND coalesce((metadata->>'snoozes')::int, 0) < 2`, worker.KindSync) == 0
	})
	day1 := w.sim.Stats()
	for _, d := range divs {
		if n := day1.TooManyByDivision[fmt.Sprint(d)]; n != 1 {
			t.Errorf("division %d got %d 429s on day one, want 1: after it, no process calls the division before the reset", d, n)
		}
	}
	if day1.LicenceTooMany != 2 {
		t.Errorf("%d 429s of the licence's cap, want one per division", day1.LicenceTooMany)
	}
	if use := w.sim.LicenceUsage(); use.Ours["licence"] != licence/10 {
		t.Errorf("exactsync made %d calls of the licence's day, want the %d the other application left", use.Ours["licence"], licence/10)
	}
	for _, d := range divs {
		var remaining int
		if err := w.pool.QueryRow(ctx, `SELECT daily_remaining FROM exact_sync.rate_limits WHERE division = $1`, d).Scan(&remaining); err != nil || remaining != 0 {
			t.Errorf("division %d: stored %d calls left (%v), want Exact's 0, not 5,000 less this app's calls", d, remaining, err)
		}
	}

	doctor := w.run(nil, "doctor", "--no-exact")
	status := w.mustRun("status")
	for _, d := range divs {
		for name, out := range map[string]string{"doctor": doctor.stdout, "status": status.stdout} {
			line := lineWith(out, fmt.Sprintf("division %d", d), "other applications of the licence")
			if line == "" {
				t.Errorf("%s does not say other applications spent division %d's day:\n%s", name, d, out)
				continue
			}
			if name == "doctor" && (!strings.HasPrefix(line, "WARN") || !strings.Contains(line, "the schedules forecast")) {
				t.Errorf("doctor's line %q: want a WARN that names the schedules' forecast", line)
			}
		}
	}

	// Day two: the cap resets at 00:00 UTC, the snoozed jobs wake and finish.
	w.sim.Advance(24 * time.Hour)
	w.waitUntil("every sync job completed", 90*time.Second, func() bool { return jobsLeft() == 0 })
	if st := w.sim.Stats(); st.LicenceTooMany != day1.LicenceTooMany || st.TooManyRequests != day1.TooManyRequests {
		t.Errorf("%d more 429s on day two, want none", st.TooManyRequests-day1.TooManyRequests)
	}
	w.checkTables(divs)
	for _, name := range cfg.Entities {
		ce, _ := catalogue.Lookup(name)
		if name == "accounts" || name == "suppliers" {
			continue // checkTables compares them field by field
		}
		for _, d := range divs {
			want, err := w.sim.Records(name, d)
			if err != nil {
				t.Fatal(err)
			}
			if got := w.count(`SELECT count(*) FROM `+ce.Table+` WHERE division = $1`, d); got != len(want) {
				t.Errorf("%s of division %d: %d rows, Exact holds %d", ce.Table, d, got, len(want))
			}
		}
	}
	if out := w.mustRun("status").stdout; strings.Contains(out, "day budgets spent") {
		t.Errorf("status still reports a spent day on day two:\n%s", out)
	}
}

// startWorker starts a run process of the world's database in this test process: the
// worker as `exactsync run` wires it, but on the simulator's clock, and looking at a spent
// day again every few hundred milliseconds rather than every hour.
func (w *world) startWorker(cfg *config.Config, scheds []worker.Schedule) {
	w.t.Helper()
	ctx := context.Background()
	log := newLogger(cfg, io.Discard)
	st, err := sink.Open(ctx, sink.Config{DatabaseURL: w.dbURL, Logger: log, Keyring: w.keyring()})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(st.Close)
	pool := sinktest.NewPool(w.t, w.dbURL)
	if err := worker.Migrate(ctx, pool, log); err != nil {
		w.t.Fatal(err)
	}
	wk, err := worker.New(worker.Config{
		Pool: pool, Store: st, Logger: log, Now: w.sim.Now, MaxSnooze: 300 * time.Millisecond,
		Runner: sync.NewRunner(sync.Config{Logger: log, Enabled: cfg.Entities, Now: w.sim.Now}, st, st, st),
		NewClient: func(ctx context.Context, conn sink.Connection) (*exact.Client, error) {
			return newClientContext(ctx, cfg, st, conn, log, func(ec *exact.Config) { ec.Now = w.sim.Now })
		},
		Schedules: scheds, Divisions: cfg.Divisions, Workers: 4,
	})
	if err != nil {
		w.t.Fatal(err)
	}
	if err := wk.Start(ctx); err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := wk.Stop(ctx); err != nil {
			w.t.Errorf("stopping a worker: %v", err)
		}
	})
}

// lineWith returns the first line of out holding every one of subs, "" when none does.
func lineWith(out string, subs ...string) string {
	for line := range strings.SplitSeq(out, "\n") {
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(line, s)
		}
		if ok {
			return strings.TrimSpace(line)
		}
	}
	return ""
}
