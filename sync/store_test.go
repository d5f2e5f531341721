package sync

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/sink/sinktest"
)

// TestCatalogueEntitiesOnPostgreSQL runs jobs against real PostgreSQL: amounts stored as
// exact decimals, a goods delivery keyed by EntryID removed by its deletion, and units
// that disappear from Exact disappearing from their table.
func TestCatalogueEntitiesOnPostgreSQL(t *testing.T) {
	ctx := context.Background()
	st, pool := sinktest.NewStorePool(t)
	conn, err := st.UpsertConnection(ctx, "https://start.exactonline.nl", "client", "user")
	if err != nil {
		t.Fatal(err)
	}
	r := NewRunner(Config{Logger: zerolog.Nop(), Enabled: []string{"transaction_lines", "goods_deliveries", "units"}}, st, st, st)
	src := &fakeSource{pages: map[string]string{}}
	run := func(entity string) {
		t.Helper()
		if res, err := r.Run(ctx, src, Job{ConnectionID: conn.ID, Division: 101, Entity: entity}); err != nil || res.Quarantined != 0 {
			t.Fatalf("Run %s: %+v, %v", entity, res, err)
		}
	}

	src.pages[syncURL(src, "transaction_lines", 0)] = page("",
		`{"ID":"`+id1+`","Timestamp":7,"AmountDC":1E-05,"AmountFC":0.1,"AmountVATFC":"-12345678901234567890.123456789",`+
			`"ExchangeRate":1.50E2,"Date":"/Date(1711848600000)/","DueDate":"/Date(1711855800000)/"}`)
	run("transaction_lines")
	var dc, fc, vat, rate string
	var exact bool
	var date, due time.Time
	err = pool.QueryRow(ctx, `SELECT amount_dc::text, amount_fc::text, amount_vatfc::text, exchange_rate::text,
			amount_dc = '1E-05'::numeric AND amount_fc = '0.1'::numeric AND amount_vatfc = '-12345678901234567890.123456789'::numeric
			AND exchange_rate = '1.50E2'::numeric, date, due_date
		FROM exact.transaction_lines WHERE division = 101 AND id = $1`, id1).Scan(&dc, &fc, &vat, &rate, &exact, &date, &due)
	if err != nil {
		t.Fatal(err)
	}
	// The text PostgreSQL gives the JSON numbers it would have read itself.
	if dc != "0.00001" || fc != "0.1" || vat != "-12345678901234567890.123456789" || rate != "150" || !exact {
		t.Errorf("amounts %s, %s, %s, %s (equal to the JSON text: %t); want 0.00001, 0.1, -12345678901234567890.123456789, 150", dc, fc, vat, rate, exact)
	}
	if !date.Equal(time.Date(2024, 3, 31, 0, 30, 0, 0, time.UTC)) || !due.Equal(time.Date(2024, 3, 31, 1, 30, 0, 0, time.UTC)) {
		t.Errorf("dates %s, %s; want 00:30Z (01:30 CET) and 01:30Z (03:30 CEST)", date, due)
	}

	const entry = "00000000-0000-4000-8000-0000000000e1"
	src.pages[syncURL(src, "goods_deliveries", 0)] = page("",
		`{"EntryID":"`+entry+`","Timestamp":8,"DeliveryNumber":1,"Description":"Levering"}`)
	run("goods_deliveries")
	src.pages[deletedURL(src, 101, 0)] = page("", `{"EntityKey":"`+entry+`","EntityType":16,"Timestamp":9}`)
	run(DeletionsJob)
	if n := count(t, pool.QueryRow, "exact.goods_deliveries"); n != 0 {
		t.Errorf("%d goods deliveries after their deletion, want 0", n)
	}

	e, _ := Lookup("units")
	unitsURL := src.URL(101, e.Path, url.Values{"$select": {e.Select()}})
	src.pages[unitsURL] = page("", `{"ID":"`+id1+`","Code":"st","Main":1}`, `{"ID":"`+id2+`","Code":"kg","Main":0}`)
	run("units")
	src.pages[unitsURL] = page("", `{"ID":"`+id2+`","Code":"kg","Main":0}`)
	run("units")
	if n := count(t, pool.QueryRow, "exact.units"); n != 1 {
		t.Errorf("%d units after one disappeared from Exact, want 1", n)
	}
}

func count[R interface{ Scan(...any) error }](t *testing.T, q func(context.Context, string, ...any) R, table string) int {
	t.Helper()
	var n int
	if err := q(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAQueueJobRunsOnceOnPostgreSQL: an attempt of a queue job whose earlier attempt ran
// to the end (in a process that died before the queue recorded it) does not call Exact
// and returns the recorded result; one whose earlier attempt died mid-run, failed, or that
// came from outside the queue runs. Either way the job has one ok run per entity it
// writes.
func TestAQueueJobRunsOnceOnPostgreSQL(t *testing.T) {
	ctx := context.Background()
	st, pool := sinktest.NewStorePool(t)
	conn, err := st.UpsertConnection(ctx, "https://start.exactonline.nl", "client", "user")
	if err != nil {
		t.Fatal(err)
	}
	testAQueueJobRunsOnce(t, st, conn.ID, func(jobID int64) []string {
		rows, _ := pool.Query(ctx, `SELECT status FROM exact_sync.runs WHERE job_id = $1 ORDER BY id`, jobID)
		statuses, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return statuses
	})
}

// TestAQueueJobRunsOnce is TestAQueueJobRunsOnceOnPostgreSQL on the in-memory store:
// the decision to replay is sync's, whatever the store.
func TestAQueueJobRunsOnce(t *testing.T) {
	st := newMemStore()
	testAQueueJobRunsOnce(t, st, 1, func(jobID int64) []string {
		runs, err := st.JobRuns(context.Background(), jobID)
		if err != nil {
			t.Fatal(err)
		}
		var statuses []string
		for _, r := range runs {
			statuses = append(statuses, r.Result.Status)
		}
		return statuses
	})
}

// testAQueueJobRunsOnce runs the cases of TestAQueueJobRunsOnceOnPostgreSQL on st, in
// connection connID; statuses returns the statuses of a queue job's runs, oldest first.
func testAQueueJobRunsOnce(t *testing.T, st interface {
	Writer
	History
	Locker
}, connID int64, statuses func(jobID int64) []string) {
	ctx := context.Background()
	// An accounts job also writes suppliers: two runs per attempt.
	r := NewRunner(Config{Logger: zerolog.Nop(), Enabled: []string{"accounts", "suppliers"}}, st, st, st)
	src := &fakeSource{pages: map[string]string{}, def: page("", account(id1, 3, true), account(id2, 5, false))}
	run := func(job Job) (Result, int) {
		t.Helper()
		asked := len(src.asked)
		res, err := r.Run(ctx, src, job)
		if err != nil {
			t.Fatalf("Run %s: %v", job, err)
		}
		return res, len(src.asked) - asked
	}
	startRun := func(job Job) int64 {
		t.Helper()
		id, err := st.StartRun(ctx, dest.Run{ConnectionID: job.ConnectionID, Division: job.Division, Entity: job.Entity, QueueJob: job.QueueJob})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}

	tests := []struct {
		name   string
		entity string
		queue  bool // a job of the queue
		// before is the job's earlier attempt; it returns the result a replay gives.
		before     func(job Job) Result
		wantReplay bool
		wantRuns   []string // statuses of the job's runs after the second attempt
	}{
		{
			name: "ran to the end", entity: "accounts", queue: true,
			before:     func(job Job) Result { res, _ := run(job); return res },
			wantReplay: true,
			wantRuns:   []string{dest.RunOK, dest.RunOK},
		},
		{
			name: "deletions ran to the end", entity: DeletionsJob, queue: true,
			before:     func(job Job) Result { res, _ := run(job); return res },
			wantReplay: true,
			wantRuns:   []string{dest.RunOK},
		},
		{
			name: "died mid-run", entity: "accounts", queue: true,
			before:   func(job Job) Result { startRun(job); return Result{} },
			wantRuns: []string{dest.RunAbandoned, dest.RunOK, dest.RunOK},
		},
		{
			name: "failed", entity: "accounts", queue: true,
			before: func(job Job) Result {
				if err := st.FinishRun(ctx, startRun(job), dest.RunResult{Err: "no page", Status: dest.RunFailed}); err != nil {
					t.Fatal(err)
				}
				return Result{}
			},
			wantRuns: []string{dest.RunFailed, dest.RunOK, dest.RunOK},
		},
		{
			name: "outside the queue", entity: "accounts",
			before: func(job Job) Result { res, _ := run(job); return res },
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			job := Job{ConnectionID: connID, Division: 201 + i, Entity: tt.entity}
			if tt.queue {
				job.QueueJob = int64(1000 + i)
			}
			if tt.entity == DeletionsJob {
				src.pages[deletedURL(src, job.Division, 0)] = page("", `{"EntityKey":"`+id1+`","EntityType":2,"Timestamp":4}`)
			}
			first := tt.before(job)
			got, calls := run(job)
			if got.Replayed != tt.wantReplay {
				t.Errorf("Replayed = %t, want %t", got.Replayed, tt.wantReplay)
			}
			if tt.wantReplay {
				if calls != 0 {
					t.Errorf("the replay made %d calls to Exact, want 0", calls)
				}
				first.Replayed, first.Duration, got.Duration = true, 0, 0
				if diff := cmp.Diff(first, got); diff != "" {
					t.Errorf("the replay's result differs from the first run's (-first +replay):\n%s", diff)
				}
			} else if calls == 0 {
				t.Errorf("the second attempt made no call to Exact")
			}
			if !tt.queue {
				return
			}
			if got := statuses(job.QueueJob); !slices.Equal(got, tt.wantRuns) {
				t.Errorf("the job's runs: %v, want %v", got, tt.wantRuns)
			}
		})
	}
}

// TestOmitRawOnPostgreSQL checks that with OmitRaw the typed columns are stored as
// before and raw holds '{}'.
func TestOmitRawOnPostgreSQL(t *testing.T) {
	ctx := context.Background()
	st, pool := sinktest.NewStorePool(t)
	conn, err := st.UpsertConnection(ctx, "https://start.exactonline.nl", "client", "user")
	if err != nil {
		t.Fatal(err)
	}
	r := NewRunner(Config{Logger: zerolog.Nop(), OmitRaw: true, Enabled: []string{"transaction_lines"}}, st, st, st)
	src := &fakeSource{pages: map[string]string{}}
	src.pages[syncURL(src, "transaction_lines", 0)] = page("",
		`{"ID":"`+id1+`","Timestamp":7,"AmountDC":-12.50,"Description":"Huur maart","Date":"/Date(1711848600000)/"}`)
	if res, err := r.Run(ctx, src, Job{ConnectionID: conn.ID, Division: 101, Entity: "transaction_lines"}); err != nil || res.Upserted != 1 {
		t.Fatalf("Run: %+v, %v", res, err)
	}
	var amount, description, raw string
	var version int64
	err = pool.QueryRow(ctx, `SELECT amount_dc::text, description, exact_timestamp, raw::text
		FROM exact.transaction_lines WHERE division = 101 AND id = $1`, id1).Scan(&amount, &description, &version, &raw)
	if err != nil {
		t.Fatal(err)
	}
	if amount != "-12.50" || description != "Huur maart" || version != 7 || raw != "{}" {
		t.Errorf("got amount %s, description %q, version %d, raw %s; want -12.50, \"Huur maart\", 7, {}", amount, description, version, raw)
	}
}

// TestNameTwiceOnPostgreSQL: a record with a member name twice is quarantined as received,
// with a reason that names the member; one whose name is written with escapes is stored,
// its typed columns equal to what jsonb reads from its raw column. It also checks, on the
// server, the two jsonb rules FuzzRecordColumnsMatchRaw relies on: names are decoded, and
// of a repeated name the last occurrence is kept.
func TestNameTwiceOnPostgreSQL(t *testing.T) {
	ctx := context.Background()
	st, pool := sinktest.NewStorePool(t)
	var last, escaped string
	if err := pool.QueryRow(ctx, `SELECT '{"a":1,"a":2}'::jsonb->>'a', '{"N\u0061me":"x"}'::jsonb->>'Name'`).Scan(&last, &escaped); err != nil {
		t.Fatal(err)
	}
	if last != "2" || escaped != "x" {
		t.Fatalf(`jsonb: {"a":1,"a":2}->>'a' = %q, {"N\u0061me":"x"}->>'Name' = %q; want "2" and "x"`, last, escaped)
	}

	conn, err := st.UpsertConnection(ctx, "https://start.exactonline.nl", "client", "user")
	if err != nil {
		t.Fatal(err)
	}
	r := NewRunner(Config{Logger: zerolog.Nop(), Enabled: []string{"accounts"}}, st, st, st)
	src := &fakeSource{pages: map[string]string{}}
	twice := `{"ID":"` + id2 + `","Timestamp":8,"Code":"2","Name":"first","Name":"second"}`
	src.pages[syncURL(src, "accounts", 0)] = page("",
		`{"ID":"`+id1+`","Timestamp":7,"Code":"1","Name":"plain"}`,
		twice,
		`{"ID":"`+id3+`","Timestamp":9,"Code":"3","N\u0061me":"escaped"}`)
	res, err := r.Run(ctx, src, Job{ConnectionID: conn.ID, Division: 101, Entity: "accounts"})
	if err != nil || res.Upserted != 2 || res.Quarantined != 1 {
		t.Fatalf("Run: %+v, %v; want 2 rows stored and 1 quarantined", res, err)
	}
	rows, err := pool.Query(ctx, `SELECT id, name, raw->>'Name' FROM exact.accounts WHERE division = 101 ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) ([3]string, error) {
		var id, name, fromRaw string
		err := row.Scan(&id, &name, &fromRaw)
		return [3]string{id, name, fromRaw}, err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := [][3]string{{id1, "plain", "plain"}, {id3, "escaped", "escaped"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("accounts (id, name, raw->>'Name') (-want +got):\n%s", diff)
	}
	var key, reason string
	var record []byte
	err = pool.QueryRow(ctx, `SELECT record_key, reason, record FROM exact_sync.rejected_records
		WHERE connection_id = $1 AND division = 101 AND entity = 'accounts'`, conn.ID).Scan(&key, &reason, &record)
	if err != nil {
		t.Fatalf("the quarantined record: %v", err)
	}
	if key != id2 || !strings.Contains(reason, `member "Name" occurs twice`) || string(record) != twice {
		t.Errorf("quarantined key %s, reason %q, record %s; want %s, a reason naming member \"Name\", and the record as received", key, reason, record, id2)
	}
}
