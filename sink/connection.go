package sink

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/exactsync/exactsync/dest"
)

// ErrNotFound reports that a connection does not exist.
var ErrNotFound = errors.New("not found")

const connectionColumns = `id, base_url, client_id, user_key, state, state_reason, state_cause,
	access_token_expires_at, access_token_issued_at, refresh_token_issued_at, last_refresh_at, created_at,
	access_token, refresh_token, client_secret`

// scanConnection reads connectionColumns. The secrets are read only to learn how they are
// stored; they do not leave this function.
func scanConnection(row pgx.Row) (dest.Connection, error) {
	var c dest.Connection
	var exp, iss, rtIss, last *time.Time
	var access, refresh, secret string
	err := row.Scan(&c.ID, &c.BaseURL, &c.ClientID, &c.UserKey, &c.State, &c.StateReason, &c.StateCause,
		&exp, &iss, &rtIss, &last, &c.CreatedAt, &access, &refresh, &secret)
	c.AccessTokenExpiry, c.AccessTokenIssuedAt = orZero(exp), orZero(iss)
	c.RefreshTokenIssuedAt, c.LastRefreshAt = orZero(rtIss), orZero(last)
	c.HasClientSecret = secret != ""
	c.KeyIDs = keyIDs(access, refresh, secret)
	return c, err
}

// UpsertConnection returns the connection for (baseURL, clientID, userKey), creating it
// when missing. userKey may be empty until the user is known (see SetConnectionUser).
func (s *Store) UpsertConnection(ctx context.Context, baseURL, clientID, userKey string) (dest.Connection, error) {
	// DO UPDATE (a no-op) rather than DO NOTHING so RETURNING yields the existing row.
	row := s.pool.QueryRow(ctx, `
		INSERT INTO exact_sync.connections (base_url, client_id, user_key)
		VALUES ($1, $2, $3)
		ON CONFLICT (base_url, client_id, user_key) DO UPDATE SET base_url = EXCLUDED.base_url
		RETURNING `+connectionColumns, baseURL, clientID, userKey)
	c, err := scanConnection(row)
	if err != nil {
		return dest.Connection{}, fmt.Errorf("storing connection for %s client %s: %w", baseURL, clientID, err)
	}
	return c, nil
}

// Connections returns every connection, ordered by id.
func (s *Store) Connections(ctx context.Context) ([]dest.Connection, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+connectionColumns+` FROM exact_sync.connections ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("listing connections: %w", err)
	}
	cs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (dest.Connection, error) { return scanConnection(r) })
	if err != nil {
		return nil, fmt.Errorf("listing connections: %w", err)
	}
	return cs, nil
}

// updateConnection runs an UPDATE of one connection row ($1 = id) and reports a missing row.
func (s *Store) updateConnection(ctx context.Context, connID int64, what, sql string, args ...any) error {
	tag, err := s.pool.Exec(ctx, sql, append([]any{connID}, args...)...)
	if err != nil {
		return fmt.Errorf("%s connection %d: %w", what, connID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s connection %d: %w", what, connID, ErrNotFound)
	}
	return nil
}

func orZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func orNull(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
