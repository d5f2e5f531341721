package main

import (
	"bytes"
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/exactsync/exactsync/exact/exacttest"
)

// TestQuietCycleCostsOneCallPerEndpointPlusDeletions: with N sync entities enabled, a
// scheduled incremental cycle over a quiet division costs one call per endpoint, plus the
// one read of the division's shared deletions stream; accounts and suppliers share their
// endpoint's call.
func TestQuietCycleCostsOneCallPerEndpointPlusDeletions(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the scheduler binary")
	}
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 50, Records: map[string]int{"*": 5}})
	entities := []string{"accounts", "suppliers", "gl_accounts", "transaction_lines", "items"}
	w.env["EXACTSYNC_ENTITIES"] = strings.Join(entities, ",")
	w.importToken()
	for _, e := range entities {
		w.mustRun("sync", "--entity", e)
	}
	ctx := context.Background()
	var since time.Time
	if err := w.pool.QueryRow(ctx, `SELECT now()`).Scan(&since); err != nil {
		t.Fatal(err)
	}
	before := w.sim.Stats()

	cmd := w.cmd(map[string]string{"LOG_LEVEL": "info"}, "run", "--workers", "2")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		var runs int
		err := w.pool.QueryRow(ctx, `SELECT count(DISTINCT entity) FROM exact_sync.runs WHERE started_at >= $1 AND status = 'ok'`, since).Scan(&runs)
		if err == nil && runs >= len(entities)+1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first cycle did not finish in 30 s (%d entities ran, %v)\nstderr:\n%s", runs, err, errb.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("run: %v\nstderr:\n%s", err, errb.String())
	}
	w.mu.Lock()
	w.logs = append(w.logs, errb.String())
	w.mu.Unlock()

	after := w.sim.Stats()
	calls := map[string]int{}
	total := 0
	for _, ep := range []string{"sync/CRM/Accounts", "sync/Financial/GLAccounts", "sync/Financial/TransactionLines", "sync/Logistics/Items", "sync/Deleted"} {
		calls[ep] = after.Calls(101, ep) - before.Calls(101, ep)
		total += calls[ep]
	}
	syncEntities := len(entities)
	if calls["sync/CRM/Accounts"] != 1 || calls["sync/Deleted"] != 1 || total > syncEntities+1 || total != 5 {
		t.Errorf("a quiet cycle made %v calls (%d), want one per endpoint and one sync/Deleted: 5, at most N+1 = %d", calls, total, syncEntities+1)
	}
}
