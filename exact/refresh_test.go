package exact

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestRefreshRotatesAValidToken(t *testing.T) {
	env := newTestEnv(t)
	first := env.validToken(t)
	env.clock.Advance(20 * time.Minute) // expired, and well past 570 s

	if err := env.client.Refresh(context.Background()); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if got := env.client.TokenCalls(); got != 2 {
		t.Errorf("token calls: got %d, want 2", got)
	}
	got := env.store.Token()
	if got.RefreshToken == first.RefreshToken {
		t.Errorf("the stored refresh token did not change")
	}
	if !got.IssuedAt.Equal(env.clock.Now()) {
		t.Errorf("stored IssuedAt %v, want %v", got.IssuedAt, env.clock.Now())
	}
	if len(env.clock.Sleeps()) != 0 {
		t.Errorf("Refresh waited %v; want no wait past the 570 s window", env.clock.Sleeps())
	}
	if env.store.updates != 4 {
		t.Errorf("store updates: got %d, want 4 (each refresh under the row lock: its announcement, then its pair)", env.store.updates)
	}
}

// The access token is still valid for a long time: Refresh rotates the chain anyway, but
// not before 570 s after the token was issued (§1.8).
func TestRefreshWaitsFor570Seconds(t *testing.T) {
	env := newTestEnv(t)
	env.validToken(t)
	env.clock.Advance(2 * time.Minute)

	if err := env.client.Refresh(context.Background()); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	sleeps := env.clock.Sleeps()
	if len(sleeps) != 1 || sleeps[0] != 570*time.Second-2*time.Minute {
		t.Errorf("waits %v, want one of %v", sleeps, 570*time.Second-2*time.Minute)
	}
	if got := env.client.TokenCalls(); got != 2 {
		t.Errorf("token calls: got %d, want 2", got)
	}
	if got, want := env.store.Token().IssuedAt, testStart.Add(570*time.Second); !got.Equal(want) {
		t.Errorf("new token issued at %v, want %v", got, want)
	}
}

// Another process rotates the chain while Refresh waits for the 570 s window: its rotation
// counts, and Refresh makes no call of its own.
func TestRefreshUsesARotationByAnotherProcess(t *testing.T) {
	env := newTestEnv(t)
	env.validToken(t)
	other := env.newClient(t, env.store)
	env.clock.Advance(time.Minute)

	wait := make(chan struct{})
	release := make(chan struct{})
	env.client.sleep = func(ctx context.Context, d time.Duration) error {
		close(wait)
		<-release
		return env.clock.Sleep(ctx, d)
	}
	done := make(chan error, 1)
	go func() { done <- env.client.Refresh(context.Background()) }()
	<-wait
	env.clock.Advance(10 * time.Minute)
	if _, err := other.AccessToken(context.Background()); err != nil {
		t.Fatalf("the other process: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if got, _ := env.exact.counts(); got != 2 {
		t.Errorf("token calls at the server: got %d, want 2 (first token, the other process's refresh)", got)
	}
}

func TestRefreshBrokenChainIsTerminal(t *testing.T) {
	env := newTestEnv(t)
	env.validToken(t)
	env.exact.mu.Lock()
	env.exact.rt = "ref-Zsekrit!elsewhere" // the chain moved on without us
	env.exact.mu.Unlock()
	env.clock.Advance(10 * time.Minute)

	for i := range 2 {
		err := env.client.Refresh(context.Background())
		if !errors.Is(err, ErrReauthRequired) {
			t.Fatalf("Refresh %d: got %v, want ErrReauthRequired", i+1, err)
		}
	}
	if got, _ := env.exact.counts(); got != 2 {
		t.Errorf("token calls at the server: got %d, want 2 (first token, one rejected refresh)", got)
	}
	if marks := env.store.Marks(); len(marks) != 1 {
		t.Errorf("MarkReauthRequired called %d times, want 1", len(marks))
	}
}

// Two keep-alives that both saw an old pair: the second finds the first one's rotation
// under the row lock and makes no call, where Refresh would rotate again.
func TestRefreshIfOlderSparesARecentRotation(t *testing.T) {
	env := newTestEnv(t)
	env.validToken(t)
	other := env.newClient(t, env.store)
	env.clock.Advance(8 * 24 * time.Hour)
	const week = 7 * 24 * time.Hour

	rotated, err := other.RefreshIfOlder(context.Background(), week)
	if err != nil || !rotated {
		t.Fatalf("first keep-alive: rotated %v, err %v; want a rotation", rotated, err)
	}
	rotated, err = env.client.RefreshIfOlder(context.Background(), week)
	if err != nil || rotated {
		t.Fatalf("second keep-alive: rotated %v, err %v; want none", rotated, err)
	}
	if got, _ := env.exact.counts(); got != 2 {
		t.Errorf("token calls at the server: got %d, want 2 (first token, one keep-alive)", got)
	}
	if _, err := env.client.RefreshIfOlder(context.Background(), 0); err == nil {
		t.Errorf("RefreshIfOlder with no maximum age succeeded, want an error")
	}
}
