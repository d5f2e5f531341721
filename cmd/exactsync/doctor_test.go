package main

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/exactsync/exactsync/sink/sinktest"
)

// doctorLines maps each checklist subject to its status, e.g. "database" → "OK".
func doctorLines(out string) map[string][]string {
	got := map[string][]string{}
	for _, m := range regexp.MustCompile(`(?m)^(OK|WARN|FAIL) +(\S.*?)  +`).FindAllStringSubmatch(out, -1) {
		got[strings.TrimSpace(m[2])] = append(got[strings.TrimSpace(m[2])], m[1])
	}
	return got
}

func TestDoctorOnAHealthySetup(t *testing.T) {
	p := newInProcess(t)
	p.vars["EXACTSYNC_ENCRYPTION_KEY"] = strings.Repeat("cd", 32)
	if r := p.run("auth", "import", "--refresh-token", p.sim.RefreshToken()); r.code != exitOK {
		t.Fatalf("import: %s", r)
	}
	p.vars["EXACT_DIVISIONS"] = "101"
	if r := p.run("sync", "--entity", "accounts"); r.code != exitOK {
		t.Fatalf("sync: %s", r)
	}
	r := p.run("doctor")
	if r.code != exitOK {
		t.Fatalf("doctor: %s", r)
	}
	got := doctorLines(r.stdout)
	for _, subject := range []string{"configuration", "database", "encryption", "connection 1", "divisions", "day budget", "runs", "clock", "schedules"} {
		if s := got[subject]; len(s) == 0 || s[0] != "OK" {
			t.Errorf("%s: %v, want OK\n%s", subject, s, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "FAIL") || !strings.Contains(r.stdout, "0 failed") {
		t.Errorf("a check failed:\n%s", r.stdout)
	}
}

func TestDoctorOnABrokenSetup(t *testing.T) {
	p := newInProcess(t)
	p.vars["EXACTSYNC_ENCRYPTION_KEY"] = "none"
	if r := p.run("auth", "import", "--refresh-token", p.sim.RefreshToken()); r.code != exitOK {
		t.Fatalf("import: %s", r)
	}
	// A division the user was not granted, a broken token chain and a wrong key.
	p.vars["EXACT_DIVISIONS"] = "101,999"
	if _, err := p.pool.Exec(context.Background(), `UPDATE exact_sync.connections SET state = 'reauth_required', state_reason = 'Old refresh token used'`); err != nil {
		t.Fatal(err)
	}
	// An entity Exact refused in its last run.
	if _, err := p.pool.Exec(context.Background(), `INSERT INTO exact_sync.runs (connection_id, division, entity, finished_at, status, error)
		VALUES (1, 101, 'items', now(), 'refused', 'logistics/Items for division 101 returned 403 Forbidden')`); err != nil {
		t.Fatal(err)
	}
	r := p.run("doctor")
	if r.code != exitError {
		t.Errorf("doctor exit %d, want %d\n%s", r.code, exitError, r)
	}
	got := doctorLines(r.stdout)
	for subject, want := range map[string]string{"connection 1": "FAIL", "divisions": "FAIL", "encryption": "WARN", "database": "OK", "runs": "WARN"} {
		if s := got[subject]; len(s) == 0 || s[0] != want {
			t.Errorf("%s: %v, want %s\n%s", subject, s, want, r.stdout)
		}
	}
	for _, fix := range []string{"exactsync auth login", "exactsync auth remove --connection 1", "999", "EXACTSYNC_ENCRYPTION_KEY=none", "Exact refused items in division 101", "leave it out of EXACTSYNC_ENTITIES"} {
		if !strings.Contains(r.stdout, fix) {
			t.Errorf("the checklist does not say %q:\n%s", fix, r.stdout)
		}
	}

	// The wrong key: the stored secrets do not open.
	p.vars["EXACTSYNC_ENCRYPTION_KEY"] = strings.Repeat("ef", 32)
	if _, err := p.pool.Exec(context.Background(), `UPDATE exact_sync.connections SET state = 'ok'`); err != nil {
		t.Fatal(err)
	}
	q := newInProcess(t)
	q.vars["EXACTSYNC_ENCRYPTION_KEY"] = strings.Repeat("01", 32)
	if r := q.run("auth", "import", "--refresh-token", q.sim.RefreshToken()); r.code != exitOK {
		t.Fatalf("import: %s", r)
	}
	q.vars["EXACTSYNC_ENCRYPTION_KEY"] = strings.Repeat("02", 32)
	r = q.run("doctor")
	if s := doctorLines(r.stdout)["encryption"]; r.code != exitError || len(s) == 0 || s[0] != "FAIL" {
		t.Errorf("wrong key: exit %d, encryption %v\n%s", r.code, s, r.stdout)
	}

	// No database at all.
	q.vars["DATABASE_URL"] = "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2"
	r = q.run("doctor")
	if s := doctorLines(r.stdout)["database"]; r.code != exitError || len(s) == 0 || s[0] != "FAIL" || !strings.Contains(r.stdout, "DATABASE_URL") {
		t.Errorf("unreachable database: exit %d, database %v\n%s", r.code, s, r.stdout)
	}
}

// TestDoctorOnAnUnmigratedDatabase: a database without exactsync's schema is no reason to
// stop checking: the key is judged from the configuration (none set: the first secret
// stored generates one, which doctor does not), and nothing can sync without a
// connection, which fails with the way there.
func TestDoctorOnAnUnmigratedDatabase(t *testing.T) {
	p := newInProcess(t)
	p.vars["DATABASE_URL"] = sinktest.NewDatabase(t)
	r := p.run("doctor", "--no-exact")
	if r.code != exitError {
		t.Errorf("doctor on an unmigrated database: exit %d, want %d\n%s", r.code, exitError, r)
	}
	got := doctorLines(r.stdout)
	for subject, want := range map[string]string{"configuration": "OK", "database": "WARN", "encryption": "OK", "connections": "FAIL", "schedules": "OK"} {
		if s := got[subject]; len(s) == 0 || s[0] != want {
			t.Errorf("%s: %v, want %s\n%s", subject, s, want, r.stdout)
		}
	}
	for _, want := range []string{"no exactsync schema yet → run exactsync migrate", "generates one into", "run exactsync migrate, then exactsync auth login", "\n1 failed\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("doctor on an unmigrated database does not say %q:\n%s", want, r.stdout)
		}
	}
	// doctor changes nothing: the database is still without a schema.
	var tables int
	if err := sinktest.NewPool(t, p.vars["DATABASE_URL"]).QueryRow(context.Background(),
		`SELECT count(*) FROM pg_tables WHERE schemaname IN ('exact', 'exact_sync', 'exact_river')`).Scan(&tables); err != nil || tables != 0 {
		t.Errorf("doctor made %d tables (%v), want none", tables, err)
	}
}
