package sink

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrLockTimeout reports that a connection's token row stayed locked by someone else for
// longer than Config.LockTimeout.
var ErrLockTimeout = errors.New("lock timeout")

// ErrReauthRequired reports that a connection is marked reauth_required: its refresh token
// chain is broken and only a new authorization (or token import) repairs it.
var ErrReauthRequired = errors.New("connection requires re-authorization")

// Token is a connection's stored token pair. Zero times mean unknown.
type Token struct {
	AccessToken  string
	RefreshToken string
	Expiry       time.Time // access-token expiry
	IssuedAt     time.Time // when the access token was issued
}

// ImportRefreshToken stores a refresh token obtained elsewhere as the head of the
// connection's chain: the access token is cleared and the state set back to ok.
func (s *Store) ImportRefreshToken(ctx context.Context, connID int64, refreshToken string) error {
	sealed, err := s.seal(connID, colRefreshToken, refreshToken)
	if err != nil {
		return fmt.Errorf("importing a refresh token into connection %d: %w", connID, err)
	}
	return s.updateConnection(ctx, connID, "importing a refresh token into", `
		UPDATE exact_sync.connections
		SET refresh_token = $2, access_token = '', access_token_expires_at = NULL,
		    access_token_issued_at = NULL, refresh_token_issued_at = now(),
		    state = 'ok', state_reason = '', updated_at = now()
		WHERE id = $1`, sealed)
}

// LoadToken reads the stored token without locking.
func (s *Store) LoadToken(ctx context.Context, connID int64) (Token, error) {
	var t Token
	var exp, iss *time.Time
	err := s.pool.QueryRow(ctx, `
		SELECT access_token, refresh_token, access_token_expires_at, access_token_issued_at
		FROM exact_sync.connections WHERE id = $1`, connID).Scan(&t.AccessToken, &t.RefreshToken, &exp, &iss)
	if errors.Is(err, pgx.ErrNoRows) {
		return Token{}, fmt.Errorf("loading the token of connection %d: %w", connID, ErrNotFound)
	}
	if err != nil {
		return Token{}, fmt.Errorf("loading the token of connection %d: %w", connID, err)
	}
	if t, err = s.openToken(connID, t); err != nil {
		return Token{}, fmt.Errorf("loading the token of connection %d: %w", connID, err)
	}
	t.Expiry, t.IssuedAt = orZero(exp), orZero(iss)
	return t, nil
}

// tokenTx is the locked transaction of one UpdateToken call, reachable from fn's context
// so that MarkReauthRequired called inside fn joins it instead of waiting for the lock.
type tokenTx struct {
	connID int64
	tx     pgx.Tx
	marked bool
}

type tokenTxKey struct{}

// UpdateToken serializes token refreshes of one connection across goroutines and
// processes. In one transaction it locks the connection's row (SELECT … FOR UPDATE,
// waiting at most Config.LockTimeout, then failing with ErrLockTimeout), reads the token
// and calls fn with it.
//
//   - fn returns changed=false: nothing is written; the stored token is returned.
//   - fn returns changed=true: next is stored (with last_refresh_at, and the refresh
//     token's issue time when it changed) and committed before UpdateToken returns it.
//     If the write or the commit fails, next is written again in fresh transactions a
//     few times with a short backoff, even when ctx is done, because the old refresh
//     token has been spent; if every attempt fails the error says the chain may be lost.
//   - fn returns an error: nothing is stored and the error is returned as is.
//
// fn runs while the row is locked and the transaction is open: it must finish well
// within Config.IdleInTransactionTimeout (PostgreSQL ends the session after that). It may
// call MarkReauthRequired for the same connection with the ctx it was given; that write
// joins the transaction and is committed even when fn then returns an error.
//
// A connection marked reauth_required is not handed to fn: UpdateToken returns an error
// wrapping ErrReauthRequired, so a dead refresh token is never sent again.
func (s *Store) UpdateToken(ctx context.Context, connID int64, fn func(ctx context.Context, cur Token) (Token, bool, error)) (Token, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return Token{}, fmt.Errorf("locking the token of connection %d: %w", connID, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := s.setTokenTxLimits(ctx, tx); err != nil {
		return Token{}, fmt.Errorf("locking the token of connection %d: %w", connID, err)
	}

	var cur Token
	var exp, iss *time.Time
	var state, reason string
	err = tx.QueryRow(ctx, `
		SELECT access_token, refresh_token, access_token_expires_at, access_token_issued_at, state, state_reason
		FROM exact_sync.connections WHERE id = $1 FOR UPDATE`, connID).
		Scan(&cur.AccessToken, &cur.RefreshToken, &exp, &iss, &state, &reason)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return Token{}, fmt.Errorf("locking the token of connection %d: %w", connID, ErrNotFound)
	case isLockTimeout(err):
		return Token{}, fmt.Errorf("locking the token of connection %d: %w: another process held it for more than %s", connID, ErrLockTimeout, s.lockTimeout)
	case err != nil:
		return Token{}, fmt.Errorf("locking the token of connection %d: %w", connID, err)
	}
	if state == StateReauthRequired {
		return Token{}, fmt.Errorf("connection %d (%s): %w", connID, reason, ErrReauthRequired)
	}
	if cur, err = s.openToken(connID, cur); err != nil {
		return Token{}, fmt.Errorf("locking the token of connection %d: %w", connID, err)
	}
	cur.Expiry, cur.IssuedAt = orZero(exp), orZero(iss)

	tt := &tokenTx{connID: connID, tx: tx}
	next, changed, err := fn(context.WithValue(ctx, tokenTxKey{}, tt), cur)
	if err != nil {
		if tt.marked {
			if cerr := tx.Commit(context.WithoutCancel(ctx)); cerr != nil {
				s.log.Warn().Err(cerr).Int64("connection", connID).Msg("committing reauth_required failed")
			}
		}
		return Token{}, err
	}
	if !changed {
		if tt.marked {
			if err := tx.Commit(ctx); err != nil {
				return Token{}, fmt.Errorf("committing the state of connection %d: %w", connID, err)
			}
		}
		return cur, nil
	}

	rotated := next.RefreshToken != cur.RefreshToken
	err = s.storeToken(ctx, tx, connID, next, rotated)
	if err == nil {
		err = tx.Commit(ctx)
	}
	if err != nil {
		if err := s.restoreToken(ctx, connID, next, rotated, err); err != nil {
			return Token{}, err
		}
	}
	return next, nil
}

// tokenStoreRetries are the pauses before each extra attempt to store a refreshed token
// whose first commit failed.
var tokenStoreRetries = []time.Duration{100 * time.Millisecond, 500 * time.Millisecond, 2 * time.Second}

// restoreToken stores next in fresh transactions after the locked transaction failed to
// commit it. It ignores ctx's cancellation: Exact has already rotated the chain, and the
// only copy of the new refresh token is in memory.
func (s *Store) restoreToken(ctx context.Context, connID int64, next Token, rotated bool, cause error) error {
	ctx = context.WithoutCancel(ctx)
	last := cause
	for i, pause := range tokenStoreRetries {
		s.log.Warn().Int64("connection", connID).Int("attempt", i+2).Str("error", last.Error()).
			Msg("storing refreshed token failed, retrying")
		time.Sleep(pause)
		last = s.storeTokenOnce(ctx, connID, next, rotated)
		if last == nil {
			return nil
		}
	}
	return fmt.Errorf("storing the refreshed token of connection %d failed %d times (first: %v): %w; the refresh token chain may be lost: if the connection then reports reauth_required, re-authorize it",
		connID, len(tokenStoreRetries)+1, cause, last)
}

func (s *Store) storeTokenOnce(ctx context.Context, connID int64, next Token, rotated bool) error {
	ctx, cancel := context.WithTimeout(ctx, s.lockTimeout+5*time.Second)
	defer cancel()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if err := s.setTokenTxLimits(ctx, tx); err != nil {
		return err
	}
	if err := s.storeToken(ctx, tx, connID, next, rotated); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func (s *Store) setTokenTxLimits(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `SELECT set_config('lock_timeout', $1, true), set_config('idle_in_transaction_session_timeout', $2, true)`,
		millis(s.lockTimeout), millis(s.idleTimeout))
	return err
}

// storeToken writes a token pair, sealed. rotated says whether the refresh token differs
// from the stored one: sealed values differ even for equal plaintexts, so SQL cannot tell.
func (s *Store) storeToken(ctx context.Context, tx pgx.Tx, connID int64, t Token, rotated bool) error {
	access, err := s.seal(connID, colAccessToken, t.AccessToken)
	if err != nil {
		return err
	}
	refresh, err := s.seal(connID, colRefreshToken, t.RefreshToken)
	if err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, `
		UPDATE exact_sync.connections
		SET access_token = $2, refresh_token = $3,
		    access_token_expires_at = $4, access_token_issued_at = $5,
		    refresh_token_issued_at = CASE WHEN $6 THEN now() ELSE refresh_token_issued_at END,
		    last_refresh_at = now(), state = 'ok', state_reason = '', updated_at = now()
		WHERE id = $1`, connID, access, refresh, orNull(t.Expiry), orNull(t.IssuedAt), rotated)
	if err == nil && tag.RowsAffected() == 0 {
		err = fmt.Errorf("connection %d: %w", connID, ErrNotFound)
	}
	return err
}

// MarkReauthRequired records that the connection's token chain is broken and a human must
// re-authorize. Called inside an UpdateToken callback for the same connection, it joins
// that transaction (see UpdateToken).
func (s *Store) MarkReauthRequired(ctx context.Context, connID int64, reason string) error {
	const q = `UPDATE exact_sync.connections SET state = 'reauth_required', state_reason = $2, updated_at = now() WHERE id = $1`
	if tt, ok := ctx.Value(tokenTxKey{}).(*tokenTx); ok && tt.connID == connID {
		if _, err := tt.tx.Exec(ctx, q, connID, reason); err != nil {
			return fmt.Errorf("marking connection %d reauth_required: %w", connID, err)
		}
		tt.marked = true
		return nil
	}
	return s.updateConnection(ctx, connID, "marking reauth_required on", q, reason)
}

func isLockTimeout(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "55P03"
}

func millis(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) + "ms" }
