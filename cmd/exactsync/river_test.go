package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/exactsync/exactsync/exact/exacttest"
	"github.com/exactsync/exactsync/worker"
)

// runProc is one `exactsync run` process of a test.
type runProc struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	exited chan struct{} // closed when the process has exited, with err set
	err    error
}

// wait waits for the process to exit and returns what cmd.Wait did.
func (p *runProc) wait() error {
	<-p.exited
	return p.err
}

// startRuns starts n run processes with args on the world's database.
func (w *world) startRuns(n int, args ...string) []*runProc {
	w.t.Helper()
	var procs []*runProc
	for range n {
		cmd := w.cmd(map[string]string{"LOG_LEVEL": "info"}, append([]string{"run"}, args...)...)
		p := &runProc{cmd: cmd, stderr: &bytes.Buffer{}, exited: make(chan struct{})}
		cmd.Stderr = p.stderr
		if err := cmd.Start(); err != nil {
			w.t.Fatal(err)
		}
		go func() { p.err = cmd.Wait(); close(p.exited) }()
		w.t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = p.wait()
			w.mu.Lock()
			w.logs = append(w.logs, p.stderr.String())
			w.mu.Unlock()
		})
		procs = append(procs, p)
	}
	return procs
}

// count runs a count query.
func (w *world) count(sql string, args ...any) int {
	w.t.Helper()
	var n int
	if err := w.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		w.t.Fatal(err)
	}
	return n
}

// waitUntil polls cond until it holds, failing the test after d.
func (w *world) waitUntil(what string, d time.Duration, cond func() bool) {
	w.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			w.t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// runningOf counts the sync jobs a process is running now (0 before the queue exists).
func (w *world) runningOf(p *runProc) int {
	var n int
	_ = w.pool.QueryRow(context.Background(), `SELECT count(*) FROM exact_river.river_job WHERE kind = 'exactsync_sync' AND state = 'running'
		AND attempted_by[array_length(attempted_by, 1)] LIKE $1`, fmt.Sprintf("%%\\_%d\\_%%", p.cmd.Process.Pid)).Scan(&n)
	return n
}

// checkQueueDrained waits until no sync job waits or runs, then checks that every job
// of every tick ran to completion once, that no division had two calls in flight at
// once, and that every division and entity was synced.
func (w *world) checkQueueDrained(divisions int, entities []string, within time.Duration) {
	w.t.Helper()
	perTick := divisions * (len(entities) + 1) // and the deletions
	w.waitUntil("every queued sync job finished", within, func() bool {
		return w.count(`SELECT count(*) FROM exact_river.river_job WHERE kind = 'exactsync_sync'
			AND state IN ('available', 'pending', 'scheduled', 'running', 'retryable')`) == 0 &&
			w.count(`SELECT count(*) FROM exact_river.river_job WHERE kind = 'exactsync_sync'`) >= perTick
	})
	if n := w.count(`SELECT count(*) FROM exact_river.river_job WHERE kind = 'exactsync_sync' AND state <> 'completed'`); n != 0 {
		w.t.Errorf("%d sync jobs did not complete (cancelled or discarded)", n)
	}
	// One job per (connection, division, entity, full) and tick: a tick never queued a duplicate.
	if n := w.count(`SELECT count(*) FROM (SELECT 1 FROM exact_river.river_job WHERE kind = 'exactsync_sync'
		GROUP BY args->>'connection', args->>'division', args->>'entity', args->>'full', args->>'tick' HAVING count(*) > 1) d`); n != 0 {
		w.t.Errorf("%d jobs were queued twice in one tick", n)
	}
	// The first tick (the leader's catch-up at start) queued every job.
	if n := w.count(`SELECT count(*) FROM exact_river.river_job WHERE kind = 'exactsync_sync'
		AND args->>'tick' = (SELECT min(args->>'tick') FROM exact_river.river_job WHERE kind = 'exactsync_sync')`); n != perTick {
		w.t.Errorf("the first tick has %d jobs, want %d", n, perTick)
	}
	jobs := w.count(`SELECT count(*) FROM exact_river.river_job WHERE kind = 'exactsync_sync'`)
	var ok, pairs int
	if err := w.pool.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT (division, entity)) FROM exact_sync.runs WHERE status = 'ok'`).Scan(&ok, &pairs); err != nil {
		w.t.Fatal(err)
	}
	if pairs != perTick {
		w.t.Errorf("%d divisions and entities synced, want %d", pairs, perTick)
	}
	// Exactly once: each job has one ok run, of its own entity (each entity here has an
	// endpoint of its own), even when its process died between the run's end and River's
	// record of it.
	if ok != jobs {
		w.t.Errorf("%d ok runs for %d completed jobs; want one each", ok, jobs)
	}
	if n := w.count(`SELECT count(*) FROM exact_river.river_job j WHERE kind = 'exactsync_sync' AND NOT EXISTS (
		SELECT 1 FROM exact_sync.runs r WHERE r.job_id = j.id AND r.entity = j.args->>'entity' AND r.status = 'ok')`); n != 0 {
		w.t.Errorf("%d completed jobs have no ok run", n)
	}
	if n := w.count(`SELECT count(*) FROM (SELECT 1 FROM exact_sync.runs WHERE status = 'ok'
		GROUP BY job_id, entity HAVING job_id IS NULL OR count(*) > 1) d`); n != 0 {
		w.t.Errorf("%d jobs ran to the end more than once, or ran outside the queue", n)
	}
	for div, n := range w.sim.Stats().MaxConcurrent {
		if n > 1 {
			w.t.Errorf("division %s had %d calls in flight at once: two processes synced it together", div, n)
		}
	}
}

func riverWorld(t *testing.T, divisions int, latency time.Duration, accounts int, entities []string) *world {
	t.Helper()
	divs := make([]int, divisions)
	for i := range divs {
		divs[i] = 101 + i
	}
	w := newWorld(t, exacttest.Options{Divisions: divs, Accounts: accounts, Records: map[string]int{"*": 5},
		Faults: exacttest.Faults{Latency: latency}})
	w.env["EXACTSYNC_ENTITIES"] = strings.Join(entities, ",")
	w.importToken()
	return w
}

// Three run processes share the queue; one is killed with SIGKILL in the middle of its
// jobs. Every job of the tick completes once, no division is synced by two processes at
// once, and the killed process's jobs are finished by the others.
func TestRunProcessesShareTheQueueAndOutliveAKill(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three scheduler processes")
	}
	t.Parallel()
	entities := []string{"accounts", "gl_accounts", "items", "transaction_lines"}
	w := riverWorld(t, 50, 150*time.Millisecond, 5, entities)
	procs := w.startRuns(3, "--workers", "4", "--grace", "5s", "--rescue-after", "20s")
	victim := procs[0]
	w.waitUntil("the victim runs jobs", 60*time.Second, func() bool { return w.runningOf(victim) >= 2 })
	pid := victim.cmd.Process.Pid
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = victim.wait()
	w.checkQueueDrained(50, entities, 300*time.Second)
	if n := w.count(`SELECT count(*) FROM exact_river.river_job WHERE kind = 'exactsync_sync'
		AND attempted_by[1] LIKE $1 AND attempted_by[array_length(attempted_by, 1)] NOT LIKE $1`, fmt.Sprintf("%%\\_%d\\_%%", pid)); n == 0 {
		t.Errorf("no job of the killed process was finished by another")
	}
	for _, p := range procs[1:] {
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := p.wait(); err != nil {
			t.Errorf("run exited with %v after SIGTERM\n%s", err, p.stderr)
		}
	}
	replays := 0
	for _, p := range procs[1:] {
		replays += strings.Count(p.stderr.String(), `"replayed":true`)
	}
	t.Logf("%d jobs, %d of them found their run already finished by the killed process and did not run again",
		w.count(`SELECT count(*) FROM exact_river.river_job WHERE kind = 'exactsync_sync'`), replays)
}

// Three run processes on a minute schedule; the leader is killed with SIGKILL two seconds
// after a minute tick. The process elected next queues its catch-up tick, which finds the
// schedule's last firing queued and queues nothing: each division and entity runs once
// per tick, the killed leader's jobs included.
func TestRunLeaderKilledAfterATickQueuesItOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three scheduler processes")
	}
	t.Parallel()
	entities := []string{"accounts"}
	w := riverWorld(t, 3, 0, 5, entities)
	w.env["EXACTSYNC_SCHEDULE_DEFAULT"] = "* * * * *"
	w.env["EXACTSYNC_FULL_SCHEDULE_DEFAULT"] = "0 0 1 1 *" // no full pass during the test
	procs := w.startRuns(3, "--workers", "2", "--grace", "5s", "--rescue-after", "20s")
	ctx := context.Background()
	queue := queueOf(t, w.pool)

	// The first minute tick: a tick job that is not a catch-up, done (its jobs queued).
	var tick time.Time
	w.waitUntil("a minute tick", 3*time.Minute, func() bool {
		return w.pool.QueryRow(ctx, `SELECT scheduled_at FROM exact_river.river_job WHERE kind = 'exactsync_tick'
			AND NOT (args ? 'catch_up') AND state = 'completed' ORDER BY id LIMIT 1`).Scan(&tick) == nil
	})
	leader, ok, err := queue.Leader(ctx)
	if err != nil || !ok {
		t.Fatalf("no leader after a tick: %v", err)
	}
	var victim *runProc
	for _, p := range procs {
		if strings.Contains(leader, fmt.Sprintf("_%d_", p.cmd.Process.Pid)) {
			victim = p
		}
	}
	if victim == nil {
		t.Fatalf("the leader %q is none of the test's processes", leader)
	}
	time.Sleep(time.Until(tick.Add(2 * time.Second)))
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = victim.wait()
	killedAt := time.Now()

	// The next leader's catch-up tick, done.
	var catchUp time.Time
	w.waitUntil("the new leader's catch-up tick", 3*time.Minute, func() bool {
		return w.pool.QueryRow(ctx, `SELECT scheduled_at FROM exact_river.river_job WHERE kind = 'exactsync_tick'
			AND args ? 'catch_up' AND state = 'completed' AND created_at > $1 ORDER BY id LIMIT 1`, killedAt).Scan(&catchUp) == nil
	})
	w.checkQueueDrained(3, entities, 3*time.Minute)
	// A catch-up after the next minute (a loaded machine) would rightly queue the missed
	// tick; before it, it must queue nothing.
	if next := tick.Add(time.Minute); !catchUp.Before(next) {
		t.Logf("the new leader's catch-up came at %s, after the missed tick of %s: not a test of a leader change within a period", catchUp, next)
	} else if n := w.count(`SELECT count(*) FROM exact_river.river_job WHERE kind = 'exactsync_sync'
		AND (args->>'tick')::timestamptz = $1`, catchUp); n != 0 {
		t.Errorf("the new leader's catch-up tick at %s queued %d jobs; the minute tick at %s had queued them",
			catchUp.Format(time.RFC3339Nano), n, tick.Format(time.RFC3339Nano))
	}
	var runs, ticks int
	if err := w.pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT args->>'tick') FROM exact_river.river_job
		WHERE kind = 'exactsync_sync' AND (args->>'tick')::timestamptz <= $1`, tick).Scan(&runs, &ticks); err != nil {
		t.Fatal(err)
	}
	t.Logf("leader killed %s after the tick of %s; new leader's catch-up at %s; %d jobs of %d ticks up to the kill, one ok run each",
		killedAt.Sub(tick).Round(time.Millisecond), tick.Format(time.TimeOnly), catchUp.Format(time.TimeOnly), runs, ticks)
}

// SIGTERM to one of three processes under load: it returns within the grace period, and
// its jobs are finished or retried by the others; nothing is lost.
func TestRunSIGTERMUnderLoadLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three scheduler processes")
	}
	t.Parallel()
	entities := []string{"accounts", "gl_accounts"}
	w := riverWorld(t, 30, 300*time.Millisecond, 3000, entities)
	// Volume: 180,000 records through three processes, where the race detector would
	// triple the time; run's SIGTERM path runs race-built in TestRunSchedulesAndStopsOnSIGTERM.
	w.plain = true
	procs := w.startRuns(3, "--workers", "4", "--grace", "5s", "--rescue-after", "20s")
	victim := procs[1]
	w.waitUntil("the victim runs jobs", 60*time.Second, func() bool { return w.runningOf(victim) >= 2 })
	start := time.Now()
	if err := victim.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-victim.exited:
		if victim.err != nil {
			t.Errorf("run exited with %v after SIGTERM\n%s", victim.err, victim.stderr)
		}
	case <-time.After(8 * time.Second):
		t.Fatalf("run did not exit within the 5 s grace period (and 3 s of slack)\n%s", victim.stderr)
	}
	t.Logf("stopped in %s", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(victim.stderr.String(), `"message":"stopped"`) {
		t.Errorf("no clean stop was logged:\n%s", victim.stderr)
	}
	w.checkQueueDrained(30, entities, 300*time.Second)
}

// sync --enqueue hands the jobs to the workers; status shows them waiting. While no run
// process is alive, both say that the jobs wait for one; once one runs, neither does.
func TestSyncEnqueueAndStatusQueue(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 10})
	w.importToken()
	r := w.mustRun("sync", "--entity", "accounts", "--division", "101", "--enqueue")
	for _, want := range []string{"accounts division 101: queued as job ", "deletions division 101: queued as job ", noWorkerHint} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("sync --enqueue printed no %q:\n%s", want, r.stdout)
		}
	}
	if r := w.mustRun("sync", "--entity", "accounts", "--division", "101", "--enqueue"); !strings.Contains(r.stdout, "accounts division 101: already queued or running as job") {
		t.Errorf("a second sync --enqueue queued a duplicate:\n%s", r.stdout)
	}
	r = w.mustRun("status")
	if !strings.Contains(r.stdout, "CONNECTION  DIVISION  QUEUED  RUNNING  RETRYING  SNOOZED") || !strings.Contains(r.stdout, "101       2       0        0         0") {
		t.Errorf("status does not show the two queued jobs:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, noWorkerHint) {
		t.Errorf("status with jobs queued and no run process does not say %q:\n%s", noWorkerHint, r.stdout)
	}
	if n := w.count(`SELECT count(*) FROM exact_sync.runs`); n != 0 {
		t.Errorf("sync --enqueue ran %d jobs itself", n)
	}

	w.startRuns(1)
	w.waitUntil("a run process leads the queue", 60*time.Second, func() bool {
		return w.count(`SELECT count(*) FROM exact_river.river_leader WHERE expires_at > now()`) == 1
	})
	if r := w.mustRun("sync", "--entity", "accounts", "--division", "101", "--enqueue"); strings.Contains(r.stdout, noWorkerHint) {
		t.Errorf("sync --enqueue says no run process runs while one does:\n%s", r.stdout)
	}
	if r := w.mustRun("status"); strings.Contains(r.stdout, noWorkerHint) {
		t.Errorf("status says no run process runs while one does:\n%s", r.stdout)
	}
}

// queueOf is the job queue of pool's database.
func queueOf(t *testing.T, pool *pgxpool.Pool) *worker.Queue {
	t.Helper()
	q, err := worker.NewQueue(pool)
	if err != nil {
		t.Fatal(err)
	}
	return q
}
