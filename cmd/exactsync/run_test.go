package main

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/exactsync/exactsync/exact/exacttest"
	"github.com/exactsync/exactsync/sink/sinktest"
)

// TestRunSchedulesAndStopsOnSIGTERM starts the scheduler, waits for it to
// sync both entities of both divisions (it catches up at start), then sends
// SIGTERM and checks a clean exit well within 30 s.
func TestRunSchedulesAndStopsOnSIGTERM(t *testing.T) {
	t.Parallel()
	divs := []int{101, 102}
	w := newWorld(t, exacttest.Options{Divisions: divs, Accounts: 1800})
	w.importToken()
	// A failed run of 100 days ago: past the default run history of 90 days.
	var old int64
	if err := w.pool.QueryRow(context.Background(), `
		INSERT INTO exact_sync.runs (connection_id, division, entity, started_at, finished_at, status)
		SELECT id, 101, 'accounts', now() - interval '100 days', now() - interval '100 days', 'failed'
		FROM exact_sync.connections RETURNING id`).Scan(&old); err != nil {
		t.Fatal(err)
	}

	cmd := w.cmd(map[string]string{"LOG_LEVEL": "info"}, "run", "--workers", "2")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	deadline := time.Now().Add(90 * time.Second) // generous: a loaded machine runs -race slowly
	for {
		// The accounts job of each division has run (it records accounts and suppliers):
		// the other entities' jobs, small and quick, may end before the second one does.
		var runs int
		err := w.pool.QueryRow(context.Background(),
			`SELECT count(DISTINCT (division, entity)) FROM exact_sync.runs WHERE status = 'ok' AND entity IN ('accounts', 'suppliers')`).Scan(&runs)
		if err == nil && runs >= 2*len(divs) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the scheduler did not finish the accounts jobs in 90 s (ok runs of accounts and suppliers %d, err %v)\nstderr:\n%s", runs, err, errb.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	for {
		var left bool
		err := w.pool.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM exact_sync.runs WHERE id = $1)`, old).Scan(&left)
		if err == nil && !left {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the run of 100 days ago was not pruned in 90 s (err %v)\nstderr:\n%s", err, errb.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exactsync run exited with %v after SIGTERM\nstderr:\n%s", err, errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("exactsync run did not exit within 30 s of SIGTERM")
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("shutdown took %v, want under 30 s", took)
	}
	w.mu.Lock()
	w.logs = append(w.logs, out.String(), errb.String())
	w.mu.Unlock()
	if !strings.Contains(errb.String(), `"message":"stopped"`) {
		t.Errorf("no clean stop was logged:\n%s", errb.String())
	}
	w.checkTables(divs)
}

// TestDailyLimitStopsCleanlyAndResumes spends a division's daily budget in
// the middle of a sync: the run stops with one clear line, keeps the pages
// it wrote, and the next day's run finishes the job.
func TestDailyLimitStopsCleanlyAndResumes(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 4500, DailyLimit: 3})
	w.importToken()
	r := w.run(nil, "sync", "--entity", "accounts")
	if r.code == 0 {
		t.Fatalf("sync past the daily limit succeeded: %s", r)
	}
	line := lastLine(r.stderr)
	if !strings.Contains(line, "daily limit reached for division 101, resumes after") {
		t.Errorf("error line %q does not say the daily limit was reached", line)
	}
	if !strings.Contains(r.stdout, "accounts division 101: daily_limit") {
		t.Errorf("summary does not report daily_limit:\n%s", r.stdout)
	}
	kept := len(w.rows("exact.accounts"))
	if kept != 3000 {
		t.Errorf("%d rows kept after three calls, want 3000", kept)
	}
	if n := w.sim.Stats().TooManyRequests; n > 1 {
		t.Errorf("%d calls answered 429, want at most 1", n)
	}

	w.sim.Advance(24 * time.Hour)
	w.expireToken()
	w.mustRun("sync", "--entity", "accounts")
	w.checkTablesAccountsOnly([]int{101})
}

// TestDivisionMoveTriggersAFullPass moves a division in the simulator, which
// regenerates all its Timestamps (docs/exact-online.md §3.10): the next run notices
// the new DivisionMoveDate and reads the division in full, so the table
// converges on the new versions.
func TestDivisionMoveTriggersAFullPass(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 1500})
	all := map[string]string{"EXACT_DIVISIONS": ""} // list divisions on every run
	if r := w.run(all, "auth", "import", "--refresh-token", w.sim.RefreshToken()); r.code != 0 {
		t.Fatalf("auth import: %s", r)
	}
	if r := w.run(all, "sync", "--entity", "accounts"); r.code != 0 {
		t.Fatalf("first sync: %s", r)
	}

	accs := w.sim.Accounts(101)
	before := accs[10]
	before.Name = "Voor de verhuizing"
	if err := w.sim.UpsertAccounts(101, before); err != nil {
		t.Fatal(err)
	}
	if _, err := w.sim.MoveDivision(101); err != nil {
		t.Fatal(err)
	}
	after := accs[20]
	after.Name = "Na de verhuizing"
	if err := w.sim.UpsertAccounts(101, after); err != nil {
		t.Fatal(err)
	}

	r := w.run(all, "sync", "--entity", "accounts")
	if r.code != 0 {
		t.Fatalf("sync after the move: %s", r)
	}
	if !strings.Contains(r.stderr, "moved this division") {
		t.Errorf("the move was not reported:\n%s", r.stderr)
	}
	if !strings.Contains(r.stdout, "cursor 0 →") {
		t.Errorf("the run after the move did not start from the beginning:\n%s", r.stdout)
	}
	w.checkTablesAccountsOnly([]int{101})

	// The move is noticed once: the following run is incremental again.
	r = w.run(all, "sync", "--entity", "accounts")
	if r.code != 0 || strings.Contains(r.stdout, "cursor 0 →") {
		t.Errorf("the run after the full pass was not incremental: %s", r)
	}
}

// TestLongPauseRunsASweepingFullPass: Exact keeps its deletion log two months
// (docs/exact-online.md §3.12, §6.16). Deletions made before a longer pause are never
// reported, so a division last synced more than 55 days ago is read in full,
// and the rows the full pass does not see are removed.
func TestLongPauseRunsASweepingFullPass(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 1500})
	w.importToken()
	w.mustRun("sync", "--entity", "accounts")

	accs := w.sim.Accounts(101)
	gone := []string{accs[3].ID, accs[700].ID}
	if err := w.sim.DeleteAccounts(101, gone...); err != nil {
		t.Fatal(err)
	}
	w.sim.Advance(61 * 24 * time.Hour) // the deletions leave Exact's log
	w.consentAgain()                   // and the idle token chain has expired meanwhile
	w.sim.Advance(10 * time.Minute)    // past the 570 s before the import's refresh
	// The stored chain is dead, but nothing has told exactsync yet: the new token
	// replaces it explicitly.
	w.mustRun("auth", "import", "--replace", "--refresh-token", w.sim.RefreshToken())

	// As far as exactsync knows the division was synced minutes ago: the run is
	// incremental, and Exact no longer reports the deletions.
	w.mustRun("sync", "--entity", "accounts")
	for _, id := range gone {
		if _, ok := w.rows("exact.accounts")["101/"+id]; !ok {
			t.Fatalf("account %s was removed by an incremental run; the simulator should no longer report its deletion", id)
		}
	}

	// Now the last successful run is 60 days old.
	if _, err := w.pool.Exec(context.Background(), `
		UPDATE exact_sync.runs SET started_at = started_at - interval '60 days', finished_at = finished_at - interval '60 days'`); err != nil {
		t.Fatal(err)
	}
	r := w.mustRun("sync", "--entity", "accounts")
	if !strings.Contains(r.stderr, "longer ago than Exact keeps deletions") {
		t.Errorf("the full pass was not reported:\n%s", r.stderr)
	}
	if !strings.Contains(r.stdout, "cursor 0 →") {
		t.Errorf("the run after the pause did not start from the beginning:\n%s", r.stdout)
	}
	w.checkTablesAccountsOnly([]int{101})

	// The next run is incremental again and has nothing to do.
	r = w.mustRun("sync", "--entity", "accounts")
	if strings.Contains(r.stdout, "cursor 0 →") {
		t.Errorf("the run after the full pass was not incremental: %s", r)
	}
	w.checkTablesAccountsOnly([]int{101})
}

// TestFullPassRemovesRowsNotInExact: `sync --full` reconciles the table with
// Exact, whatever put a row there that Exact does not have.
func TestFullPassRemovesRowsNotInExact(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101, 102}, Accounts: 300})
	w.importToken()
	w.mustRun("sync", "--entity", "accounts")
	stray := "00000000-0000-4000-8000-00000000beef"
	for _, div := range []int{101, 102} {
		if _, err := w.pool.Exec(context.Background(), `
			INSERT INTO exact.accounts
			SELECT division, $2, code, 'Not in Exact', is_supplier, is_sales, status, email, city, country,
			       vat_number, blocked, created, modified, exact_timestamp, raw, synced_at
			FROM exact.accounts WHERE division = $1 LIMIT 1`, div, stray); err != nil {
			t.Fatal(err)
		}
	}
	w.mustRun("sync", "--entity", "accounts", "--full", "--division", "101")
	rows := w.rows("exact.accounts")
	if _, ok := rows["101/"+stray]; ok {
		t.Errorf("the full pass of division 101 kept a row Exact does not have")
	}
	if _, ok := rows["102/"+stray]; !ok {
		t.Errorf("the full pass of division 101 removed a row of division 102")
	}
}

// TestDemo runs the README's first command on a database of its own, twice:
// each run syncs both entities of both divisions, then the three changes it
// makes in the simulator, and prints what landed.
func TestDemo(t *testing.T) {
	t.Parallel()
	dbURL := sinktest.NewDatabase(t)
	reader := sinktest.NewRoleName(t, "demo", dbURL)
	state := t.TempDir()
	for run := 1; run <= 2; run++ {
		cmd := exec.Command(binary(t), "demo", "--accounts", "300", "--reader", reader)
		cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL, "EXACTSYNC_STATE_DIR="+state)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("run %d: exactsync demo: %v\nstdout:\n%s\nstderr:\n%s", run, err, stdout.String(), stderr.String())
		}
		if report := raceReport([]string{stderr.String()}); report != "" {
			t.Errorf("run %d: exactsync demo reported a data race:\n%s", run, report)
		}
		out := stdout.String()
		for _, want := range []*regexp.Regexp{
			regexp.MustCompile(`accounts division 101: ok`), regexp.MustCompile(`accounts division 102: ok`),
			regexp.MustCompile(`transaction_lines division 102: ok`),
			regexp.MustCompile(`deletions division 101: ok`),
			regexp.MustCompile(`incremental sync \(only what changed\):`),
			// The copy compared with Exact: the counts of the entities the demo changed agree.
			regexp.MustCompile(`(?m)^division 101: 2 of 2 entities agree with Exact$`),
			regexp.MustCompile(`(?m)^exact\.accounts +101 +299 `), // one of 300 deleted
			regexp.MustCompile(`(?m)^exact\.accounts +102 +300 `),
			regexp.MustCompile(`(?m)^exact\.suppliers +101 +\d+ `),
			regexp.MustCompile(`(?m)^exact\.transaction_lines +101 +1200 `),
			regexp.MustCompile(`(?m)^exact\.vat_codes +102 +20 `),
			// The example reader: how to connect as it, and what it sees.
			regexp.MustCompile(`reader ` + reader + ` sees division 101 only`),
			regexp.MustCompile(`psql 'postgres://` + reader + `:[A-Za-z0-9_-]+@`),
			regexp.MustCompile(`as ` + reader + `: 299 accounts of division 101, 0 of the others; exact_sync.connections: permission denied`),
		} {
			if !want.MatchString(out) {
				t.Errorf("run %d: the output lacks %s:\n%s", run, want, out)
			}
		}
		// The incremental pass stores the rename and the flip (one read for accounts and
		// suppliers, counted per table), and its deletions run removes the deleted account.
		if run == 1 && (!regexp.MustCompile(`accounts division 101: ok, 2 accounts( \+ \d suppliers)? upserted, (0|1 suppliers) removed, 1 pages, 1 API calls`).MatchString(out) ||
			!regexp.MustCompile(`deletions division 101: ok, 0 upserted, 1 accounts( \+ 1 suppliers)? removed`).MatchString(out)) {
			t.Errorf("run 1: the incremental run of division 101 should store the rename and the flip and remove the deletion:\n%s", out)
		}
		// The first pass counts the accounts and the suppliers apart.
		if !regexp.MustCompile(`(?m)^accounts division 102: ok, 300 accounts \+ \d+ suppliers upserted, 0 removed`).MatchString(out) {
			t.Errorf("run %d: the first pass of division 102 does not count accounts and suppliers apart:\n%s", run, out)
		}
		// The second run replaces the first's connection, whose simulator stopped.
		if run == 2 && !strings.Contains(out, "removed connection 1 of an earlier demo") {
			t.Errorf("run 2 does not replace the connection of run 1:\n%s", out)
		}
	}
	var conns int
	if err := sinktest.NewPool(t, dbURL).QueryRow(context.Background(), `SELECT count(*) FROM exact_sync.connections`).Scan(&conns); err != nil || conns != 1 {
		t.Errorf("connections after two demos: %d (%v), want 1", conns, err)
	}

	// doctor after the demo: its simulator has stopped, which is no failure; the
	// divisions the demo synced are listed.
	cmd := exec.Command(binary(t), "doctor")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL, "EXACTSYNC_STATE_DIR="+state)
	out, err := cmd.Output()
	got := doctorLines(string(out))
	if err != nil || !strings.Contains(string(out), "\n0 failed") {
		t.Errorf("doctor after the demo: %v\n%s", err, out)
	}
	if s := got["divisions"]; len(s) == 0 || s[0] != "OK" {
		t.Errorf("doctor after the demo: divisions %v, want OK\n%s", s, out)
	}
	if s := got["Exact Online"]; len(s) == 0 || s[0] != "WARN" || !strings.Contains(string(out), "does not answer: a demo's simulator stops with the demo") ||
		!strings.Contains(string(out), "exactsync auth remove --connection 2") {
		t.Errorf("doctor after the demo: Exact Online %v, want a warning naming the stopped simulator and auth remove\n%s", s, out)
	}
}

// TestDemoKilledTakesItsSimulator: a demo that ends without a chance to clean up (SIGKILL,
// as a closed pipe or terminal may end it too) leaves no simulator running: exactsim
// stops when the demo's end closes its standard input.
func TestDemoKilledTakesItsSimulator(t *testing.T) {
	t.Parallel()
	dbURL := sinktest.NewDatabase(t)
	cmd := exec.Command(binary(t), "demo", "--accounts", "300")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL, "EXACTSYNC_STATE_DIR="+t.TempDir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := bufio.NewScanner(out)
	simURL := ""
	for simURL == "" && lines.Scan() {
		if rest, ok := strings.CutPrefix(lines.Text(), "simulator of Exact Online at "); ok {
			simURL, _, _ = strings.Cut(rest, ": divisions")
		}
	}
	if simURL == "" {
		t.Fatal("the demo did not say where its simulator listens")
	}
	if resp, err := http.Get(simURL + "/api/v1/current/Me"); err != nil {
		t.Fatalf("the simulator does not answer while the demo runs: %v", err)
	} else {
		resp.Body.Close()
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if !poll(time.Minute, 50*time.Millisecond, func() bool {
		resp, err := http.Get(simURL + "/api/v1/current/Me")
		if err == nil {
			resp.Body.Close()
		}
		return err != nil
	}) {
		t.Errorf("the simulator at %s still answers a minute after the demo was killed", simURL)
	}
}
