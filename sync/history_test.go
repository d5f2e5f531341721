package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/exact/exacttest"
	"github.com/exactsync/exactsync/sink/sinktest"
)

// state is what a test compares of one record: the values it changes and Exact's
// Timestamp.
type state struct {
	Text string // Name of an account, AmountDC of a transaction line
	TS   int64
}

// truth is what the simulator serves of one table at a moment: key → state.
type truth map[string]state

// simTruth reads the simulator's records of entity in division 101 as the table would
// hold them: suppliers are the accounts with IsSupplier.
func simTruth(t *testing.T, sim *exacttest.Simulator, entity string) truth {
	t.Helper()
	src, field := entity, "AmountDC"
	if entity == "accounts" || entity == "suppliers" {
		src, field = "accounts", "Name"
	}
	recs, err := sim.Records(src, 101)
	if err != nil {
		t.Fatal(err)
	}
	out := truth{}
	for _, raw := range recs {
		var rec map[string]json.RawMessage
		if err := json.Unmarshal(raw, &rec); err != nil {
			t.Fatal(err)
		}
		if entity == "suppliers" && string(rec["IsSupplier"]) != "true" {
			continue
		}
		var id string
		var ts int64
		if err := json.Unmarshal(rec["ID"], &id); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(rec["Timestamp"], &ts); err != nil {
			t.Fatal(err)
		}
		text := string(rec[field])
		if field == "Name" {
			if err := json.Unmarshal(rec[field], &text); err != nil {
				t.Fatal(err)
			}
		} else {
			text = fmt.Sprint(exactNumeric(t, rec[field]))
		}
		out[id] = state{text, ts}
	}
	return out
}

// exactNumeric is the numeric text PostgreSQL gives back for a JSON number Exact sent.
func exactNumeric(t *testing.T, v json.RawMessage) string {
	t.Helper()
	if string(v) == "null" {
		return ""
	}
	return string(v)
}

// dbStates reads the rows of query (id, text, exact_timestamp) as a truth; the text of an
// amount goes through numeric's canonical text so that it compares with exactNumeric's.
func dbStates(t *testing.T, pool *pgxpool.Pool, entity, from string, args ...any) truth {
	t.Helper()
	col := "amount_dc::text"
	if entity == "accounts" || entity == "suppliers" {
		col = "name"
	}
	rows, err := pool.Query(context.Background(), `SELECT id::text, coalesce(`+col+`, ''), exact_timestamp FROM `+from+` WHERE division = 101`, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := truth{}
	for rows.Next() {
		var id string
		var s state
		if err := rows.Scan(&id, &s.Text, &s.TS); err != nil {
			t.Fatal(err)
		}
		if _, dup := out[id]; dup {
			t.Errorf("%s: two rows of %s", from, id)
		}
		out[id] = s
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// canonicalAmounts rewrites the amounts of tr as PostgreSQL's numeric prints them.
func canonicalAmounts(t *testing.T, pool *pgxpool.Pool, tr truth) truth {
	t.Helper()
	out := truth{}
	for k, s := range tr {
		if s.Text != "" {
			if err := pool.QueryRow(context.Background(), `SELECT $1::numeric::text`, s.Text).Scan(&s.Text); err != nil {
				t.Fatal(err)
			}
		}
		out[k] = s
	}
	return out
}

// TestHistoryOnPostgreSQL runs accounts, suppliers and transaction lines against the
// simulator over several runs with history on: renames, amount changes, supplier flips,
// deletions through sync/Deleted (with Exact's user and date), a record removed by a full
// pass. The deletions trail holds each removal with its cause, date and user; each
// record's versions are the states the simulator served at each run, in order; <table>_at
// of each run's time is the truth snapshot taken then; a rerun with no change writes no
// version; the history of transaction lines, turned on after its first run, is seeded.
func TestHistoryOnPostgreSQL(t *testing.T) {
	if testing.Short() {
		t.Skip("runs several syncs on PostgreSQL")
	}
	ctx := context.Background()
	st, pool := sinktest.NewStorePool(t)
	conn, err := st.UpsertConnection(ctx, "https://start.exactonline.nl", "client", "user")
	if err != nil {
		t.Fatal(err)
	}
	sim := exacttest.New(exacttest.Options{Accounts: 30, Records: map[string]int{"transaction_lines": 40}, Seed: 24, FreezeClock: true})
	client := simClient(t, sim, &memTokens{})
	entities := []string{"accounts", "suppliers", "transaction_lines"}
	r := NewRunner(Config{Logger: zerolog.Nop(), Enabled: entities, Now: sim.Now}, st, st, st)
	tables := func(names ...string) []dest.Table {
		var out []dest.Table
		for _, n := range names {
			e, err := Lookup(n)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, e.Target())
		}
		return out
	}
	run := func(job Job) {
		t.Helper()
		job.ConnectionID, job.Division = conn.ID, 101
		if res, err := r.Run(ctx, client, job); err != nil || res.Status != StatusOK || res.Quarantined != 0 {
			t.Fatalf("Run %s: %+v, %v", job, res, err)
		}
	}
	syncAll := func() {
		t.Helper()
		run(Job{Entity: "accounts"}) // suppliers too: the same endpoint
		run(Job{Entity: "transaction_lines"})
		run(Job{Entity: DeletionsJob})
	}
	type snapshot struct {
		at    time.Time
		truth map[string]truth
	}
	var snaps []snapshot
	snap := func() {
		t.Helper()
		s := snapshot{truth: map[string]truth{}}
		for _, e := range entities {
			s.truth[e] = simTruth(t, sim, e)
		}
		s.truth["transaction_lines"] = canonicalAmounts(t, pool, s.truth["transaction_lines"])
		if err := pool.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&s.at); err != nil {
			t.Fatal(err)
		}
		snaps = append(snaps, s)
	}
	versions := func() int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM exact_history.accounts) + (SELECT count(*) FROM exact_history.suppliers)
			+ (SELECT count(*) FROM exact_history.transaction_lines)`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Run 1: history on for accounts and suppliers from the start; transaction lines are
	// synced without it, and turned on afterwards: seeded from their rows.
	if ch, err := st.SetHistory(ctx, tables("accounts", "suppliers")); err != nil || !slices.Equal(ch.Seeded, []int64{0, 0}) {
		t.Fatalf("SetHistory = %+v, %v; want two empty tables turned on", ch, err)
	}
	syncAll()
	ch, err := st.AddHistory(ctx, tables("transaction_lines"))
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(len(simTruth(t, sim, "transaction_lines"))); !slices.Equal(ch.Seeded, []int64{want}) {
		t.Errorf("turning transaction lines' history on seeded %v rows, want [%d]", ch.Seeded, want)
	}
	snap()

	accounts := slices.Sorted(maps.Keys(snaps[0].truth["accounts"]))
	var supplier, other []string
	for _, id := range accounts {
		if _, ok := snaps[0].truth["suppliers"][id]; ok {
			supplier = append(supplier, id)
		} else {
			other = append(other, id)
		}
	}
	if len(supplier) < 3 || len(other) < 3 {
		t.Fatalf("the simulator made %d suppliers of %d accounts; want 3 of each at least", len(supplier), len(accounts))
	}
	lines := slices.Sorted(maps.Keys(snaps[0].truth["transaction_lines"]))
	upsert := func(entity string, recs ...map[string]any) {
		t.Helper()
		sim.Advance(time.Minute)
		if _, err := sim.UpsertRecords(entity, 101, recs...); err != nil {
			t.Fatal(err)
		}
	}
	deleted := map[string]time.Time{} // key → when the simulator deleted it
	remove := func(entity string, keys ...string) {
		t.Helper()
		sim.Advance(time.Minute)
		for _, k := range keys {
			deleted[k] = sim.Now().Truncate(time.Millisecond)
		}
		if err := sim.DeleteRecords(entity, 101, keys...); err != nil {
			t.Fatal(err)
		}
	}

	// Run 2: a rename, an amount change, supplier flips both ways, deletions of a
	// supplier, an account and a line.
	upsert("accounts", map[string]any{"ID": other[0], "Name": "Renamed once"})
	upsert("accounts", map[string]any{"ID": supplier[0], "IsSupplier": false}, map[string]any{"ID": other[1], "IsSupplier": true})
	upsert("transaction_lines", map[string]any{"ID": lines[0], "AmountDC": 1234.5})
	remove("accounts", supplier[1], other[2])
	remove("transaction_lines", lines[1])
	syncAll()
	snap()

	// Run 3: the same account renamed again, the line changed again, and a supplier
	// renamed (a version in both tables).
	upsert("accounts", map[string]any{"ID": other[0], "Name": "Renamed twice"}, map[string]any{"ID": supplier[2], "Name": "Supplier renamed"})
	upsert("transaction_lines", map[string]any{"ID": lines[0], "AmountDC": -0.01})
	syncAll()
	snap()

	// Run 4: nothing changed in Exact; neither incremental runs nor a full pass write a
	// version.
	before := versions()
	syncAll()
	run(Job{Entity: "accounts", Full: true})
	if after := versions(); after != before {
		t.Errorf("a rerun without changes wrote %d versions, want none", after-before)
	}
	snap()

	// Run 5: an account and a line deleted with their deletion aged out of Exact's log:
	// only a full pass removes them.
	sim.Advance(time.Minute)
	if _, err := sim.PlantDrift("accounts", 101, exacttest.Drift{DeleteUnlogged: []string{supplier[3]}}); err != nil {
		t.Fatal(err)
	}
	syncAll()
	if _, ok := dbStates(t, pool, "suppliers", "exact.suppliers")[supplier[3]]; !ok {
		t.Fatal("the supplier whose deletion Exact forgot is gone before a full pass")
	}
	run(Job{Entity: "accounts", Full: true})
	snap()

	// The tables are the truth, and every current row is the open version of its history.
	last := snaps[len(snaps)-1]
	for _, e := range entities {
		if diff := cmp.Diff(last.truth[e], dbStates(t, pool, e, "exact."+e)); diff != "" {
			t.Errorf("exact.%s after the runs (-simulator +table):\n%s", e, diff)
		}
		checkHistoryInvariant(t, pool, e)
	}

	// <table>_at(T) of each run is the truth taken then.
	for i, s := range snaps {
		for _, e := range entities {
			if diff := cmp.Diff(s.truth[e], dbStates(t, pool, e, "exact_history."+e+"_at($1) AS h", s.at)); diff != "" {
				t.Errorf("run %d: exact_history.%s_at(%s) (-truth +history):\n%s", i+1, e, s.at.Format(time.RFC3339Nano), diff)
			}
		}
	}

	// Each record's versions are the distinct states served at the runs, in order.
	for _, e := range entities {
		want := map[string][]state{}
		for _, s := range snaps {
			for k, v := range s.truth[e] {
				if vs := want[k]; len(vs) == 0 || vs[len(vs)-1] != v {
					want[k] = append(vs, v)
				}
			}
		}
		got := map[string][]state{}
		rows, err := pool.Query(ctx, `SELECT id::text, coalesce(`+map[bool]string{true: "name", false: "amount_dc::text"}[e != "transaction_lines"]+`, ''), exact_timestamp
			FROM exact_history.`+e+` WHERE division = 101 ORDER BY id, valid_from, valid_to NULLS LAST`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var k string
			var v state
			if err := rows.Scan(&k, &v.Text, &v.TS); err != nil {
				t.Fatal(err)
			}
			got[k] = append(got[k], v)
		}
		rows.Close()
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("exact_history.%s's versions (-served +history):\n%s", e, diff)
		}
	}

	// How each removed record's history ended, and its trail.
	var userID string
	page, err := client.Page(ctx, 101, client.URL(101, "sync/Deleted", url.Values{"$filter": {"Timestamp gt 0L"}, "$select": {"DeletedBy,EntityKey"}}))
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range page.Records {
		if userID, _, err = exact.GUID(rec.Field("DeletedBy")); err != nil || userID == "" {
			t.Fatalf("sync/Deleted's DeletedBy %q: %v", rec.Field("DeletedBy"), err)
		}
	}
	type removal struct {
		Entity, Key, Cause, By string
		At                     time.Time
		Ended                  string
	}
	want := []removal{
		{"accounts", supplier[1], dest.CauseDeleted, userID, deleted[supplier[1]], "deleted"},
		{"accounts", other[2], dest.CauseDeleted, userID, deleted[other[2]], "deleted"},
		{"accounts", supplier[3], dest.CauseNotSeen, "", time.Time{}, dest.CauseNotSeen},
		{"suppliers", supplier[0], "no longer a supplier", "", time.Time{}, "no longer a supplier"},
		{"suppliers", supplier[1], dest.CauseDeleted, userID, deleted[supplier[1]], "deleted"},
		{"suppliers", supplier[3], dest.CauseNotSeen, "", time.Time{}, dest.CauseNotSeen},
		{"transaction_lines", lines[1], dest.CauseDeleted, userID, deleted[lines[1]], "deleted"},
	}
	slices.SortFunc(want, func(a, b removal) int { return cmpStrings(a.Entity+a.Key, b.Entity+b.Key) })
	var got []removal
	for _, e := range entities {
		rows, err := pool.Query(ctx, `SELECT d.entity, d.key, d.cause, coalesce(d.deleted_by::text, ''), coalesce(d.deleted_at, '0001-01-01Z'), coalesce(h.ended, '')
			FROM exact_history.deletions d
			LEFT JOIN exact_history.`+e+` h ON h.division = d.division AND h.id::text = d.key AND h.valid_to IS NOT NULL AND h.ended <> 'changed'
			WHERE d.connection_id = $1 AND d.division = 101 AND d.entity = $2 AND d.record->>'id' = d.key`, conn.ID, e)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var r removal
			if err := rows.Scan(&r.Entity, &r.Key, &r.Cause, &r.By, &r.At, &r.Ended); err != nil {
				t.Fatal(err)
			}
			r.At = r.At.UTC()
			got = append(got, r)
		}
		rows.Close()
	}
	slices.SortFunc(got, func(a, b removal) int { return cmpStrings(a.Entity+a.Key, b.Entity+b.Key) })
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("removals: trail and ended versions (-want +got):\n%s", diff)
	}
}

func cmpStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// checkHistoryInvariant fails unless each row of exact.<table> is, in every column, the
// open version of its history, and no open version lacks its row.
func checkHistoryInvariant(t *testing.T, pool *pgxpool.Pool, table string) {
	t.Helper()
	var bad int
	err := pool.QueryRow(context.Background(), `
		WITH cur AS (SELECT to_jsonb(t) AS j FROM exact.`+table+` t),
		     open AS (SELECT to_jsonb(h) - 'valid_from' - 'valid_to' - 'ended' - 'seeded' AS j FROM exact_history.`+table+` h WHERE valid_to IS NULL)
		SELECT count(*) FROM ((SELECT j FROM cur EXCEPT ALL SELECT j FROM open) UNION ALL (SELECT j FROM open EXCEPT ALL SELECT j FROM cur)) d`).Scan(&bad)
	if err != nil {
		t.Fatal(err)
	}
	if bad != 0 {
		t.Errorf("%d rows differ between exact.%s and the open versions of its history", bad, table)
	}
}
