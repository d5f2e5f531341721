package exact

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// recorder is an Observer that keeps what it is told.
type recorder struct {
	mu        sync.Mutex
	requests  []observed
	refreshes []string
	limits    []observedLimit
}

type observed struct {
	Endpoint         string
	Division, Status int
}

type observedLimit struct{ Division, Minute, Day int }

func (r *recorder) Request(endpoint string, division, status int, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d < 0 {
		panic("negative duration")
	}
	r.requests = append(r.requests, observed{endpoint, division, status})
}

func (r *recorder) Refresh(outcome string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refreshes = append(r.refreshes, outcome)
}

func (r *recorder) RateLimit(division, minute, day int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.limits = append(r.limits, observedLimit{division, minute, day})
}

var _ Observer = (*recorder)(nil)

func TestObserverSeesEveryCall(t *testing.T) {
	env := newTestEnv(t)
	rec := &recorder{}
	env.client.obs = rec
	env.exact.setAPI((&script{steps: []http.HandlerFunc{
		status(503, `{"error":{"message":{"value":"busy"}}}`),
		func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-RateLimit-Minutely-Limit", "60")
			w.Header().Set("X-RateLimit-Minutely-Remaining", "0")
			w.Header().Set("X-RateLimit-Minutely-Reset", "0")
			w.WriteHeader(429)
		},
		func(w http.ResponseWriter, r *http.Request) {
			setRateHeaders(w, 5000, 4321, nextMidnight, 60, 57, nextMinute.Add(2*time.Minute))
			writeJSON(w, 200, onePage)
		},
	}}).ServeHTTP)
	u := env.client.URL(101, "sync/CRM/Accounts", map[string][]string{"$filter": {"Timestamp gt 1L"}})
	if _, err := env.client.Page(context.Background(), 101, u); err != nil {
		t.Fatal(err)
	}
	wantReq := []observed{
		{"sync/CRM/Accounts", 101, 503},
		{"sync/CRM/Accounts", 101, 429},
		{"sync/CRM/Accounts", 101, 200},
	}
	if diff := cmp.Diff(wantReq, rec.requests); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{RefreshOK}, rec.refreshes); diff != "" {
		t.Errorf("refreshes (-want +got):\n%s", diff)
	}
	// The 429 named only the minute budget: the day stays unknown until an answer names it.
	wantLimits := []observedLimit{{101, 0, -1}, {101, 0, -1}, {101, 57, 4321}}
	if diff := cmp.Diff(wantLimits, rec.limits); diff != "" {
		t.Errorf("rate limits (-want +got):\n%s", diff)
	}
}

func TestObserverNotToldOfCallsTheCallerCut(t *testing.T) {
	env := newTestEnv(t)
	env.validToken(t)
	rec := &recorder{}
	env.client.obs = rec
	ctx, cancel := context.WithCancel(context.Background())
	env.exact.setAPI(func(w http.ResponseWriter, r *http.Request) {
		cancel()
		<-r.Context().Done()
	})
	if _, err := env.client.Page(ctx, 101, env.client.URL(101, "sync/CRM/Accounts", nil)); err == nil {
		t.Fatal("got no error from a canceled call")
	}
	if len(rec.requests) != 0 {
		t.Errorf("got requests %v, want none: the caller cut the call", rec.requests)
	}
}

func TestObserverRefreshOutcomes(t *testing.T) {
	tests := []struct {
		name   string
		answer func(w http.ResponseWriter)
		want   string
	}{
		{"a new pair", nil, RefreshOK},
		{"too early", func(w http.ResponseWriter) {
			writeJSON(w, 400, `{"error":"access_denied","error_description":"Rate limit exceeded: access_token not expired"}`)
		}, RefreshTooEarly},
		{"old refresh token", func(w http.ResponseWriter) {
			writeJSON(w, 400, `{"error":"invalid_grant","error_description":"Old refresh token used."}`)
		}, RefreshReauth},
		{"unavailable", func(w http.ResponseWriter) { http.Error(w, "Service Unavailable", http.StatusServiceUnavailable) }, RefreshError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			rec := &recorder{}
			env.client.obs = rec
			answered := false
			env.exact.setToken(func(w http.ResponseWriter, r *http.Request) bool {
				if tt.answer == nil || answered {
					return false
				}
				answered = true
				tt.answer(w)
				return true
			})
			_, _ = env.client.AccessToken(context.Background())
			if len(rec.refreshes) == 0 || rec.refreshes[0] != tt.want {
				t.Errorf("refresh outcomes: got %v, want %q first", rec.refreshes, tt.want)
			}
		})
	}
}
