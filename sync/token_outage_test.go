package sync_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/exact/exacttest"
	"github.com/exactsync/exactsync/internal/tcpproxy"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sink/sinktest"
	"github.com/exactsync/exactsync/sync"
)

const (
	outageClientID = "outage-client"
	outageSecret   = "outage-secret-0123456789"
)

// outageWorld is the simulator behind a front that cuts PostgreSQL (a proxy in front of the
// test server) while it answers a refresh, and a store that reaches PostgreSQL through the
// proxy.
type outageWorld struct {
	sim      *exacttest.Server
	front    *httptest.Server
	proxy    *tcpproxy.Proxy
	st       sync.TokenRows
	conn     dest.Connection
	stateDir string
	cutNext  atomic.Bool   // cut at the next token call
	outage   time.Duration // how long a cut lasts; 0: until Restore
}

func newOutageWorld(t *testing.T, outage time.Duration) *outageWorld {
	t.Helper()
	w := &outageWorld{outage: outage, stateDir: t.TempDir()}
	w.sim = exacttest.NewServer(exacttest.Options{ClientID: outageClientID, ClientSecret: outageSecret, FreezeClock: true})
	t.Cleanup(w.sim.Close)
	var dbURL string
	dbURL, w.proxy = sinktest.Proxied(t, sinktest.NewDatabase(t))
	w.front = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/oauth2/token" && w.cutNext.CompareAndSwap(true, false) {
			// The row is locked and the transaction open: the answer reaches a process
			// whose commit cannot succeed.
			w.proxy.Cut()
			if w.outage > 0 {
				time.AfterFunc(w.outage, w.proxy.Restore)
			}
		}
		w.sim.ServeHTTP(rw, r)
	}))
	t.Cleanup(w.front.Close)
	st := sinktest.OpenStore(t, sink.Config{DatabaseURL: dbURL, StateDir: w.stateDir, Logger: zerolog.New(zerolog.NewTestWriter(t))})
	w.st, w.conn = st, sinktest.NewConnection(t, st, w.front.URL, outageClientID, w.sim.RefreshToken())
	return w
}

// client is one process's client of the connection; waits move the simulator's clock.
func (w *outageWorld) client(t *testing.T) *exact.Client {
	t.Helper()
	c, err := exact.New(exact.Config{
		BaseURL: w.front.URL, ClientID: outageClientID, ClientSecret: outageSecret,
		Logger: zerolog.New(zerolog.NewTestWriter(t)), Now: w.sim.Now,
		Sleep: func(ctx context.Context, d time.Duration) error { w.sim.Advance(d); return ctx.Err() },
	}, sync.NewTokenStore(w.st, w.conn.ID))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The pair Exact answers while PostgreSQL is away is kept until PostgreSQL is back: the
// stored refresh token is the head of Exact's chain and the next refresh succeeds. The
// full suite cuts PostgreSQL for 60 s; -short for 3 s.
func TestFaultTokenPairSurvivesDatabaseOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("cuts PostgreSQL for 60 s; skipped with -short")
	}
	t.Parallel()
	outage := 60 * time.Second
	w := newOutageWorld(t, outage)
	ctx, cancel := context.WithTimeout(context.Background(), outage+2*time.Minute)
	defer cancel()

	// While the pair is kept, its recovery file exists; it is gone once stored.
	var sawFile atomic.Bool
	var watch gosync.WaitGroup
	stop := make(chan struct{})
	watch.Go(func() {
		for {
			if m, _ := filepath.Glob(filepath.Join(w.stateDir, "token-*.json")); len(m) > 0 {
				sawFile.Store(true)
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	})

	w.cutNext.Store(true)
	began := time.Now()
	if _, err := w.client(t).AccessToken(ctx); err != nil {
		t.Fatalf("AccessToken across a %s outage: %v", outage, err)
	}
	took := time.Since(began)
	close(stop)
	watch.Wait()
	if took < outage {
		t.Fatalf("AccessToken returned after %s, before the %s outage ended: PostgreSQL was not cut", took.Round(time.Millisecond), outage)
	}
	t.Logf("outage survived: %s (the refreshed pair was stored %s after the token answer)", outage, took.Round(time.Millisecond))

	stored, err := w.st.LoadToken(ctx, w.conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.RefreshToken != w.sim.RefreshToken() {
		t.Fatalf("the stored refresh token is not the head of Exact's chain: the chain was lost")
	}
	if !sawFile.Load() {
		t.Errorf("no recovery file appeared while the pair was kept")
	}
	if m, _ := filepath.Glob(filepath.Join(w.stateDir, "*")); len(m) != 0 {
		t.Errorf("files left in the state directory after the pair was stored: %v", m)
	}

	// The next refresh, by another process, works.
	w.sim.Advance(10 * time.Minute)
	if _, err := w.client(t).AccessToken(ctx); err != nil {
		t.Fatalf("the next refresh: %v", err)
	}
	st := w.sim.Stats()
	if st.RefreshReuseRejections != 0 || st.TokenCalls["refresh_token/old_refresh_token"] != 0 {
		t.Errorf("Exact saw an old refresh token (stats %v): the chain was lost", st.TokenCalls)
	}
	if got := st.TokenCalls["refresh_token/ok"]; got != 2 {
		t.Errorf("%d successful refreshes, want 2", got)
	}
	if _, err := os.Stat(w.stateDir); err != nil {
		t.Fatal(err)
	}
}

// Two processes (each its own client and store, and its own way to PostgreSQL): PostgreSQL
// is cut for the first right after Exact answered its refresh. The second, which still
// reaches PostgreSQL, finds the announced refresh and waits for the first's pair rather
// than send the spent token; once the first's PostgreSQL is back and its retry stores the
// pair, the second uses it.
func TestFaultTokenPendingRefreshIsAwaitedAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("cuts PostgreSQL for one process for seconds; skipped with -short")
	}
	t.Parallel()
	sim := exacttest.NewServer(exacttest.Options{ClientID: outageClientID, ClientSecret: outageSecret, FreezeClock: true})
	t.Cleanup(sim.Close)
	dbURL := sinktest.NewDatabase(t)
	urlA, proxyA := sinktest.Proxied(t, dbURL)
	var cutA atomic.Bool
	answered := make(chan struct{})
	front := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/oauth2/token" && cutA.CompareAndSwap(true, false) {
			proxyA.Cut() // A's row is locked, its transaction open: its commit will fail
			defer close(answered)
		}
		sim.ServeHTTP(rw, r)
	}))
	t.Cleanup(front.Close)
	logger := zerolog.New(zerolog.NewTestWriter(t))
	stA := sinktest.OpenStore(t, sink.Config{DatabaseURL: urlA, StateDir: t.TempDir(), Logger: logger})
	stB := sinktest.OpenStore(t, sink.Config{DatabaseURL: dbURL, StateDir: t.TempDir(), Logger: logger})
	conn := sinktest.NewConnection(t, stB, front.URL, outageClientID, sim.RefreshToken())
	client := func(st sync.TokenRows) *exact.Client {
		c, err := exact.New(exact.Config{
			BaseURL: front.URL, ClientID: outageClientID, ClientSecret: outageSecret, Logger: logger, Now: sim.Now,
			Sleep: func(ctx context.Context, d time.Duration) error { sim.Advance(d); return ctx.Err() },
		}, sync.NewTokenStore(st, conn.ID))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b := client(stA), client(stB)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	cutA.Store(true)
	aDone := make(chan error, 1)
	go func() { _, err := a.AccessToken(ctx); aDone <- err }()
	<-answered
	head := sim.RefreshToken() // A's pair, in A only

	var waited atomic.Bool
	bctx := exact.WithWaitHook(ctx, func(w exact.Wait) {
		if w.Reason == exact.WaitPendingRefresh {
			waited.Store(true)
		}
	})
	bDone := make(chan error, 1)
	var bTok string
	go func() {
		var err error
		bTok, err = b.AccessToken(bctx)
		bDone <- err
	}()
	// B waits for A's pair for as long as A's PostgreSQL is away.
	deadline := time.Now().Add(time.Minute)
	for !waited.Load() {
		if time.Now().After(deadline) {
			t.Fatal("B did not wait for A's announced refresh within a minute")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // A's PostgreSQL stays away a little longer
	if st := sim.Stats(); st.RefreshReuseRejections != 0 {
		t.Fatalf("B sent the spent refresh token while A held the pair")
	}
	proxyA.Restore()
	if err := <-aDone; err != nil {
		t.Fatalf("A: %v", err)
	}
	if err := <-bDone; err != nil {
		t.Fatalf("B: %v", err)
	}
	stored, err := stB.LoadToken(ctx, conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.RefreshToken != head || stored.Pending != (dest.PendingRefresh{}) {
		t.Errorf("stored: the head of the chain %t, announcement %+v; want the head, no announcement", stored.RefreshToken == head, stored.Pending)
	}
	if bTok != stored.AccessToken {
		t.Errorf("B does not use the pair A stored")
	}
	st := sim.Stats()
	if st.RefreshReuseRejections != 0 || st.TokenCalls["refresh_token/ok"] != 1 {
		t.Errorf("token calls %v, reuse rejections %d; want one refresh, no spent token sent", st.TokenCalls, st.RefreshReuseRejections)
	}
	conns, err := stB.Connections(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(conns) != 1 || conns[0].State != dest.StateOK {
		t.Errorf("connections %+v, want one, ok", conns)
	}
}
