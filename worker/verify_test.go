package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/exact/exacttest"
	"github.com/exactsync/exactsync/sync"
	"github.com/exactsync/exactsync/verify"
	"github.com/exactsync/exactsync/worker"
)

// TestScheduledVerificationRepairs: a schedule with Verify queues each division's
// verification job; the job finds an account deleted beyond Exact's deletion log, repairs
// it, and verifies clean again; the table then equals the simulator's accounts.
func TestScheduledVerificationRepairs(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for River's leader and a tick; skipped with -short")
	}
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 6})
	ctx := context.Background()
	newClient := w.newClient(nil)
	client, err := newClient(ctx, w.conn)
	if err != nil {
		t.Fatal(err)
	}
	runner := sync.NewRunner(sync.Config{Logger: zerolog.Nop(), Enabled: []string{"accounts"}, Now: w.sim.Now}, w.st, w.st, w.st)
	for _, e := range []string{"accounts", sync.DeletionsJob} {
		if _, err := runner.Run(ctx, client, sync.Job{ConnectionID: w.conn.ID, Division: 101, Entity: e}); err != nil {
			t.Fatal(err)
		}
	}
	gone := w.sim.Accounts(101)[2].ID
	if _, err := w.sim.PlantDrift("accounts", 101, exacttest.Drift{DeleteUnlogged: []string{gone}}); err != nil {
		t.Fatal(err)
	}
	w.start(worker.Config{Logger: zerolog.Nop(), Workers: 1, Schedules: []worker.Schedule{{Spec: "verify", Next: every(time.Second), Verify: true}},
		Verify: func(ctx context.Context, c *exact.Client, conn dest.Connection, division int) error {
			v := verify.New(verify.Options{ConnectionID: conn.ID, Repair: true}, c, w.st,
				verify.RunnerSyncer{Runner: runner, Source: c, ConnectionID: conn.ID})
			_, err := v.Division(ctx, division, []string{"accounts"})
			return err
		}})
	w.waitFor("a verification repaired the drift and verified clean", 2*time.Minute, func() bool {
		return w.count(`SELECT count(*) FROM exact_sync.verifications a JOIN exact_sync.verifications b ON b.id > a.id
			WHERE a.division = 101 AND a.entity = 'accounts' AND a.status = 'drift' AND a.repair = 'id_set' AND b.status = 'clean'`) > 0
	})
	if n := w.count(`SELECT count(*) FROM exact.accounts WHERE division = 101 AND id = $1`, gone); n != 0 {
		t.Errorf("the account Exact deleted is still stored")
	}
	if got, want := w.count(`SELECT count(*) FROM exact.accounts WHERE division = 101`), len(w.sim.Accounts(101)); got != want {
		t.Errorf("%d accounts stored, the simulator has %d", got, want)
	}
	w.waitFor("a verification job completed", 2*time.Minute, func() bool {
		return w.count(`SELECT count(*) FROM exact_river.river_job WHERE kind = $1 AND state = 'completed'`, worker.KindVerify) > 0
	})
}
