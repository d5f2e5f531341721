package main

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/exactsync/exactsync/exact/exacttest"
)

// TestCycleBenchmark measures one incremental cycle of `exactsync run` over many divisions
// with the simulator adding latency to every call (BENCHMARKS.md). It runs only when
// EXACTSYNC_BENCH_CYCLE is set; EXACTSYNC_BENCH_PROCS (default 1), EXACTSYNC_BENCH_WORKERS
// (64), EXACTSYNC_BENCH_DIVISIONS (1000) and EXACTSYNC_BENCH_LATENCY (150ms) shape it, and
// EXACTSYNC_BENCH_BIN measures another build of exactsync (e.g. an older release).
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
	w.env["LOG_LEVEL"] = "warn"
	w.importToken()
	jobs := divisions * (len(entities) + 1)

	cycle := func(name string) {
		ctx := context.Background()
		var since time.Time
		if err := w.pool.QueryRow(ctx, `SELECT now()`).Scan(&since); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		var cmds []*exec.Cmd
		for range procs {
			c := w.cmd(nil, "run", "--workers", strconv.Itoa(workers))
			c.Path = bin
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			cmds = append(cmds, c)
		}
		deadline := time.Now().Add(10 * time.Minute)
		for {
			var done int
			if err := w.pool.QueryRow(ctx, `SELECT count(DISTINCT (division, entity)) FROM exact_sync.runs WHERE status = 'ok' AND started_at >= $1`, since).Scan(&done); err != nil {
				t.Fatal(err)
			}
			if done >= jobs {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d of %d jobs done in 10 minutes", name, done, jobs)
			}
			time.Sleep(20 * time.Millisecond)
		}
		elapsed := time.Since(start)
		for _, c := range cmds {
			_ = c.Process.Signal(syscall.SIGTERM)
		}
		for _, c := range cmds {
			_ = c.Wait()
		}
		var runAvg float64
		if err := w.pool.QueryRow(ctx, `SELECT avg(extract(epoch FROM finished_at - started_at)) FROM exact_sync.runs WHERE status = 'ok' AND started_at >= $1`, since).Scan(&runAvg); err != nil {
			t.Fatal(err)
		}
		slot := elapsed.Seconds() * float64(procs*workers) / float64(jobs)
		t.Logf("%s: %d processes × %d workers, %d divisions × %d jobs, latency %s: cycle %.1f s; per job: %.0f ms of a worker's time, %.0f ms in the run, %.0f ms outside it",
			name, procs, workers, divisions, len(entities)+1, latency, elapsed.Seconds(), slot*1000, runAvg*1000, (slot-runAvg)*1000)
	}
	cycle("first cycle (from the start)")
	cycle("incremental cycle")
}
