package main

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/exactsync/exactsync/exact/exacttest"
	"github.com/exactsync/exactsync/sink"
)

// The crash tests kill exactsync at each step of a token refresh with the failpoints that
// only a binary built with -tags failpoints has (exact/failpoint.go), then run it again and
// state what the next runs see.

// crash runs `exactsync sync --entity accounts` built with failpoints, stopping at point,
// and checks that the process was killed there.
func (w *world) crash(point string) {
	w.t.Helper()
	c := w.cmd(map[string]string{"EXACTSYNC_FAILPOINT": point}, "sync", "--entity", "accounts")
	c.Path = failpointBinary(w.t)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	w.mu.Lock()
	w.logs = append(w.logs, out.String(), errb.String())
	w.mu.Unlock()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		w.t.Fatalf("exactsync with failpoint %s: %v, want killed\nstdout:\n%s\nstderr:\n%s", point, err, out.String(), errb.String())
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		w.t.Fatalf("exactsync with failpoint %s ended with %v, want killed by SIGKILL\nstdout:\n%s\nstderr:\n%s", point, err, out.String(), errb.String())
	}
}

// crashWorld is a connection whose stored access token has expired, so the next run
// refreshes first; it returns the refresh token stored before the crash.
func crashWorld(t *testing.T) (*world, string) {
	t.Helper()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 120})
	w.importToken()
	w.expireToken()
	return w, w.storedRefreshToken()
}

// storedRefreshToken is the refresh token stored with the world's connection, opened.
func (w *world) storedRefreshToken() string {
	w.t.Helper()
	ctx := context.Background()
	st, err := sink.Open(ctx, sink.Config{DatabaseURL: w.dbURL, Keyring: w.keyring()})
	if err != nil {
		w.t.Fatal(err)
	}
	defer st.Close()
	conns, err := st.Connections(ctx)
	if err != nil || len(conns) != 1 {
		w.t.Fatalf("%d connections (%v), want 1", len(conns), err)
	}
	tok, err := st.LoadToken(ctx, conns[0].ID)
	if err != nil {
		w.t.Fatal(err)
	}
	return tok.RefreshToken
}

func (w *world) state() (state, reason string) {
	w.t.Helper()
	if err := w.pool.QueryRow(context.Background(), `SELECT state, state_reason FROM exact_sync.connections`).Scan(&state, &reason); err != nil {
		w.t.Fatal(err)
	}
	return state, reason
}

func (w *world) tokenCalls(outcome string) int {
	return w.sim.Stats().TokenCalls["refresh_token/"+outcome]
}

// A crash before the token call loses nothing: the stored refresh token was never sent, so
// the next run refreshes with it and syncs.
func TestCrashBeforeTokenCallNextRunRefreshesAndSyncs(t *testing.T) {
	t.Parallel()
	w, before := crashWorld(t)
	calls := w.sim.Stats().TotalTokenCalls()

	w.crash("before-token-call")
	if got := w.sim.Stats().TotalTokenCalls() - calls; got != 0 {
		t.Fatalf("the crashed run made %d token calls, want 0", got)
	}
	if got := w.storedRefreshToken(); got != before {
		t.Fatalf("the crashed run changed the stored refresh token")
	}

	okBefore := w.tokenCalls("ok")
	r := w.mustRun("sync", "--entity", "accounts")
	if !strings.Contains(r.stdout, "accounts division 101: ok") {
		t.Errorf("next run does not report division 101 ok: %s", r)
	}
	if got := w.tokenCalls("ok") - okBefore; got != 1 {
		t.Errorf("next run made %d successful refreshes, want 1", got)
	}
	if st := w.sim.Stats(); st.RefreshReuseRejections != 0 || st.EarlyRefreshRejections != 0 {
		t.Errorf("rejections: reuse %d, early %d; want none", st.RefreshReuseRejections, st.EarlyRefreshRejections)
	}
	w.checkTablesAccountsOnly([]int{101})
}

// A crash after Exact answered and before the commit is the one window that loses the
// chain: Exact has rotated it, and the new refresh token died with the process. The next
// run sends the stored token, Exact answers "Old refresh token used", the connection is
// marked reauth_required and the run ends with one line saying how to re-authorize; the
// run after that makes no token call at all.
func TestCrashAfterTokenAnswerBeforeCommitNeedsReauthorizationOnce(t *testing.T) {
	t.Parallel()
	w, before := crashWorld(t)
	okBefore := w.tokenCalls("ok")

	w.crash("after-token-answer")
	if got := w.tokenCalls("ok") - okBefore; got != 1 {
		t.Fatalf("the crashed run made %d successful refreshes, want 1 (Exact answered)", got)
	}
	if got := w.storedRefreshToken(); got != before {
		t.Fatalf("the crashed run committed a new refresh token; the failpoint is after the commit")
	}
	if state, _ := w.state(); state != "ok" {
		t.Fatalf("state after the crash %q, want ok", state)
	}

	r := w.run(nil, "sync", "--entity", "accounts")
	if r.code == 0 {
		t.Fatalf("the run after the lost chain succeeded: %s", r)
	}
	if got := w.tokenCalls("old_refresh_token"); got != 1 {
		t.Errorf("%d old-refresh-token rejections, want 1", got)
	}
	line := lastLine(r.stderr)
	for _, s := range []string{"re-authoriz", "exactsync auth login", "already used"} {
		if !strings.Contains(line, s) {
			t.Errorf("error line %q does not mention %q", line, s)
		}
	}
	if n := strings.Count(r.stderr, "exactsync: "); n != 1 {
		t.Errorf("the run printed %d error lines, want 1:\n%s", n, r.stderr)
	}
	if state, reason := w.state(); state != "reauth_required" || !strings.Contains(reason, "already used") {
		t.Errorf("state %q (%q), want reauth_required naming the used refresh token", state, reason)
	}

	calls := w.sim.Stats().TotalTokenCalls()
	r = w.run(nil, "sync", "--entity", "accounts")
	if r.code == 0 || !strings.Contains(lastLine(r.stderr), "re-authoriz") {
		t.Errorf("a further run does not report the re-authorization: %s", r)
	}
	if got := w.sim.Stats().TotalTokenCalls() - calls; got != 0 {
		t.Errorf("a further run made %d token calls, want 0 (no loop on a broken chain)", got)
	}
}

// A crash after the commit loses nothing: the next run finds the new pair stored and uses
// its access token without a token call.
func TestCrashAfterTokenCommitNextRunUsesStoredToken(t *testing.T) {
	t.Parallel()
	w, before := crashWorld(t)
	okBefore := w.tokenCalls("ok")

	w.crash("after-token-commit")
	if got := w.tokenCalls("ok") - okBefore; got != 1 {
		t.Fatalf("the crashed run made %d successful refreshes, want 1", got)
	}
	if got := w.storedRefreshToken(); got == before {
		t.Fatalf("the crashed run did not commit the new refresh token")
	}
	if got := w.sim.RefreshToken(); got != w.storedRefreshToken() {
		t.Fatalf("the stored refresh token is not the head of Exact's chain")
	}

	calls := w.sim.Stats().TotalTokenCalls()
	w.mustRun("sync", "--entity", "accounts")
	if got := w.sim.Stats().TotalTokenCalls() - calls; got != 0 {
		t.Errorf("the next run made %d token calls, want 0", got)
	}
	w.checkTablesAccountsOnly([]int{101})
}
