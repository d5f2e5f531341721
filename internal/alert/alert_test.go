package alert_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/internal/alert"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sink/sinktest"
)

// receiver is an incoming webhook that records what it receives; it refuses the first
// fail posts with 500.
type receiver struct {
	mu     gosync.Mutex
	bodies []map[string]any
	raw    []string
	fail   int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if req.Header.Get("Content-Type") != "application/json" || req.URL.Path != "/services/T0/B0/"+hookSecret {
		http.Error(w, "wrong content type or path", http.StatusBadRequest)
		return
	}
	if r.fail > 0 {
		r.fail--
		http.Error(w, "try later", http.StatusInternalServerError)
		return
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.bodies = append(r.bodies, m)
	r.raw = append(r.raw, string(b))
	w.WriteHeader(http.StatusOK)
}

// got returns "condition status subject" of each body received, sorted.
func (r *receiver) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, b := range r.bodies {
		out = append(out, b["condition"].(string)+" "+b["status"].(string)+" "+b["subject"].(string))
	}
	slices.Sort(out)
	return out
}

const (
	hookSecret   = "XXsecretHookPathXXXXXXXX0123"
	refreshToken = "SDFu!refresh-token-secret-0123456789AAEAAA"
	clientSecret = "client-secret-value-0123456789"
)

// TestOneNotificationPerConditionAcrossProcesses: three notifiers, each with its own pool
// on one database (as three run processes), judge the five conditions at the same time;
// the receiver gets one notification of each, then one "resolved" of each after they
// clear, a failed delivery is retried, and no body holds a secret.
func TestOneNotificationPerConditionAcrossProcesses(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dbURL := sinktest.NewMigratedDatabase(t)
	open := func() *sink.Store {
		st, err := sink.Open(ctx, sink.Config{DatabaseURL: dbURL})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(st.Close)
		return st
	}
	st := open()
	pool := sinktest.NewPool(t, dbURL)
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}

	// Connection 1 needs re-authorization; connection 2's refresh token is 24 days old,
	// its division 101 ran out of the day's budget, 102 refused items, 103 lags.
	c1, err := st.UpsertConnection(ctx, "https://start.exactonline.nl", "app", "user-1")
	if err != nil {
		t.Fatal(err)
	}
	c2, err := st.UpsertConnection(ctx, "https://start.exactonline.nl", "app", "user-2")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []dest.Connection{c1, c2} {
		if err := st.ImportRefreshToken(ctx, c.ID, refreshToken); err != nil {
			t.Fatal(err)
		}
		if err := st.SetClientSecret(ctx, c.ID, clientSecret); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.MarkReauthRequired(ctx, c1.ID, "Exact rejected the refresh token as invalid (400 invalid_grant)", dest.ReauthOther); err != nil {
		t.Fatal(err)
	}
	exec(`UPDATE exact_sync.connections SET refresh_token_issued_at = now() - interval '24 days' WHERE id = $1`, c2.ID)
	run := func(division int, entity, status, errText string, ago time.Duration) {
		t.Helper()
		id, err := st.StartRun(ctx, dest.Run{ConnectionID: c2.ID, Division: division, Entity: entity, StartedAt: time.Now().Add(-ago)})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.FinishRun(ctx, id, dest.RunResult{Status: status, Err: errText}); err != nil {
			t.Fatal(err)
		}
		exec(`UPDATE exact_sync.runs SET finished_at = started_at + interval '1 second' WHERE id = $1`, id)
	}
	run(101, "accounts", dest.RunDailyLimit, "the day's limit of division 101 is spent", time.Minute)
	run(102, "items", dest.RunRefused, "403 Forbidden: the app lacks the scope of logistics", time.Minute)
	run(103, "accounts", dest.RunOK, "", 4*time.Hour)

	rec := &receiver{fail: 1}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	var logs bytes.Buffer
	var logMu gosync.Mutex
	logger := zerolog.New(zerolog.SyncWriter(&lockedWriter{w: &logs, mu: &logMu}))
	intervals := map[string]time.Duration{"accounts": time.Hour, "items": time.Hour}
	var notifiers []*alert.Notifier
	for range 3 {
		notifiers = append(notifiers, alert.New(alert.Config{
			URL: srv.URL + "/services/T0/B0/" + hookSecret, Store: open(),
			Inputs: storeInputs(open(), intervals), Backoff: time.Millisecond, Logger: logger,
		}))
	}
	tickAll := func() {
		t.Helper()
		var wg gosync.WaitGroup
		for _, n := range notifiers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := n.Tick(ctx); err != nil {
					t.Errorf("tick: %v", err)
				}
			}()
		}
		wg.Wait()
	}

	firing := []string{
		"day_budget_spent firing connection 2 division 101",
		"entity_refused firing connection 2 division 102 entity items",
		"reauth_required firing connection 1",
		"refresh_token_idle firing connection 2",
		"sync_lag firing connection 2 division 103",
	}
	// A tick stops at a failed delivery; the next ticks retry it after the backoff.
	for range 3 {
		tickAll()
		time.Sleep(5 * time.Millisecond) // past the 1 ms backoff
	}
	if diff := cmp.Diff(firing, rec.got()); diff != "" {
		t.Fatalf("notifications received (-want +got):\n%s", diff)
	}
	var attempts int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM exact_sync.alerts WHERE last_error = '' AND sent_at IS NOT NULL`).Scan(&attempts); err != nil || attempts != 5 {
		t.Errorf("%d alerts recorded as sent, %v; want 5", attempts, err)
	}

	// Still holding: nothing more.
	tickAll()
	if got := len(rec.got()); got != 5 {
		t.Errorf("%d notifications after another tick, want still 5", got)
	}

	// Everything clears.
	if err := st.ImportRefreshToken(ctx, c1.ID, refreshToken); err != nil {
		t.Fatal(err)
	}
	exec(`UPDATE exact_sync.connections SET refresh_token_issued_at = now() WHERE id = $1`, c2.ID)
	run(101, "accounts", dest.RunOK, "", 0)
	run(102, "items", dest.RunOK, "", 0)
	run(103, "accounts", dest.RunOK, "", 0)
	tickAll()
	tickAll()
	want := slices.Clone(firing)
	for _, f := range firing {
		want = append(want, strings.Replace(f, "firing", "resolved", 1))
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, rec.got()); diff != "" {
		t.Fatalf("notifications after the conditions cleared (-want +got):\n%s", diff)
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, b := range rec.bodies {
		text, _ := b["text"].(string)
		if text == "" || (b["status"] == "resolved") != strings.HasPrefix(text, "Resolved: ") {
			t.Errorf("body %v: text %q does not fit its status", b, text)
		}
	}
	logMu.Lock()
	all := strings.Join(rec.raw, "\n") + logs.String()
	logMu.Unlock()
	for _, secret := range []string{refreshToken, clientSecret, hookSecret} {
		if strings.Contains(all, secret) {
			t.Errorf("a body or a log line holds a secret starting %q", secret[:4])
		}
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *gosync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// storeInputs reads the inputs from st, as exactsync run does.
func storeInputs(st *sink.Store, intervals map[string]time.Duration) func(context.Context) (alert.Inputs, error) {
	return func(ctx context.Context) (alert.Inputs, error) {
		conns, err := st.Connections(ctx)
		if err != nil {
			return alert.Inputs{}, err
		}
		states, err := st.SyncStates(ctx)
		if err != nil {
			return alert.Inputs{}, err
		}
		in := alert.Inputs{Now: time.Now(), Connections: conns, Intervals: intervals}
		for _, s := range states {
			in.Entities = append(in.Entities, alert.Entity{ConnectionID: s.ConnectionID, Division: s.Division, Entity: s.Entity,
				LastStatus: s.LastRun.Result.Status, LastError: s.LastRun.Result.Err, LastSuccess: s.LastSuccess})
		}
		return in, nil
	}
}
