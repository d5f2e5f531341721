package exact

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestAccessTokenRefreshRules(t *testing.T) {
	tests := []struct {
		name       string
		stored     func(now time.Time, rt string) Token
		wantCalls  int
		wantSleeps []time.Duration
	}{
		{
			name: "ten minutes left: stored token used",
			stored: func(now time.Time, rt string) Token {
				return Token{AccessToken: "acc-Zsekrit-old", RefreshToken: rt, IssuedAt: now, Expiry: now.Add(600 * time.Second)}
			},
			wantCalls: 0,
		},
		{
			name: "exactly 30 s left: stored token used",
			stored: func(now time.Time, rt string) Token {
				return Token{AccessToken: "acc-Zsekrit-old", RefreshToken: rt, IssuedAt: now.Add(-570 * time.Second), Expiry: now.Add(30 * time.Second)}
			},
			wantCalls: 0,
		},
		{
			name: "29 s left: refreshed at once",
			stored: func(now time.Time, rt string) Token {
				return Token{AccessToken: "acc-Zsekrit-old", RefreshToken: rt, IssuedAt: now.Add(-571 * time.Second), Expiry: now.Add(29 * time.Second)}
			},
			wantCalls: 1,
		},
		{
			name: "expired long ago: refreshed at once",
			stored: func(now time.Time, rt string) Token {
				return Token{AccessToken: "acc-Zsekrit-old", RefreshToken: rt, IssuedAt: now.Add(-2 * time.Hour), Expiry: now.Add(-time.Hour)}
			},
			wantCalls: 1,
		},
		{
			name: "imported refresh token only: refreshed at once",
			stored: func(now time.Time, rt string) Token {
				return Token{RefreshToken: rt}
			},
			wantCalls: 1,
		},
		{
			name: "short-lived token before 570 s: waits for the window",
			stored: func(now time.Time, rt string) Token {
				return Token{AccessToken: "acc-Zsekrit-old", RefreshToken: rt, IssuedAt: now.Add(-100 * time.Second), Expiry: now.Add(10 * time.Second)}
			},
			wantCalls:  1,
			wantSleeps: []time.Duration{470 * time.Second},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			stored := tt.stored(env.clock.Now(), env.exact.rt)
			env.store.tok = stored
			tok, err := env.client.AccessToken(context.Background())
			if err != nil {
				t.Fatalf("AccessToken: %v", err)
			}
			if got := env.client.TokenCalls(); got != int64(tt.wantCalls) {
				t.Errorf("token calls: got %d, want %d", got, tt.wantCalls)
			}
			if diff := cmp.Diff(tt.wantSleeps, env.clock.Sleeps()); diff != "" {
				t.Errorf("sleeps (-want +got):\n%s", diff)
			}
			if tt.wantCalls == 0 {
				if tok != stored.AccessToken {
					t.Errorf("got a new access token, want the stored one")
				}
				return
			}
			now := env.clock.Now()
			want := Token{AccessToken: "acc-Zsekrit-1", RefreshToken: "ref-Zsekrit!1", IssuedAt: now, Expiry: now.Add(600 * time.Second)}
			if diff := cmp.Diff(want, env.store.Token()); diff != "" {
				t.Errorf("stored token (-want +got):\n%s", diff)
			}
			if tok != want.AccessToken {
				t.Errorf("AccessToken returned a token other than the stored one")
			}
			// A second call within the token's life makes no call.
			env.clock.Advance(500 * time.Second)
			if _, err := env.client.AccessToken(context.Background()); err != nil {
				t.Fatalf("second AccessToken: %v", err)
			}
			if got := env.client.TokenCalls(); got != 1 {
				t.Errorf("token calls after reuse: got %d, want 1", got)
			}
		})
	}
}

func TestAccessTokenRefreshesAfter570Seconds(t *testing.T) {
	env := newTestEnv(t)
	env.validToken(t)
	for i := 2; i <= 5; i++ {
		env.clock.Advance(571 * time.Second)
		if _, err := env.client.AccessToken(context.Background()); err != nil {
			t.Fatalf("lifetime %d: %v", i, err)
		}
		if got := env.client.TokenCalls(); got != int64(i) {
			t.Errorf("lifetime %d: token calls: got %d, want %d", i, got, i)
		}
	}
	if got, want := env.store.Token().RefreshToken, "ref-Zsekrit!5"; got != want {
		t.Errorf("stored refresh token: got %q, want %q", got, want)
	}
}

func TestAccessTokenConcurrentCallersShareOneRefresh(t *testing.T) {
	env := newTestEnv(t)
	// Three clients over one store play three processes; each runs many goroutines.
	clients := []*Client{env.client, env.newClient(t, env.store), env.newClient(t, env.store)}
	var wg sync.WaitGroup
	tokens := make(chan string, 3*40)
	for _, c := range clients {
		for range 40 {
			wg.Go(func() {
				tok, err := c.AccessToken(context.Background())
				if err != nil {
					t.Errorf("AccessToken: %v", err)
				}
				tokens <- tok
			})
		}
	}
	wg.Wait()
	close(tokens)
	for tok := range tokens {
		if tok != "acc-Zsekrit-1" {
			t.Errorf("a caller got another token than the one refresh produced")
			break
		}
	}
	if got, _ := env.exact.counts(); got != 1 {
		t.Errorf("token calls at the server: got %d, want 1", got)
	}
	if env.store.updates != 2 {
		t.Errorf("store updates: got %d, want 2 (the refresh's announcement and its pair)", env.store.updates)
	}
}

func TestAccessTokenTerminalErrors(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		wantReason string
	}{
		{"old refresh token used", 401, `{"error":"unauthorized_client","error_description":"Old refresh token used."}`, "already used"},
		{"refresh token expired", 400, `{"error":"invalid_request","error_description":"The refresh token expired at 1/2/2026 9:00:00 AM and it is now 2/5/2026 9:00:00 AM."}`, "expired"},
		{"invalid_grant", 400, `{"error":"invalid_grant","error_description":"Token is not allowed, because of invalid or empty chainId"}`, "invalid"},
		{"bad client credentials", 400, `{"error":"invalid_request"}`, "EXACT_CLIENT_SECRET"},
		{"plain text Bad Request", 400, "Bad Request", "400 Bad Request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			env.exact.setToken(func(w http.ResponseWriter, r *http.Request) bool {
				if strings.HasPrefix(tt.body, "{") {
					writeJSON(w, tt.status, tt.body)
				} else {
					w.Header().Set("Content-Type", "text/html")
					w.WriteHeader(tt.status)
					fmt.Fprint(w, tt.body)
				}
				return true
			})
			for i := range 3 {
				_, err := env.client.AccessToken(context.Background())
				if !errors.Is(err, ErrReauthRequired) {
					t.Fatalf("call %d: got error %v, want ErrReauthRequired", i+1, err)
				}
				var re *ReauthError
				if !errors.As(err, &re) || !strings.Contains(re.Reason, tt.wantReason) {
					t.Errorf("call %d: got reason %q, want it to mention %q", i+1, re.Reason, tt.wantReason)
				}
				if !strings.Contains(err.Error(), "exactsync auth import --refresh-token") {
					t.Errorf("call %d: error %q does not say how to re-authorize", i+1, err)
				}
				checkNoSecrets(t, "error", err.Error())
			}
			if got := env.client.TokenCalls(); got != 1 {
				t.Errorf("token calls: got %d, want 1 (never retried)", got)
			}
			if got := env.store.Marks(); len(got) != 1 {
				t.Errorf("MarkReauthRequired calls: got %d (%q), want 1", len(got), got)
			}

			// A newly imported refresh token is tried again.
			env.exact.setToken(nil)
			env.exact.mu.Lock()
			env.exact.rt = "ref-Zsekrit!imported"
			env.exact.mu.Unlock()
			env.store.tok = Token{RefreshToken: "ref-Zsekrit!imported"}
			if _, err := env.client.AccessToken(context.Background()); err != nil {
				t.Errorf("after a new import: %v", err)
			}
		})
	}
}

func TestAccessTokenTerminalConcurrentMarksOnce(t *testing.T) {
	env := newTestEnv(t)
	env.store.tok.RefreshToken = "ref-Zsekrit!stale" // not the head of the chain
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := env.client.AccessToken(context.Background()); !errors.Is(err, ErrReauthRequired) {
				t.Errorf("got %v, want ErrReauthRequired", err)
			}
		})
	}
	wg.Wait()
	if got := env.client.TokenCalls(); got != 1 {
		t.Errorf("token calls: got %d, want 1", got)
	}
	if got := len(env.store.Marks()); got != 1 {
		t.Errorf("MarkReauthRequired calls: got %d, want 1", got)
	}
}

func TestAccessTokenTooEarly(t *testing.T) {
	tooEarly := func(w http.ResponseWriter) {
		w.Header().Set("Reason", "TooEarlyToRefreshTokens: Rate limit exceeded: access_token not expired")
		writeJSON(w, 400, `{"error":"access_denied","error_description":"Rate limit exceeded: access_token not expired"}`)
	}
	tests := []struct {
		name      string
		early     int // how many calls are answered "too early"
		wantErr   bool
		wantCalls int
	}{
		{"once, then accepted", 1, false, 2},
		{"twice: gives up without re-authorization", 2, true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			n := 0
			env.exact.setToken(func(w http.ResponseWriter, r *http.Request) bool {
				n++
				if n <= tt.early {
					tooEarly(w)
					return true
				}
				return false
			})
			_, err := env.client.AccessToken(context.Background())
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error: %v", err, tt.wantErr)
			}
			if errors.Is(err, ErrReauthRequired) || len(env.store.Marks()) != 0 {
				t.Errorf("too early must not require re-authorization: %v", err)
			}
			if got := env.client.TokenCalls(); got != int64(tt.wantCalls) {
				t.Errorf("token calls: got %d, want %d", got, tt.wantCalls)
			}
			if diff := cmp.Diff([]time.Duration{570 * time.Second}, env.clock.Sleeps()); diff != "" {
				t.Errorf("sleeps (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAccessTokenTransientErrorIsReturned(t *testing.T) {
	env := newTestEnv(t)
	env.exact.setToken(func(w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
		return true
	})
	_, err := env.client.AccessToken(context.Background())
	if err == nil || errors.Is(err, ErrReauthRequired) {
		t.Fatalf("got %v, want a transient error", err)
	}
	if !strings.Contains(err.Error(), "503") {
		t.Errorf("error %q does not name the status", err)
	}
	if got := env.client.TokenCalls(); got != 1 {
		t.Errorf("token calls: got %d, want 1 (no retries inside the lock)", got)
	}
	if len(env.store.Marks()) != 0 {
		t.Errorf("a 503 marked the connection for re-authorization")
	}
	if got := env.store.Token().RefreshToken; got != "ref-Zsekrit!0" {
		t.Errorf("stored refresh token changed after a failed call")
	}
}

func TestAccessTokenUnreachableNamesHost(t *testing.T) {
	env := newTestEnv(t)
	env.exact.srv.Close()
	_, err := env.client.AccessToken(context.Background())
	host := strings.TrimPrefix(env.exact.srv.URL, "http://")
	if err == nil || !strings.Contains(err.Error(), "cannot reach "+host) {
		t.Errorf("got %v, want it to say cannot reach %s", err, host)
	}
}

func TestExpiresIn(t *testing.T) {
	tests := []struct {
		name      string
		expiresIn any
		want      time.Duration
	}{
		{"string, as Exact sends it", "600", 600 * time.Second},
		{"number", 600, 600 * time.Second},
		{"other string", "300", 300 * time.Second},
		{"absent", nil, 600 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			env.exact.expiresIn = tt.expiresIn
			tok := env.validToken(t)
			if got := tok.Expiry.Sub(tok.IssuedAt); got != tt.want {
				t.Errorf("lifetime: got %v, want %v", got, tt.want)
			}
			if !tok.IssuedAt.Equal(env.clock.Now()) {
				t.Errorf("IssuedAt: got %v, want the clock's now %v", tok.IssuedAt, env.clock.Now())
			}
		})
	}
}

func TestExchange(t *testing.T) {
	tests := []struct {
		name    string
		code    string
		wantErr string
	}{
		{"valid code with !", "code!ok", ""},
		{"used or expired code", "code!used", "rejected the authorization code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			env.store.tok = Token{}
			tok, err := env.client.Exchange(context.Background(), tt.code)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			if diff := cmp.Diff(tok, env.store.Token()); diff != "" {
				t.Errorf("stored token differs from returned (-returned +stored):\n%s", diff)
			}
			if _, err := env.client.AccessToken(context.Background()); err != nil {
				t.Errorf("AccessToken after Exchange: %v", err)
			}
			if got := env.client.TokenCalls(); got != 1 {
				t.Errorf("token calls: got %d, want 1", got)
			}
		})
	}
}

func TestAuthCodeURL(t *testing.T) {
	env := newTestEnv(t)
	u, err := url.Parse(env.client.AuthCodeURL("xyz"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := u.Path, "/api/oauth2/auth"; got != want {
		t.Errorf("path: got %q, want %q", got, want)
	}
	q := u.Query()
	for k, want := range map[string]string{"client_id": testClientID, "redirect_uri": "https://localhost:8443/callback", "response_type": "code", "state": "xyz"} {
		if got := q.Get(k); got != want {
			t.Errorf("%s: got %q, want %q", k, got, want)
		}
	}
	checkNoSecrets(t, "auth URL", u.String())
}

func TestParseAuthCode(t *testing.T) {
	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{"redirected URL", "https://localhost:8443/callback?code=stampNL001.a%21b%21c&state=xyz", "stampNL001.a!b!c", false},
		{"bare encoded code", "stampNL001.a%21b", "stampNL001.a!b", false},
		{"bare decoded code", " stampNL001.a!b \n", "stampNL001.a!b", false},
		{"query only", "code=a%21b&state=1", "a!b", false},
		{"error in redirect", "https://x/cb?error=access_denied&error_description=denied", "", true},
		{"no code", "https://x/cb?state=1", "", true},
		{"empty", "  ", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAuthCode(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error: %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
