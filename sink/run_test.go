package sink_test

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sink/sinktest"
)

func TestRuns(t *testing.T) {
	t.Parallel()
	s := sinktest.NewStore(t)
	ctx := testContext(t)
	conn := newConnection(t, s)
	started := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

	tests := []struct {
		name   string
		run    dest.Run
		result *dest.RunResult // nil = still running
		want   dest.RunResult
	}{
		{
			name:   "ok",
			run:    dest.Run{ConnectionID: conn.ID, Division: 101, Entity: "accounts", Full: true, StartedAt: started},
			result: &dest.RunResult{Upserted: 1000, Removed: 3, Pages: 2, APICalls: 4, Quarantined: 2, CursorFrom: 0, CursorTo: 99},
			want:   dest.RunResult{Upserted: 1000, Removed: 3, Pages: 2, APICalls: 4, Quarantined: 2, CursorTo: 99, Status: dest.RunOK},
		},
		{
			name:   "failed",
			run:    dest.Run{ConnectionID: conn.ID, Division: 102, Entity: "suppliers", StartedAt: started.Add(time.Minute)},
			result: &dest.RunResult{Pages: 1, APICalls: 1, CursorFrom: 5, CursorTo: 5, Err: "malformed JSON from sync/CRM/Accounts"},
			want:   dest.RunResult{Pages: 1, APICalls: 1, CursorFrom: 5, CursorTo: 5, Err: "malformed JSON from sync/CRM/Accounts", Status: dest.RunFailed},
		},
		{
			name:   "daily limit",
			run:    dest.Run{ConnectionID: conn.ID, Division: 103, Entity: "accounts", StartedAt: started.Add(2 * time.Minute)},
			result: &dest.RunResult{Upserted: 5, APICalls: 7, Err: "daily limit reached", Status: dest.RunDailyLimit},
			want:   dest.RunResult{Upserted: 5, APICalls: 7, Err: "daily limit reached", Status: dest.RunDailyLimit},
		},
		{
			name: "running",
			run:  dest.Run{ConnectionID: conn.ID, Division: 104, Entity: "accounts", StartedAt: started.Add(3 * time.Minute)},
			want: dest.RunResult{Status: dest.RunRunning},
		},
	}
	var want []dest.RunRecord
	for _, tt := range tests {
		id, err := s.StartRun(ctx, tt.run)
		if err != nil {
			t.Fatalf("%s: StartRun: %v", tt.name, err)
		}
		if tt.result != nil {
			if err := s.FinishRun(ctx, id, *tt.result); err != nil {
				t.Fatalf("%s: FinishRun: %v", tt.name, err)
			}
		}
		r := tt.run
		r.ID = id
		want = append([]dest.RunRecord{{Run: r, Result: tt.want}}, want...)
	}
	got, err := s.Runs(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if finished := !got[i].FinishedAt.IsZero(); finished != (got[i].Result.Status != dest.RunRunning) {
			t.Errorf("run %d: finished_at set = %t with status %q", got[i].ID, finished, got[i].Result.Status)
		}
		got[i].FinishedAt = time.Time{}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Runs (-want +got):\n%s", diff)
	}
}

// TestStartRunAbandonsTheJobsOrphans: a run left 'running' by a process that died becomes
// 'abandoned' when the next run of the same job starts; other jobs' runs are left alone.
func TestStartRunAbandonsTheJobsOrphans(t *testing.T) {
	t.Parallel()
	s := sinktest.NewStore(t)
	ctx := testContext(t)
	conn := newConnection(t, s)
	orphan, err := s.StartRun(ctx, dest.Run{ConnectionID: conn.ID, Division: 101, Entity: "accounts"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.StartRun(ctx, dest.Run{ConnectionID: conn.ID, Division: 101, Entity: "suppliers"})
	if err != nil {
		t.Fatal(err)
	}
	next, err := s.StartRun(ctx, dest.Run{ConnectionID: conn.ID, Division: 101, Entity: "accounts"})
	if err != nil {
		t.Fatal(err)
	}
	runs, err := s.Runs(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64]string{}
	for _, r := range runs {
		got[r.ID] = r.Result.Status
		if r.ID == orphan && (r.FinishedAt.IsZero() || r.Result.Err == "") {
			t.Errorf("abandoned run %+v: want a finish time and a reason", r)
		}
	}
	want := map[int64]string{orphan: dest.RunAbandoned, other: dest.RunRunning, next: dest.RunRunning}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
}

// TestJobRuns: the runs of a queue job are found by its id, whatever their status; a run
// outside the queue and another job's runs are not.
func TestJobRuns(t *testing.T) {
	t.Parallel()
	s := sinktest.NewStore(t)
	ctx := testContext(t)
	conn := newConnection(t, s)
	started := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	start := func(r dest.Run) dest.Run {
		t.Helper()
		r.ConnectionID, r.Division, r.StartedAt = conn.ID, 101, started
		id, err := s.StartRun(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		r.ID = id
		return r
	}
	finish := func(r dest.Run, res dest.RunResult) {
		t.Helper()
		if err := s.FinishRun(ctx, r.ID, res); err != nil {
			t.Fatal(err)
		}
	}
	dead := start(dest.Run{Entity: "accounts", QueueJob: 7}) // its process died
	inline := start(dest.Run{Entity: "accounts"})            // abandons dead
	finish(inline, dest.RunResult{})
	ok := start(dest.Run{Entity: "accounts", QueueJob: 7})
	finish(ok, dest.RunResult{Upserted: 3, Pages: 1, APICalls: 1, CursorTo: 9})
	member := start(dest.Run{Entity: "suppliers", QueueJob: 7})
	finish(member, dest.RunResult{Upserted: 1, CursorTo: 9})
	start(dest.Run{Entity: "gl_accounts", QueueJob: 8})

	got, err := s.JobRuns(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	var statuses []string
	for i := range got {
		if got[i].FinishedAt.IsZero() {
			t.Errorf("run %d: no finish time", got[i].ID)
		}
		got[i].FinishedAt = time.Time{}
		statuses = append(statuses, got[i].Result.Status)
	}
	if want := []string{dest.RunAbandoned, dest.RunOK, dest.RunOK}; !slices.Equal(statuses, want) {
		t.Errorf("statuses of job 7's runs = %v, want %v", statuses, want)
	}
	if len(got) == 3 {
		got[0].Result = dest.RunResult{}
		want := []dest.RunRecord{
			{Run: dead},
			{Run: ok, Result: dest.RunResult{Upserted: 3, Pages: 1, APICalls: 1, CursorTo: 9, Status: dest.RunOK}},
			{Run: member, Result: dest.RunResult{Upserted: 1, CursorTo: 9, Status: dest.RunOK}},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("JobRuns(7) (-want +got):\n%s", diff)
		}
	}
	if got, err := s.JobRuns(ctx, 9); err != nil || len(got) != 0 {
		t.Errorf("JobRuns of a job without runs = %v, %v; want none", got, err)
	}
}

func TestRateLimits(t *testing.T) {
	t.Parallel()
	s := sinktest.NewStore(t)
	ctx := testContext(t)
	conn := newConnection(t, s)
	at := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	first := dest.RateLimit{DailyLimit: 5000, DailyRemaining: 4999, DailyReset: at.Add(15 * time.Hour),
		MinutelyLimit: 60, MinutelyRemaining: 59, MinutelyReset: at.Add(time.Minute), ObservedAt: at}
	newer := first
	newer.DailyRemaining, newer.MinutelyRemaining, newer.ObservedAt = 4998, 58, at.Add(time.Second)
	for _, rl := range []dest.RateLimit{first, newer, first /* late, older: ignored */} {
		if err := s.SaveRateLimit(ctx, conn.ID, 101, rl); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.RateLimits(ctx, conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[int]dest.RateLimit{101: newer}, got); diff != "" {
		t.Errorf("RateLimits (-want +got):\n%s", diff)
	}
	one, ok, err := s.DivisionRateLimit(ctx, conn.ID, 101)
	if err != nil || !ok {
		t.Fatalf("DivisionRateLimit(101): ok %t, err %v; want ok", ok, err)
	}
	if diff := cmp.Diff(newer, one); diff != "" {
		t.Errorf("DivisionRateLimit(101) (-want +got):\n%s", diff)
	}
	if _, ok, err := s.DivisionRateLimit(ctx, conn.ID, 102); err != nil || ok {
		t.Errorf("DivisionRateLimit(102), never stored: ok %t, err %v; want not ok", ok, err)
	}
}

func TestCursor(t *testing.T) {
	t.Parallel()
	s := sinktest.NewStore(t)
	ctx := testContext(t)
	conn := newConnection(t, s)
	got, err := s.Cursor(ctx, conn.ID, 101, "accounts")
	if err != nil || got != (dest.Cursor{}) {
		t.Fatalf("Cursor before any write = %+v, %v; want zero", got, err)
	}
	want := dest.Cursor{Timestamp: 42, DeletedTimestamp: 7, LastFullAt: time.Date(2026, 1, 5, 2, 0, 0, 0, time.UTC)}
	if err := s.SetCursor(ctx, conn.ID, 101, "accounts", want); err != nil {
		t.Fatal(err)
	}
	if got, err = s.Cursor(ctx, conn.ID, 101, "accounts"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Cursor (-want +got):\n%s", diff)
	}
	if other, _ := s.Cursor(ctx, conn.ID, 101, "suppliers"); other != (dest.Cursor{}) {
		t.Errorf("suppliers cursor = %+v, want zero", other)
	}
	if err := s.ResetCursor(ctx, conn.ID, 101, "accounts"); err != nil {
		t.Fatal(err)
	}
	if got, _ = s.Cursor(ctx, conn.ID, 101, "accounts"); got != (dest.Cursor{}) {
		t.Errorf("Cursor after reset = %+v, want zero", got)
	}
}

// TestPruneRuns: runs older than the cutoff go, except the newest successful run of each
// entity in each division, which LastSuccess needs.
func TestPruneRuns(t *testing.T) {
	t.Parallel()
	s := sinktest.NewStore(t)
	ctx := testContext(t)
	conn := newConnection(t, s)
	now := time.Now().UTC().Truncate(time.Second)
	day := 24 * time.Hour
	type run struct {
		division int
		entity   string
		age      time.Duration
		status   string // "" = still running
		kept     bool
	}
	runs := []run{
		{101, "accounts", 200 * day, dest.RunOK, false},
		{101, "accounts", 100 * day, dest.RunOK, false},
		{101, "accounts", 95 * day, dest.RunFailed, false},
		{101, "accounts", 1 * day, dest.RunOK, true},
		{101, "accounts", 2 * time.Hour, dest.RunFailed, true},
		{102, "accounts", 200 * day, dest.RunOK, true}, // the newest success of division 102
		{102, "accounts", 150 * day, dest.RunFailed, false},
		{101, "suppliers", 120 * day, "", false}, // a run whose process died
	}
	var want []int64
	for _, r := range runs {
		id, err := s.StartRun(ctx, dest.Run{ConnectionID: conn.ID, Division: r.division, Entity: r.entity, StartedAt: now.Add(-r.age)})
		if err != nil {
			t.Fatal(err)
		}
		if r.status != "" {
			if err := s.FinishRun(ctx, id, dest.RunResult{Status: r.status}); err != nil {
				t.Fatal(err)
			}
		}
		if r.kept {
			want = append(want, id)
		}
	}
	n, err := s.PruneRuns(ctx, now.Add(-90*day))
	if err != nil {
		t.Fatal(err)
	}
	if n != len(runs)-len(want) {
		t.Errorf("PruneRuns deleted %d runs, want %d", n, len(runs)-len(want))
	}
	got, err := s.Runs(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	var gotIDs []int64
	for _, r := range got {
		gotIDs = append(gotIDs, r.ID)
	}
	slices.Sort(gotIDs)
	if diff := cmp.Diff(want, gotIDs); diff != "" {
		t.Errorf("runs kept (-want +got):\n%s", diff)
	}
	if last, err := s.LastSuccess(ctx, conn.ID, 102, "accounts"); err != nil || last.IsZero() {
		t.Errorf("LastSuccess of division 102 after pruning = %v, %v; want its 200-day-old run", last, err)
	}
}

// TestLastRun checks that LastRun returns the latest run of one entity in one division,
// its status included, and nothing for an entity that never ran.
func TestLastRun(t *testing.T) {
	t.Parallel()
	s := sinktest.NewStore(t)
	ctx := testContext(t)
	conn := newConnection(t, s)
	for i, r := range []dest.Run{{Entity: "accounts", Division: 101}, {Entity: "accounts", Division: 101}, {Entity: "accounts", Division: 102},
		{Entity: "items", Division: 101}} {
		r.ConnectionID, r.StartedAt = conn.ID, time.Date(2026, 1, 5, 9, i, 0, 0, time.UTC)
		id, err := s.StartRun(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		res := dest.RunResult{Upserted: i}
		if i == 1 {
			res = dest.RunResult{Status: dest.RunRefused, Err: "sync/CRM/Accounts returned 403 Forbidden", Upserted: i}
		}
		if err := s.FinishRun(ctx, id, res); err != nil {
			t.Fatal(err)
		}
	}
	last, err := s.LastRun(ctx, conn.ID, 101, "accounts")
	if err != nil {
		t.Fatal(err)
	}
	if last.ID == 0 || last.Result.Status != dest.RunRefused || last.Result.Upserted != 1 || last.FinishedAt.IsZero() {
		t.Errorf("LastRun of accounts in 101: %+v, want the second, refused", last)
	}
	if none, err := s.LastRun(ctx, conn.ID, 101, "contacts"); err != nil || none.ID != 0 {
		t.Errorf("LastRun of an entity that never ran: %+v, %v; want ID 0", none, err)
	}
}

// TestAppCalls sums the calls that the runs of one app (its client id, over its
// connections) recorded in a division since a time: Exact counts the day per app and
// division (§2.1).
func TestAppCalls(t *testing.T) {
	t.Parallel()
	s := sinktest.NewStore(t)
	ctx := testContext(t)
	conn := newConnection(t, s)
	sameApp, err := s.UpsertConnection(ctx, "https://start.exactonline.nl", "client-1", "user-2")
	if err != nil {
		t.Fatal(err)
	}
	otherApp, err := s.UpsertConnection(ctx, "https://start.exactonline.nl", "client-2", "user-1")
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	for _, r := range []struct {
		conn     int64
		division int
		at       time.Duration // after the day began
		calls    int
	}{
		{conn.ID, 101, time.Hour, 3},
		{conn.ID, 101, 2 * time.Hour, 4},
		{sameApp.ID, 101, 3 * time.Hour, 5},
		{otherApp.ID, 101, 3 * time.Hour, 100}, // another app's budget
		{conn.ID, 102, time.Hour, 50},          // another division
		{conn.ID, 101, -time.Hour, 70},         // the day before
	} {
		id, err := s.StartRun(ctx, dest.Run{ConnectionID: r.conn, Division: r.division, Entity: "accounts", StartedAt: day.Add(r.at)})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.FinishRun(ctx, id, dest.RunResult{APICalls: r.calls, Status: dest.RunOK}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		conn     int64
		division int
		want     int
	}{{conn.ID, 101, 12}, {sameApp.ID, 101, 12}, {otherApp.ID, 101, 100}, {conn.ID, 102, 50}, {conn.ID, 103, 0}} {
		if got, err := s.AppCalls(ctx, tt.conn, tt.division, day); err != nil || got != tt.want {
			t.Errorf("AppCalls(connection %d, division %d) = %d, %v; want %d", tt.conn, tt.division, got, err, tt.want)
		}
	}
}

// TestCallsByEntity sums the calls of the runs started since a time by their job's
// entity, most first, leaving out entities without calls.
func TestCallsByEntity(t *testing.T) {
	t.Parallel()
	s := sinktest.NewStore(t)
	ctx := testContext(t)
	conn := newConnection(t, s)
	day := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	for _, r := range []struct {
		division int
		entity   string
		at       time.Duration // after the day began
		calls    int
	}{
		{101, "accounts", time.Hour, 3},
		{102, "accounts", 2 * time.Hour, 4},
		{101, "transaction_lines", time.Hour, 40},
		{101, "contacts", time.Hour, 0},
		{101, "gl_accounts", -time.Hour, 70}, // the day before
	} {
		id, err := s.StartRun(ctx, dest.Run{ConnectionID: conn.ID, Division: r.division, Entity: r.entity, StartedAt: day.Add(r.at)})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.FinishRun(ctx, id, dest.RunResult{APICalls: r.calls, Status: dest.RunOK}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.CallsByEntity(ctx, day)
	if err != nil {
		t.Fatal(err)
	}
	want := []sink.EntityCalls{{Entity: "transaction_lines", Calls: 40}, {Entity: "accounts", Calls: 7}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CallsByEntity (-want +got):\n%s", diff)
	}
}

// TestLastSuccess: the end of the last run that ended ok, whatever ended after it; zero
// when none did, or for another entity or division.
func TestLastSuccess(t *testing.T) {
	t.Parallel()
	s := sinktest.NewStore(t)
	ctx := testContext(t)
	conn := newConnection(t, s)
	if last, err := s.LastSuccess(ctx, conn.ID, 101, "accounts"); err != nil || !last.IsZero() {
		t.Fatalf("LastSuccess before any run: %v, %v; want zero", last, err)
	}
	start := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	var ids []int64
	for i, status := range []string{dest.RunOK, dest.RunOK, dest.RunFailed} {
		id, err := s.StartRun(ctx, dest.Run{ConnectionID: conn.ID, Division: 101, Entity: "accounts", StartedAt: start.Add(time.Duration(i) * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.FinishRun(ctx, id, dest.RunResult{Status: status}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	var want time.Time
	if err := s.Pool().QueryRow(ctx, `SELECT finished_at FROM exact_sync.runs WHERE id = $1`, ids[1]).Scan(&want); err != nil {
		t.Fatal(err)
	}
	if last, err := s.LastSuccess(ctx, conn.ID, 101, "accounts"); err != nil || !last.Equal(want) {
		t.Errorf("LastSuccess: %v, %v; want %v, the end of the second run", last, err, want)
	}
	for _, o := range []struct {
		division int
		entity   string
	}{{102, "accounts"}, {101, "contacts"}} {
		if last, err := s.LastSuccess(ctx, conn.ID, o.division, o.entity); err != nil || !last.IsZero() {
			t.Errorf("LastSuccess of %s in division %d: %v, %v; want zero", o.entity, o.division, last, err)
		}
	}
}
