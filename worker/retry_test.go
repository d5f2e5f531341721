package worker_test

import (
	"context"
	"errors"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/exact/exacttest"
	"github.com/exactsync/exactsync/sync"
	"github.com/exactsync/exactsync/worker"
)

// readmeCosts are the worst-case calls of a failing page and of a failing job, as the
// README states them.
func readmeCosts(t *testing.T) (page, job int) {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`at most\s+\*\*(\d+) calls for one page\*\*\s+and\s+\*\*(\d+) calls for one job\*\*`)
	m := re.FindSubmatch(b)
	if m == nil {
		t.Fatalf("the README states no worst-case cost of a failing endpoint (%s)", re)
	}
	page, _ = strconv.Atoi(string(m[1]))
	job, _ = strconv.Atoi(string(m[2]))
	return page, job
}

// An endpoint that always answers 5xx costs one page exactly the README's number of calls,
// and one sync job, run by the queue until River gives up on it, exactly the README's
// number too: the client's retries and the queue's are bounded by one policy
// (exact.RetryPolicy), and they do not multiply.
func TestFailingEndpointCostsWhatTheREADMESays(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for River's retries; skipped with -short")
	}
	t.Parallel()
	wantPage, wantJob := readmeCosts(t)
	if wantPage != exact.FailingPageCalls || wantJob != exact.FailingJobCalls {
		t.Errorf("README: %d calls a page and %d a job; exact's policy: %d and %d", wantPage, wantJob, exact.FailingPageCalls, exact.FailingJobCalls)
	}
	w := newWorld(t, exacttest.Options{Divisions: []int{101, 102}, Accounts: 5, FreezeClock: true,
		Faults: exacttest.Faults{ErrorRate: 1}})
	// The default number of attempts, with waits short enough for a test.
	w.retry = exact.RetryPolicy{Base: time.Millisecond, Max: 5 * time.Millisecond}
	if got := w.retry.FailingJobCalls(); got != wantJob {
		t.Fatalf("the test's policy costs %d calls a job, want the default %d", got, wantJob)
	}
	// calls counts the data calls of a division, but for the division listing, which the
	// worker's divisions job makes through any division.
	calls := func(division int) int {
		n := 0
		for k, c := range w.sim.Stats().APICalls {
			if strings.HasPrefix(k, strconv.Itoa(division)+" ") && !strings.HasPrefix(k, strconv.Itoa(division)+" system/") {
				n += c
			}
		}
		return n
	}
	ctx := context.Background()

	client, err := w.newClient(nil)(ctx, w.conn)
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.Page(ctx, 101, client.URL(101, "sync/CRM/Accounts", nil))
	var api *exact.APIError
	if !errors.As(err, &api) || api.Status < 500 {
		t.Fatalf("Page: %v, want the simulator's 5xx", err)
	}
	pageCalls := calls(101)
	if pageCalls != wantPage {
		t.Errorf("one failing page cost %d calls, want %d (README)", pageCalls, wantPage)
	}

	w.start(worker.Config{Logger: zerolog.Nop()})
	id, _, err := queueOf(t, w.pool).Enqueue(ctx, sync.Job{ConnectionID: w.conn.ID, Division: 102, Entity: "accounts"})
	if err != nil {
		t.Fatal(err)
	}
	var state string
	var attempts int
	w.waitFor("River to give up on the job", 3*time.Minute, func() bool {
		_ = w.pool.QueryRow(ctx, `SELECT state, attempt FROM exact_river.river_job WHERE id = $1`, id).Scan(&state, &attempts)
		return state == "discarded" || state == "completed" || state == "cancelled"
	})
	if state != "discarded" || attempts != exact.JobAttempts {
		t.Errorf("the job ended %s after %d attempts, want discarded after %d", state, attempts, exact.JobAttempts)
	}
	jobCalls := calls(102)
	if jobCalls != wantJob {
		t.Errorf("one failing job cost %d calls, want %d (README)", jobCalls, wantJob)
	}
	t.Logf("one failing page: %d calls; one failing job: %d calls over %d attempts", pageCalls, jobCalls, attempts)
	if n := w.count(`SELECT count(*) FROM exact_sync.runs WHERE job_id = $1 AND status = 'failed'`, id); n != exact.JobAttempts {
		t.Errorf("the job has %d failed runs, want %d", n, exact.JobAttempts)
	}
}
