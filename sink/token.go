package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/exactsync/exactsync/dest"
)

// ErrLockTimeout reports that a connection's token row stayed locked by someone else for
// longer than Config.LockTimeout.
var ErrLockTimeout = errors.New("lock timeout")

// pendingMargin is added to an announced refresh's window for the differences between the
// database's clock and the announcing process's timers.
const pendingMargin = 30 * time.Second

// pendingColumns are the columns of an announced refresh, as scanned by pendingRow.
const pendingColumns = `refresh_pending_sha256, refresh_pending_by, refresh_pending_process, refresh_pending_since,
	(extract(epoch FROM refresh_pending_until - clock_timestamp()) * 1000)::bigint`

// pendingRow is an announced refresh as stored.
type pendingRow struct {
	sha, by string
	proc    []byte
	since   *time.Time
	leftMS  *int64
}

func (p *pendingRow) dest() []any { return []any{&p.sha, &p.by, &p.proc, &p.since, &p.leftMS} }

// of returns the announced refresh if it concerns refreshToken, the stored one.
func (p *pendingRow) of(refreshToken string) dest.PendingRefresh {
	if p.by == "" || p.sha != tokenHash(refreshToken) {
		return dest.PendingRefresh{}
	}
	var proc process
	holder := "an unknown process"
	if len(p.proc) > 0 && json.Unmarshal(p.proc, &proc) == nil {
		holder = proc.String()
	} else {
		proc = process{}
	}
	r := dest.PendingRefresh{By: p.by, Holder: holder, Since: orZero(p.since), Ended: proc.ended()}
	if p.leftMS != nil {
		r.Left = time.Duration(*p.leftMS) * time.Millisecond
	}
	return r
}

// clearPending is the SET list that ends a connection's announced refresh.
const clearPending = `refresh_pending_sha256 = '', refresh_pending_by = '', refresh_pending_process = NULL,
	refresh_pending_since = NULL, refresh_pending_until = NULL`

// ImportRefreshToken stores a refresh token obtained elsewhere as the head of the
// connection's chain: the access token and any announced refresh are cleared and the
// state set back to ok.
func (s *Store) ImportRefreshToken(ctx context.Context, connID int64, refreshToken string) error {
	sealed, err := s.seal(connID, colRefreshToken, refreshToken)
	if err != nil {
		return fmt.Errorf("importing a refresh token into connection %d: %w", connID, err)
	}
	return s.updateConnection(ctx, connID, "importing a refresh token into", `
		UPDATE exact_sync.connections
		SET refresh_token = $2, access_token = '', access_token_expires_at = NULL,
		    access_token_issued_at = NULL, refresh_token_issued_at = now(), refresh_not_before = NULL, refresh_sends = 0,
		    state = '`+dest.StateOK+`', state_reason = '', state_cause = '', `+clearPending+`, updated_at = now()
		WHERE id = $1`, sealed)
}

// LoadToken reads the stored token without locking.
func (s *Store) LoadToken(ctx context.Context, connID int64) (dest.Token, error) {
	var t dest.Token
	var exp, iss, nb *time.Time
	var offMS int64
	var p pendingRow
	err := s.pool.QueryRow(ctx, `
		SELECT access_token, refresh_token, access_token_expires_at, access_token_issued_at,
		       refresh_not_before, exact_clock_offset_ms, `+pendingColumns+`
		FROM exact_sync.connections WHERE id = $1`, connID).Scan(append([]any{&t.AccessToken, &t.RefreshToken, &exp, &iss, &nb, &offMS}, p.dest()...)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return dest.Token{}, fmt.Errorf("loading the token of connection %d: %w", connID, ErrNotFound)
	}
	if err != nil {
		return dest.Token{}, fmt.Errorf("loading the token of connection %d: %w", connID, err)
	}
	if t, err = s.openToken(connID, t); err != nil {
		return dest.Token{}, fmt.Errorf("loading the token of connection %d: %w", connID, err)
	}
	t.Expiry, t.IssuedAt, t.NotBefore = orZero(exp), orZero(iss), orZero(nb)
	t.ClockOffset = time.Duration(offMS) * time.Millisecond
	t.Pending = p.of(t.RefreshToken)
	return t, nil
}

// tokenRow is a connection's row as UpdateToken locks it: its token, its identity (which
// names its recovery file) and its state.
type tokenRow struct {
	connID            int64
	baseURL, clientID string
	state, reason     string
	cause             dest.ReauthCause
	tok               dest.Token
}

// lockTokenRow locks and reads a connection's row in tx (SELECT … FOR UPDATE, waiting at
// most Config.LockTimeout) and opens its secrets.
func (s *Store) lockTokenRow(ctx context.Context, tx pgx.Tx, connID int64) (tokenRow, error) {
	r := tokenRow{connID: connID}
	var exp, iss, nb *time.Time
	var offMS int64
	var p pendingRow
	err := tx.QueryRow(ctx, `
		SELECT base_url, client_id, access_token, refresh_token, access_token_expires_at, access_token_issued_at,
		       refresh_not_before, exact_clock_offset_ms, state, state_reason, state_cause, `+pendingColumns+`
		FROM exact_sync.connections WHERE id = $1 FOR UPDATE`, connID).
		Scan(append([]any{&r.baseURL, &r.clientID, &r.tok.AccessToken, &r.tok.RefreshToken, &exp, &iss, &nb, &offMS,
			&r.state, &r.reason, &r.cause}, p.dest()...)...)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return r, fmt.Errorf("locking the token of connection %d: %w", connID, ErrNotFound)
	case isLockTimeout(err):
		return r, fmt.Errorf("locking the token of connection %d: %w: another process held it for more than %s", connID, ErrLockTimeout, s.lockTimeout)
	case err != nil:
		return r, fmt.Errorf("locking the token of connection %d: %w", connID, err)
	}
	if r.tok, err = s.openToken(connID, r.tok); err != nil {
		return r, fmt.Errorf("locking the token of connection %d: %w", connID, err)
	}
	r.tok.Expiry, r.tok.IssuedAt, r.tok.NotBefore = orZero(exp), orZero(iss), orZero(nb)
	r.tok.ClockOffset = time.Duration(offMS) * time.Millisecond
	r.tok.Pending = p.of(r.tok.RefreshToken)
	if r.state == dest.StateReauthRequired {
		r.tok.ReauthReason = r.reason
	}
	return r, nil
}

// UpdateToken serializes token refreshes of one connection across goroutines and
// processes. In one transaction it locks the connection's row (SELECT … FOR UPDATE,
// waiting at most Config.LockTimeout, then failing with ErrLockTimeout), reads the token
// and calls fn with it. A pair that a process of this machine could not store before (a
// recovery file in Config.StateDir, see RecoverTokens) is taken first, under the same
// lock, when it replaces the stored one.
//
//   - fn returns changed=false: nothing is written; the stored token is returned.
//   - fn returns changed=true with the same pair: NotBefore, ClockOffset and the
//     announced refresh are stored and committed. A next.Pending with By set and Since
//     zero announces a refresh of cur's refresh token by that client: it is stored with
//     this process's identity, the database's time and the window in which the other
//     processes wait for its pair (next.Pending.Left, the token call, plus
//     Config.LockTimeout, Config.TokenStoreWindow and a margin). A next.Pending with By
//     empty ends the stored one; any other leaves it as it is.
//   - fn returns changed=true with a new pair: next is stored (with last_refresh_at, and
//     the refresh token's issue time when it changed) and committed before UpdateToken
//     returns it. If the write or the commit fails, Exact has already spent the old
//     refresh token and the new pair exists only in this process: it is written to a
//     recovery file at once, and stored again in fresh transactions with a capped
//     exponential backoff for as long as Config.TokenStoreWindow allows, also after ctx
//     is done for Config.TokenStoreGrace (see keepToken). Only if that fails does
//     UpdateToken return an error, which names where the pair is kept. A stored pair
//     ends the announced refresh.
//   - fn returns an error: nothing is stored and the error is returned as is.
//
// fn runs while the row is locked and the transaction is open: it must finish well
// within Config.IdleInTransactionTimeout (PostgreSQL ends the session after that), and
// must not write the same connection through the Store (that write would wait for the lock
// fn's own transaction holds): a terminal answer is recorded with MarkReauthRequired after
// UpdateToken returned.
//
// A connection marked reauth_required is handed to fn with cur.ReauthReason set: its
// refresh token is dead, and fn must not send it again (the sync package's token store
// refuses it with exact.ErrReauthRequired). Whether a chain may be used is the client's
// rule; this package only keeps the state.
func (s *Store) UpdateToken(ctx context.Context, connID int64, fn func(ctx context.Context, cur dest.Token) (dest.Token, bool, error)) (dest.Token, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return dest.Token{}, fmt.Errorf("locking the token of connection %d: %w", connID, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := s.setTokenTxLimits(ctx, tx); err != nil {
		return dest.Token{}, fmt.Errorf("locking the token of connection %d: %w", connID, err)
	}
	row, err := s.lockTokenRow(ctx, tx, connID)
	if err != nil {
		return dest.Token{}, err
	}
	row, rec, err := s.recoverLocked(ctx, tx, row)
	if err != nil {
		return dest.Token{}, err
	}
	// commit commits what was written so far: a recovered pair, and with dirty what
	// UpdateToken itself wrote.
	commit := func(dirty bool) error {
		if !dirty && rec == nil {
			return nil
		}
		if err := tx.Commit(context.WithoutCancel(ctx)); err != nil {
			return fmt.Errorf("committing the state of connection %d: %w", connID, err)
		}
		if rec != nil {
			rec.done()
			rec = nil
		}
		return nil
	}
	cur := row.tok

	next, changed, err := fn(ctx, cur)
	if err != nil {
		if cerr := commit(false); cerr != nil {
			s.log.Warn().Err(cerr).Int64("connection", connID).Msg("committing the connection's state failed")
		}
		return dest.Token{}, err
	}
	if !changed {
		if err := commit(false); err != nil {
			return dest.Token{}, err
		}
		return cur, nil
	}
	if next.AccessToken == cur.AccessToken && next.RefreshToken == cur.RefreshToken {
		err := s.storeSchedule(ctx, tx, connID, cur, next)
		if err == nil {
			err = commit(true)
		}
		if err != nil {
			return dest.Token{}, fmt.Errorf("storing the refresh schedule of connection %d: %w", connID, err)
		}
		return next, nil
	}

	rotated := next.RefreshToken != cur.RefreshToken
	err = s.storeToken(ctx, tx, connID, next, rotated)
	if err == nil {
		err = commit(true)
	}
	if err != nil {
		if err := s.keepToken(ctx, row, next, rotated, err); err != nil {
			return dest.Token{}, err
		}
	}
	return next, nil
}

// storeSchedule stores what a next with cur's pair changes: NotBefore, ClockOffset and the
// announced refresh (see UpdateToken).
func (s *Store) storeSchedule(ctx context.Context, tx pgx.Tx, connID int64, cur, next dest.Token) error {
	p := next.Pending
	switch {
	case p.By == "":
		_, err := tx.Exec(ctx, `
			UPDATE exact_sync.connections SET refresh_not_before = $2, exact_clock_offset_ms = $3, `+clearPending+`, updated_at = now()
			WHERE id = $1`, connID, orNull(next.NotBefore), next.ClockOffset.Milliseconds())
		return err
	case p.Since.IsZero():
		proc, err := json.Marshal(thisProcess())
		if err != nil {
			return err
		}
		window := max(p.Left, 0) + s.lockTimeout + s.storeWindow + pendingMargin
		_, err = tx.Exec(ctx, `
			UPDATE exact_sync.connections SET refresh_not_before = $2, exact_clock_offset_ms = $3,
			       refresh_pending_sha256 = $4, refresh_pending_by = $5, refresh_pending_process = $6,
			       refresh_pending_since = clock_timestamp(), refresh_pending_until = clock_timestamp() + $7 * interval '1 millisecond',
			       refresh_sends = refresh_sends + 1, updated_at = now()
			WHERE id = $1`, connID, orNull(next.NotBefore), next.ClockOffset.Milliseconds(),
			tokenHash(cur.RefreshToken), p.By, proc, window.Milliseconds())
		return err
	default:
		_, err := tx.Exec(ctx, `
			UPDATE exact_sync.connections SET refresh_not_before = $2, exact_clock_offset_ms = $3, updated_at = now()
			WHERE id = $1`, connID, orNull(next.NotBefore), next.ClockOffset.Milliseconds())
		return err
	}
}

// Defaults of the Config fields that bound keepToken.
const (
	// defaultTokenStoreWindow: Exact's new refresh token stays usable until it is used (or
	// 30 days idle, §1.7, §1.9), but the access token that came with it lives 600 s
	// (§1.7): after ten minutes a process holding the pair in memory has nothing the
	// recovery file does not keep as well, and it should get on with its exit or its work.
	defaultTokenStoreWindow = 10 * time.Minute
	// defaultTokenStoreGrace: after a shutdown signal, how long the pair is still offered
	// to PostgreSQL before it goes to the recovery file only; well within the 30 s a
	// scheduler takes to stop.
	defaultTokenStoreGrace = 10 * time.Second
	// tokenStoreBackoff is the first pause between two attempts to store a kept pair; it
	// doubles up to tokenStoreBackoffMax (§2.5: capped exponential backoff).
	tokenStoreBackoff    = 250 * time.Millisecond
	tokenStoreBackoffMax = 5 * time.Second
)

// errChainMovedOn: the stored refresh token is neither the one a kept pair replaces nor
// the kept one: someone stored a newer chain (a new authorization, an import).
var errChainMovedOn = errors.New("the stored token chain moved on")

// keepToken stores next after the locked transaction failed to commit it. Exact has
// already rotated the chain (§1.9): next is the only live pair, so it is written to the
// recovery file at once (a killed process leaves it behind too) and stored in fresh
// transactions, with a backoff from 250 ms doubling to 5 s, until it is stored, or until
// Config.TokenStoreWindow has passed since the answer, or Config.TokenStoreGrace after ctx
// is done. Each failed attempt is logged at Warn, without secrets. A stored pair removes
// the recovery file; otherwise the error says where the pair is kept, and the next start
// of any exactsync command imports it (RecoverTokens).
func (s *Store) keepToken(ctx context.Context, row tokenRow, next dest.Token, rotated bool, cause error) error {
	connID := row.connID
	log := s.log.With().Int64("connection", connID).Logger()
	began := time.Now()
	deadline := began.Add(s.storeWindow)
	file := ""
	if rotated {
		path, err := s.writeRecovery(row, next)
		switch {
		case err != nil:
			log.Error().Str("error", err.Error()).Msg("cannot write the refreshed token to a recovery file; it is kept in memory only")
		case path != "":
			file = path
			log.Warn().Str("file", path).Msg("the refreshed token could not be stored; it is kept in a recovery file until it is")
		}
	}

	last := cause
	pause := tokenStoreBackoff
	done := ctx.Done()
	for attempt := 2; ; attempt++ {
		wait := min(pause, time.Until(deadline))
		log.Warn().Int("attempt", attempt).Dur("retry_in_ms", wait).Str("error", last.Error()).
			Msg("storing refreshed token failed, retrying")
		timer := time.NewTimer(max(wait, 0))
		select {
		case <-timer.C:
		case <-done:
			timer.Stop()
			// Shutting down: a little longer for PostgreSQL, then the recovery file only.
			done = nil
			deadline = earliest(deadline, time.Now().Add(s.storeGrace))
			log.Warn().Dur("grace_ms", s.storeGrace).Msg("shutting down while the refreshed token is not stored; retrying for the grace period")
			continue
		}
		last = s.storeTokenOnce(context.WithoutCancel(ctx), row, next, rotated, deadline)
		if last == nil {
			s.removeRecovery(file)
			log.Info().Int("attempts", attempt).Dur("duration_ms", time.Since(began)).Msg("stored the refreshed token")
			return nil
		}
		if errors.Is(last, errChainMovedOn) {
			s.setAsideRecovery(file, "stale")
			return fmt.Errorf("storing the refreshed token of connection %d: %w meanwhile; the refreshed pair is no longer the head of the chain and was not stored", connID, errChainMovedOn)
		}
		if !time.Now().Before(deadline) {
			break
		}
		pause = min(pause*2, tokenStoreBackoffMax)
	}
	if file != "" {
		return fmt.Errorf("storing the refreshed token of connection %d failed for %s (last: %v); it is kept in the recovery file %s, which the next start of exactsync imports",
			connID, time.Since(began).Round(time.Second), last, file)
	}
	return fmt.Errorf("storing the refreshed token of connection %d failed for %s (first: %v, last: %w); the refresh token chain may be lost: if the connection then reports reauth_required, re-authorize it",
		connID, time.Since(began).Round(time.Second), cause, last)
}

// storeTokenOnce stores next in a fresh transaction if the row still holds the pair next
// replaces (row.tok); a row that already holds next counts as stored. It gives up at
// deadline.
func (s *Store) storeTokenOnce(ctx context.Context, row tokenRow, next dest.Token, rotated bool, deadline time.Time) error {
	ctx, cancel := context.WithDeadline(ctx, earliest(deadline, time.Now().Add(s.lockTimeout+5*time.Second)))
	defer cancel()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if err := s.setTokenTxLimits(ctx, tx); err != nil {
		return err
	}
	now, err := s.lockTokenRow(ctx, tx, row.connID)
	if err != nil {
		return err
	}
	switch now.tok.RefreshToken {
	case next.RefreshToken:
		if !rotated && now.tok.AccessToken != next.AccessToken {
			break
		}
		return nil
	case row.tok.RefreshToken:
	default:
		return errChainMovedOn
	}
	if err := s.storeToken(ctx, tx, row.connID, next, rotated); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func (s *Store) setTokenTxLimits(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `SELECT set_config('lock_timeout', $1, true), set_config('idle_in_transaction_session_timeout', $2, true)`,
		millis(s.lockTimeout), millis(s.idleTimeout))
	return err
}

// storeToken writes a token pair, sealed, with its refresh schedule. rotated says whether
// the refresh token differs from the stored one: sealed values differ even for equal
// plaintexts, so SQL cannot tell. A stored pair ends a reauth_required state only when
// that state came from the refresh token this pair replaces being used
// (dest.ReauthRefreshTokenUsed): any other cause still needs a human.
func (s *Store) storeToken(ctx context.Context, tx pgx.Tx, connID int64, t dest.Token, rotated bool) error {
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
		    refresh_sends = CASE WHEN $6 THEN 0 ELSE refresh_sends END,
		    refresh_not_before = $7, exact_clock_offset_ms = $8,
		    last_refresh_at = now(), updated_at = now(), `+clearPending+`,
		    state = CASE WHEN `+keepsReauth+` THEN state ELSE '`+dest.StateOK+`' END,
		    state_reason = CASE WHEN `+keepsReauth+` THEN state_reason ELSE '' END,
		    state_cause = CASE WHEN `+keepsReauth+` THEN state_cause ELSE '' END
		WHERE id = $1`, connID, access, refresh, orNull(t.Expiry), orNull(t.IssuedAt), rotated,
		orNull(t.NotBefore), t.ClockOffset.Milliseconds())
	if err == nil && tag.RowsAffected() == 0 {
		err = fmt.Errorf("connection %d: %w", connID, ErrNotFound)
	}
	return err
}

// keepsReauth is true for a row whose reauth_required state a new pair does not end.
//
// A recovered pair also ends dest.ReauthForeignRefresh: the pair proves a process of ours
// spent the token, whatever the count of sends said.
const keepsReauth = `(state = '` + dest.StateReauthRequired + `' AND state_cause NOT IN ('` +
	string(dest.ReauthRefreshTokenUsed) + `', '` + string(dest.ReauthForeignRefresh) + `'))`

// MarkReauthRequired records that the connection's token chain is broken and a human must
// re-authorize, and why; it ends an announced refresh, which no process waits for then. It
// takes the row lock in its own statement: called inside an UpdateToken callback for the
// same connection, it would wait for that callback's lock.
//
// A refresh token Exact called already used (dest.ReauthRefreshTokenUsed) that processes
// of this database sent only once, in the send that received that answer (every send is
// announced first, see UpdateToken), was used by someone else: another installation holds
// the same user and app (docs/exact-online.md §1.9). The state then says so, with the cause
// dest.ReauthForeignRefresh. Without a record of the sends (0: a process that does not
// count them), nothing is concluded.
func (s *Store) MarkReauthRequired(ctx context.Context, connID int64, reason string, cause dest.ReauthCause) error {
	return s.updateConnection(ctx, connID, "marking "+dest.StateReauthRequired+" on", `
		UPDATE exact_sync.connections SET state = '`+dest.StateReauthRequired+`',
		       state_reason = CASE WHEN `+foreignUse+` THEN $4::text || ' (' || $2::text || ')' ELSE $2::text END,
		       state_cause = CASE WHEN `+foreignUse+` THEN $5::text ELSE $3::text END,
		       `+clearPending+`, updated_at = now()
		WHERE id = $1`, reason, cause, dest.ForeignRefreshReason, dest.ReauthForeignRefresh)
}

// foreignUse is true when Exact called the stored refresh token used ($3 is
// dest.ReauthRefreshTokenUsed) and processes of this database sent it exactly once (0: no record of the sends, nothing is concluded).
const foreignUse = `($3::text = '` + string(dest.ReauthRefreshTokenUsed) + `' AND refresh_sends = 1)`

func isLockTimeout(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "55P03"
}

func millis(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) + "ms" }
