package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exactsync/exactsync/exact/exacttest"
	"github.com/exactsync/exactsync/sink/seal"
)

// storedBytes is every secret column of exact_sync.connections, and the record of the
// database's key, as anyone reading the database sees them.
func (w *world) storedBytes() string {
	w.t.Helper()
	var text string
	err := w.pool.QueryRow(context.Background(), `SELECT coalesce(string_agg(access_token || ' ' || refresh_token || ' ' || client_secret, E'\n'), '')
		|| ' / ' || coalesce((SELECT key_id FROM exact_sync.encryption_key), '') FROM exact_sync.connections`).Scan(&text)
	if err != nil {
		w.t.Fatal(err)
	}
	return text
}

// TestSecretsAreSealedByDefault: with no key configured, the first auth import generates
// one into the state directory and stores nothing in plain text; a second process with
// another state directory and no key refuses to start, naming the key, and changes
// nothing; the first process still syncs.
func TestSecretsAreSealedByDefault(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 300})
	first := w.sim.RefreshToken()
	r := w.mustRun("auth", "import", "--refresh-token", first)
	keyFile := filepath.Join(w.env["EXACTSYNC_STATE_DIR"], seal.KeyFile)
	if n := strings.Count(r.stderr, "generated the encryption key of the stored secrets into "+keyFile); n != 1 ||
		!strings.Contains(r.stderr, "production deployments should set EXACTSYNC_ENCRYPTION_KEY or EXACTSYNC_ENCRYPTION_KEY_FILE") {
		t.Errorf("auth import said %d times where the key is, want once with the advice for production:\n%s", n, r.stderr)
	}
	fi, err := os.Stat(keyFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file %s: %v, %v; want mode 0600", keyFile, fi, err)
	}
	id := w.keyring().CurrentID()

	stored := w.storedBytes()
	secrets := append([]string{first, w.sim.RefreshToken(), testClientSecret}, w.storedSecrets()[2:]...)
	if len(secrets) != 5 {
		t.Fatalf("%d secrets to look for, want 5", len(secrets))
	}
	for _, s := range secrets {
		if strings.Contains(stored, s) {
			t.Errorf("exact_sync.connections holds a secret in plain text (%d chars starting %q)", len(s), s[:4])
		}
	}
	if n := strings.Count(stored, "seal:v1:"+id+":"); n != 3 || !strings.HasSuffix(stored, " / "+id) {
		t.Errorf("%d values sealed with the generated key %s, want 3 (access token, refresh token, client secret), and the key recorded:\n%s", n, id, stored)
	}
	if r := w.mustRun("migrate"); strings.Contains(r.stderr, "generated") {
		t.Errorf("a second start generated a key again:\n%s", r.stderr)
	}

	// Another machine, or a lost state directory: no key, another state directory.
	other := t.TempDir()
	runs := w.count(`SELECT count(*) FROM exact_sync.runs`)
	for _, args := range [][]string{{"sync", "--entity", "accounts"}, {"run"}, {"auth", "status"}} {
		r := w.run(map[string]string{"EXACTSYNC_STATE_DIR": other}, args...)
		if r.code != exitUsage || r.stdout != "" {
			t.Errorf("%v with another state directory: %s; want exit 2 and nothing on stdout", args, r)
		}
		checkErrorLine(t, r, "refusing to start", "sealed with key "+id, "EXACTSYNC_ENCRYPTION_KEY", "copy the "+seal.KeyFile)
		if n := strings.Count(r.stderr, "exactsync: "); n != 1 {
			t.Errorf("%v printed %d error lines, want 1:\n%s", args, n, r.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(other, seal.KeyFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused process wrote a key file (%v)", err)
	}
	if got := w.storedBytes(); got != stored {
		t.Errorf("the refused processes changed the stored secrets")
	}
	if got := w.count(`SELECT count(*) FROM exact_sync.runs`); got != runs {
		t.Errorf("the refused processes recorded %d runs", got-runs)
	}
	// The first process, with its key, still syncs; its token chain was left intact.
	w.expireToken()
	w.mustRun("sync", "--entity", "accounts")
	w.checkTablesAccountsOnly([]int{101})
	if st := w.sim.Stats(); st.RefreshReuseRejections != 0 {
		t.Errorf("%d refresh-token reuse rejections, want 0", st.RefreshReuseRejections)
	}
}

// TestPlaintextSecretsAreSealedAtTheNextStart: secrets stored in plain text (by an
// earlier version, or with the opt-out) are sealed by the next start that has a key, a
// configured one or one it generates.
func TestPlaintextSecretsAreSealedAtTheNextStart(t *testing.T) {
	t.Parallel()
	key, _, keyID := newTestKey(t)
	tests := []struct {
		name string
		env  map[string]string
	}{
		{"a configured key", map[string]string{"EXACTSYNC_ENCRYPTION_KEY": key}},
		{"no key configured", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 50})
			w.env["EXACTSYNC_ENCRYPTION_KEY"] = "none"
			w.importToken()
			if stored := w.storedBytes(); strings.Contains(stored, "seal:v1:") || !strings.Contains(stored, testClientSecret) {
				t.Fatalf("with EXACTSYNC_ENCRYPTION_KEY=none the secrets are not plain text:\n%s", stored)
			}
			delete(w.env, "EXACTSYNC_ENCRYPTION_KEY")
			for k, v := range tt.env {
				w.env[k] = v
			}
			r := w.mustRun("sync", "--entity", "accounts")
			if !strings.Contains(r.stderr, "sealed the secrets stored in plain text") && !strings.Contains(r.stderr, "generated the encryption key") {
				t.Errorf("the start that sealed the secrets did not say so:\n%s", r.stderr)
			}
			id := w.keyring().CurrentID()
			if tt.env != nil && id != keyID {
				t.Fatalf("the world's key %s, want the configured %s", id, keyID)
			}
			if stored := w.storedBytes(); strings.Count(stored, "seal:v1:"+id+":") != 3 || strings.Contains(stored, testClientSecret) {
				t.Errorf("after the start with a key the secrets are not all sealed with %s:\n%s", id, stored)
			}
			w.checkTablesAccountsOnly([]int{101})
		})
	}
}

// TestRunSealsPlaintextSecretsAtStart: the opt-out removed, the next `run` seals what
// was stored in plain text before it runs anything.
func TestRunSealsPlaintextSecretsAtStart(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 20})
	w.env["EXACTSYNC_ENCRYPTION_KEY"] = "none"
	w.importToken()
	delete(w.env, "EXACTSYNC_ENCRYPTION_KEY")
	procs := w.startRuns(1)
	w.waitUntil("run sealed the secrets", time.Minute, func() bool {
		return strings.Count(w.storedBytes(), "seal:v1:") == 3
	})
	if stored := w.storedBytes(); strings.Contains(stored, testClientSecret) {
		t.Errorf("after run started the client secret is still plain text:\n%s", stored)
	}
	if id := w.keyring().CurrentID(); !strings.Contains(w.storedBytes(), "seal:v1:"+id+":") {
		t.Errorf("the secrets are not sealed with the key run generated into the state directory (%s):\n%s", id, procs[0].stderr)
	}
}

// TestRunStartedBeforeTheFirstImport: as in the compose file, the scheduler starts on an
// empty database, with no key, while the importer stores the first token and generates
// the key into the state directory they share: the scheduler takes that key and syncs.
func TestRunStartedBeforeTheFirstImport(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 150})
	w.mustRun("migrate")
	procs := w.startRuns(1)
	w.waitUntil("the scheduler's queue exists", time.Minute, func() bool {
		return w.count(`SELECT count(*) FROM pg_tables WHERE schemaname = 'exact_river' AND tablename = 'river_job'`) == 1
	})
	w.importToken()
	w.mustRun("sync", "--entity", "accounts", "--enqueue")
	w.waitUntil("the scheduler's run of accounts", 2*time.Minute, func() bool {
		return w.count(`SELECT count(*) FROM exact_sync.runs WHERE entity = 'accounts' AND job_id IS NOT NULL AND status <> 'running'`) > 0
	})
	if n := w.count(`SELECT count(*) FROM exact_sync.runs WHERE entity = 'accounts' AND job_id IS NOT NULL AND status = 'ok'`); n == 0 {
		w.t.Fatalf("the scheduler's run of accounts failed:\n%s", procs[0].stderr)
	}
	w.checkTablesAccountsOnly([]int{101})
	if stored := w.storedBytes(); strings.Contains(stored, testClientSecret) || strings.Count(stored, "seal:v1:") != 3 {
		t.Errorf("the secrets are not all sealed:\n%s", stored)
	}
}
