package sync

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
)

// TestTokenStoreTranslates checks NewTokenStore, the adapter between the client and the
// token rows: a token and its announced refresh go both ways unchanged, a row marked for
// re-authorization is never handed to the client to refresh, and a mark says whether
// Exact called the token used.
func TestTokenStoreTranslates(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	stored := dest.Token{AccessToken: "a1", RefreshToken: "r1", Expiry: at.Add(10 * time.Minute), IssuedAt: at,
		NotBefore: at.Add(time.Minute), ClockOffset: 3 * time.Second,
		Pending: dest.PendingRefresh{By: "c1", Holder: "host h pid 1", Since: at, Left: time.Minute}}
	rows := &memTokens{tokens: map[int64]dest.Token{7: stored}}
	ts := NewTokenStore(rows, 7)

	got, err := ts.LoadToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := exact.Token{AccessToken: "a1", RefreshToken: "r1", Expiry: stored.Expiry, IssuedAt: at, NotBefore: stored.NotBefore,
		ClockOffset: 3 * time.Second, Pending: exact.PendingRefresh{By: "c1", Holder: "host h pid 1", Since: at, Left: time.Minute}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LoadToken (-want +got):\n%s", diff)
	}

	next := exact.Token{AccessToken: "a2", RefreshToken: "r2", Expiry: at.Add(20 * time.Minute), IssuedAt: at.Add(10 * time.Minute)}
	got, err = ts.UpdateToken(ctx, func(_ context.Context, cur exact.Token) (exact.Token, bool, error) {
		if cur.RefreshToken != "r1" {
			t.Errorf("UpdateToken handed %q, want the stored r1", cur.RefreshToken)
		}
		return next, true, nil
	})
	if err != nil || got.AccessToken != "a2" || rows.tokens[7].RefreshToken != "r2" {
		t.Errorf("UpdateToken = %+v, %v; row %+v; want the new pair stored", got, err, rows.tokens[7])
	}

	for _, tt := range []struct {
		used bool
		want dest.ReauthCause
	}{{false, dest.ReauthOther}, {true, dest.ReauthRefreshTokenUsed}} {
		if err := ts.MarkReauthRequired(ctx, &exact.ReauthError{Reason: "expired", TokenUsed: tt.used}); err != nil {
			t.Fatal(err)
		}
		if c := rows.causes[len(rows.causes)-1]; c != tt.want {
			t.Errorf("mark with TokenUsed=%t: cause %q, want %q", tt.used, c, tt.want)
		}
	}

	called := false
	_, err = ts.UpdateToken(ctx, func(context.Context, exact.Token) (exact.Token, bool, error) {
		called = true
		return next, true, nil
	})
	var reauth *exact.ReauthError
	if !errors.As(err, &reauth) || reauth.Reason != "expired" || called {
		t.Errorf("UpdateToken of a marked row: %v (refresh asked: %t); want *exact.ReauthError %q without a refresh", err, called, "expired")
	}
}
