package main

import (
	"strings"
	"testing"

	"github.com/exactsync/exactsync/exact/exacttest"
)

// TestCurrentDivisionNotGranted: the app was not granted the user's current division
// (§3.3). Without EXACT_DIVISIONS the sync says so and names the fix in one line; with a
// granted division named, the list goes through it and that division syncs.
func TestCurrentDivisionNotGranted(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101, 102}, Accounts: 20})
	w.sim.RevokeDivision(101) // the user's current division
	delete(w.env, "EXACT_DIVISIONS")
	w.importToken()

	r := w.run(nil, "sync", "--entity", "accounts")
	line := lastLine(r.stderr)
	if r.code == 0 || !strings.Contains(line, "not granted division 101") || !strings.Contains(line, "EXACT_DIVISIONS") {
		t.Fatalf("sync without a granted division to list through: %s\nwant a last line naming division 101 and EXACT_DIVISIONS", r)
	}

	r = w.run(map[string]string{"EXACT_DIVISIONS": "102"}, "sync", "--entity", "accounts")
	if r.code != 0 {
		t.Fatalf("sync with EXACT_DIVISIONS=102: %s", r)
	}
	if n := w.count(`SELECT count(*) FROM exact.accounts WHERE division = 102`); n != 20 {
		t.Errorf("accounts of division 102: %d, want 20", n)
	}
}
