package sync

import (
	"context"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
)

// TokenRows is where connections' tokens live. The PostgreSQL store (package
// sink) implements it.
type TokenRows interface {
	LoadToken(ctx context.Context, connID int64) (dest.Token, error)
	UpdateToken(ctx context.Context, connID int64, fn func(ctx context.Context, cur dest.Token) (dest.Token, bool, error)) (dest.Token, error)
	MarkReauthRequired(ctx context.Context, connID int64, reason string, cause dest.ReauthCause) error
}

// NewTokenStore gives the exact client the token row of one connection.
func NewTokenStore(rows TokenRows, connID int64) exact.TokenStore {
	return &tokenStore{rows: rows, id: connID}
}

type tokenStore struct {
	rows TokenRows
	id   int64
}

func (s *tokenStore) LoadToken(ctx context.Context) (exact.Token, error) {
	t, err := s.rows.LoadToken(ctx, s.id)
	return toExact(t), err
}

func (s *tokenStore) UpdateToken(ctx context.Context, fn func(context.Context, exact.Token) (exact.Token, bool, error)) (exact.Token, error) {
	t, err := s.rows.UpdateToken(ctx, s.id, func(ctx context.Context, cur dest.Token) (dest.Token, bool, error) {
		if cur.ReauthReason != "" {
			// The row says the chain is already broken: never send its token again.
			return dest.Token{}, false, &exact.ReauthError{Reason: cur.ReauthReason}
		}
		next, changed, err := fn(ctx, toExact(cur))
		return toSink(next), changed, err
	})
	return toExact(t), err
}

func (s *tokenStore) MarkReauthRequired(ctx context.Context, e *exact.ReauthError) error {
	cause := dest.ReauthOther
	if e.TokenUsed {
		cause = dest.ReauthRefreshTokenUsed
	}
	return s.rows.MarkReauthRequired(ctx, s.id, e.Reason, cause)
}

func toExact(t dest.Token) exact.Token {
	return exact.Token{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, Expiry: t.Expiry, IssuedAt: t.IssuedAt,
		NotBefore: t.NotBefore, ClockOffset: t.ClockOffset, Pending: exact.PendingRefresh(t.Pending)}
}

func toSink(t exact.Token) dest.Token {
	return dest.Token{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, Expiry: t.Expiry, IssuedAt: t.IssuedAt,
		NotBefore: t.NotBefore, ClockOffset: t.ClockOffset, Pending: dest.PendingRefresh(t.Pending)}
}
