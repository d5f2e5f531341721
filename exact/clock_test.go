package exact_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/exact/exacttest"
)

// The simulator's clock (Exact's) and ours differ by minutes. The client learns Exact's
// clock from the Date headers, stores token times on it, and judges the 570 s rule and
// expiry on it; a second process, which has not heard from Exact yet, judges with the
// offset stored on the row. Judged on our own clock, a process behind Exact's clock
// would keep an expired token and one ahead of it would be refused "too early".
func TestTokenTimesJudgedOnExactsClock(t *testing.T) {
	for _, skew := range []time.Duration{-5 * time.Minute, 5 * time.Minute} {
		t.Run(fmt.Sprintf("our clock %+v", skew), func(t *testing.T) {
			srv := exacttest.NewServer(exacttest.Options{FreezeClock: true})
			t.Cleanup(srv.Close)
			store := exact.NewMemStore(exact.Token{RefreshToken: srv.RefreshToken()})
			ours := func() time.Time { return srv.Now().Add(skew) }
			newClient := func() *exact.Client {
				c, err := exact.New(exact.Config{
					BaseURL: srv.URL, ClientID: "exactsim-client", ClientSecret: "exactsim-secret",
					Logger: zerolog.New(zerolog.NewTestWriter(t)), Now: ours,
					Sleep: func(_ context.Context, d time.Duration) error {
						return fmt.Errorf("the client wanted to wait %s", d)
					},
				}, store)
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
			ctx := context.Background()
			if _, err := newClient().AccessToken(ctx); err != nil {
				t.Fatal(err)
			}
			tok := store.Token()
			if d := tok.IssuedAt.Sub(srv.Now()); d < 0 || d > time.Second {
				t.Errorf("stored issue time %v, want Exact's time %v (ours is %v)", tok.IssuedAt, srv.Now(), ours())
			}
			if d := tok.ClockOffset + skew; d < -time.Second || d > time.Second {
				t.Errorf("stored clock offset %v, want about %v", tok.ClockOffset, -skew)
			}

			steps := []struct {
				advance   time.Duration
				wantCalls int
			}{
				{5 * time.Minute, 0},                // 5 min old by Exact's clock: usable
				{4*time.Minute + 35*time.Second, 1}, // 25 s left by Exact's clock: refreshed, and allowed
			}
			for _, step := range steps {
				srv.Advance(step.advance)
				before := srv.Stats()
				c := newClient() // a new process: only the row tells it Exact's clock
				if _, err := c.AccessToken(ctx); err != nil {
					t.Fatalf("after %v: %v", step.advance, err)
				}
				if _, err := c.Me(ctx); err != nil {
					t.Fatalf("after %v: the token does not work: %v", step.advance, err)
				}
				after := srv.Stats()
				if got := after.TotalTokenCalls() - before.TotalTokenCalls(); got != step.wantCalls {
					t.Errorf("after %v: %d token calls, want %d", step.advance, got, step.wantCalls)
				}
				if after.EarlyRefreshRejections != 0 || after.Unauthorized != 0 {
					t.Errorf("after %v: %d too-early refreshes and %d 401s, want none", step.advance, after.EarlyRefreshRejections, after.Unauthorized)
				}
			}
		})
	}
}
