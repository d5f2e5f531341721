package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/exact/exacttest"
	"github.com/exactsync/exactsync/sync"
	"github.com/exactsync/exactsync/worker"
)

// A full pass longer than a turn of its job (half of RescueAfter) goes on in turns: each
// turn stops at a committed page and snoozes the job, the next goes on from the committed
// cursor rather than starting over, and the last finishes the sweep. The job completes
// with one ok run, never running as long as River's rescuer waits before it takes a job
// for lost.
func TestALongFullPassGoesOnInTurns(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a job's turns; skipped with -short")
	}
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 3000, FreezeClock: true,
		Faults: exacttest.Faults{Latency: time.Second}})
	ctx := context.Background()
	// A row Exact does not have, nor its deletion log: only the sweep removes it.
	if _, err := w.pool.Exec(ctx, `INSERT INTO exact.accounts (division, id, exact_timestamp, raw)
		VALUES (101, gen_random_uuid(), 1, '{}')`); err != nil {
		t.Fatal(err)
	}
	w.start(worker.Config{Logger: zerolog.Nop(), RescueAfter: 4 * time.Second})
	id, _, err := queueOf(t, w.pool).Enqueue(ctx, sync.Job{ConnectionID: w.conn.ID, Division: 101, Entity: "accounts", Full: true})
	if err != nil {
		t.Fatal(err)
	}
	var state string
	w.waitFor("the job to end", 3*time.Minute, func() bool {
		_ = w.pool.QueryRow(ctx, `SELECT state FROM exact_river.river_job WHERE id = $1`, id).Scan(&state)
		return state == "completed" || state == "discarded" || state == "cancelled"
	})
	if state != "completed" {
		var errs string
		_ = w.pool.QueryRow(ctx, `SELECT coalesce(errors::text, '') FROM exact_river.river_job WHERE id = $1`, id).Scan(&errs)
		var runs string
		_ = w.pool.QueryRow(ctx, `SELECT string_agg(status || ' ' || full_sync || ' ' || coalesce(error, ''), '; ' ORDER BY id) FROM exact_sync.runs WHERE job_id = $1`, id).Scan(&runs)
		t.Fatalf("the job ended %s, want completed; errors %s; runs %s", state, errs, runs)
	}
	rows, err := w.pool.Query(ctx, `SELECT status, full_sync FROM exact_sync.runs WHERE job_id = $1 ORDER BY id`, id)
	if err != nil {
		t.Fatal(err)
	}
	type run struct {
		status string
		full   bool
	}
	var runs []run
	for rows.Next() {
		var r run
		if err := rows.Scan(&r.status, &r.full); err != nil {
			t.Fatal(err)
		}
		runs = append(runs, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(runs) < 2 {
		t.Fatalf("runs %v: the pass took one turn; the test proves nothing", runs)
	}
	for i, r := range runs {
		last := i == len(runs)-1
		switch {
		case last && r.status != "ok", !last && r.status != "canceled":
			t.Errorf("run %d of %d is %s; want every turn canceled and the last ok: %v", i+1, len(runs), r.status, runs)
		case i == 0 && !r.full, i > 0 && r.full:
			// Each turn commits a write: the next one goes on with the pass.
			t.Errorf("run %d is full %v; want the first a full pass and the next ones going on with it: %v", i+1, r.full, runs)
		}
	}
	if n := w.count(`SELECT count(*) FROM exact.accounts WHERE division = 101`); n != 3000 {
		t.Errorf("%d accounts stored, want Exact's 3000 (the sweep removes the row Exact does not have)", n)
	}
	// 3 pages of 1,000 and the last, empty one; each turn's end drops at most the pages
	// fetched ahead of the writer.
	calls := w.sim.Stats().Calls(101, "sync/CRM/Accounts")
	t.Logf("%d turns, %d calls of sync/CRM/Accounts for a pass of 3000 accounts", len(runs), calls)
	if calls > 4+3*len(runs) {
		t.Errorf("%d calls for 4 pages in %d turns: a turn started the pass over", calls, len(runs))
	}
}
