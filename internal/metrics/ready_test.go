package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sink/sinktest"
)

// fakeStore answers readiness from memory; hang makes Ping wait for its context.
type fakeStore struct {
	ping    error
	hang    bool
	pending []int64
	conns   []dest.Connection
}

func (f *fakeStore) Ping(ctx context.Context) error {
	if f.hang {
		<-ctx.Done()
		return ctx.Err()
	}
	return f.ping
}

func (f *fakeStore) PendingMigrations(context.Context) ([]int64, error) { return f.pending, f.ping }

func (f *fakeStore) Connections(context.Context) ([]dest.Connection, error) { return f.conns, f.ping }

// get answers one request of h.
func get(t *testing.T, h http.Handler) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	return rec.Code, rec.Body.String()
}

func TestReadyHandler(t *testing.T) {
	usable := []dest.Connection{{ID: 1, State: dest.StateReauthRequired, StateReason: "Old refresh token used"}, {ID: 2, State: dest.StateOK}}
	tests := []struct {
		name      string
		store     *fakeStore
		wantCode  int
		wantLines []string // prefixes, one per line
	}{
		{"ready", &fakeStore{conns: usable}, 200, []string{"ok"}},
		{"database unreachable: every check says so", &fakeStore{ping: errors.New("cannot reach PostgreSQL at 127.0.0.1:5432:\n  dial tcp: refused")}, 503,
			[]string{"database: cannot reach PostgreSQL at 127.0.0.1:5432: dial tcp: refused", "migrations: cannot reach", "connections: cannot reach"}},
		{"migrations pending", &fakeStore{conns: usable, pending: []int64{9, 10}}, 503,
			[]string{"migrations: the schema lacks migrations 9, 10 of this binary; run `exactsync migrate`"}},
		{"no connection", &fakeStore{}, 503, []string{"connections: no Exact Online connection is stored"}},
		{"every connection broken", &fakeStore{conns: usable[:1]}, 503,
			[]string{"connections: every connection needs re-authorization (connection 1: Old refresh token used)"}},
		{"no answer in time", &fakeStore{hang: true, conns: usable}, 503, []string{"database: no answer within 50ms: context deadline exceeded"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(t, ReadyHandler(50*time.Millisecond, StoreChecks(tt.store)...))
			if code != tt.wantCode {
				t.Errorf("status: got %d, want %d", code, tt.wantCode)
			}
			lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
			if len(lines) != len(tt.wantLines) {
				t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(tt.wantLines), body)
			}
			for i, want := range tt.wantLines {
				if !strings.HasPrefix(lines[i], want) {
					t.Errorf("line %d: got %q, want it to start %q", i+1, lines[i], want)
				}
			}
		})
	}
}

// TestReadinessFollowsTheDatabase cuts a proxy between the store and PostgreSQL: readiness
// fails while it is cut and recovers once it is restored.
func TestReadinessFollowsTheDatabase(t *testing.T) {
	t.Parallel()
	dbURL, proxy := sinktest.Proxied(t, sinktest.NewMigratedDatabase(t))
	st := sinktest.OpenStore(t, sink.Config{DatabaseURL: dbURL})
	if _, err := st.UpsertConnection(context.Background(), "https://start.exactonline.nl", "client", "user"); err != nil {
		t.Fatal(err)
	}
	ready := ReadyHandler(time.Second, StoreChecks(st)...)
	if code, body := get(t, ready); code != 200 || body != "ok\n" {
		t.Fatalf("before the cut: got %d %q, want 200 ok", code, body)
	}
	proxy.Cut()
	code, body := get(t, ready)
	if code != 503 || !strings.HasPrefix(body, "database: ") {
		t.Errorf("cut: got %d %q, want 503 naming the database", code, body)
	}
	proxy.Restore()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body = get(t, ready)
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("restored: still %d %q after 10 s", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestServer(t *testing.T) {
	m := New(Config{Logger: zerolog.Nop()})
	s := NewServer("127.0.0.1:0", zerolog.Nop())
	s.Handle("GET /metrics", m.Handler())
	s.Handle("GET /healthz", HealthHandler())
	s.Handle("GET /readyz", ReadyHandler(0, StoreChecks(&fakeStore{conns: []dest.Connection{{ID: 1, State: dest.StateOK}}})...))
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ path, want string }{
		{"/healthz", "ok\n"},
		{"/readyz", "ok\n"},
		{"/metrics", "exactsync_token_refreshes_total"},
	} {
		resp, err := http.Get("http://" + s.Addr() + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), tt.want) {
			t.Errorf("GET %s: got %d %q, want 200 with %q", tt.path, resp.StatusCode, body, tt.want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if _, err := http.Get("http://" + s.Addr() + "/healthz"); err == nil {
		t.Error("the server still answers after Stop")
	}

	// The address taken: Start says which.
	busy := NewServer("127.0.0.1:0", zerolog.Nop())
	if err := busy.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer busy.Stop(context.Background())
	if err := NewServer(busy.Addr(), zerolog.Nop()).Start(context.Background()); err == nil || !strings.Contains(err.Error(), busy.Addr()) {
		t.Errorf("listening on a taken address: got %v, want an error naming %s", err, busy.Addr())
	}
}

func TestCheckAddr(t *testing.T) {
	tests := []struct {
		addr    string
		wantErr string
	}{
		{"127.0.0.1:9464", ""},
		{":9464", ""},
		{"[::1]:0", ""},
		{"localhost:9464", ""},
		{"9464", "missing port in address; want HOST:PORT"},
		{"127.0.0.1:", `port ""`},
		{"127.0.0.1:99999", `port "99999"`},
		{"127.0.0.1:metrics-port", `port "metrics-port"`},
	}
	for _, tt := range tests {
		err := CheckAddr(tt.addr)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("CheckAddr(%q): %v, want nil", tt.addr, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("CheckAddr(%q): got %v, want an error with %q", tt.addr, err, tt.wantErr)
		}
	}
}

// TestStartupGate: until the start has finished, readiness is 503 with what it waits for,
// and the other checks are not run; then they answer.
func TestStartupGate(t *testing.T) {
	calls := 0
	ready := ReadyHandler(time.Second, Check{Name: "database", Func: func(context.Context) error { calls++; return nil }})
	s := NewStartup("connecting to PostgreSQL")
	h := s.Gate(ready)
	if code, body := get(t, h); code != 503 || body != "worker: not started: connecting to PostgreSQL\n" {
		t.Errorf("while starting: got %d %q, want 503 naming the state", code, body)
	}
	s.Set("waiting for PostgreSQL (attempt 2):\n cannot reach it")
	if code, body := get(t, h); code != 503 || body != "worker: not started: waiting for PostgreSQL (attempt 2): cannot reach it\n" {
		t.Errorf("while waiting: got %d %q, want 503 with the state on one line", code, body)
	}
	if calls != 0 {
		t.Errorf("the checks ran %d times before the start finished, want 0", calls)
	}
	s.Started()
	if code, body := get(t, h); code != 200 || body != "ok\n" || calls != 1 {
		t.Errorf("started: got %d %q after %d checks, want 200 ok after 1", code, body, calls)
	}
	var none *Startup
	if code, _ := get(t, none.Gate(ready)); code != 200 {
		t.Errorf("nil Startup: got %d, want the checks' 200", code)
	}
}
