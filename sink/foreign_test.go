package sink_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sink/sinktest"
)

// TestForeignRefresh: Exact calling the stored refresh token used is another
// installation's doing when processes of this database sent that token only once (the send
// that received the answer), and this store's own when they sent it before (or nothing is
// known of the sends); a new refresh
// token starts the count again.
func TestForeignRefresh(t *testing.T) {
	t.Parallel()
	const used = "Exact rejected the stored refresh token because it was already used (401 unauthorized_client: Old refresh token used.)"
	announce := func(cur dest.Token) dest.Token {
		cur.Pending = dest.PendingRefresh{By: "client-a", Left: 10 * time.Second}
		return cur
	}
	rotate := func(cur dest.Token) dest.Token {
		return dest.Token{AccessToken: "access-" + cur.RefreshToken, RefreshToken: cur.RefreshToken + "-next"}
	}
	for _, tc := range []struct {
		name  string
		steps []func(dest.Token) dest.Token
		cause dest.ReauthCause
		want  dest.ReauthCause
	}{
		{"sent once, by us", []func(dest.Token) dest.Token{announce}, dest.ReauthRefreshTokenUsed, dest.ReauthForeignRefresh},
		{"no record of the sends", nil, dest.ReauthRefreshTokenUsed, dest.ReauthRefreshTokenUsed},
		{"sent twice by us", []func(dest.Token) dest.Token{announce, announce}, dest.ReauthRefreshTokenUsed, dest.ReauthRefreshTokenUsed},
		{"a predecessor sent twice, this one once", []func(dest.Token) dest.Token{announce, announce, rotate, announce},
			dest.ReauthRefreshTokenUsed, dest.ReauthForeignRefresh},
		{"another terminal answer", []func(dest.Token) dest.Token{announce}, dest.ReauthOther, dest.ReauthOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := sinktest.NewStore(t)
			ctx := testContext(t)
			conn := newConnection(t, s)
			if err := s.ImportRefreshToken(ctx, conn.ID, "refresh-0"); err != nil {
				t.Fatal(err)
			}
			for _, step := range tc.steps {
				if _, err := s.UpdateToken(ctx, conn.ID, func(_ context.Context, cur dest.Token) (dest.Token, bool, error) {
					return step(cur), true, nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.MarkReauthRequired(ctx, conn.ID, used, tc.cause); err != nil {
				t.Fatal(err)
			}
			got, err := s.Connection(ctx, conn.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.State != dest.StateReauthRequired || got.StateCause != tc.want {
				t.Fatalf("state %s cause %q, want %s cause %q", got.State, got.StateCause, dest.StateReauthRequired, tc.want)
			}
			foreign := strings.Contains(got.StateReason, "another installation")
			if foreign != (tc.want == dest.ReauthForeignRefresh) || !strings.Contains(got.StateReason, used) {
				t.Errorf("state reason %q: says another installation %v, want %v, with Exact's answer", got.StateReason, foreign, !foreign)
			}
		})
	}
}

// TestClaimRefusesASecondLiveConnection: a pending connection of a user and app that
// already have a live connection is refused (and removed) unless replace; a connection
// that needs re-authorization is replaced without asking.
func TestClaimRefusesASecondLiveConnection(t *testing.T) {
	t.Parallel()
	s := sinktest.NewStore(t)
	ctx := testContext(t)
	existing := newConnection(t, s)
	if err := s.ImportRefreshToken(ctx, existing.ID, "refresh-old"); err != nil {
		t.Fatal(err)
	}
	pend := func(token string) int64 {
		t.Helper()
		p, err := s.UpsertConnection(ctx, existing.BaseURL, existing.ClientID, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.ImportRefreshToken(ctx, p.ID, token); err != nil {
			t.Fatal(err)
		}
		return p.ID
	}

	p := pend("refresh-second")
	_, err := s.ClaimConnectionUser(ctx, p, existing.UserKey, false)
	var connected *dest.ConnectedError
	if !errors.As(err, &connected) || connected.ID != existing.ID {
		t.Fatalf("claiming a second live connection: %v, want a ConnectedError naming connection %d", err, existing.ID)
	}
	if !strings.Contains(err.Error(), "--replace") || strings.Contains(err.Error(), "\n") {
		t.Errorf("refusal %q is not one line naming --replace", err)
	}
	if _, err := s.Connection(ctx, p); !errors.Is(err, sink.ErrNotFound) {
		t.Errorf("refused pending connection: %v, want it removed", err)
	}
	if tok, err := s.LoadToken(ctx, existing.ID); err != nil || tok.RefreshToken != "refresh-old" {
		t.Errorf("existing connection's token after the refusal = %q, %v; want it kept", tok.RefreshToken, err)
	}

	p = pend("refresh-replacing")
	got, err := s.ClaimConnectionUser(ctx, p, existing.UserKey, true)
	if err != nil || got.ID != existing.ID {
		t.Fatalf("claim with replace = connection %d, %v; want %d", got.ID, err, existing.ID)
	}

	if err := s.MarkReauthRequired(ctx, existing.ID, "expired", dest.ReauthOther); err != nil {
		t.Fatal(err)
	}
	p = pend("refresh-repairing")
	got, err = s.ClaimConnectionUser(ctx, p, existing.UserKey, false)
	if err != nil || got.ID != existing.ID || got.State != dest.StateOK {
		t.Fatalf("claim of a connection needing re-authorization = connection %d state %s, %v; want %d ok", got.ID, got.State, err, existing.ID)
	}
	if tok, err := s.LoadToken(ctx, existing.ID); err != nil || tok.RefreshToken != "refresh-repairing" {
		t.Errorf("repaired connection's token = %q, %v; want the new one", tok.RefreshToken, err)
	}
}
