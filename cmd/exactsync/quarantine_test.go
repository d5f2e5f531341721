package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/exactsync/exactsync/exact/exacttest"
)

// hostileGUID is the ID of hostile record n.
func hostileGUID(n int) string { return fmt.Sprintf("00000000-0000-4000-9000-%012d", n) }

// hostileRecords are the records of the reliability issue that once stopped a division
// for good, each as Exact could serve it.
func hostileRecords() map[string]string {
	return map[string]string{
		"NUL in a string":      `{"ID":"` + hostileGUID(1) + `","Name":"has\u0000nul","IsSupplier":true}`,
		"lone surrogate":       `{"ID":"` + hostileGUID(2) + `","Name":"\ud800","IsSupplier":true}`,
		"ID not a GUID":        `{"ID":"not-a-guid","Name":"x","IsSupplier":true}`,
		"null Timestamp":       `{"ID":"` + hostileGUID(4) + `","Name":"x","Timestamp":null}`,
		"string for a boolean": `{"ID":"` + hostileGUID(5) + `","Name":"x","IsSupplier":"yes"}`,
		"garbage date":         `{"ID":"` + hostileGUID(6) + `","Name":"x","Created":"/Date(garbage)/"}`,
		"escaped-slash date":   `{"ID":"` + hostileGUID(7) + `","Name":"x","Modified":"\/"}`,
		"invalid JSON array":   `{"ID":"` + hostileGUID(8) + `","Name":[1 2 x]}`,
		"invalid escape":       `{"ID":"` + hostileGUID(9) + `","Name":"\x"}`,
	}
}

// TestHostileRecordsAreQuarantinedAndTheDivisionMovesOn: Exact serves one record of each
// hostile kind among changes and deletions. The runs succeed, every good record and
// deletion is applied, each hostile record is in exact_sync.rejected_records, the cursors
// move past them, a good version of one later takes it out of quarantine, and --full
// works too.
func TestHostileRecordsAreQuarantinedAndTheDivisionMovesOn(t *testing.T) {
	t.Parallel()
	divs := []int{101, 102}
	w := newWorld(t, exacttest.Options{Divisions: divs, Accounts: 300})
	w.importToken()
	syncBoth := func(args ...string) {
		t.Helper()
		for _, e := range []string{"accounts", "suppliers"} {
			r := w.mustRun(append([]string{"sync", "--entity", e}, args...)...)
			if strings.Contains(r.stdout, "failed") {
				t.Fatalf("sync --entity %s: %s", e, r)
			}
		}
	}
	syncBoth()

	var raw []json.RawMessage
	for _, rec := range hostileRecords() {
		raw = append(raw, json.RawMessage(rec))
	}
	ctx := context.Background()
	good := w.sim.Accounts(101)
	if err := w.sim.UpsertRawAccounts(101, raw[:5]...); err != nil {
		t.Fatal(err)
	}
	changed := good[3]
	changed.Name = "Changed between hostile records"
	if err := w.sim.UpsertAccounts(101, changed); err != nil {
		t.Fatal(err)
	}
	if err := w.sim.UpsertRawAccounts(101, raw[5:]...); err != nil {
		t.Fatal(err)
	}
	if err := w.sim.DeleteAccounts(101, good[7].ID, good[8].ID); err != nil {
		t.Fatal(err)
	}
	syncBoth()
	w.checkTables(divs)
	want := len(raw)
	for _, e := range []string{"accounts", "suppliers"} {
		var n int
		if err := w.pool.QueryRow(ctx, `SELECT count(*) FROM exact_sync.rejected_records WHERE division = 101 AND entity = $1`, e).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Errorf("%s: %d records quarantined, want %d", e, n, want)
		}
		var cursor, deleted int64
		if err := w.pool.QueryRow(ctx, `SELECT
				(SELECT cursor_timestamp FROM exact_sync.cursors WHERE division = 101 AND entity = $1),
				(SELECT cursor_timestamp FROM exact_sync.cursors WHERE division = 101 AND entity = 'deletions')`, e).
			Scan(&cursor, &deleted); err != nil {
			t.Fatal(err)
		}
		if cursor < changed.Timestamp || deleted == 0 {
			t.Errorf("%s: cursor %d, deletions cursor %d; want past the changes (%d) and the deletions", e, cursor, deleted, changed.Timestamp)
		}
	}
	if out := w.mustRun("status").stdout; !strings.Contains(out, fmt.Sprintf("quarantined records: %d", 2*want)) {
		t.Errorf("status does not report the quarantine:\n%s", out)
	}

	// A good version of the NUL record takes it out of quarantine, into the tables.
	fixed := exacttest.Account{ID: hostileGUID(1), Name: "now without NUL", IsSupplier: true}
	if err := w.sim.UpsertAccounts(101, fixed); err != nil {
		t.Fatal(err)
	}
	syncBoth()
	w.checkTables(divs)
	var left int
	if err := w.pool.QueryRow(ctx, `SELECT count(*) FROM exact_sync.rejected_records WHERE record_key = $1`, hostileGUID(1)).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("the record's good version left %d quarantine rows, want 0", left)
	}

	// A full pass reads the hostile records again: they stay quarantined, once each.
	syncBoth("--full")
	w.checkTables(divs)
	var n int
	if err := w.pool.QueryRow(ctx, `SELECT count(*) FROM exact_sync.rejected_records WHERE division = 101`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2*(want-1) {
		t.Errorf("after the full pass %d quarantine rows, want %d", n, 2*(want-1))
	}
}
