package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exactsync/exactsync/sink/seal"
	"github.com/exactsync/exactsync/sink/sinktest"
)

// plaintextSecrets counts the secrets stored unsealed, read with SQL.
func (p *inProcess) plaintextSecrets() int {
	p.t.Helper()
	var n int
	err := p.pool.QueryRow(context.Background(), `SELECT count(*) FROM exact_sync.connections,
		unnest(ARRAY[access_token, refresh_token, client_secret]) v WHERE v <> '' AND v NOT LIKE 'seal:v1:%'`).Scan(&n)
	if err != nil {
		p.t.Fatal(err)
	}
	return n
}

// TestDoctorOnSecretsAndAccess: doctor's checks of the stored secrets, of who can read
// them and of the readers, on a healthy setup and on each way of breaking it; doctor
// changes nothing, and the next sync seals what it found in plain text.
func TestDoctorOnSecretsAndAccess(t *testing.T) {
	t.Parallel()
	p := newInProcessAt(t, sinktest.NewScratchDatabase(t))
	ctx := context.Background()
	doctor := func(when string, want map[string]string, says ...string) string {
		t.Helper()
		r := p.run("doctor", "--no-exact")
		got := doctorLines(r.stdout)
		fails := false
		for subject, status := range want {
			if s := got[subject]; len(s) == 0 || s[0] != status {
				t.Errorf("%s: %s is %v, want %s\n%s", when, subject, s, status, r.stdout)
			}
			fails = fails || status == "FAIL"
		}
		if wantCode := map[bool]int{false: exitOK, true: exitError}[fails]; r.code != wantCode {
			t.Errorf("%s: doctor exit %d, want %d\n%s", when, r.code, wantCode, r)
		}
		for _, s := range says {
			if !strings.Contains(r.stdout, s) {
				t.Errorf("%s: the checklist does not say %q:\n%s", when, s, r.stdout)
			}
		}
		return r.stdout
	}

	// Stored with the explicit opt-out: plain text, and doctor warns.
	p.vars["EXACTSYNC_ENCRYPTION_KEY"] = "none"
	if r := p.run("auth", "import", "--refresh-token", p.sim.RefreshToken()); r.code != exitOK {
		t.Fatalf("import: %s", r)
	}
	if n := p.plaintextSecrets(); n != 3 {
		t.Fatalf("with the opt-out, %d secrets are stored in plain text, want 3", n)
	}
	doctor("opt-out", map[string]string{"encryption": "WARN", "stored secrets": "WARN", "secrets access": "OK", "readers": "OK"},
		"3 in plain text (connection 1), as EXACTSYNC_ENCRYPTION_KEY=none asks")

	// The opt-out removed: doctor FAILs on those rows and changes nothing.
	p.vars["EXACTSYNC_ENCRYPTION_KEY"] = ""
	keyFile := filepath.Join(p.vars["EXACTSYNC_STATE_DIR"], seal.KeyFile)
	doctor("opt-out removed", map[string]string{"encryption": "OK", "stored secrets": "FAIL"},
		"3 in plain text (connection 1)", "the next start of sync, run or migrate generates one into "+keyFile)
	if n := p.plaintextSecrets(); n != 3 {
		t.Errorf("doctor changed the stored secrets: %d in plain text, want 3", n)
	}
	if _, err := os.Stat(keyFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("doctor generated a key (%v)", err)
	}
	// The next sync seals them, with a key it generates.
	p.vars["EXACT_DIVISIONS"] = "101"
	if r := p.run("sync", "--entity", "accounts"); r.code != exitOK || !strings.Contains(r.stderr, "generated the encryption key") {
		t.Fatalf("sync: %s", r)
	}
	if n := p.plaintextSecrets(); n != 0 {
		t.Errorf("after the sync %d secrets are in plain text, want 0", n)
	}
	doctor("healthy", map[string]string{"encryption": "OK", "stored secrets": "OK", "secrets access": "OK", "readers": "OK"},
		"generated, in "+keyFile, "all 3 sealed", "only exactsync's role")

	// A reader, then an analyst granted the secrets by hand, then PUBLIC.
	reader := sinktest.NewRoleName(t, "doctor_reader", p.vars["DATABASE_URL"])
	if r := p.run("readers", "add", reader, "--divisions", "101"); r.code != exitOK {
		t.Fatalf("readers add: %s", r)
	}
	doctor("a reader", map[string]string{"secrets access": "OK", "readers": "OK"}, reader+" (division 101)")
	analyst := sinktest.NewRoleName(t, "doctor_analyst", p.vars["DATABASE_URL"])
	for _, q := range []string{`CREATE ROLE ` + analyst, `GRANT USAGE ON SCHEMA exact_sync TO ` + analyst, `GRANT SELECT ON exact_sync.connections TO ` + analyst} {
		if _, err := p.pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	doctor("an analyst", map[string]string{"secrets access": "FAIL"}, analyst+" can read exact_sync.connections", "REVOKE ALL ON SCHEMA exact_sync FROM "+analyst)
	for _, q := range []string{`GRANT USAGE ON SCHEMA exact_sync TO PUBLIC`, `GRANT SELECT ON exact_sync.connections TO PUBLIC`} {
		if _, err := p.pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	doctor("PUBLIC", map[string]string{"secrets access": "FAIL"}, "PUBLIC can read exact_sync.connections")
	// The next start takes back what PUBLIC was given; a role's grants are the operator's.
	if r := p.run("migrate"); r.code != exitOK || !strings.Contains(r.stderr, "took back the privileges PUBLIC had been granted") {
		t.Fatalf("migrate: %s", r)
	}
	out := doctor("PUBLIC taken back", map[string]string{"secrets access": "FAIL"}, analyst+" can read exact_sync.connections")
	if strings.Contains(out, "PUBLIC can") {
		t.Errorf("after migrate PUBLIC can still read the secrets:\n%s", out)
	}
	if _, err := p.pool.Exec(ctx, `REVOKE ALL ON SCHEMA exact_sync FROM `+analyst); err != nil {
		t.Fatal(err)
	}
	doctor("analyst taken back", map[string]string{"secrets access": "OK"})

	// A table of exact without row-level security.
	if _, err := p.pool.Exec(ctx, `ALTER TABLE exact.accounts DISABLE ROW LEVEL SECURITY`); err != nil {
		t.Fatal(err)
	}
	doctor("a table unprotected", map[string]string{"readers": "FAIL"}, "exact.accounts without row-level security", "run exactsync migrate")
	if r := p.run("migrate"); r.code != exitOK {
		t.Fatalf("migrate: %s", r)
	}
	doctor("after migrate", map[string]string{"readers": "OK"})
}
