package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/exactsync/exactsync/exact/exacttest"
	"github.com/exactsync/exactsync/sync"
)

// TestAuthRemove: one bad import leaves a connection that fails every sync; auth remove
// takes it out (asking on a terminal, --yes otherwise), with its queued jobs, and sync
// works again. The rows stay unless --delete-rows, and the command says which.
func TestAuthRemove(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 30})
	w.importToken()
	w.mustRun("sync", "--entity", "accounts")
	// A token Exact does not know, stored unchecked: the connection needs
	// re-authorization at its first run, and every sync says so.
	w.mustRun("auth", "import", "--no-check", "--refresh-token", "not-a-token-exact-knows-0123456789")
	if r := w.run(nil, "sync", "--entity", "accounts"); r.code != exitError || !strings.Contains(lastLine(r.stderr), "exactsync auth remove --connection 2") {
		t.Fatalf("sync with a broken second connection: %s\nwant exit 1 naming auth remove --connection 2", r)
	}
	w.run(nil, "sync", "--entity", "items", "--enqueue")             // queues connection 1's jobs; says connection 2 is broken
	for _, entity := range []string{"accounts", sync.DeletionsJob} { // jobs of connection 2, queued before it broke
		if _, _, err := queueOf(t, w.pool).Enqueue(context.Background(), sync.Job{ConnectionID: 2, Division: 101, Entity: entity}); err != nil {
			t.Fatal(err)
		}
	}

	r := w.run(nil, "auth", "remove", "--connection", "2")
	if r.code != exitUsage {
		t.Fatalf("auth remove off a terminal without --yes: %s\nwant exit 2", r)
	}
	checkErrorLine(t, r, "not a terminal", "--yes")
	if r := w.run(nil, "auth", "remove", "--connection", "9", "--yes"); r.code != exitUsage || !strings.Contains(lastLine(r.stderr), "--connection 9: no such connection") {
		t.Errorf("auth remove of a connection that does not exist: %s", r)
	}

	// On a terminal it asks; anything but yes keeps the connection.
	if out, code := w.onTerminal("no\n", "auth", "remove", "--connection", "2"); code != exitError || !strings.Contains(out, "Type yes to remove") ||
		!strings.Contains(out, "not confirmed") {
		t.Errorf("auth remove answered no: exit %d\n%s", code, out)
	}
	if n := w.count(`SELECT count(*) FROM exact_sync.connections`); n != 2 {
		t.Fatalf("%d connections after a refused confirmation, want 2", n)
	}
	out, code := w.onTerminal("yes\n", "auth", "remove", "--connection", "2")
	if code != exitOK || !strings.Contains(out, "removed connection 2 (") || !strings.Contains(out, "and 2 queued jobs") {
		t.Fatalf("auth remove answered yes: exit %d\n%s", code, out)
	}
	if n := w.count(`SELECT count(*) FROM exact_river.river_job WHERE (args->>'connection')::bigint = 2 AND state <> 'cancelled'`); n != 0 {
		t.Errorf("%d jobs of the removed connection not cancelled", n)
	}
	if n := w.count(`SELECT count(*) FROM exact_river.river_job WHERE (args->>'connection')::bigint = 1 AND state = 'available'`); n != 2 {
		t.Errorf("%d queued jobs of connection 1, want its 2 untouched", n)
	}
	w.mustRun("sync", "--entity", "accounts") // the other connection works on its own again

	accounts := w.count(`SELECT count(*) FROM exact.accounts`)
	r = w.mustRun("auth", "remove", "--connection", "1", "--yes")
	if want := "kept its "; !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, "of divisions 101 in schema exact (--delete-rows would have deleted them)") {
		t.Errorf("auth remove keeping the rows says:\n%s", r.stdout)
	}
	if n := w.count(`SELECT count(*) FROM exact.accounts`); n != accounts || n == 0 {
		t.Errorf("%d accounts after removing their connection without --delete-rows, want %d", n, accounts)
	}
	if n := w.count(`SELECT count(*) FROM exact_sync.connections`); n != 0 {
		t.Errorf("%d connections left, want none", n)
	}

	// Again, deleting the rows. The chain's head was refreshed just now: Exact lets it be
	// used 570 s later.
	w.sim.Advance(10 * time.Minute)
	w.importToken()
	w.mustRun("sync", "--entity", "accounts")
	r = w.mustRun("auth", "remove", "--connection", "3", "--yes", "--delete-rows")
	if !strings.Contains(r.stdout, "deleted its ") || !strings.Contains(r.stdout, "rows of divisions 101 from schema exact") {
		t.Errorf("auth remove --delete-rows says:\n%s", r.stdout)
	}
	if n := w.count(`SELECT count(*) FROM exact.accounts`) + w.count(`SELECT count(*) FROM exact.suppliers`); n != 0 {
		t.Errorf("%d rows after auth remove --delete-rows, want none", n)
	}
}

// onTerminal runs exactsync with a terminal as its standard input, output and error,
// types input, and returns what it printed and its exit code.
func (w *world) onTerminal(input string, args ...string) (string, int) {
	w.t.Helper()
	c := w.cmd(nil, args...)
	f, err := pty.Start(c)
	if err != nil {
		w.t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	done := make(chan struct{})
	go func() { io.Copy(&out, f); close(done) }() // ends with EIO when the command exits
	if _, err := f.Write([]byte(input)); err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	go func() { <-ctx.Done(); _ = c.Process.Kill() }()
	_ = c.Wait() // the exit code is read from ProcessState
	<-done
	w.mu.Lock()
	w.logs = append(w.logs, out.String())
	w.mu.Unlock()
	return out.String(), c.ProcessState.ExitCode()
}
