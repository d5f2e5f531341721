package main

import (
	"testing"

	"github.com/exactsync/exactsync/exact/exacttest"
)

// TestUnknownVariableIsReported: a variable named like exactsync's that it does not read
// is one line naming it and the closest known one, exit 2, before anything runs; the
// variables of the flags (EXACTSYNC_KEEPALIVE) are known.
func TestUnknownVariableIsReported(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 5})
	r := w.run(map[string]string{"EXACTSYNC_SCHEDULE_ACCOUNT": "*/5 * * * *"}, "entities")
	if r.code != exitUsage {
		t.Fatalf("entities with EXACTSYNC_SCHEDULE_ACCOUNT set: %s\nwant exit 2", r)
	}
	checkErrorLine(t, r, "EXACTSYNC_SCHEDULE_ACCOUNT: not a variable exactsync reads; did you mean EXACTSYNC_SCHEDULE_ACCOUNTS?")
	if r.stdout != "" {
		t.Errorf("entities printed before refusing:\n%s", r.stdout)
	}
	r = w.run(map[string]string{"EXACTSYNC_KEEPALIVE": "72h", "EXACTSYNC_RUN_HISTORY": "0", "EXACTSYNC_PORT": "tcp://10.0.0.1:9464"}, "entities")
	if r.code != exitOK {
		t.Errorf("entities with flag variables and a service link set: %s\nwant exit 0", r)
	}
	r = w.run(map[string]string{"EXACT_CLIENTID": "x"}, "status")
	if r.code != exitUsage {
		t.Fatalf("status with EXACT_CLIENTID set: %s\nwant exit 2", r)
	}
	checkErrorLine(t, r, "EXACT_CLIENTID: not a variable exactsync reads; did you mean EXACT_CLIENT_ID?")
}
