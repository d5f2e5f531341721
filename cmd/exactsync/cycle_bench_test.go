package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/exactsync/exactsync/exact/exacttest"
	"github.com/exactsync/exactsync/worker"
)

// TestCycleBenchmark measures one incremental cycle of `exactsync run` over many divisions
// with the simulator adding latency to every call (BENCHMARKS.md). It runs only when
// EXACTSYNC_BENCH_CYCLE is set; EXACTSYNC_BENCH_PROCS (default 1), EXACTSYNC_BENCH_WORKERS
// (64), EXACTSYNC_BENCH_DIVISIONS (1000) and EXACTSYNC_BENCH_LATENCY (150ms) shape it, and
// EXACTSYNC_BENCH_BIN measures another build of exactsync (e.g. an older release);
// EXACTSYNC_BENCH_LOG_LEVEL shows the processes' logs at that level;
// EXACTSYNC_BENCH_SERVER_LOG, the path of the PostgreSQL server's log file, adds the
// server's time per job by statement (every statement is then logged: measure the cycle
// without it).
func TestCycleBenchmark(t *testing.T) {
	if os.Getenv("EXACTSYNC_BENCH_CYCLE") == "" {
		t.Skip("set EXACTSYNC_BENCH_CYCLE=1 to measure a cycle")
	}
	envInt := func(name string, def int) int {
		if n, err := strconv.Atoi(os.Getenv(name)); err == nil {
			return n
		}
		return def
	}
	procs, workers, divisions := envInt("EXACTSYNC_BENCH_PROCS", 1), envInt("EXACTSYNC_BENCH_WORKERS", 64), envInt("EXACTSYNC_BENCH_DIVISIONS", 1000)
	latency, err := time.ParseDuration(os.Getenv("EXACTSYNC_BENCH_LATENCY"))
	if err != nil {
		latency = 150 * time.Millisecond
	}
	bin := os.Getenv("EXACTSYNC_BENCH_BIN")
	if bin == "" {
		bin = binary(t)
	}
	entities := []string{"accounts", "contacts", "addresses", "gl_accounts", "transaction_lines"}
	divs := make([]int, divisions)
	for i := range divs {
		divs[i] = 100001 + i
	}
	w := newWorld(t, exacttest.Options{Divisions: divs, Accounts: 1, Records: map[string]int{"*": 1}, Faults: exacttest.Faults{Latency: latency}})
	w.env["EXACTSYNC_ENTITIES"] = strings.Join(entities, ",")
	// One cycle each, queued by the processes' catch-up tick: a schedule that fires
	// during a cycle (every 15 minutes by default) would queue the divisions done so far
	// again, into the measurement.
	w.env["EXACTSYNC_SCHEDULE_DEFAULT"] = "0 3 * * *"
	w.env["LOG_LEVEL"] = cmp.Or(os.Getenv("EXACTSYNC_BENCH_LOG_LEVEL"), "warn")
	w.importToken()
	jobs := divisions * (len(entities) + 1)

	var db string
	if err := w.pool.QueryRow(context.Background(), `SELECT current_database()`).Scan(&db); err != nil {
		t.Fatal(err)
	}
	serverLog := os.Getenv("EXACTSYNC_BENCH_SERVER_LOG")
	if serverLog != "" {
		// Every statement of the processes' sessions is logged with its duration, for
		// the breakdown by statement (not the test's own: its pool is connected).
		alter := `ALTER DATABASE ` + pgx.Identifier{db}.Sanitize()
		if _, err := w.pool.Exec(context.Background(), alter+` SET log_min_duration_statement = 0`); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { // the test databases are reused
			if _, err := w.pool.Exec(context.Background(), alter+` RESET log_min_duration_statement`); err != nil {
				t.Error(err)
			}
		})
	}
	// A cycle of many divisions takes longer: 10 minutes per 1,000 divisions at most.
	limit := 10 * time.Minute * time.Duration(max(1, divisions/1000))

	cycle := func(name string) {
		ctx := context.Background()
		var since time.Time
		if err := w.pool.QueryRow(ctx, `SELECT now()`).Scan(&since); err != nil {
			t.Fatal(err)
		}
		stats0 := readPgStats(ctx, w, db)
		var stmts *statementLog
		if serverLog != "" {
			if stmts, err = startStatementLog(serverLog); err != nil {
				t.Fatal(err)
			}
		}
		cpu := startPgCPU(db)
		start := time.Now()
		var cmds []*exec.Cmd
		for range procs {
			c := w.cmd(nil, "run", "--workers", strconv.Itoa(workers))
			c.Path = bin
			if os.Getenv("EXACTSYNC_BENCH_LOG_LEVEL") != "" {
				c.Stderr = os.Stderr // the processes' logs, to see what a cycle does
			}
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			cmds = append(cmds, c)
		}
		deadline := time.Now().Add(limit)
		peak := 0 // the most sessions of the database seen at once, the test's own pool's included
		for {
			var done, sessions int
			if err := w.pool.QueryRow(ctx, `SELECT count(DISTINCT (division, entity)),
				(SELECT count(*) FROM pg_stat_activity WHERE datname = current_database())
				FROM exact_sync.runs WHERE status = 'ok' AND started_at >= $1`, since).Scan(&done, &sessions); err != nil {
				t.Fatal(err)
			}
			peak = max(peak, sessions)
			if done >= jobs {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d of %d jobs done in %s", name, done, jobs, limit)
			}
			// Not more often: the count is PostgreSQL's work too, and is measured with it.
			time.Sleep(250 * time.Millisecond)
		}
		elapsed := time.Since(start)
		var server, dbCPU float64
		var backends int
		if cpu != nil {
			server, dbCPU, backends = cpu.finish()
		}
		for _, c := range cmds {
			_ = c.Process.Signal(syscall.SIGTERM)
		}
		for _, c := range cmds {
			_ = c.Wait()
		}
		time.Sleep(time.Second) // the backends flush their statistics at most a second late
		stats := readPgStats(ctx, w, db)
		var runAvg float64
		if err := w.pool.QueryRow(ctx, `SELECT avg(extract(epoch FROM finished_at - started_at)) FROM exact_sync.runs WHERE status = 'ok' AND started_at >= $1`, since).Scan(&runAvg); err != nil {
			t.Fatal(err)
		}
		slot := elapsed.Seconds() * float64(procs*workers) / float64(jobs)
		t.Logf("%s: %d processes × %d workers, %d divisions × %d jobs, latency %s: cycle %.1f s; per job: %.0f ms of a worker's time, %.0f ms in the run, %.0f ms outside it",
			name, procs, workers, divisions, len(entities)+1, latency, elapsed.Seconds(), slot*1000, runAvg*1000, (slot-runAvg)*1000)
		per := func(n int64) float64 { return float64(n) / float64(jobs) }
		var load string
		if b, err := os.ReadFile("/proc/loadavg"); err == nil {
			load = strings.Join(strings.Fields(string(b))[:3], " ")
		}
		t.Logf("%s: at most %d sessions of the database at once; load average at the end %s", name, peak, load)
		t.Logf("%s: PostgreSQL CPU %.1f s (%.2f ms per job; this database's backends, sampled: %.1f s, %.2f ms per job, %d backends seen); per job: %.2f sessions, %.1f transactions (%.1f rolled back), rows returned %.0f, fetched %.0f, inserted %.1f, updated %.1f, deleted %.1f",
			name, server, server*1000/float64(jobs), dbCPU, dbCPU*1000/float64(jobs), backends,
			per(stats.sessions-stats0.sessions), per(stats.commits-stats0.commits+stats.rollbacks-stats0.rollbacks), per(stats.rollbacks-stats0.rollbacks),
			per(stats.returned-stats0.returned), per(stats.fetched-stats0.fetched), per(stats.inserted-stats0.inserted), per(stats.updated-stats0.updated), per(stats.deleted-stats0.deleted))
		if stmts != nil {
			times, err := stmts.read()
			if err != nil {
				t.Fatal(err)
			}
			var all float64
			for _, st := range times {
				all += st.ms
			}
			var b strings.Builder
			for i, st := range times {
				if i == 20 {
					break
				}
				fmt.Fprintf(&b, "\n%8.3f ms %5.2f calls %5.1f %%  %s", st.ms/float64(jobs), float64(st.calls)/float64(jobs), st.ms*100/all, st.text)
			}
			t.Logf("%s: server time in statements per job %.3f ms, by statement (per job):%s", name, all/float64(jobs), b.String())
		}
	}
	cycle("first cycle (from the start)")
	// The next processes' catch-up tick queues nothing when the last tick leaves no firing
	// missed, as the first cycle's does: forget it, so that the catch-up queues a cycle.
	if _, err := w.pool.Exec(context.Background(), `DELETE FROM exact_river.river_job WHERE kind = $1`, worker.KindTick); err != nil {
		t.Fatal(err)
	}
	cycle("incremental cycle")
}
