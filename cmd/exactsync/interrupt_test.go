package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/exactsync/exactsync/exact/exacttest"
)

// slowWorld is a world whose full account sync takes several seconds: 8 pages, each
// answered after 400 ms.
func slowWorld(t *testing.T) *world {
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 8000, Faults: exacttest.Faults{Latency: 400 * time.Millisecond}})
	w.importToken()
	return w
}

// waitFor polls the database until the query returns true, or fails the test.
func (w *world) waitFor(query string, within time.Duration) {
	w.t.Helper()
	deadline := time.Now().Add(within)
	for {
		var ok bool
		if err := w.pool.QueryRow(context.Background(), query).Scan(&ok); err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("still false after %s: %s", within, query)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestInterruptedSyncExits130AndTheRerunContinues(t *testing.T) {
	w := slowWorld(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			if _, err := w.pool.Exec(context.Background(), `TRUNCATE exact.accounts, exact.suppliers, exact_sync.cursors, exact_sync.runs`); err != nil {
				t.Fatal(err)
			}
			c := w.cmd(nil, "sync", "--entity", "accounts", "--division", "101")
			var out, errb bytes.Buffer
			c.Stdout, c.Stderr = &out, &errb
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			// Two pages committed, then the signal while the third is fetched.
			w.waitFor(`SELECT count(*) >= 2000 FROM exact.accounts`, time.Minute)
			if err := c.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			err := c.Wait()
			w.logs = append(w.logs, out.String(), errb.String())
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
				t.Fatalf("exit %v, want %d\nstdout:\n%s\nstderr:\n%s", err, exitInterrupted, out.String(), errb.String())
			}
			m := regexp.MustCompile(`interrupted: (\d+) pages committed, rerun to continue`).FindStringSubmatch(errb.String())
			if m == nil {
				t.Fatalf("stderr lacks the interrupted line:\n%s", errb.String())
			}
			pages, _ := strconv.Atoi(m[1])
			var status string
			var committed, cursorTo int64
			err = w.pool.QueryRow(context.Background(), `
				SELECT r.status, r.cursor_to, (SELECT count(*) FROM exact.accounts)
				FROM exact_sync.runs r WHERE entity = 'accounts' ORDER BY id DESC LIMIT 1`).Scan(&status, &cursorTo, &committed)
			if err != nil {
				t.Fatal(err)
			}
			if status != "canceled" {
				t.Errorf("run recorded %q, want canceled", status)
			}
			if pages < 2 || committed != int64(pages*1000) {
				t.Errorf("%d pages said committed, %d accounts stored; want 2 or more pages of 1000", pages, committed)
			}
			// The rerun starts from the committed cursor and ends with every account.
			r := w.mustRun("sync", "--entity", "accounts", "--division", "101")
			if !strings.Contains(r.stdout, "cursor "+strconv.FormatInt(cursorTo, 10)+" →") {
				t.Errorf("rerun did not continue from cursor %d:\n%s", cursorTo, r.stdout)
			}
			w.waitFor(`SELECT count(*) = 8000 FROM exact.accounts`, time.Second)
		})
	}
}

func TestSyncShowsALiveLineOnATerminal(t *testing.T) {
	w := slowWorld(t)
	// A progress log line a second would break the live line: the run must not log one.
	c := w.cmd(map[string]string{"EXACTSYNC_PROGRESS_INTERVAL": "1s"}, "sync", "--entity", "accounts", "--division", "101")
	f, err := pty.Start(c)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	done := make(chan struct{})
	go func() { io.Copy(&out, f); close(done) }() // ends with EIO when the command exits
	if err := c.Wait(); err != nil {
		t.Fatalf("sync: %v\n%s", err, out.String())
	}
	<-done
	got := out.String()
	w.logs = append(w.logs, got)
	// The live line: pages and records committed so far (how many pages a write takes
	// depends on the machine's speed) and the rate, once there is one.
	if live := regexp.MustCompile(`accounts division 101: [1-9]\d* pages, [1-9]\d*000 records \(\d+ records/s\)`); !live.MatchString(got) {
		t.Errorf("terminal output lacks a live line matching %s:\n%q", live, got)
	}
	if strings.Contains(got, "records/hr") || strings.Contains(got, "records/min") {
		t.Errorf("terminal output tells a rate per hour or minute:\n%q", got)
	}
	for _, want := range []string{"\r", "accounts division 101: ok, ", "total: 2 runs",
		"DBG"} { // logs for people on a terminal (LOG_FORMAT=auto)
		if !strings.Contains(got, want) {
			t.Errorf("terminal output lacks %q:\n%q", want, got)
		}
	}
	if strings.Contains(got, `"level":`) {
		t.Errorf("JSON logs on a terminal with LOG_FORMAT unset:\n%q", got)
	}
	if strings.Contains(got, "sync progress") {
		t.Errorf("progress log lines beside the live line:\n%q", got)
	}
}

func TestSyncLogsProgressOffATerminal(t *testing.T) {
	w := slowWorld(t)
	r := w.run(map[string]string{"EXACTSYNC_PROGRESS_INTERVAL": "1s"}, "sync", "--entity", "accounts", "--division", "101")
	if r.code != 0 {
		t.Fatalf("sync: %s", r)
	}
	lines := regexp.MustCompile(`"records":(\d+),"pages_fetched":\d+,"records_per_s":[0-9.]+,"elapsed_ms":[0-9.]+,"waited_ms":[0-9.]+,`).FindAllStringSubmatch(r.stderr, -1)
	if len(lines) < 2 || !strings.Contains(r.stderr, `"message":"sync progress"`) {
		t.Fatalf("want a progress line every second of a run of 3 s or more, got %d:\n%s", len(lines), r.stderr)
	}
	if strings.Contains(r.stderr, "\r") || strings.Contains(r.stdout, "\r") {
		t.Errorf("a live line was drawn off a terminal:\n%q", r.stderr)
	}
}

// TestOneInterruptLetsTheWriteFinish: a SIGINT while a write waits for the table (locked
// by the test) does not cancel the write: once the table is free the write commits, and
// the sync then stops, exit 130, the run recorded canceled.
func TestOneInterruptLetsTheWriteFinish(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 50})
	w.importToken()
	ctx := context.Background()
	tx, err := w.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `LOCK TABLE exact.accounts IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	c := w.cmd(nil, "sync", "--entity", "accounts", "--division", "101")
	var errb lockedBuffer
	c.Stdout, c.Stderr = io.Discard, &errb
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- c.Wait() }()
	defer func() { _ = c.Process.Kill() }()
	w.waitFor(`SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
		AND query ILIKE '%accounts%'`, 30*time.Second)

	if err := c.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	// Only once the sync has taken the SIGINT is the table given back.
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(errb.String(), interruptNotice) {
		select {
		case err := <-exited:
			t.Fatalf("the SIGINT ended the sync during its write (%v); want it to let the write finish\n%s", err, errb.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no word of the SIGINT after 30 s:\n%s", errb.String())
		}
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
			t.Errorf("after the write: %v, want exit %d\n%s", err, exitInterrupted, errb.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("the sync did not end within a minute of the table being free\n%s", errb.String())
	}
	w.logs = append(w.logs, errb.String())
	if n := w.count(`SELECT count(*) FROM exact.accounts`); n != 50 {
		t.Errorf("%d accounts stored, want the 50 of the write in flight at the SIGINT", n)
	}
	if n := w.count(`SELECT count(*) FROM exact_sync.runs WHERE entity = 'accounts' AND status = 'canceled'`); n != 1 {
		t.Errorf("%d canceled runs of accounts, want 1", n)
	}
}

// TestSecondInterruptStopsAtOnce: the first SIGINT lets the write in flight finish (here
// it waits for a lock the test holds on the table, up to the write timeout); a second one
// ends the process at once, exit 130 with a line saying so, and PostgreSQL rolls the write
// back.
func TestSecondInterruptStopsAtOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 50})
	w.importToken()
	ctx := context.Background()
	tx, err := w.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `LOCK TABLE exact.accounts IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	c := w.cmd(nil, "sync", "--entity", "accounts", "--division", "101")
	var errb lockedBuffer
	c.Stdout, c.Stderr = io.Discard, &errb
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- c.Wait() }()
	defer func() { _ = c.Process.Kill() }()
	// The write of the first page waits for the table.
	w.waitFor(`SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
		AND query ILIKE '%accounts%'`, 30*time.Second)

	if err := c.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	// The sync says it took the first SIGINT; its write is still waiting for the table
	// then, and the sync with it (that the write does finish after one SIGINT is
	// TestOneInterruptLetsTheWriteFinish's).
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(errb.String(), interruptNotice) {
		select {
		case err := <-exited:
			t.Fatalf("the first SIGINT ended the sync during its write (%v); want it to let the write finish\n%s", err, errb.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no word of the first SIGINT after 30 s:\n%s", errb.String())
		}
	}
	w.waitFor(`SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
		AND query ILIKE '%accounts%'`, 30*time.Second)
	if err := c.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted || !strings.Contains(errb.String(), "interrupted again: stopped at once") {
			t.Errorf("after the second SIGINT: %v, want exit %d and a line saying so\n%s", err, exitInterrupted, errb.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("the second SIGINT did not end the sync within 5 s\n%s", errb.String())
	}
	w.logs = append(w.logs, errb.String())
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if n := w.count(`SELECT count(*) FROM exact.accounts`); n != 0 {
		t.Errorf("%d accounts stored by the write the second SIGINT cut, want 0", n)
	}
}
