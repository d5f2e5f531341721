package main

import (
	"strings"
	"testing"
	"time"

	"github.com/exactsync/exactsync/exact/exacttest"
)

// TestRunRefusesDivisionsNoConnectionGrants: run holds EXACT_DIVISIONS to what sync does.
// None of its divisions granted is one line naming them and what is granted, exit 2; some
// not granted start the worker with one warning naming them.
func TestRunRefusesDivisionsNoConnectionGrants(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101, 102}, Accounts: 5})
	w.importToken()

	r := w.run(map[string]string{"EXACT_DIVISIONS": "999"}, "run")
	if r.code != exitUsage {
		t.Fatalf("run with EXACT_DIVISIONS=999: exit %d, want %d\n%s", r.code, exitUsage, r)
	}
	checkErrorLine(t, r, "EXACT_DIVISIONS names 999, which no connection grants", "connection 1: 101, 102")

	w.env["EXACT_DIVISIONS"] = "101,999"
	p := w.startServing()
	const warning = "EXACT_DIVISIONS names divisions no connection grants; they are not synced"
	if !eventually(60*time.Second, func() bool { return strings.Contains(p.stderr.String(), `"message":"worker started"`) }) {
		t.Fatalf("run with EXACT_DIVISIONS=101,999 did not start its worker within 60 s:\n%s", p.stderr)
	}
	if logs := p.stderr.String(); strings.Count(logs, warning) != 1 || !strings.Contains(logs, `"divisions":[999]`) {
		t.Errorf("run with EXACT_DIVISIONS=101,999: want one warning naming 999:\n%s", logs)
	}
	p.stop(t)
}
