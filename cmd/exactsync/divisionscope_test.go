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

// TestRefusedRunSaysWhatToDo: a division that refuses the app (403) is recorded refused;
// the sync's last line names the endpoint and the way out, the other division syncs, and
// status says when the schedules try again.
func TestRefusedRunSaysWhatToDo(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101, 102}, Accounts: 20})
	w.importToken()
	w.sim.RevokeDivision(102) // after the import, which lists the divisions
	r := w.run(nil, "sync", "--entity", "accounts")
	line := lastLine(r.stderr)
	if r.code != 1 || !strings.Contains(line, "Exact refuses sync/CRM/Accounts here") || !strings.Contains(line, "App Center") ||
		!strings.Contains(line, "leave accounts out of EXACTSYNC_ENTITIES") {
		t.Fatalf("sync with division 102 refusing: %s\nwant exit 1 and a last line with the way out", r)
	}
	if !strings.Contains(r.stdout, "accounts division 101: ok") || !strings.Contains(r.stdout, "accounts division 102: refused") {
		t.Errorf("result lines:\n%s\nwant 101 ok and 102 refused", r.stdout)
	}
	st := w.mustRun("status")
	found := false
	for l := range strings.SplitSeq(st.stdout, "\n") {
		if f := strings.Fields(l); len(f) > 2 && f[1] == "102" && f[2] == "accounts" {
			found = true
			if !strings.Contains(l, "refused") || !strings.Contains(l, "not before") {
				t.Errorf("status line of the refused entity: %q, want the refusal and when the schedules try again", l)
			}
		}
	}
	if !found {
		t.Errorf("status shows no accounts line of division 102:\n%s", st.stdout)
	}
}
