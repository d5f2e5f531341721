package main

import (
	"context"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/exactsync/exactsync/exact/exacttest"
)

// TestSyncSinceRereadsFromTheDate: records Exact changed without a new Timestamp (planted in
// the simulator) are missed by an incremental run; sync --since re-reads transaction lines
// from where SyncTimestamp says the stream reaches the date (§3.10, §3.16), not from the
// start, and accounts, which SyncTimestamp does not serve, in a full pass; afterwards the
// tables equal the simulator's records. Bad --since values are one-line usage errors.
func TestSyncSinceRereadsFromTheDate(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 30, Records: map[string]int{"*": 0, "transaction_lines": 40}})
	w.importToken()
	w.mustRun("sync", "--entity", "transaction_lines")
	w.mustRun("sync", "--entity", "accounts")

	lines := simRecordsOf(t, w.sim, "transaction_lines")
	line := lines[5]["ID"].(string)
	lineTS, _ := lines[5]["Timestamp"].(json.Number).Int64()
	accounts := w.sim.Accounts(101)
	account := accounts[3].ID
	now := w.sim.Now()
	if _, err := w.sim.PlantDrift("transaction_lines", 101, exacttest.Drift{SilentChanges: []map[string]any{
		{"ID": line, "AmountDC": json.Number("123.45"), "Modified": now}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.sim.PlantDrift("accounts", 101, exacttest.Drift{SilentChanges: []map[string]any{
		{"ID": account, "Name": "Stil gewijzigd B.V.", "Modified": now}}}); err != nil {
		t.Fatal(err)
	}
	amount := func() string {
		var s string
		if err := w.pool.QueryRow(context.Background(), `SELECT amount_dc::text FROM exact.transaction_lines WHERE division = 101 AND id = $1`, line).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	lastRun := func(entity string) (full bool, from int64) {
		if err := w.pool.QueryRow(context.Background(), `SELECT full_sync, cursor_from FROM exact_sync.runs
			WHERE division = 101 AND entity = $1 ORDER BY id DESC LIMIT 1`, entity).Scan(&full, &from); err != nil {
			t.Fatal(err)
		}
		return full, from
	}
	w.mustRun("sync", "--entity", "transaction_lines")
	if got := amount(); got == "123.45" {
		t.Fatal("an incremental run saw a change without a new Timestamp: the drift was not planted")
	}

	since := now.Add(-time.Minute).Format(time.RFC3339)
	w.mustRun("sync", "--entity", "transaction_lines", "--since", since)
	if got := amount(); got != "123.45" {
		t.Errorf("after --since: amount_dc %s, want 123.45", got)
	}
	if full, from := lastRun("transaction_lines"); full || from != lineTS-1 {
		t.Errorf("--since run: full %v, cursor_from %d; want an incremental read from %d (SyncTimestamp's answer minus one)", full, from, lineTS-1)
	}

	day := now.In(amsterdamZone(t)).Format(time.DateOnly)
	w.mustRun("sync", "--entity", "accounts", "--since", day)
	var name string
	if err := w.pool.QueryRow(context.Background(), `SELECT name FROM exact.accounts WHERE division = 101 AND id = $1`, account).Scan(&name); err != nil {
		t.Fatal(err)
	}
	if name != "Stil gewijzigd B.V." {
		t.Errorf("after --since: name %q, want the changed one", name)
	}
	if full, _ := lastRun("accounts"); !full {
		t.Error("accounts --since: want a full pass, SyncTimestamp does not serve Accounts")
	}

	// The copy equals the simulator's records.
	want := map[string]string{}
	for _, l := range simRecordsOf(t, w.sim, "transaction_lines") {
		if n, ok := l["AmountDC"].(json.Number); ok {
			want[l["ID"].(string)] = n.String()
		}
	}
	rows, err := w.pool.Query(context.Background(), `SELECT id::text, amount_dc::text FROM exact.transaction_lines WHERE division = 101 AND amount_dc IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for rows.Next() {
		var id, a string
		if err := rows.Scan(&id, &a); err != nil {
			t.Fatal(err)
		}
		got[id] = a
	}
	if len(got) != len(want) {
		t.Errorf("got %d lines with an amount, want %d", len(got), len(want))
	}
	for id, a := range want {
		if g, ok := got[id]; !ok || !sameDecimal(g, a) {
			t.Errorf("line %s: amount_dc %q, want %s", id, g, a)
		}
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--since", "yesterday"}, `--since "yesterday" is not a date`},
		{[]string{"--since", "2026-01-01", "--full"}, "--since and --full both say where to start"},
		{[]string{"--since", "2026-01-01", "--enqueue"}, "--since runs here, not on the workers"},
	} {
		r := w.run(nil, append([]string{"sync", "--entity", "accounts"}, tt.args...)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tt.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("sync %v: got %s, want exit %d and one line containing %q", tt.args, r, exitUsage, tt.want)
		}
	}
}

func simRecordsOf(t *testing.T, sim *exacttest.Server, entity string) []map[string]any {
	t.Helper()
	raws, err := sim.Records(entity, 101)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]map[string]any, len(raws))
	for i, raw := range raws {
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.UseNumber()
		if err := dec.Decode(&out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func amsterdamZone(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// sameDecimal compares PostgreSQL's numeric text with a Double's text ("1E-05" and
// "0.00001") by exact value.
func sameDecimal(a, b string) bool {
	x, ok1 := new(big.Rat).SetString(a)
	y, ok2 := new(big.Rat).SetString(b)
	return ok1 && ok2 && x.Cmp(y) == 0
}
