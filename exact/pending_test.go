package exact

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// pendingEnv is a testEnv whose store has its own clock, so that a test moves the window of
// an announced refresh without moving Exact's, and whose client looks at an announcement
// every millisecond.
func pendingEnv(t *testing.T) (*testEnv, *fakeClock) {
	t.Helper()
	env := newTestEnv(t)
	storeClock := newFakeClock()
	env.store.now = storeClock.Now
	env.client.pendingPoll = time.Millisecond
	return env, storeClock
}

// spendElsewhere makes another process spend the stored refresh token at Exact, as if it
// refreshed and could not store the pair, and announce it on the store for left.
func spendElsewhere(t *testing.T, env *testEnv, left time.Duration, ended bool) (spent string) {
	t.Helper()
	env.exact.mu.Lock()
	spent = env.exact.rt
	env.exact.rt = "ref-Zsekrit!held-elsewhere" // the head of the chain, in the other process only
	env.exact.mu.Unlock()
	tok := env.store.Token()
	tok.Pending = PendingRefresh{By: "c-other", Holder: "host other pid 7", Left: left, Ended: ended}
	env.store.SetToken(tok)
	return spent
}

// storeElsewhere stores the other process's pair, as its commit retry does.
func storeElsewhere(env *testEnv) {
	env.exact.mu.Lock()
	env.exact.n++
	at := "acc-Zsekrit-elsewhere"
	env.exact.valid[at] = true
	rt := env.exact.rt
	env.exact.mu.Unlock()
	now := env.clock.Now()
	env.store.SetToken(Token{AccessToken: at, RefreshToken: rt, IssuedAt: now, Expiry: now.Add(AccessTokenLifetime)})
}

// waitLooks waits until the store was read n more times than before (the client is
// waiting for the announced pair).
func waitLooks(t *testing.T, env *testEnv, before, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for env.store.Reads() < before+n {
		if time.Now().After(deadline) {
			t.Fatalf("the client did not look at the store %d times within 30 s", n)
		}
		time.Sleep(time.Millisecond)
	}
}

// The announcement is committed before the token is sent: Exact's token endpoint finds it
// in the store, and it ends with the stored pair.
func TestRefreshIsAnnouncedBeforeTheTokenIsSent(t *testing.T) {
	env, _ := pendingEnv(t)
	var seen PendingRefresh
	env.exact.setToken(func(http.ResponseWriter, *http.Request) bool {
		tok, _ := env.store.LoadToken(context.Background())
		seen = tok.Pending
		return false
	})
	if _, err := env.client.AccessToken(context.Background()); err != nil {
		t.Fatal(err)
	}
	if seen.By != env.client.id || seen.Since.IsZero() || seen.Left <= env.client.tokenTimeout {
		t.Errorf("at the token call the store held %+v, want an announcement by %s with a window beyond the token call", seen, env.client.id)
	}
	if p := env.store.Token().Pending; p != (PendingRefresh{}) {
		t.Errorf("after the refresh the store holds the announcement %+v, want none", p)
	}
}

// Another process announced a refresh and has not stored its pair (PostgreSQL was away
// from it): the client waits for that pair, sends nothing to Exact, and uses the pair once
// it is stored.
func TestPendingRefreshOfAnotherProcessIsAwaited(t *testing.T) {
	env, _ := pendingEnv(t)
	env.validToken(t)
	env.clock.Advance(20 * time.Minute) // the access token is over
	spendElsewhere(t, env, 10*time.Minute, false)
	calls := env.client.TokenCalls()

	got := make(chan error, 1)
	var tok string
	waits := make(chan Wait, 4)
	ctx := WithWaitHook(context.Background(), func(w Wait) { waits <- w })
	reads := env.store.Reads()
	go func() {
		var err error
		tok, err = env.client.AccessToken(ctx)
		got <- err
	}()
	waitLooks(t, env, reads, 5)
	storeElsewhere(env)
	if err := <-got; err != nil {
		t.Fatalf("AccessToken: %v", err)
	}
	if tok != "acc-Zsekrit-elsewhere" {
		t.Errorf("AccessToken = %q, want the pair the other process stored", tok)
	}
	if n := env.client.TokenCalls() - calls; n != 0 {
		t.Errorf("%d token calls while another process's refresh was pending, want 0", n)
	}
	if m := env.store.Marks(); len(m) != 0 {
		t.Errorf("marked %q, want no mark", m)
	}
	select {
	case w := <-waits:
		if w.Reason != WaitPendingRefresh || w.Duration <= 0 || !strings.Contains(w.Describe(w.Duration), "token refresh of another process") {
			t.Errorf("the wait hook was told %+v (%q), want a pending_refresh wait", w, w.Describe(w.Duration))
		}
	default:
		t.Errorf("the wait hook was not told of the wait")
	}
}

// The announcing process never stores a pair. Once its window has passed, or at once when
// its process is known to have ended, the client sends the stored token: Exact answers
// "Old refresh token used" and the connection is marked, with a reason naming the
// announcement. When the announcer had not sent the token (it ended before its call), the
// same refresh simply succeeds.
func TestPendingRefreshWithoutAPair(t *testing.T) {
	tests := []struct {
		name      string
		ended     bool
		spent     bool
		advance   bool // the store's clock passes the window
		wantMark  string
		wantToken bool
	}{
		{name: "window passes, token spent", spent: true, advance: true, wantMark: "stored no pair within its window"},
		{name: "process ended, token spent", ended: true, spent: true, wantMark: "stored no pair, and that process has ended"},
		{name: "window passes, token never sent", advance: true, wantToken: true},
		{name: "process ended before its call", ended: true, wantToken: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, storeClock := pendingEnv(t)
			env.validToken(t)
			env.clock.Advance(20 * time.Minute)
			if tt.spent {
				spendElsewhere(t, env, 10*time.Minute, tt.ended)
			} else {
				tok := env.store.Token()
				tok.Pending = PendingRefresh{By: "c-other", Holder: "host other pid 7", Left: 10 * time.Minute, Ended: tt.ended}
				env.store.SetToken(tok)
			}
			calls := env.client.TokenCalls()
			got := make(chan error, 1)
			reads := env.store.Reads()
			go func() {
				_, err := env.client.AccessToken(context.Background())
				got <- err
			}()
			if tt.advance {
				waitLooks(t, env, reads, 3)
				storeClock.Advance(10*time.Minute + time.Second)
			}
			err := <-got
			if n := env.client.TokenCalls() - calls; n != 1 {
				t.Errorf("%d token calls, want 1", n)
			}
			marks := env.store.Marks()
			if tt.wantToken {
				if err != nil || len(marks) != 0 {
					t.Errorf("AccessToken: %v, marks %q; want a token and no mark", err, marks)
				}
				if !strings.Contains(env.logs.String(), "stored no pair in time") {
					t.Errorf("the log does not say that the announced refresh stored no pair:\n%s", env.logs)
				}
				return
			}
			if !errors.Is(err, ErrReauthRequired) {
				t.Fatalf("AccessToken: %v, want ErrReauthRequired", err)
			}
			if len(marks) != 1 || !strings.Contains(marks[0], "already used") || !strings.Contains(marks[0], tt.wantMark) ||
				!strings.Contains(marks[0], "host other pid 7") || !strings.Contains(marks[0], "recovery file") {
				t.Errorf("marks %q, want one naming the used token, host other pid 7 and %q", marks, tt.wantMark)
			}
		})
	}
}

// Exact answers "Old refresh token used" while another process's refresh of that token is
// pending (its announcement became visible only after this client's own): that is not a
// re-authorization. Nothing is marked, one line is logged, the client waits for the other
// process's pair and uses it, and the spent token is never sent again. When that refresh
// stores no pair within its window, the connection is marked then, with the reason.
func TestOldRefreshTokenUsedWhileAnotherRefreshIsPending(t *testing.T) {
	for _, pairStored := range []bool{true, false} {
		name := map[bool]string{true: "pair stored", false: "window passes"}[pairStored]
		t.Run(name, func(t *testing.T) {
			env, storeClock := pendingEnv(t)
			env.validToken(t)
			env.clock.Advance(20 * time.Minute)
			env.exact.setToken(func(w http.ResponseWriter, r *http.Request) bool {
				// Another process's refresh of the same token, visible only now.
				spendElsewhere(t, env, 10*time.Minute, false)
				env.exact.setToken(nil)
				return false // the fake answers: the token is no longer the head
			})
			got := make(chan error, 1)
			var tok string
			reads := env.store.Reads()
			go func() {
				var err error
				tok, err = env.client.AccessToken(context.Background())
				got <- err
			}()
			waitLooks(t, env, reads, 8)
			if pairStored {
				storeElsewhere(env)
			} else {
				storeClock.Advance(10*time.Minute + time.Second)
			}
			err := <-got
			if n, _ := env.exact.counts(); n != 2 { // the first token, and the spent one once
				t.Errorf("%d token calls in all, want 2: the spent token was sent again", n)
			}
			if got := strings.Count(env.logs.String(), "not a re-authorization"); got != 1 {
				t.Errorf("%d log lines say it is not a re-authorization, want 1:\n%s", got, env.logs)
			}
			marks := env.store.Marks()
			if pairStored {
				if err != nil || tok != "acc-Zsekrit-elsewhere" || len(marks) != 0 {
					t.Errorf("AccessToken = %q, %v; marks %q; want the other process's pair and no mark", tok, err, marks)
				}
				return
			}
			if !errors.Is(err, ErrReauthRequired) || len(marks) != 1 || !strings.Contains(marks[0], "stored no pair within its window") {
				t.Errorf("AccessToken: %v; marks %q; want ErrReauthRequired and one mark naming the announcement", err, marks)
			}
			// The broken chain is not retried.
			if _, err := env.client.AccessToken(context.Background()); !errors.Is(err, ErrReauthRequired) {
				t.Errorf("the next call: %v, want ErrReauthRequired", err)
			}
			if n, _ := env.exact.counts(); n != 2 {
				t.Errorf("%d token calls in all after the next call, want 2", n)
			}
		})
	}
}

// A token call that fails without an answer that rotates the chain (503 here) ends the
// announcement, so that nobody waits for a pair that will not come; a terminal answer
// marks the connection, which ends it too.
func TestFailedTokenCallEndsTheAnnouncement(t *testing.T) {
	for _, tt := range []struct {
		name   string
		status int
		body   string
		marked bool
	}{
		{"unavailable", http.StatusServiceUnavailable, `{"error":"temporarily_unavailable"}`, false},
		{"expired refresh token", http.StatusBadRequest, `{"error":"invalid_request","error_description":"The refresh token expired at 1/2/2026 9:00:00 AM and it is now 2/5/2026 9:00:00 AM."}`, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env, _ := pendingEnv(t)
			env.exact.setToken(func(w http.ResponseWriter, r *http.Request) bool {
				writeJSON(w, tt.status, tt.body)
				return true
			})
			if _, err := env.client.AccessToken(context.Background()); err == nil {
				t.Fatal("AccessToken succeeded, want an error")
			}
			if p := env.store.Token().Pending; p != (PendingRefresh{}) {
				t.Errorf("the store still holds the announcement %+v", p)
			}
			if got := len(env.store.Marks()); (got == 1) != tt.marked {
				t.Errorf("%d marks, want marked %t", got, tt.marked)
			}
		})
	}
}

// slowSecondLock delays the second UpdateToken of a refresh (the one that sends the token)
// as a starved pool or a long lock wait would.
type slowSecondLock struct {
	*memStore
	delay time.Duration
	calls int
}

func (s *slowSecondLock) UpdateToken(ctx context.Context, fn func(context.Context, Token) (Token, bool, error)) (Token, error) {
	s.calls++
	if s.calls == 2 {
		time.Sleep(s.delay)
	}
	return s.memStore.UpdateToken(ctx, fn)
}

// An announcement older than a token call when the row is locked again is made again
// before the token is sent: its window counts on the lock being taken soon after it.
func TestLateAnnouncementIsMadeAgain(t *testing.T) {
	env, _ := pendingEnv(t)
	store := &slowSecondLock{memStore: env.store, delay: 100 * time.Millisecond}
	c, err := New(Config{BaseURL: env.exact.srv.URL, ClientID: testClientID, ClientSecret: testClientSecret,
		Now: env.clock.Now, Sleep: env.clock.Sleep, TokenTimeout: 50 * time.Millisecond}, store)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AccessToken(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n, _ := env.exact.counts(); n != 1 {
		t.Errorf("%d token calls, want 1", n)
	}
	// Announced, too late to spend; announced again; the pair.
	if env.store.updates != 3 {
		t.Errorf("%d store updates, want 3", env.store.updates)
	}
}
