package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	gosync "sync"
	"syscall"
	"testing"
	"time"

	"github.com/exactsync/exactsync/exact/exacttest"
	"github.com/exactsync/exactsync/internal/tcpproxy"
	"github.com/exactsync/exactsync/sink/sinktest"
	"github.com/exactsync/exactsync/sync"
)

// TestFaultTokenRefreshCutTwoReplicas: two `exactsync run` processes share a connection,
// each with its own state directory (as two pods or machines do) and its own way to
// PostgreSQL (a proxy each; the test cuts the proxies, never the server). Right after
// Exact answered one's refresh, and before the answer reaches it, PostgreSQL is cut for
// 30 s for both: Exact has spent the old refresh token, and the new pair is in one process
// only (the holder, found by its recovery file). The other replica gets PostgreSQL back
// first, the holder a lag later (0 to 10 s, so that the other replica has PostgreSQL,
// work and an expired token while the holder still retries its commit). The other replica
// must wait for the holder's pair instead of sending the spent token: Exact sees no spent
// token, the connection never leaves ok (a trigger records every change of its state), no
// job is cancelled, and the pair is stored after the cut. Trials in the reduced suite until
// one has the other replica wait (three at most), five in the full one.
func TestFaultTokenRefreshCutTwoReplicas(t *testing.T) {
	skipFaultIfShort(t)
	t.Parallel()
	began := time.Now()
	rng, seed := faultRand(t)
	const cut = 30 * time.Second
	// The reduced suite runs trials until one has the other replica wait for the pair
	// (three at most): whether it needs a refresh before the holder's pair is stored
	// depends on which of its jobs are still winding down from the cut.
	lags := []time.Duration{10 * time.Second, 10 * time.Second, 10 * time.Second}
	full := faultSize(t, 0, 1) == 1
	if full {
		lags = []time.Duration{10 * time.Second, 0, 5 * time.Second, 10 * time.Second, 2 * time.Second}
	}
	entities := []string{"accounts", "suppliers", "gl_accounts", "items"}
	fw := newFaultWorldWith(t, exacttest.Options{Accounts: 600, Records: map[string]int{"*": 300},
		Faults: exacttest.Faults{Latency: 30 * time.Millisecond}})
	fw.env["EXACTSYNC_ENTITIES"] = strings.Join(entities, ",")
	// Each replica has a state directory of its own: they share the key through the
	// environment, as pods would share a secret.
	fw.env["EXACTSYNC_ENCRYPTION_KEY"] = strings.Repeat("5e", 32)
	fw.importToken()
	connID := int64(fw.count(`SELECT id FROM exact_sync.connections`))
	fw.recordStates()
	replicas := []*replica{fw.startReplica("a"), fw.startReplica("b")}
	fw.replicas = replicas
	// enqueue queues a job of every entity (and the deletions) in every division; full
	// ones are other jobs than the incremental ones, which may still be queued.
	enqueue := func(full bool) {
		for _, d := range faultDivisions {
			for _, e := range append(slices.Clone(entities), sync.DeletionsJob) {
				job := sync.Job{ConnectionID: connID, Division: d, Entity: e, Full: full && e != sync.DeletionsJob}
				if _, _, err := queueOf(t, fw.pool).Enqueue(context.Background(), job); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	// The start-up tick queues every job; both replicas run them.
	fw.waitQueueDrained(5 * time.Minute)

	var fig figures
	var storedAfter []string
	spentTotal, marksTotal, cancelledTotal, waitedTrials := 0, 0, 0, 0
	for i, lag := range lags {
		fw.mutate(rng, 5+rng.IntN(50))
		before := fw.sim.Stats()
		cancelledBefore := fw.count(`SELECT count(*) FROM exact_river.river_job WHERE state = 'cancelled'`)
		statesBefore := fw.count(`SELECT count(*) FROM public.connection_states`)
		waitsBefore := 0
		for _, r := range replicas {
			waitsBefore += strings.Count(r.log.String(), pendingWaitLine)
		}

		fired := make(chan time.Time, 1)
		hook := func() {
			for _, r := range replicas {
				r.proxy.Cut()
			}
			fired <- time.Now()
		}
		fw.onToken.Store(&hook)
		// Ten minutes pass: both replicas' access tokens are over, and the jobs queued
		// now need a refresh in both.
		fw.expireToken()
		enqueue(false)
		var cutAt time.Time
		select {
		case cutAt = <-fired:
		case <-time.After(3 * time.Minute):
			t.Fatalf("trial %d: no refresh within 3 minutes of the token's expiry", i)
		}
		head := fw.sim.RefreshToken() // the pair Exact answered, which only the holder has
		var holder, other *replica
		if !poll(cut, 20*time.Millisecond, func() bool {
			for j, r := range replicas {
				if m, _ := filepath.Glob(filepath.Join(r.stateDir, "token-*.json")); len(m) > 0 {
					holder, other = r, replicas[1-j]
					return true
				}
			}
			return false
		}) {
			t.Fatalf("trial %d: neither replica kept the pair Exact answered in a recovery file", i)
		}
		time.Sleep(time.Until(cutAt.Add(cut)))
		if fw.storedRefreshToken() == head {
			t.Fatalf("trial %d: the new pair was stored during the cut: PostgreSQL was not cut", i)
		}
		other.proxy.Restore()
		enqueue(true) // work for the replica that is back, whose access token is over
		time.Sleep(lag)
		holder.proxy.Restore()
		restored := time.Now()
		if !poll(5*time.Minute, 50*time.Millisecond, func() bool { return fw.storedRefreshToken() == head }) {
			t.Fatalf("trial %d: the pair Exact answered before the cut was not stored within 5 minutes after it", i)
		}
		stored := time.Since(restored)
		fw.waitQueueDrained(10 * time.Minute)

		after := fw.sim.Stats()
		spent := after.RefreshReuseRejections - before.RefreshReuseRejections
		cancelled := fw.count(`SELECT count(*) FROM exact_river.river_job WHERE state = 'cancelled'`) - cancelledBefore
		var marks []string
		rows, err := fw.pool.Query(context.Background(), `SELECT state || ': ' || reason FROM public.connection_states ORDER BY at OFFSET $1`, statesBefore)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			marks = append(marks, s)
		}
		rows.Close()
		waits := -waitsBefore
		for _, r := range replicas {
			waits += strings.Count(r.log.String(), pendingWaitLine)
		}
		if waits > 0 {
			waitedTrials++
		}
		t.Logf("trial %d: holder %s, its PostgreSQL back %s after the other's; refreshes %d, spent tokens sent %d, state changes %d, jobs cancelled %d, pair stored %s after the holder's PostgreSQL was back, waits for the pair %d",
			i, holder.name, lag, after.TokenCalls["refresh_token/ok"]-before.TokenCalls["refresh_token/ok"], spent, len(marks), cancelled,
			stored.Round(100*time.Millisecond), waits)
		fig.trials++
		spentTotal += spent
		marksTotal += len(marks)
		cancelledTotal += cancelled
		storedAfter = append(storedAfter, fmt.Sprintf("%.1fs", stored.Seconds()))
		if spent != 0 {
			fig.chainsLost++
			t.Errorf("trial %d: %d spent refresh tokens sent to Exact, want 0", i, spent)
		}
		if len(marks) != 0 {
			t.Errorf("trial %d: the connection's state changed %d times, want never: %q", i, len(marks), marks)
		}
		if cancelled != 0 {
			t.Errorf("trial %d: %d jobs cancelled, want 0", i, cancelled)
		}
		if d := fw.diff(); d != "" {
			fig.divergences++
			t.Errorf("trial %d: diverged:\n%s", i, d)
		} else {
			fig.converged++
		}
		if !full && waitedTrials > 0 {
			break
		}
	}
	if waitedTrials == 0 {
		t.Errorf("in no trial did the other replica wait for the holder's pair: the test did not exercise the wait")
	}
	for _, r := range replicas {
		if n := strings.Count(r.log.String(), "needs re-authorization"); n != 0 {
			t.Errorf("replica %s logged %d times that the connection needs re-authorization", r.name, n)
		}
	}
	fig.add("spent_tokens_sent=%d state_changes=%d jobs_cancelled=%d trials_with_wait=%d pair_stored_after_cut=%s",
		spentTotal, marksTotal, cancelledTotal, waitedTrials, strings.Join(storedAfter, ","))
	fig.log(t, "replicas", seed, time.Since(began))
}

// pendingWaitLine is what a process logs when it waited a second or more for the pair of a
// refresh another process announced.
const pendingWaitLine = "waited for the token refresh of another process"

// replica is one `exactsync run` process with a state directory of its own.
type replica struct {
	name     string
	cmd      *exec.Cmd
	log      *syncBuffer
	stateDir string
	proxy    *tcpproxy.Proxy // its way to PostgreSQL
	exited   chan struct{}   // closed when the process has exited
}

// startReplica starts `exactsync run` with a state directory and a proxy to PostgreSQL of
// its own; the test's end stops it (SIGTERM, then SIGKILL).
func (fw *faultWorld) startReplica(name string) *replica {
	fw.t.Helper()
	c, _, _ := fw.command(context.Background(), "run", "--workers", "3", "--rescue-after", "4s", "--grace", "1s")
	r := &replica{name: name, cmd: c, log: &syncBuffer{}, stateDir: fw.t.TempDir(), exited: make(chan struct{})}
	var dbURL string
	dbURL, r.proxy = sinktest.Proxied(fw.t, fw.dbURL)
	c.Env = append(c.Env, "DATABASE_URL="+dbURL, "EXACTSYNC_STATE_DIR="+r.stateDir, "LOG_LEVEL=info")
	c.Stdout, c.Stderr = r.log, r.log
	if err := c.Start(); err != nil {
		fw.t.Fatal(err)
	}
	exited := r.exited
	go func() { _ = c.Wait(); close(exited) }()
	fw.t.Cleanup(func() {
		_ = c.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(time.Minute):
			_ = c.Process.Kill()
			<-exited
		}
		fw.mu.Lock()
		fw.logs = append(fw.logs, r.log.String())
		fw.mu.Unlock()
		if fw.t.Failed() {
			fw.t.Logf("replica %s's log:\n%s", name, r.log.String())
		}
	})
	return r
}

// waitQueueDrained waits until no sync job of the queue waits, runs or retries.
func (fw *faultWorld) waitQueueDrained(within time.Duration) {
	fw.t.Helper()
	gone := false
	if !poll(within, 100*time.Millisecond, func() bool {
		if fw.replicas != nil && fw.allReplicasExited() {
			gone = true
			return true
		}
		// The replicas create the queue's tables as they start.
		return fw.count(`SELECT count(*) FROM pg_tables WHERE schemaname = 'exact_river' AND tablename = 'river_job'`) == 1 &&
			fw.count(`SELECT count(*) FROM exact_river.river_job WHERE kind = 'exactsync_sync'
			AND state IN ('available', 'pending', 'scheduled', 'running', 'retryable')`) == 0 &&
			fw.count(`SELECT count(*) FROM exact_river.river_job WHERE kind = 'exactsync_sync'`) > 0
	}) {
		fw.t.Fatalf("the queue did not drain within %s", within)
	}
	if gone {
		fw.t.Fatalf("every replica exited before the queue drained")
	}
}

// allReplicasExited reports whether every replica the test started has exited.
func (fw *faultWorld) allReplicasExited() bool {
	for _, r := range fw.replicas {
		select {
		case <-r.exited:
		default:
			return false
		}
	}
	return true
}

// recordStates records every change of a connection's state in public.connection_states,
// with a trigger: a state held for a moment between two polls is recorded too. The public
// schema is the test's (sinktest empties it); the trigger goes with the test.
func (fw *faultWorld) recordStates() {
	fw.t.Helper()
	ctx := context.Background()
	_, err := fw.pool.Exec(ctx, `
CREATE TABLE public.connection_states (
	at     timestamptz NOT NULL DEFAULT clock_timestamp(),
	state  text        NOT NULL,
	reason text        NOT NULL
);
CREATE FUNCTION public.record_connection_state() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.state IS DISTINCT FROM OLD.state THEN
		INSERT INTO public.connection_states (state, reason) VALUES (NEW.state, NEW.state_reason);
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER record_connection_state AFTER UPDATE ON exact_sync.connections
	FOR EACH ROW EXECUTE FUNCTION public.record_connection_state();`)
	if err != nil {
		fw.t.Fatal(err)
	}
	fw.t.Cleanup(func() {
		_, _ = fw.pool.Exec(context.Background(), `
DROP TRIGGER IF EXISTS record_connection_state ON exact_sync.connections;
DROP FUNCTION IF EXISTS public.record_connection_state();
DROP TABLE IF EXISTS public.connection_states;`)
	})
}

// syncBuffer is a bytes.Buffer that a running process writes while the test reads it.
type syncBuffer struct {
	mu  gosync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
