package verify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/exact/exacttest"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sink/sinktest"
	"github.com/exactsync/exactsync/sync"
	"github.com/exactsync/exactsync/verify"
)

const division = 101

var entities = []string{"accounts", "suppliers", "transaction_lines"}

// world is a simulator of Exact, a migrated database holding one connection to it, and a
// client of the simulator through that connection's token row.
type world struct {
	t      *testing.T
	sim    *exacttest.Simulator
	st     *sink.Store
	pool   *pgxpool.Pool
	conn   dest.Connection
	client *exact.Client
	runner *sync.Runner
}

func newWorld(t *testing.T, tweak ...func(*exacttest.Options)) *world {
	t.Helper()
	opts := exacttest.Options{Accounts: 40, Records: map[string]int{"transaction_lines": 150}, Seed: 25}
	for _, f := range tweak {
		f(&opts)
	}
	sim := exacttest.New(opts)
	st, pool := sinktest.NewStorePool(t)
	conn := sinktest.NewConnection(t, st, exacttest.InProcessURL, "exactsim-client", sim.RefreshToken())
	client, err := exact.New(exact.Config{
		BaseURL: exacttest.InProcessURL, ClientID: "exactsim-client", ClientSecret: "exactsim-secret",
		HTTPClient: sim.InProcessClient(), Logger: zerolog.Nop(), Now: sim.Now,
		Sleep: func(ctx context.Context, d time.Duration) error { sim.Advance(d); return ctx.Err() },
	}, sync.NewTokenStore(st, conn.ID))
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, sim: sim, st: st, pool: pool, conn: conn, client: client,
		runner: sync.NewRunner(sync.Config{Logger: zerolog.Nop(), Enabled: entities, Now: sim.Now}, st, st, st)}
	for _, e := range entities {
		w.sync(e)
	}
	return w
}

// sync runs an incremental sync of entity and the division's deletions.
func (w *world) sync(entity string) {
	w.t.Helper()
	if err := w.syncer().Sync(context.Background(), division, entity, verify.Pass{}); err != nil {
		w.t.Fatalf("syncing %s: %v", entity, err)
	}
}

func (w *world) syncer() verify.RunnerSyncer {
	return verify.RunnerSyncer{Runner: w.runner, Source: w.client, ConnectionID: w.conn.ID}
}

func (w *world) verifier(opts verify.Options) *verify.Verifier {
	opts.ConnectionID, opts.Logger = w.conn.ID, zerolog.Nop()
	opts.LastClean = func(ctx context.Context, division int, entity string) (time.Time, error) {
		return w.st.LastClean(ctx, w.conn.ID, division, entity)
	}
	return verify.New(opts, w.client, w.st, w.syncer())
}

func (w *world) verify(opts verify.Options, names ...string) []dest.Verification {
	w.t.Helper()
	res, err := w.verifier(opts).Division(context.Background(), division, names)
	if err != nil {
		w.t.Fatalf("verifying %v: %v", names, err)
	}
	return res
}

// line is one transaction line of the simulator, as /_sim/records serves it.
type line struct {
	ID              string
	AmountDC        json.Number
	FinancialYear   int
	FinancialPeriod int
	GLAccount       string
	CostCenter      *string
	CostUnit        *string
	Type            int
	Status          int
}

func (w *world) lines() []line {
	w.t.Helper()
	recs, err := w.sim.Records("transaction_lines", division)
	if err != nil {
		w.t.Fatal(err)
	}
	out := make([]line, len(recs))
	for i, r := range recs {
		if err := json.Unmarshal(r, &out[i]); err != nil {
			w.t.Fatal(err)
		}
	}
	return out
}

func (l line) key() dest.LedgerKey {
	s := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	return dest.LedgerKey{Year: l.FinancialYear, Period: l.FinancialPeriod, GLAccount: l.GLAccount,
		CostCenter: s(l.CostCenter), CostUnit: s(l.CostUnit), Type: l.Type, Status: l.Status}
}

// rowsEqualSim fails unless the table's keys of the division are the simulator's.
func (w *world) rowsEqualSim(entity string) {
	w.t.Helper()
	recs, err := w.sim.Records(entity, division)
	if err != nil {
		w.t.Fatal(err)
	}
	want := map[string]bool{}
	for _, r := range recs {
		var k struct{ ID string }
		if err := json.Unmarshal(r, &k); err != nil {
			w.t.Fatal(err)
		}
		want[k.ID] = true
	}
	got, err := w.st.Keys(context.Background(), "exact."+entity, "id", division)
	if err != nil {
		w.t.Fatal(err)
	}
	if len(got) != len(want) {
		w.t.Errorf("%s: %d rows stored, /_sim/records has %d", entity, len(got), len(want))
	}
	for _, k := range got {
		if !want[k] {
			w.t.Errorf("%s: row %s stored, not in /_sim/records", entity, k)
		}
	}
}

func onlyStatus(t *testing.T, res []dest.Verification, want string) {
	t.Helper()
	for _, r := range res {
		if r.Status != want {
			t.Errorf("%s: status %s (%+v), want %s", r.Entity, r.Status, r.Differences, want)
		}
	}
}

// TestCleanDivisionVerifies: a division just synced verifies clean over every entity and
// every ledger group, and the calls it costs are those Calls forecasts.
func TestCleanDivisionVerifies(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	groups, err := w.st.LedgerTotals(context.Background(), division)
	if err != nil {
		t.Fatal(err)
	}
	before := w.client.Calls()
	res := w.verify(verify.Options{}, entities...)
	calls := int(w.client.Calls() - before)
	if len(res) != len(entities) {
		t.Fatalf("%d results, want %d", len(res), len(entities))
	}
	onlyStatus(t, res, dest.VerifyClean)
	for _, r := range res {
		if len(r.Differences) != 0 || r.Resynced {
			t.Errorf("%s: differences %+v, resynced %t; want none", r.Entity, r.Differences, r.Resynced)
		}
		if r.ExactCount != r.LocalCount || r.LocalCount == 0 {
			t.Errorf("%s: exact count %d, local %d; want equal and > 0", r.Entity, r.ExactCount, r.LocalCount)
		}
	}
	if got := res[2].Groups; got != len(groups) || got < 2 {
		t.Errorf("ledger groups compared %d, want the %d the copy has (and more than one)", got, len(groups))
	}
	t.Logf("a clean verification of %v: %d calls over %d ledger groups", entities, calls, len(groups))
	if want := verify.Calls(entities, len(groups)); calls != want {
		t.Errorf("the verification made %d calls, forecast %d", calls, want)
	}
	sum := 0
	for _, r := range res {
		sum += r.Calls
	}
	if sum != calls {
		t.Errorf("the results count %d calls, the client made %d", sum, calls)
	}
	last, err := w.st.LastVerifications(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(last) != len(entities) {
		t.Errorf("%d verifications recorded, want %d", len(last), len(entities))
	}
}

// TestChangesDuringVerificationAreNoDrift: Exact changes between its count and the copy's
// (a worker syncs them in between): the first comparison differs, a fresh sync explains
// it, and nothing is reported.
func TestChangesDuringVerificationAreNoDrift(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	changed := 0
	res := w.verify(verify.Options{AfterExact: func(div int, entity string) {
		if changed > 0 {
			return
		}
		changed++
		l := w.lines()[0]
		if _, err := w.sim.UpsertRecords(entity, div, map[string]any{"AmountDC": 12.34, "FinancialYear": l.FinancialYear,
			"FinancialPeriod": l.FinancialPeriod, "GLAccount": l.GLAccount, "Type": l.Type, "Status": l.Status}); err != nil {
			t.Fatal(err)
		}
		w.sync(entity)
	}}, "transaction_lines")
	if len(res) != 1 {
		t.Fatalf("%d results, want 1", len(res))
	}
	if r := res[0]; r.Status != dest.VerifyClean || !r.Resynced {
		t.Errorf("status %s, resynced %t, differences %+v; want clean after a resync", r.Status, r.Resynced, r.Differences)
	}
}

// TestPlantedDriftFoundAndRepaired plants each kind of drift Exact causes; verify finds it
// in the right entity, division and size; --repair repairs it; the next verification is
// clean and the rows equal /_sim/records.
func TestPlantedDriftFoundAndRepaired(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		plant  func(w *world, l line) exacttest.Drift
		count  int64 // Exact's count less the copy's
		amount string
		repair []string // the repairs, in order ("since" for a re-read since a date)
	}{
		{"deletion older than the log", func(w *world, l line) exacttest.Drift {
			return exacttest.Drift{DeleteUnlogged: []string{l.ID}}
		}, -1, "", []string{"id_set"}},
		{"change without a new Timestamp", func(w *world, l line) exacttest.Drift {
			return exacttest.Drift{SilentChanges: []map[string]any{{"ID": l.ID, "AmountDC": 1000000.01}}}
		}, 0, "1000000.01", []string{"since", "full"}}, // the change keeps its Modified: a re-read since the last clean verification misses it
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			onlyStatus(t, w.verify(verify.Options{}, "transaction_lines"), dest.VerifyClean)
			w.sim.Advance(time.Hour)
			l := w.lines()[3]
			if _, err := w.sim.PlantDrift("transaction_lines", division, tt.plant(w, l)); err != nil {
				t.Fatal(err)
			}
			res := w.verify(verify.Options{}, "transaction_lines")
			r := res[0]
			if r.Status != dest.VerifyDrift || r.Entity != "transaction_lines" || r.Division != division || !r.Resynced {
				t.Fatalf("got %s of %s in %d (resynced %t), want drift of transaction_lines in %d after a resync",
					r.Status, r.Entity, r.Division, r.Resynced, division)
			}
			if got := r.ExactCount - r.LocalCount; got != tt.count {
				t.Errorf("count difference %d, want %d", got, tt.count)
			}
			var ledger []dest.Difference
			for _, d := range r.Differences {
				if d.Kind == "ledger" {
					ledger = append(ledger, d)
				}
			}
			if len(ledger) != 1 {
				t.Fatalf("ledger differences %+v, want one, in the line's group", ledger)
			}
			d := ledger[0]
			if *d.LedgerKey != l.key() {
				t.Errorf("group %+v, want the line's %+v", *d.LedgerKey, l.key())
			}
			if got := d.ExactCount - d.LocalCount; got != tt.count {
				t.Errorf("group count difference %d, want %d", got, tt.count)
			}
			want := new(big.Rat)
			if tt.amount != "" {
				want.SetString(tt.amount)
			}
			old, _ := new(big.Rat).SetString(l.AmountDC.String())
			want.Sub(want, old)
			ea, _ := new(big.Rat).SetString(d.ExactAmount)
			la, _ := new(big.Rat).SetString(d.LocalAmount)
			if got := new(big.Rat).Sub(ea, la); got.Cmp(want) != 0 {
				t.Errorf("group amount difference %s, want %s", got.FloatString(2), want.FloatString(2))
			}

			res = w.verify(verify.Options{Repair: true}, "transaction_lines")
			var repairs []string
			for _, r := range res {
				if r.Repair != "" {
					how, _, _ := strings.Cut(r.Repair, " ")
					repairs = append(repairs, how)
				}
			}
			if fmt.Sprint(repairs) != fmt.Sprint(tt.repair) {
				t.Fatalf("repairs %q, want %q", repairs, tt.repair)
			}
			if last := res[len(res)-1]; last.Status != dest.VerifyClean {
				t.Errorf("after the repair: %s %+v, want clean", last.Status, last.Differences)
			}
			onlyStatus(t, w.verify(verify.Options{}, "transaction_lines"), dest.VerifyClean)
			w.rowsEqualSim("transaction_lines")
			// A row the repair removed is in the deletions trail.
			var trail []string
			rows, err := w.pool.Query(context.Background(), `SELECT cause FROM exact_history.deletions
				WHERE connection_id = $1 AND division = $2 AND entity = 'transaction_lines' AND key = $3`, w.conn.ID, division, l.ID)
			if err != nil {
				t.Fatal(err)
			}
			if trail, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
				t.Fatal(err)
			}
			var wantTrail []string
			if slices.Contains(tt.repair, "id_set") {
				wantTrail = []string{dest.CauseNotInExact}
			}
			if !slices.Equal(trail, wantTrail) {
				t.Errorf("the deletions trail of the line holds %q; want it only when an id_set repair removed it, as %q", trail, dest.CauseNotInExact)
			}
		})
	}
}

// TestMissingLineReportedInItsGroup: a line lost from the copy (a restore of an old
// backup) is reported in its exact group with the count and amount difference.
func TestMissingLineReportedInItsGroup(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	l := w.lines()[7]
	if _, err := w.pool.Exec(context.Background(), `DELETE FROM exact.transaction_lines WHERE id = $1`, l.ID); err != nil {
		t.Fatal(err)
	}
	res := w.verify(verify.Options{}, "transaction_lines")
	r := res[0]
	if r.Status != dest.VerifyDrift {
		t.Fatalf("status %s, want drift", r.Status)
	}
	want := []string{"count 1", fmt.Sprintf("ledger %+v 1 %s", l.key(), l.AmountDC)}
	var got []string
	for _, d := range r.Differences {
		switch d.Kind {
		case "count":
			got = append(got, fmt.Sprintf("count %d", d.Exact-d.Local))
		case "ledger":
			ea, _ := new(big.Rat).SetString(d.ExactAmount)
			la, _ := new(big.Rat).SetString(d.LocalAmount)
			diff := new(big.Rat).Sub(ea, la)
			wantAmount, _ := new(big.Rat).SetString(l.AmountDC.String())
			s := fmt.Sprintf("ledger %+v %d %s", *d.LedgerKey, d.ExactCount-d.LocalCount, l.AmountDC)
			if diff.Cmp(wantAmount) != 0 {
				s = fmt.Sprintf("ledger %+v %d %s", *d.LedgerKey, d.ExactCount-d.LocalCount, diff.FloatString(2))
			}
			got = append(got, s)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("differences\n got %q\nwant %q", got, want)
	}
}

// plantHidden plants a transaction line in the group of line 2 that Exact counts and its
// sync endpoint never serves, and returns that line and the hidden one's key.
func (w *world) plantHidden() (line, string) {
	w.t.Helper()
	l := w.lines()[2]
	keys, err := w.sim.PlantDrift("transaction_lines", division, exacttest.Drift{Hidden: []map[string]any{{"AmountDC": 55.5,
		"FinancialYear": l.FinancialYear, "FinancialPeriod": l.FinancialPeriod, "GLAccount": l.GLAccount, "Type": l.Type, "Status": l.Status}}})
	if err != nil || len(keys) != 1 {
		w.t.Fatalf("planting a hidden line: %v %v", keys, err)
	}
	return l, keys[0]
}

// simLine returns the simulator's transaction line of key, and its Timestamp and Modified.
func (w *world) simLine(key string) (line, int64, string) {
	w.t.Helper()
	recs, err := w.sim.Records("transaction_lines", division)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, r := range recs {
		var l line
		var v struct {
			Timestamp int64
			Modified  string
		}
		if err := json.Unmarshal(r, &l); err != nil {
			w.t.Fatal(err)
		}
		if err := json.Unmarshal(r, &v); err != nil {
			w.t.Fatal(err)
		}
		if l.ID == key {
			return l, v.Timestamp, v.Modified
		}
	}
	w.t.Fatalf("no transaction line %s in /_sim/records", key)
	return line{}, 0, ""
}

// storedLine is a stored transaction line: its fields as line has them, its version, and
// its other columns (without exact_timestamp, raw, synced_at) as JSON.
type storedLine struct {
	line
	version int64
	rest    string
}

func (w *world) storedLine(key string) storedLine {
	w.t.Helper()
	var s storedLine
	var amount string
	err := w.pool.QueryRow(context.Background(), `SELECT id::text, amount_dc::text, financial_year, financial_period,
		gl_account::text, type, status, exact_timestamp, (to_jsonb(t) - 'exact_timestamp' - 'raw' - 'synced_at' - 'amount_dc')::text
		FROM exact.transaction_lines t WHERE division = $1 AND id = $2`, division, key).Scan(&s.ID, &amount,
		&s.FinancialYear, &s.FinancialPeriod, &s.GLAccount, &s.Type, &s.Status, &s.version, &s.rest)
	if err != nil {
		w.t.Fatalf("reading stored line %s: %v", key, err)
	}
	s.AmountDC = json.Number(amount)
	return s
}

// sameLine fails unless the stored line has the simulator's fields.
func sameLine(t *testing.T, got storedLine, want line) {
	t.Helper()
	ga, _ := new(big.Rat).SetString(got.AmountDC.String())
	wa, _ := new(big.Rat).SetString(want.AmountDC.String())
	if ga == nil || wa == nil || ga.Cmp(wa) != 0 || got.key() != want.key() || got.ID != want.ID {
		t.Errorf("stored line %+v (amount %s), /_sim/records has %+v (amount %s)", got.key(), got.AmountDC, want.key(), want.AmountDC)
	}
}

// TestHiddenRecordFoundAndRepaired: a record Exact counts that its sync endpoint never
// serves is found in its entity, division and group; a full pass does not bring it, so
// --repair reads the keys the copy lacks from the bulk endpoint and the record by key, and
// writes it at version 0. The next verification is clean and the rows equal /_sim/records.
func TestHiddenRecordFoundAndRepaired(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	l, key := w.plantHidden()
	found := w.verify(verify.Options{}, "transaction_lines")[0]
	if found.Status != dest.VerifyDrift || found.ExactCount-found.LocalCount != 1 || found.Division != division {
		t.Fatalf("got %s in %d, Exact %d, copy %d; want drift of one line in %d", found.Status, found.Division, found.ExactCount, found.LocalCount, division)
	}
	var inGroup bool
	for _, d := range found.Differences {
		if d.Kind == "ledger" && d.LedgerKey.Year == l.FinancialYear && d.LedgerKey.Period == l.FinancialPeriod &&
			d.LedgerKey.GLAccount == l.GLAccount && d.ExactCount-d.LocalCount == 1 {
			inGroup = true
		}
	}
	if !inGroup {
		t.Errorf("no ledger difference of one line in the group of year %d period %d account %s: %+v", l.FinancialYear, l.FinancialPeriod, l.GLAccount, found.Differences)
	}

	before := w.client.Calls()
	res := w.verify(verify.Options{Repair: true}, "transaction_lines")
	t.Logf("the repair and its verifications made %d calls", w.client.Calls()-before)
	var repairs []string
	for _, r := range res {
		if r.Repair != "" {
			repairs = append(repairs, r.Repair)
		}
	}
	if want := []string{"full", "id_fetch"}; fmt.Sprint(repairs) != fmt.Sprint(want) {
		t.Fatalf("repairs %q, want %q", repairs, want)
	}
	if last := res[len(res)-1]; last.Status != dest.VerifyClean || !strings.Contains(last.Note, "after repair: id_fetch") {
		t.Errorf("after the repair: %s %+v (note %q), want clean after id_fetch", last.Status, last.Differences, last.Note)
	}
	onlyStatus(t, w.verify(verify.Options{}, "transaction_lines"), dest.VerifyClean)
	w.rowsEqualSim("transaction_lines")
	want, _, _ := w.simLine(key)
	got := w.storedLine(key)
	sameLine(t, got, want)
	if got.version != 0 {
		t.Errorf("the repaired line's version is %d, want 0", got.version)
	}
}

// TestSyncedVersionReplacesRepairedRow: a record written by the repair at version 0 is
// replaced by the next version the sync endpoint serves, its other columns as the repair
// wrote them.
func TestSyncedVersionReplacesRepairedRow(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	_, key := w.plantHidden()
	if last := w.verify(verify.Options{Repair: true}, "transaction_lines"); last[len(last)-1].Status != dest.VerifyClean {
		t.Fatalf("repair: %+v, want clean at the end", last[len(last)-1])
	}
	repaired := w.storedLine(key)
	_, _, modified := w.simLine(key)
	w.sim.Advance(time.Minute)
	// A change in Exact: the sync endpoint serves the record again, with a new Timestamp.
	if _, err := w.sim.UpsertRecords("transaction_lines", division, map[string]any{"ID": key, "AmountDC": 77.25, "Modified": modified}); err != nil {
		t.Fatal(err)
	}
	w.sync("transaction_lines")
	want, ts, _ := w.simLine(key)
	got := w.storedLine(key)
	if ts <= 0 || got.version != ts {
		t.Errorf("stored version %d, want the sync endpoint's Timestamp %d", got.version, ts)
	}
	if ga, _ := new(big.Rat).SetString(got.AmountDC.String()); ga == nil || ga.Cmp(big.NewRat(7725, 100)) != 0 {
		t.Errorf("stored amount %s, want 77.25", got.AmountDC)
	}
	sameLine(t, got, want)
	if got.rest != repaired.rest {
		t.Errorf("the synced row's other columns\n got %s\nwant %s (as repaired)", got.rest, repaired.rest)
	}
	onlyStatus(t, w.verify(verify.Options{}, "transaction_lines"), dest.VerifyClean)
	w.rowsEqualSim("transaction_lines")
}

// TestNeverIntoTheReserve: with the division's day budget near the reserve the syncs keep,
// a verification makes the calls that leave the reserve whole and skips the entity whose
// comparison would not, recording it skipped.
func TestNeverIntoTheReserve(t *testing.T) {
	t.Parallel()
	const limit = 30 // the reserve: 3 calls
	w := newWorld(t, func(o *exacttest.Options) { o.DailyLimit = limit })
	ctx := context.Background()
	for w.client.RateLimit(division).DailyRemaining > 6 {
		if _, err := w.client.Page(ctx, division, w.client.URL(division, "financial/ReportingBalance", url.Values{"$top": {"1"}})); err != nil {
			t.Fatal(err)
		}
	}
	if got := w.client.RateLimit(division).DailyRemaining; got != 6 {
		t.Fatalf("%d calls left, want 6 to start with", got)
	}
	res := w.verify(verify.Options{}, entities...)
	var got []string
	for _, r := range res {
		got = append(got, r.Entity+" "+r.Status)
	}
	// accounts and suppliers: 1 call each (6→5→4); transaction_lines needs 2, which
	// would leave 2 of 30, below the reserve of 3.
	want := []string{"accounts clean", "suppliers clean", "transaction_lines skipped"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("results %q, want %q", got, want)
	}
	rl := w.client.RateLimit(division)
	if float64(rl.DailyRemaining) < sync.BudgetReserve*float64(rl.DailyLimit) {
		t.Errorf("%d of %d calls left after the verification: into the reserve", rl.DailyRemaining, rl.DailyLimit)
	}
	if rl.DailyRemaining != 4 {
		t.Errorf("%d calls left, want 4", rl.DailyRemaining)
	}
}

// TestNoCountIsSaidNotGuessed: an entity Exact names no regular endpoint for has no count:
// it is reported so, with the reason, at no call.
func TestNoCountIsSaidNotGuessed(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	before := w.client.Calls()
	res := w.verify(verify.Options{}, "quotation_headers")
	if r := res[0]; r.Status != dest.VerifyNoCount || r.ExactCount != -1 || !strings.Contains(r.Note, "no regular endpoint") {
		t.Errorf("got %s (count %d, note %q), want no_count saying there is no regular endpoint", r.Status, r.ExactCount, r.Note)
	}
	if calls := w.client.Calls() - before; calls != 0 || verify.Calls([]string{"quotation_headers"}, 0) != 0 {
		t.Errorf("%d calls made, forecast %d; want none", calls, verify.Calls([]string{"quotation_headers"}, 0))
	}
}

// TestUnconfirmedDifferenceWaitsForBudget: a difference found while the budget allows one
// comparison, not two, is not called drift: the sync in between runs (incremental runs may
// use the reserve), the second comparison waits, and the entity is recorded skipped.
func TestUnconfirmedDifferenceWaitsForBudget(t *testing.T) {
	t.Parallel()
	const limit = 40 // the reserve: 4 calls
	w := newWorld(t, func(o *exacttest.Options) { o.DailyLimit = limit })
	ctx := context.Background()
	groups, err := w.st.LedgerTotals(ctx, division)
	if err != nil {
		t.Fatal(err)
	}
	need := verify.Calls([]string{"transaction_lines"}, len(groups))
	l := w.lines()[1]
	if _, err := w.sim.PlantDrift("transaction_lines", division, exacttest.Drift{DeleteUnlogged: []string{l.ID}}); err != nil {
		t.Fatal(err)
	}
	// Enough for one comparison without touching the reserve, not for two.
	start := need + 4
	for w.client.RateLimit(division).DailyRemaining > start {
		if _, err := w.client.Page(ctx, division, w.client.URL(division, "financial/ReportingBalance", url.Values{"$top": {"1"}})); err != nil {
			t.Fatal(err)
		}
	}
	if got := w.client.RateLimit(division).DailyRemaining; got != start {
		t.Fatalf("%d calls left, want %d to start with", got, start)
	}
	res := w.verify(verify.Options{Repair: true}, "transaction_lines")
	r := res[len(res)-1]
	if r.Status != dest.VerifySkipped || !r.Resynced || len(r.Differences) == 0 || r.Repair != "" {
		t.Errorf("got %s (resynced %t, %d differences, repair %q), want skipped after a resync, unrepaired", r.Status, r.Resynced, len(r.Differences), r.Repair)
	}
	// One comparison, then the sync and its deletions (incremental runs may use the
	// reserve); no second comparison.
	if r.Calls != need {
		t.Errorf("the comparisons made %d calls, want one comparison's %d", r.Calls, need)
	}
	if got, want := w.client.RateLimit(division).DailyRemaining, start-need-2; got != want {
		t.Errorf("%d calls left, want %d", got, want)
	}
}

// TestReadByKeyNeverIntoTheReserve: when reading the lacking records by key would take the
// division's day budget into its reserve, the repair reads nothing, the drift stays
// reported with the reason, and the budget left is what the comparisons left.
func TestReadByKeyNeverIntoTheReserve(t *testing.T) {
	t.Parallel()
	const limit = 200 // the reserve: 20 calls
	w := newWorld(t, func(o *exacttest.Options) { o.DailyLimit = limit })
	_, key := w.plantHidden()
	ctx := context.Background()
	compares := 0
	res := w.verify(verify.Options{Repair: true, AfterExact: func(div int, entity string) {
		// The fourth comparison is the last before the read by key (drift, resync,
		// drift; full pass; drift, resync, drift): leave the reserve and one call.
		if compares++; compares != 4 {
			return
		}
		for w.client.RateLimit(division).DailyRemaining > limit/10+1 {
			if _, err := w.client.Page(ctx, division, w.client.URL(division, "financial/ReportingBalance", url.Values{"$top": {"1"}})); err != nil {
				t.Fatal(err)
			}
		}
	}}, "transaction_lines")
	if compares != 4 {
		t.Fatalf("%d comparisons, want 4", compares)
	}
	last := res[len(res)-1]
	if last.Status != dest.VerifyDrift || last.Repair != "" || !strings.Contains(last.Note, "read by key waits") {
		t.Errorf("last result %s, repair %q, note %q; want drift, unrepaired, saying the read by key waits", last.Status, last.Repair, last.Note)
	}
	if got := w.client.RateLimit(division).DailyRemaining; got != limit/10+1 {
		t.Errorf("%d calls left, want the %d the comparisons left", got, limit/10+1)
	}
	var n int
	if err := w.pool.QueryRow(ctx, `SELECT count(*) FROM exact.transaction_lines WHERE id = $1`, key).Scan(&n); err != nil || n != 0 {
		t.Errorf("the hidden line is stored (%d rows, %v) though no read by key was made", n, err)
	}
}

// recordingSource is a Source that records the URLs of the pages it is asked for.
type recordingSource struct {
	verify.Source
	urls []string
}

func (s *recordingSource) Page(ctx context.Context, division int, pageURL string) (*exact.Page, error) {
	s.urls = append(s.urls, pageURL)
	return s.Source.Page(ctx, division, pageURL)
}

// TestReadByKeyWithinTheURLLimit: many records hidden from the sync endpoint are read by
// key in several calls, each URL within Exact's 6,000 characters (§2.6), and the copy ends
// equal to /_sim/records.
func TestReadByKeyWithinTheURLLimit(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	l := w.lines()[2]
	const hidden = 200
	var recs []map[string]any
	for i := range hidden {
		recs = append(recs, map[string]any{"AmountDC": float64(i) + 0.25, "FinancialYear": l.FinancialYear,
			"FinancialPeriod": l.FinancialPeriod, "GLAccount": l.GLAccount, "Type": l.Type, "Status": l.Status})
	}
	if keys, err := w.sim.PlantDrift("transaction_lines", division, exacttest.Drift{Hidden: recs}); err != nil || len(keys) != hidden {
		t.Fatalf("planting hidden lines: %d keys, %v", len(keys), err)
	}
	src := &recordingSource{Source: w.client}
	v := verify.New(verify.Options{ConnectionID: w.conn.ID, Logger: zerolog.Nop(), Repair: true}, src, w.st, w.syncer())
	res, err := v.Division(context.Background(), division, []string{"transaction_lines"})
	if err != nil {
		t.Fatal(err)
	}
	if last := res[len(res)-1]; last.Status != dest.VerifyClean || res[len(res)-2].Repair != "id_fetch" {
		t.Fatalf("last result %s %+v after %q, want clean after id_fetch", last.Status, last.Differences, res[len(res)-2].Repair)
	}
	byKey := 0
	for _, u := range src.urls {
		if len(u) > verify.MaxURL {
			t.Errorf("a URL of %d characters, over %d: %.120s…", len(u), verify.MaxURL, u)
		}
		if strings.Contains(u, "bulk/") && strings.Contains(u, "%20or%20") {
			byKey++
		}
	}
	t.Logf("%d records read by key in %d calls", hidden, byKey)
	if byKey < 2 || byKey > hidden/50 {
		t.Errorf("%d calls read %d records by key, want a few full URLs (2 to %d)", byKey, hidden, hidden/50)
	}
	onlyStatus(t, w.verify(verify.Options{}, "transaction_lines"), dest.VerifyClean)
	w.rowsEqualSim("transaction_lines")
}
