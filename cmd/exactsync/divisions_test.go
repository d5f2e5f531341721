package main

import (
	"strings"
	"testing"
	"time"

	"github.com/exactsync/exactsync/exact/exacttest"
)

// TestSpentDivisionDoesNotStopTheOthers: the user's current division (101) has spent its
// day budget. Listing the divisions goes through another division (102), which is then
// synced; 101 is reported as waiting for its reset, and is not called again (each
// division has its own budget, docs/exact-online.md §2.1; after a daily 429, stop calling
// it, §2.4).
func TestSpentDivisionDoesNotStopTheOthers(t *testing.T) {
	t.Parallel()
	// The simulated day starts at noon today, so that its day window ends at the next
	// midnight on this machine's clock too, however the test is timed.
	noon := time.Now().UTC().Truncate(24 * time.Hour).Add(12 * time.Hour)
	w := newWorld(t, exacttest.Options{Divisions: []int{101, 102}, Accounts: 50, DailyLimit: 6, Start: noon})
	w.importToken()
	all := map[string]string{"EXACT_DIVISIONS": ""}                   // list the divisions through Exact
	if r := w.run(all, "sync", "--entity", "accounts"); r.code != 0 { // 101: list + page + deletions; 102: page + deletions
		t.Fatalf("first sync: %s", r)
	}
	for range 3 {
		w.run(nil, "sync", "--entity", "accounts", "--division", "101")
	}
	before := w.sim.Stats()
	spent := 0
	for _, ep := range []string{"sync/CRM/Accounts", "sync/Deleted", "system/Divisions"} {
		spent += before.Calls(101, ep)
	}
	if spent < 6 {
		t.Fatalf("division 101 made %d calls, want its day's 6 spent: %+v", spent, before.APICalls)
	}

	r := w.run(all, "sync", "--entity", "suppliers")
	if !strings.Contains(r.stdout, "suppliers division 102: ok") {
		t.Errorf("division 102 was not synced while 101's day is spent:\n%s", r)
	}
	if !strings.Contains(r.stdout+r.stderr, "daily limit reached for division 101") {
		t.Errorf("division 101's spent day is not reported:\n%s", r)
	}
	after := w.sim.Stats()
	if got := after.Calls(101, "system/Divisions") - before.Calls(101, "system/Divisions"); got != 0 {
		t.Errorf("listing went through the spent division %d times, want 0", got)
	}
	if after.TooManyRequests != before.TooManyRequests {
		t.Errorf("the run drew %d more 429s, want none: a spent division is not called before its reset",
			after.TooManyRequests-before.TooManyRequests)
	}
}
