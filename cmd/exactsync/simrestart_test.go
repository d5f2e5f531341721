package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/exactsync/exactsync/exact/exacttest"
)

// TestConnectionOutlivesASimulatorRestartWithState: with exactsim's --state (the compose
// demo's set-up), a stored connection keeps working after the simulator restarts, the
// refresh included; without it, the next refresh finds an unknown token and the
// connection needs re-authorization.
func TestConnectionOutlivesASimulatorRestartWithState(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the exactsync binary against the simulator; skipped with -short")
	}
	t.Parallel()
	for _, keep := range []bool{true, false} {
		t.Run(map[bool]string{true: "with state", false: "in memory"}[keep], func(t *testing.T) {
			t.Parallel()
			opts := exacttest.Options{ClientID: testClientID, ClientSecret: testClientSecret, Divisions: []int{101}, Accounts: 30, Seed: 7}
			if keep {
				opts.AuthStateFile = filepath.Join(t.TempDir(), "auth.json")
			}
			first, err := exacttest.Listen("127.0.0.1:0", opts)
			if err != nil {
				t.Fatal(err)
			}
			w := newWorldAt(t, first, opts.Divisions, "info")
			w.importToken()
			w.mustRun("sync", "--entity", "accounts")
			first.Close()

			again, err := exacttest.Listen(strings.TrimPrefix(first.URL, "http://"), opts)
			if err != nil {
				t.Fatalf("restarting the simulator on its address: %v", err)
			}
			t.Cleanup(again.Close)
			w.sim = again
			w.expireToken() // the next sync refreshes, with the token the first simulator issued
			r := w.run(nil, "sync", "--entity", "accounts")
			if keep && r.code != 0 {
				t.Fatalf("sync after a restart with --state: %s", r)
			}
			if !keep && (r.code == 0 || !strings.Contains(lastLine(r.stderr), "re-authoriz")) {
				t.Fatalf("sync after a restart without --state: %s\nwant a failure asking for re-authorization", r)
			}
			if got := again.Stats().TokenCalls["refresh_token/ok"]; keep && got != 1 {
				t.Errorf("refreshes after the restart: %d, want 1", got)
			}
		})
	}
}
