package worker_test

import (
	"context"
	"fmt"
	gosync "sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact/exacttest"
	"github.com/exactsync/exactsync/sync"
	"github.com/exactsync/exactsync/worker"
)

// keepAliveWorld is a simulator with a frozen clock, a store with one connection whose
// refresh token was imported, and schedulers whose clocks are the simulator's: nothing
// sleeps, waits move the simulator's clock.
type keepAliveWorld struct {
	*world

	mu    gosync.Mutex
	waits []time.Duration
}

func newKeepAliveWorld(t *testing.T) *keepAliveWorld {
	t.Helper()
	return &keepAliveWorld{world: newWorld(t, exacttest.Options{FreezeClock: true})}
}

// worker is one exactsync run process as far as the keep-alive goes; it is not started.
func (w *keepAliveWorld) worker(keepalive time.Duration) *worker.Worker {
	w.t.Helper()
	wk, err := worker.New(worker.Config{
		Pool: w.pool, Store: w.st, Logger: zerolog.Nop(), Keepalive: keepalive, Now: w.sim.Now,
		Runner: sync.NewRunner(sync.Config{Logger: zerolog.Nop()}, w.st, w.st, w.st),
		NewClient: w.newClient(func(ctx context.Context, d time.Duration) error {
			w.mu.Lock()
			w.waits = append(w.waits, d)
			w.mu.Unlock()
			w.sim.Advance(d)
			return ctx.Err()
		}),
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return wk
}

// pass runs one keep-alive pass and returns the token calls it made.
func (w *keepAliveWorld) pass(s *worker.Worker) int {
	w.t.Helper()
	before := w.sim.Stats().TotalTokenCalls()
	if err := s.KeepAlivePass(context.Background()); err != nil {
		w.t.Fatal(err)
	}
	return w.sim.Stats().TotalTokenCalls() - before
}

func (w *keepAliveWorld) issuedAt() time.Time {
	w.t.Helper()
	tok, err := w.st.LoadToken(context.Background(), w.conn.ID)
	if err != nil {
		w.t.Fatal(err)
	}
	return tok.IssuedAt
}

func (w *keepAliveWorld) checkNoRejections() {
	w.t.Helper()
	st := w.sim.Stats()
	if st.RefreshReuseRejections != 0 || st.EarlyRefreshRejections != 0 || st.TokenCalls["refresh_token/ok"] != st.TotalTokenCalls() {
		w.t.Errorf("token calls %v (reuse rejections %d, early %d); want only successful refreshes",
			st.TokenCalls, st.RefreshReuseRejections, st.EarlyRefreshRejections)
	}
}

func TestKeepAliveRefreshesOnlyWhenDue(t *testing.T) {
	t.Parallel()
	w := newKeepAliveWorld(t)
	s := w.worker(7 * 24 * time.Hour)

	steps := []struct {
		name      string
		advance   time.Duration
		wantCalls int
	}{
		{"imported token never refreshed", 0, 1},
		{"just refreshed", 0, 0},
		{"six days later", 6 * 24 * time.Hour, 0},
		{"seven days after the refresh", 24 * time.Hour, 1},
		{"an hour later", time.Hour, 0},
		{"another seven days", 7*24*time.Hour - time.Hour, 1},
	}
	for _, step := range steps {
		w.sim.Advance(step.advance)
		if got := w.pass(s); got != step.wantCalls {
			t.Errorf("%s: %d token calls, want %d", step.name, got, step.wantCalls)
		}
		if step.wantCalls > 0 && !w.issuedAt().Equal(w.sim.Now()) {
			t.Errorf("%s: stored token issued at %v, want now (%v)", step.name, w.issuedAt(), w.sim.Now())
		}
	}
	if len(w.waits) != 0 {
		t.Errorf("keep-alive waited %v, want no waits", w.waits)
	}
	w.checkNoRejections()
}

// A refresh by a sync counts: the keep-alive only tops up quiet periods.
func TestKeepAliveCountsRefreshesBySyncs(t *testing.T) {
	t.Parallel()
	w := newKeepAliveWorld(t)
	s := w.worker(7 * 24 * time.Hour)
	w.pass(s)
	w.sim.Advance(5 * 24 * time.Hour)
	client, err := s.Client(context.Background(), w.conn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.AccessToken(context.Background()); err != nil { // a sync's refresh
		t.Fatal(err)
	}
	w.sim.Advance(3 * 24 * time.Hour) // 8 days after the keep-alive's refresh, 3 after the sync's
	if got := w.pass(s); got != 0 {
		t.Errorf("%d token calls three days after a sync refreshed, want 0", got)
	}
}

// Over 90 quiet days, checked daily, the chain never reaches Exact's 30-day idle expiry
// (§1.7): about one refresh a week, and the token still works at the end.
func TestKeepAliveKeepsAQuietChainAliveFor90Days(t *testing.T) {
	t.Parallel()
	w := newKeepAliveWorld(t)
	s := w.worker(7 * 24 * time.Hour)
	calls := 0
	for range 90 {
		calls += w.pass(s)
		w.sim.Advance(24 * time.Hour)
	}
	if want := 1 + 90/7; calls < want-1 || calls > want {
		t.Errorf("%d refreshes in 90 days, want about %d (one a week)", calls, want)
	}
	// Past any 30-day idle expiry had the keep-alive not run: the chain is alive.
	other := w.worker(7 * 24 * time.Hour)
	client, err := other.Client(context.Background(), w.conn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Me(context.Background()); err != nil {
		t.Errorf("after 90 quiet days: %v", err)
	}
	w.checkNoRejections()
}

// The keep-alive refresh respects the 570 s rule (§1.8): when due earlier, it waits.
func TestKeepAliveWaitsFor570Seconds(t *testing.T) {
	t.Parallel()
	w := newKeepAliveWorld(t)
	s := w.worker(5 * time.Minute) // shorter than the run command allows, to reach the rule
	w.pass(s)
	w.sim.Advance(6 * time.Minute)
	if got := w.pass(s); got != 1 {
		t.Errorf("%d token calls, want 1", got)
	}
	if want := []time.Duration{570*time.Second - 6*time.Minute}; fmt.Sprint(w.waits) != fmt.Sprint(want) {
		t.Errorf("waits %v, want %v", w.waits, want)
	}
	w.checkNoRejections()
}

// Two processes' keep-alives at once share the row lock: one refresh, no rejection.
func TestKeepAliveTwoProcessesRefreshOnce(t *testing.T) {
	t.Parallel()
	w := newKeepAliveWorld(t)
	w.pass(w.worker(7 * 24 * time.Hour))
	w.sim.Advance(8 * 24 * time.Hour)
	before := w.sim.Stats().TotalTokenCalls()
	var wg gosync.WaitGroup
	for range 2 {
		s := w.worker(7 * 24 * time.Hour)
		wg.Go(func() { _ = s.KeepAlivePass(context.Background()) })
	}
	wg.Wait()
	if got := w.sim.Stats().TotalTokenCalls() - before; got != 1 {
		t.Errorf("two keep-alives made %d token calls, want 1", got)
	}
	w.checkNoRejections()
}

// A connection that needs re-authorization is left alone: no token call.
func TestKeepAliveSkipsBrokenConnections(t *testing.T) {
	t.Parallel()
	w := newKeepAliveWorld(t)
	s := w.worker(7 * 24 * time.Hour)
	w.pass(s)
	if err := w.st.MarkReauthRequired(context.Background(), w.conn.ID, "test", dest.ReauthOther); err != nil {
		t.Fatal(err)
	}
	w.sim.Advance(8 * 24 * time.Hour)
	if got := w.pass(s); got != 0 {
		t.Errorf("%d token calls for a connection needing re-authorization, want 0", got)
	}
}

const (
	testClientID     = "worker-client"
	testClientSecret = "worker-secret-value-0123456789"
)
