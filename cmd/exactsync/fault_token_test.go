package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	gosync "sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/exact/exacttest"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sink/sinktest"
	"github.com/exactsync/exactsync/sync"
)

// The fault tests of the token chain: PostgreSQL away while Exact answers a refresh, and
// Exact answering "too early" to many processes at once.

// TestFaultTokenRecoveryFileAfterExitDuringOutage: exactsync must exit (SIGTERM) while
// PostgreSQL is away after Exact rotated the chain. The pair is left in a recovery file
// (0600, sealed with the encryption key), and the next start imports it, removes it and
// syncs with the chain intact.
func TestFaultTokenRecoveryFileAfterExitDuringOutage(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 120})
	dbURL, proxy := sinktest.Proxied(t, w.dbURL)
	var cutNext atomic.Bool
	front := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/oauth2/token" && cutNext.CompareAndSwap(true, false) {
			proxy.Cut() // the row is locked, the transaction open: its commit will fail
		}
		w.sim.ServeHTTP(rw, r)
	}))
	t.Cleanup(front.Close)
	key := make([]byte, 32)
	rand.Read(key)
	stateDir := t.TempDir()
	w.env["DATABASE_URL"] = dbURL
	w.env["EXACT_BASE_URL"] = front.URL
	w.env["EXACTSYNC_ENCRYPTION_KEY"] = base64.StdEncoding.EncodeToString(key)
	w.env["EXACTSYNC_STATE_DIR"] = stateDir
	w.importToken()
	w.expireToken()

	cutNext.Store(true)
	c := w.cmd(nil, "sync", "--entity", "accounts")
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- c.Wait() }()
	file := waitForFile(t, filepath.Join(stateDir, "token-*.json"), 30*time.Second)
	began := time.Now()
	if err := c.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-exited:
	case <-time.After(40 * time.Second):
		_ = c.Process.Kill()
		t.Fatalf("exactsync did not exit within 40s of SIGTERM\nstderr:\n%s", errb.String())
	}
	w.mu.Lock()
	w.logs = append(w.logs, out.String(), errb.String())
	w.mu.Unlock()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
		t.Fatalf("exactsync during the outage ended with %v, want exit %d\nstderr:\n%s", err, exitInterrupted, errb.String())
	}
	t.Logf("exited %s after SIGTERM", time.Since(began).Round(100*time.Millisecond))
	if !strings.Contains(errb.String(), "kept in a recovery file") {
		t.Errorf("the log does not say the pair is kept in a recovery file:\n%s", errb.String())
	}

	fi, err := os.Stat(file)
	if err != nil {
		t.Fatalf("the recovery file is gone after the exit: %v", err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("recovery file mode %v, want 0600", mode)
	}
	body, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	head := w.sim.RefreshToken() // the pair Exact rotated to, which only the file holds
	if strings.Contains(string(body), head) || !strings.Contains(string(body), "seal:v1:") {
		t.Errorf("the recovery file holds the refresh token in plaintext although a key is set")
	}

	// PostgreSQL is back: the next start imports the pair before anything else.
	proxy.Restore()
	r := w.mustRun("sync", "--entity", "accounts")
	if !strings.Contains(r.stderr, "imported a refreshed token pair from its recovery file") {
		t.Errorf("the next start does not log the import:\n%s", r.stderr)
	}
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the recovery file is still there after the import (%v)", err)
	}
	if left, _ := filepath.Glob(filepath.Join(stateDir, "*")); len(left) != 0 {
		t.Errorf("files left in the state directory: %v", left)
	}
	w.checkTablesAccountsOnly([]int{101})

	// And the chain goes on: the next refresh succeeds.
	w.expireToken()
	w.mustRun("sync", "--entity", "accounts")
	st := w.sim.Stats()
	if st.RefreshReuseRejections != 0 || st.TokenCalls["refresh_token/old_refresh_token"] != 0 {
		t.Errorf("Exact saw an old refresh token (token calls %v): the chain was lost", st.TokenCalls)
	}
	if got := st.TokenCalls["refresh_token/ok"]; got != 3 {
		t.Errorf("%d successful refreshes, want 3 (import, the one kept across the outage, the last)", got)
	}
	if state, reason := w.state(); state != dest.StateOK {
		t.Errorf("state %q (%s), want ok", state, reason)
	}
}

// waitForFile waits for a file matching pattern and returns its path.
func waitForFile(t *testing.T, pattern string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if m, _ := filepath.Glob(pattern); len(m) == 1 {
			return m[0]
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no file %s within %s", pattern, timeout)
	return ""
}

// TestFaultTooEarlySharedByProcesses: the stored issue time is older than Exact's view
// (a clock step, a restored backup), so every process believes the token can be refreshed
// and Exact does not. Eight processes (each its own exact.Client over its own sink.Store)
// ask for a token at once: Exact answers "too early" once, the time it implies is shared
// on the connection's row, nobody refreshes before it, and then one refresh serves all.
func TestFaultTooEarlySharedByProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("eight clients against one connection; skipped with -short")
	}
	t.Parallel()
	const processes = 8
	sim := exacttest.NewServer(exacttest.Options{ClientID: testClientID, ClientSecret: testClientSecret, FreezeClock: true})
	t.Cleanup(sim.Close)
	dbURL := sinktest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The processes wait at the same time, as they would on a real clock: a wait of d
	// ends d after the time its client last read, and moves the simulated clock to that
	// deadline unless another wait already moved it further. (A deadline taken from the
	// clock at the moment of the call would count a second process's wait after the
	// first's, when the first already moved the clock.)
	var clockMu gosync.Mutex
	advanceTo := func(ctx context.Context, deadline time.Time) error {
		clockMu.Lock()
		defer clockMu.Unlock()
		if late := deadline.Sub(sim.Now()); late > 0 {
			sim.Advance(late)
		}
		return ctx.Err()
	}
	var waits atomic.Int64
	clients := make([]*exact.Client, processes)
	var connID int64
	for i := range clients {
		var read atomic.Int64 // the simulated time this client last read, in Unix ns
		now := func() time.Time {
			t := sim.Now()
			read.Store(t.UnixNano())
			return t
		}
		st := sinktest.OpenStore(t, sink.Config{DatabaseURL: dbURL, MaxConns: 2})
		if i == 0 {
			connID = sinktest.NewConnection(t, st, sim.URL, testClientID, sim.RefreshToken()).ID
		}
		c, err := exact.New(exact.Config{
			BaseURL: sim.URL, ClientID: testClientID, ClientSecret: testClientSecret,
			Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel), Now: now,
			Sleep: func(ctx context.Context, d time.Duration) error {
				waits.Add(1)
				return advanceTo(ctx, time.Unix(0, read.Load()).Add(d))
			},
		}, sync.NewTokenStore(st, connID))
		if err != nil {
			t.Fatal(err)
		}
		clients[i] = c
	}
	// A first token, issued now by Exact; then the row's times go back 20 minutes.
	if _, err := clients[0].AccessToken(ctx); err != nil {
		t.Fatal(err)
	}
	admin := sinktest.NewPool(t, dbURL)
	if _, err := admin.Exec(ctx, `UPDATE exact_sync.connections SET
		access_token_issued_at = access_token_issued_at - interval '20 minutes',
		access_token_expires_at = access_token_expires_at - interval '20 minutes'`); err != nil {
		t.Fatal(err)
	}
	before := sim.Stats()
	start := sim.Now()

	var wg gosync.WaitGroup
	errs := make([]error, processes)
	for i, c := range clients {
		wg.Go(func() {
			if _, err := c.AccessToken(ctx); err != nil {
				errs[i] = err
				return
			}
			_, errs[i] = c.Me(ctx) // the token works
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("process %d: %v", i, err)
		}
	}
	after := sim.Stats()
	early := after.EarlyRefreshRejections - before.EarlyRefreshRejections
	elapsed := sim.Now().Sub(start)
	t.Logf("too-early refreshes: %d (connections: 1, processes: %d, window: 570s); simulated time %s, waits %d",
		early, processes, elapsed, waits.Load())
	if early > 1 {
		t.Errorf("%d too-early refreshes in %s of simulated time, want at most 1 per 570 s", early, elapsed)
	}
	if elapsed > 11*time.Minute {
		t.Errorf("the processes took %s of simulated time, want about 570 s", elapsed)
	}
	if got := after.TokenCalls["refresh_token/ok"] - before.TokenCalls["refresh_token/ok"]; got != 1 {
		t.Errorf("%d successful refreshes, want 1 shared by all", got)
	}
	if after.RefreshReuseRejections != before.RefreshReuseRejections {
		t.Errorf("Exact saw an old refresh token")
	}
}
