package sink

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/exactsync/exactsync/dest"
)

// ClaimConnectionUser names the user of a connection whose user was not
// known when its token was stored. If the same host, app and user already
// have a connection, the token moves there (so its cursors and history are
// kept), the pending row is deleted and the existing connection is returned.
//
// One Exact user and app have one live refresh token (docs/exact-online.md §1.9): unless
// replace, an existing connection of that user and app whose chain is alive (state ok, a
// refresh token younger than Exact's 30 idle days, §1.7) is not replaced. The pending connection and its token are then deleted and the error is
// a *dest.ConnectedError. A connection that needs re-authorization is replaced without
// asking: that is how it is repaired.
func (s *Store) ClaimConnectionUser(ctx context.Context, pendingID int64, userKey string, replace bool) (dest.Connection, error) {
	var out dest.Connection
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var baseURL, clientID string
		err := tx.QueryRow(ctx, `SELECT base_url, client_id FROM exact_sync.connections WHERE id = $1 FOR UPDATE`,
			pendingID).Scan(&baseURL, &clientID)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("connection %d: %w", pendingID, ErrNotFound)
		}
		if err != nil {
			return err
		}
		var existing int64
		var live bool
		err = tx.QueryRow(ctx, `
			SELECT id, state = '`+dest.StateOK+`' AND coalesce(refresh_token_issued_at > now() - interval '30 days', true)
			FROM exact_sync.connections
			WHERE base_url = $1 AND client_id = $2 AND user_key = $3 AND id <> $4
			FOR UPDATE`, baseURL, clientID, userKey, pendingID).Scan(&existing, &live)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			_, err = tx.Exec(ctx, `UPDATE exact_sync.connections SET user_key = $2, updated_at = now() WHERE id = $1`,
				pendingID, userKey)
			if err != nil {
				return err
			}
			out, err = scanConnection(tx.QueryRow(ctx, `SELECT `+connectionColumns+` FROM exact_sync.connections WHERE id = $1`, pendingID))
			return err
		case err != nil:
			return err
		case live && !replace:
			return &dest.ConnectedError{ID: existing, UserKey: userKey, ClientID: clientID}
		}
		if err := s.moveSecrets(ctx, tx, pendingID, existing); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM exact_sync.connections WHERE id = $1`, pendingID); err != nil {
			return err
		}
		out, err = scanConnection(tx.QueryRow(ctx, `SELECT `+connectionColumns+` FROM exact_sync.connections WHERE id = $1`, existing))
		return err
	})
	var connected *dest.ConnectedError
	if errors.As(err, &connected) {
		// The transaction was rolled back: the refused pending connection goes in one of its own.
		if _, derr := s.pool.Exec(context.WithoutCancel(ctx), `DELETE FROM exact_sync.connections WHERE id = $1 AND user_key = ''`, pendingID); derr != nil {
			return dest.Connection{}, fmt.Errorf("removing the refused connection %d: %w (refused: %v)", pendingID, derr, err)
		}
		return dest.Connection{}, err
	}
	if err != nil {
		return dest.Connection{}, fmt.Errorf("claiming connection %d for its user: %w", pendingID, err)
	}
	return out, nil
}

// moveSecrets copies the token pair, its times and the client secret (when one is stored)
// of connection from to connection to, re-sealed for to: a sealed value is bound to its
// row (see secretContext).
func (s *Store) moveSecrets(ctx context.Context, tx pgx.Tx, from, to int64) error {
	var vals [3]string
	err := tx.QueryRow(ctx, `SELECT access_token, refresh_token, client_secret FROM exact_sync.connections WHERE id = $1`, from).
		Scan(&vals[0], &vals[1], &vals[2])
	if err != nil {
		return err
	}
	for i, v := range vals {
		plain, err := s.open(from, secretColumns[i], v)
		if err != nil {
			return err
		}
		if vals[i], err = s.seal(to, secretColumns[i], plain); err != nil {
			return err
		}
	}
	_, err = tx.Exec(ctx, `
		UPDATE exact_sync.connections AS c SET
			access_token = $3, refresh_token = $4,
			client_secret = CASE WHEN $5 = '' THEN c.client_secret ELSE $5 END,
			access_token_expires_at = p.access_token_expires_at, access_token_issued_at = p.access_token_issued_at,
			refresh_token_issued_at = p.refresh_token_issued_at, last_refresh_at = p.last_refresh_at,
			refresh_not_before = p.refresh_not_before, exact_clock_offset_ms = p.exact_clock_offset_ms,
			refresh_sends = p.refresh_sends,
			state = '`+dest.StateOK+`', state_reason = '', state_cause = '', updated_at = now()
		FROM exact_sync.connections AS p
		WHERE c.id = $1 AND p.id = $2`, to, from, vals[0], vals[1], vals[2])
	return err
}

// TableCount is how many rows one division has in a table.
type TableCount struct {
	Table      string
	Division   int
	Rows       int
	LastSynced time.Time
}

// Count counts the rows per division of the given tables, which must have
// division and synced_at columns.
func (s *Store) Count(ctx context.Context, tables ...string) ([]TableCount, error) {
	var out []TableCount
	for _, t := range tables {
		name, err := sanitizeTable(t)
		if err != nil {
			return nil, err
		}
		rows, err := s.pool.Query(ctx, `SELECT division, count(*), max(synced_at) FROM `+name+` GROUP BY division ORDER BY division`)
		if err != nil {
			return nil, fmt.Errorf("counting %s: %w", t, err)
		}
		counts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (TableCount, error) {
			c := TableCount{Table: t}
			return c, r.Scan(&c.Division, &c.Rows, &c.LastSynced)
		})
		if err != nil {
			return nil, fmt.Errorf("counting %s: %w", t, err)
		}
		out = append(out, counts...)
	}
	return out, nil
}

// DeletePendingConnection removes a connection whose user is not known yet
// and that never received an access token: what a failed import leaves.
// It reports whether a row was deleted.
func (s *Store) DeletePendingConnection(ctx context.Context, id int64) (bool, error) {
	tag, err := s.pool.Exec(ctx, `
		DELETE FROM exact_sync.connections
		WHERE id = $1 AND user_key = '' AND access_token = '' AND last_refresh_at IS NULL`, id)
	if err != nil {
		return false, fmt.Errorf("deleting pending connection %d: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}
