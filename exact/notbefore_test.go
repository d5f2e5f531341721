package exact

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// A 401 for a token we believe fresh: one refresh at once when the connection's shared
// NotBefore has passed (no wait on our own 570 s judgement), else a wait for it, logged
// with the time and the reason.
func TestUnauthorizedRefreshesAtOnceOrAtTheSharedNotBefore(t *testing.T) {
	tests := []struct {
		name       string
		notBefore  time.Duration // from now; 0: none
		wantSleeps []time.Duration
		wantLog    []string
	}{
		{name: "no shared NotBefore: refreshed at once"},
		{name: "shared NotBefore passed: refreshed at once", notBefore: -time.Minute},
		{name: "shared NotBefore ahead: waits for it", notBefore: 200 * time.Second,
			wantSleeps: []time.Duration{200 * time.Second},
			wantLog:    []string{`"refresh_at":"2026-01-05T09:03:20Z"`, "401", "too early"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			now := env.clock.Now()
			// The row says the token was issued a minute ago; Exact has no such token.
			env.store.tok = Token{AccessToken: "acc-Zsekrit-restored", RefreshToken: env.exact.rt,
				IssuedAt: now.Add(-time.Minute), Expiry: now.Add(9 * time.Minute)}
			if tt.notBefore != 0 {
				env.store.tok.NotBefore = now.Add(tt.notBefore)
			}
			env.exact.setAPI(func(w http.ResponseWriter, r *http.Request) {
				if !env.exact.authorized(r) {
					writeJSON(w, 401, ``)
					return
				}
				writeJSON(w, 200, onePage)
			})
			u := env.client.URL(101, "sync/CRM/Accounts", url.Values{"$select": {"ID,Timestamp"}, "$filter": {"Timestamp gt 4000L"}})
			if _, err := env.client.Page(context.Background(), 101, u); err != nil {
				t.Fatalf("Page: %v", err)
			}
			if got := env.client.TokenCalls(); got != 1 {
				t.Errorf("token calls: got %d, want 1", got)
			}
			if diff := cmp.Diff(tt.wantSleeps, env.clock.Sleeps()); diff != "" {
				t.Errorf("sleeps (-want +got):\n%s", diff)
			}
			for _, s := range tt.wantLog {
				if !strings.Contains(env.logs.String(), s) {
					t.Errorf("logs do not mention %q:\n%s", s, env.logs.String())
				}
			}
		})
	}
}

// Exact answers "too early" although the stored issue time says the window is open: the
// NotBefore shared on the row is 570 s after Exact's answer, and the refresh waits for it.
func TestTooEarlyAnswerSetsTheSharedNotBefore(t *testing.T) {
	env := newTestEnv(t)
	now := env.clock.Now()
	env.store.tok = Token{AccessToken: "acc-Zsekrit-old", RefreshToken: env.exact.rt,
		IssuedAt: now.Add(-20 * time.Minute), Expiry: now.Add(-10 * time.Minute)}
	var notBefore time.Time
	n := 0
	env.exact.setToken(func(w http.ResponseWriter, r *http.Request) bool {
		n++
		if n > 1 {
			notBefore = env.store.Token().NotBefore
			return false
		}
		w.Header().Set("Reason", "TooEarlyToRefreshTokens: Rate limit exceeded: access_token not expired")
		writeJSON(w, 400, `{"error":"access_denied","error_description":"Rate limit exceeded: access_token not expired"}`)
		return true
	})
	if _, err := env.client.AccessToken(context.Background()); err != nil {
		t.Fatalf("AccessToken: %v", err)
	}
	if want := now.Add(570 * time.Second); !notBefore.Equal(want) {
		t.Errorf("shared NotBefore %v, want %v (570 s after Exact's answer)", notBefore, want)
	}
	if diff := cmp.Diff([]time.Duration{570 * time.Second}, env.clock.Sleeps()); diff != "" {
		t.Errorf("sleeps (-want +got):\n%s", diff)
	}
	if got := env.store.Token().NotBefore; !got.IsZero() {
		t.Errorf("NotBefore %v after the refresh, want it cleared", got)
	}
}
