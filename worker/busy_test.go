package worker_test

import (
	"bytes"
	"context"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/exact/exacttest"
	"github.com/exactsync/exactsync/sync"
	"github.com/exactsync/exactsync/worker"
)

// statuses is a sync.Observer keeping the status of every run it is told of.
type statuses struct {
	mu   gosync.Mutex
	seen []string
}

func (s *statuses) RunFinished(res sync.Result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen = append(s.seen, res.Status)
}

func (s *statuses) get() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

// syncBuffer is a log sink the worker writes while the test reads.
type syncBuffer struct {
	mu gosync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// A job that finds its division held is snoozed, which is normal operation: nothing is
// logged above debug and no run is counted (the runs metric is the observer); once the
// division is free, it runs and that run is counted.
func TestBusyDivisionSnoozesQuietly(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for River to snooze and run a job; skipped with -short")
	}
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 5, FreezeClock: true})
	ctx := context.Background()
	held, ok, err := w.st.LockDivision(ctx, w.conn.ID, 101, false)
	if err != nil || !ok {
		t.Fatalf("holding division 101: %v, %t", err, ok)
	}
	defer held.Unlock()
	id, _, err := queueOf(t, w.pool).Enqueue(ctx, sync.Job{ConnectionID: w.conn.ID, Division: 101, Entity: "accounts"})
	if err != nil {
		t.Fatal(err)
	}

	logs := &syncBuffer{}
	log := zerolog.New(logs).Level(zerolog.InfoLevel)
	obs := &statuses{}
	wk, err := worker.New(worker.Config{
		Pool: w.pool, Store: w.st, Logger: log, Now: w.sim.Now, BusySnooze: 200 * time.Millisecond,
		Runner:    sync.NewRunner(sync.Config{Logger: log, Enabled: []string{"accounts"}, Now: w.sim.Now, Observer: obs}, w.st, w.st, w.st),
		NewClient: w.newClient(nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := wk.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = wk.Stop(sctx)
	})
	snoozes := func() int {
		return w.count(`SELECT coalesce((metadata->>'snoozes')::int, 0) FROM exact_river.river_job WHERE id = $1`, id)
	}
	w.waitFor("the job snoozed three times", 60*time.Second, func() bool { return snoozes() >= 3 })
	if got := obs.get(); len(got) != 0 {
		t.Errorf("runs told while the division was held: %v, want none", got)
	}
	if l := logs.String(); strings.Contains(l, "busy") || strings.Contains(l, "being synced by another worker") || strings.Contains(l, `"level":"warn"`) {
		t.Errorf("a snoozed job logged above debug:\n%s", l)
	}

	held.Unlock()
	w.waitFor("the job completed", 60*time.Second, func() bool {
		return w.count(`SELECT count(*) FROM exact_river.river_job WHERE id = $1 AND state = 'completed'`, id) == 1
	})
	if got := obs.get(); len(got) != 1 || got[0] != sync.StatusOK {
		t.Errorf("runs told: %v, want one ok", got)
	}
}
