package main

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/exactsync/exactsync/exact/exacttest"
)

// TestVerifyFindsAndRepairsDrift: a deletion older than Exact's log (planted in the
// simulator) leaves a transaction line the copy keeps; verify reports it in the entity,
// the division and its ledger group, exits 1 and records it; verify --repair removes it
// by comparing the IDs and exits 0; the next verification is clean, the rows equal
// /_sim/records, and the view readers see says so.
func TestVerifyFindsAndRepairsDrift(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 20, Records: map[string]int{"*": 0, "transaction_lines": 40}})
	w.importToken()
	env := map[string]string{"EXACTSYNC_ENTITIES": "accounts,transaction_lines"}
	mustRun := func(args ...string) result {
		t.Helper()
		r := w.run(env, args...)
		if r.code != 0 {
			t.Fatalf("exactsync %s: %s", strings.Join(args, " "), r)
		}
		return r
	}
	mustRun("sync", "--entity", "transaction_lines")
	mustRun("sync", "--entity", "accounts")
	// What a clean verification costs is what entities forecasts (40 lines: one page
	// of ReportingBalance).
	m := regexp.MustCompile(`(?m)^verification \(EXACTSYNC_VERIFY_SCHEDULE [^)]*\): (\d+) calls per division`).FindStringSubmatch(mustRun("entities").stdout)
	if m == nil {
		t.Fatal("entities shows no verification forecast")
	}
	before := divisionCalls(w.sim, 101)
	r := mustRun("verify")
	if !strings.Contains(r.stdout, "clean: 1 divisions agree with Exact") {
		t.Fatalf("verify of a fresh copy: %s", r)
	}
	got := divisionCalls(w.sim, 101) - before
	t.Logf("a clean verification made %d calls to division 101; entities forecasts %s", got, m[1])
	if strconv.Itoa(got) != m[1] {
		t.Errorf("a clean verification made %d calls to division 101, entities forecasts %s", got, m[1])
	}

	lines := simRecordsOf(t, w.sim, "transaction_lines")
	gone := lines[4]["ID"].(string)
	if _, err := w.sim.PlantDrift("transaction_lines", 101, exacttest.Drift{DeleteUnlogged: []string{gone}}); err != nil {
		t.Fatal(err)
	}
	r = w.run(env, "verify", "--division", "101")
	if r.code != exitError {
		t.Fatalf("verify with drift: %s, want exit %d", r, exitError)
	}
	for _, want := range []string{"transaction_lines    drift", "count: Exact 39, copy 40 (copy +1)", "(copy +1); amount Exact",
		"drift: 1 entities differ from Exact after a fresh sync; exactsync verify --repair repairs them"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("verify's report lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "accounts             drift") {
		t.Errorf("accounts reported as drift:\n%s", r.stdout)
	}

	if out := w.run(env, "doctor").stdout; !regexp.MustCompile(`(?m)^WARN.*verification.*transaction_lines of division 101 \(connection \d+\) differs from Exact`).MatchString(out) {
		t.Errorf("doctor does not warn of the drift:\n%s", out)
	}
	if out := mustRun("status").stdout; !strings.Contains(out, "1 drift") || !strings.Contains(out, "drift: transaction_lines of division 101") {
		t.Errorf("status does not show the last verification's drift:\n%s", out)
	}

	r = mustRun("verify", "--repair", "--entity", "transaction_lines")
	if !strings.Contains(r.stdout, "repaired: id_set") || !strings.Contains(r.stdout, "clean: 1 divisions") {
		t.Errorf("verify --repair: %s", r)
	}
	mustRun("verify")
	if out := mustRun("status").stdout; !regexp.MustCompile(`(?m)^last verification: .* ago .*: 2 clean$`).MatchString(out) {
		t.Errorf("status after the repair:\n%s", out)
	}
	var n int
	if err := w.pool.QueryRow(context.Background(), `SELECT count(*) FROM exact.transaction_lines WHERE division = 101 AND id = $1`, gone).Scan(&n); err != nil || n != 0 {
		t.Errorf("after the repair: the line Exact deleted is still stored (%d, %v)", n, err)
	}
	if err := w.pool.QueryRow(context.Background(), `SELECT count(*) FROM exact.transaction_lines WHERE division = 101`).Scan(&n); err != nil || n != len(lines)-1 {
		t.Errorf("after the repair: %d lines (%v), want the simulator's %d", n, err, len(lines)-1)
	}
	var status string
	if err := w.pool.QueryRow(context.Background(), `SELECT status FROM exact_status.verifications
		WHERE division = 101 AND entity = 'transaction_lines' ORDER BY finished_at DESC LIMIT 1`).Scan(&status); err != nil || status != "clean" {
		t.Errorf("exact_status.verifications: last status %q (%v), want clean", status, err)
	}
}

// divisionCalls are the API calls the simulator received for division.
func divisionCalls(sim *exacttest.Server, division int) int {
	n := 0
	for k, c := range sim.Stats().APICalls {
		if strings.HasPrefix(k, strconv.Itoa(division)+" ") {
			n += c
		}
	}
	return n
}
