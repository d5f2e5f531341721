package exact

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// PendingRefresh is a refresh of the stored refresh token that a Client announced on the
// TokenStore, committed, before it sent the token to Exact. Exact spends a refresh token
// when it answers (§1.9), and until the new pair is stored only the announcing process has
// it: when PostgreSQL is away at that moment, that process keeps the pair and retries its
// commit (and writes a recovery file). Every other Client then waits for that pair rather
// than send the spent token, which Exact would answer with "Old refresh token used"; only
// when the announcement's window passes without a pair stored, or its process is known to
// have ended, does another Client send the token again.
type PendingRefresh struct {
	// By is the announcing Client's id; "" when no refresh of the stored token is pending.
	By string
	// Holder names the announcing process for people, e.g. "host h pid 123".
	Holder string
	// Since is when the refresh was announced, on the store's clock.
	Since time.Time
	// Left is how much longer the others wait for the announced pair: the announcer's
	// token call and the time its store keeps a pair it could not commit. Zero or less
	// once that window has passed. In an announcement a Client hands to UpdateToken (By
	// set, Since zero), Left is how long its token call may take, and the store adds the
	// rest.
	Left time.Duration
	// Ended: the store knows the announcing process has ended; no pair will come from it.
	Ended bool
}

// errNotNow: a refresh cannot go on in this round: another client's refresh of the token
// is pending, a token Exact called used awaits judgement, or the announcement this client
// made is gone. The loop of token looks again.
var errNotNow = errors.New("not now")

// pendingElsewhere reports whether p is another client's announced refresh that still
// holds this client back.
func (c *Client) pendingElsewhere(p PendingRefresh) bool {
	return p.By != "" && p.By != c.id && p.Left > 0 && !p.Ended
}

// announcement is what announce found under the row lock.
type announcement struct {
	cur      Token     // the token as read
	settled  bool      // another process refreshed meanwhile: cur is to be used
	at       time.Time // when the announcement was begun, on this process's clock
	replaced PendingRefresh
}

// announce locks the row, makes the checks of a refresh and, if one is still due, stores
// and commits this client's announcement of it (see PendingRefresh). It returns errNotNow
// when another client's refresh of the token is pending or the token is one Exact called
// used, a *tooEarlyError when the refresh window is not open, and the store's or the
// chain's errors as they are. replaced is another client's announcement this one took the
// place of: its window had passed or its process had ended.
func (c *Client) announce(ctx context.Context, settled, afterReject func(Token) bool) (announcement, error) {
	var a announcement
	began := time.Now()
	_, err := c.store.UpdateToken(ctx, func(ctx context.Context, cur Token) (Token, bool, error) {
		c.adoptClockHint(cur.ClockOffset)
		a = announcement{cur: cur, at: began}
		if settled(cur) {
			a.settled = true
			return cur, false, nil
		}
		if err := c.checkBroken(cur); err != nil {
			return Token{}, false, err
		}
		if c.pendingElsewhere(cur.Pending) || c.spentOf(cur.RefreshToken) != nil {
			return Token{}, false, errNotNow
		}
		if until := c.refreshAllowedAt(cur, afterReject(cur)); c.exactNow().Before(until) {
			return Token{}, false, &tooEarlyError{until: until, cur: cur, why: c.waitReason(cur, afterReject(cur))}
		}
		if p := cur.Pending; p.By != "" && p.By != c.id {
			a.replaced = p
		}
		next := cur
		next.Pending = PendingRefresh{By: c.id, Left: c.tokenTimeout}
		return next, true, nil
	})
	return a, err
}

// spending is what spend did.
type spending struct {
	cur       Token // the token as read under the lock
	next      Token // the token to use
	refreshed bool  // Exact answered a new pair, stored as next
	sent      string
	early     *tooEarlyError // the refresh must wait; early.cur goes on, NotBefore stored
	terminal  *ReauthError   // Exact's terminal answer, not yet recorded
	callErr   error          // the token call failed otherwise; the announcement is ended
}

// spend locks the row and, if it still holds this client's announcement a, made at most a
// token call's time ago, sends the refresh token and stores what Exact answered, as one
// step: the new pair,
// committed before it is used (§6.1; if the commit fails, the store keeps the pair, see
// TokenStore); the NotBefore of a "too early" answer (§1.8); or, after any other failure
// of the call, the end of the announcement, since no pair will come. A terminal answer is
// returned in terminal, with the announcement left in place until it is judged (see
// afterTerminal), so that nobody sends the token meanwhile. errNotNow: the announcement is
// gone (its window passed and another client took its place, or the stored token
// changed), or it is older than a token call: its window counts on the row lock being
// taken within the store's lock timeout, and covers the store's retries only from then,
// so a late one is made again rather than spent.
func (c *Client) spend(ctx context.Context, settled, afterReject func(Token) bool, a announcement) (spending, error) {
	var sp spending
	next, err := c.store.UpdateToken(ctx, func(ctx context.Context, cur Token) (Token, bool, error) {
		c.adoptClockHint(cur.ClockOffset)
		sp = spending{cur: cur}
		if settled(cur) {
			return cur, false, nil // another process refreshed meanwhile
		}
		if p := cur.Pending; cur.RefreshToken != a.cur.RefreshToken || p.By != c.id || p.Left <= 0 || time.Since(a.at) > c.tokenTimeout {
			return Token{}, false, errNotNow
		}
		if err := c.checkBroken(cur); err != nil {
			return Token{}, false, err
		}
		done := cur
		done.Pending = PendingRefresh{} // the announcement ends with this step
		if until := c.refreshAllowedAt(cur, afterReject(cur)); c.exactNow().Before(until) {
			sp.early = &tooEarlyError{until: until, cur: done, why: c.waitReason(cur, afterReject(cur))}
			return done, true, nil
		}
		sp.sent = cur.RefreshToken
		nt, err := c.refresh(ctx, cur)
		var early *tooEarlyError
		switch {
		case errors.As(err, &sp.terminal):
			return Token{}, false, err
		case errors.As(err, &early):
			// Exact's "too early" (§1.8): every process must hold back until the time
			// it implies, on Exact's clock, which this answer's Date just taught us.
			early.until = c.tooEarlyUntil(cur)
			done.NotBefore, done.ClockOffset = early.until, c.clockOffset()
			early.cur = done
			sp.early = early
			return done, true, nil
		case err != nil:
			sp.callErr = err
			return done, true, nil
		}
		// Exact has rotated the chain: until the commit, the only copy of the new
		// refresh token is in this process (§6.1).
		failpoint("after-token-answer")
		sp.refreshed = true
		return nt, true, nil
	})
	sp.next = next
	return sp, err
}

// afterTerminal records Exact's terminal answer to the refresh of sent (§1.12) and
// returns it, or, for an "Old refresh token used" (§1.9) that is not a broken chain, the
// token to go on with. That answer is judged against the row read again: when another
// pair is stored by now, the chain moved on without this client, and that pair is used;
// when another client's refresh of sent is pending, its pair is awaited, and the token is
// judged again when that refresh is over. Either way nothing is recorded and one line is
// logged. Otherwise the connection is marked with the reason, which names the
// announcement replaced, if any.
func (c *Client) afterTerminal(ctx context.Context, sent string, e *ReauthError, replaced PendingRefresh) (Token, error) {
	if !e.TokenUsed {
		c.setBroken(sent, e)
		c.markReauth(ctx, e)
		return Token{}, e
	}
	now, err := c.store.LoadToken(ctx)
	switch {
	case err != nil:
		// Judged at the next call: until then the token is not sent again.
		c.setSpent(sent, e, PendingRefresh{})
		return Token{}, fmt.Errorf("refreshing the access token: Exact answered that the stored refresh token was already used, "+
			"and it cannot be read again to tell whether another process stored its successor: %w", err)
	case now.RefreshToken != sent:
		c.setBroken(sent, e)
		c.log.Warn().Str("answer", e.Reason).
			Msg("Exact answered that the refresh token was already used, and another process has stored a newer pair meanwhile: not a re-authorization; the newer pair is used")
		return now, nil
	case c.pendingElsewhere(now.Pending):
		c.setSpent(sent, e, now.Pending)
		c.log.Warn().Str("holder", now.Pending.Holder).Time("announced_at", now.Pending.Since).Dur("wait_left_ms", now.Pending.Left).
			Msg("Exact answered that the refresh token was already used while another process's refresh of it is pending: not a re-authorization; waiting for its pair")
		return now, nil
	}
	e = withAnnouncement(e, replaced)
	c.setBroken(sent, e)
	c.markReauth(ctx, e)
	return Token{}, e
}

// confirmSpent marks the connection when cur's refresh token is one Exact called already
// used while another client's refresh of it was pending, and that refresh is over without
// a pair: then the chain is broken. It returns the *ReauthError, or nil when cur's token is
// not such a token.
func (c *Client) confirmSpent(ctx context.Context, cur Token) error {
	s := c.spentOf(cur.RefreshToken)
	if s == nil {
		return nil
	}
	p := s.of
	if cur.Pending.By == p.By && p.By != "" {
		p = cur.Pending // its window has passed, or its process ended
	}
	e := withAnnouncement(s.err, p)
	c.setBroken(cur.RefreshToken, e)
	c.markReauth(ctx, e)
	return e
}

// spentToken is a refresh token Exact called already used while another client's refresh
// of it was pending (of): not yet a re-authorization.
type spentToken struct {
	token string
	err   *ReauthError
	of    PendingRefresh
}

func (c *Client) setSpent(token string, e *ReauthError, of PendingRefresh) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.spent = &spentToken{token: token, err: e, of: of}
}

// spentOf returns what is known of token if Exact called it used and the judgement is
// pending; nil otherwise.
func (c *Client) spentOf(token string) *spentToken {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.spent == nil || c.spent.token != token || token == "" {
		return nil
	}
	return c.spent
}

// withAnnouncement adds to e's reason the refresh of the same token that another process
// announced and did not store, if p is one.
func withAnnouncement(e *ReauthError, p PendingRefresh) *ReauthError {
	if p.By == "" {
		return e
	}
	what := "stored no pair within its window"
	if p.Ended {
		what = "stored no pair, and that process has ended"
	}
	r := *e
	r.Reason = fmt.Sprintf("%s; the refresh of this token announced by %s at %s %s (if that process kept the pair in its recovery file, its next start imports it and the chain is whole again)",
		e.Reason, p.Holder, p.Since.UTC().Format(time.RFC3339), what)
	return &r
}

// First pause and cap of awaitPending's looks at the row.
const (
	pendingPollFirst = 250 * time.Millisecond
	pendingPollMax   = 2 * time.Second
)

// awaitPending waits while another client's announced refresh of cur's refresh token is
// pending: until another refresh token is stored (its pair, usually), the announcement
// ends, its window passes or its process is known to have ended. It returns the token as
// then stored. Each look takes the row lock, which the announcer holds while it calls
// Exact, so the first look usually returns with the pair; later looks come after 250 ms,
// doubling to 2 s (real time: the wait is for another process, not for Exact's clock). A
// wait longer than a token call (the announcer could not store its pair yet: PostgreSQL is
// away from it) is logged once, and so is its end; quiet logs neither.
func (c *Client) awaitPending(ctx context.Context, cur Token, quiet bool) (Token, error) {
	p := cur.Pending
	tell(ctx, Wait{Duration: p.Left, Reason: WaitPendingRefresh})
	began := time.Now()
	c.log.Debug().Str("holder", p.Holder).Time("announced_at", p.Since).Dur("wait_left_ms", p.Left).
		Msg("waiting for the token refresh of another process")
	warned := false
	var pause time.Duration
	for {
		if pause > 0 {
			if err := sleepContext(ctx, pause); err != nil {
				return Token{}, err
			}
		}
		pause = min(max(2*pause, c.pendingPoll), pendingPollMax)
		now, err := c.store.UpdateToken(ctx, func(_ context.Context, t Token) (Token, bool, error) { return t, false, nil })
		if err != nil {
			return Token{}, fmt.Errorf("waiting for the token refresh announced by %s: %w", p.Holder, err)
		}
		c.adoptClockHint(now.ClockOffset)
		if now.RefreshToken == cur.RefreshToken && c.pendingElsewhere(now.Pending) {
			if !warned && !quiet && time.Since(began) >= c.tokenTimeout {
				warned = true
				c.log.Warn().Str("holder", p.Holder).Time("announced_at", p.Since).Dur("wait_left_ms", now.Pending.Left).
					Msg("another process refreshed the token chain and has not stored the new pair yet; waiting for it instead of sending the spent refresh token")
			}
			continue
		}
		if waited := time.Since(began); !quiet && waited >= time.Second {
			outcome := "stored"
			switch {
			case now.RefreshToken != cur.RefreshToken:
			case now.Pending.By != p.By:
				outcome = "ended"
			case now.Pending.Ended:
				outcome = "process_ended"
			default:
				outcome = "window_passed"
			}
			c.log.Info().Str("holder", p.Holder).Str("outcome", outcome).Dur("waited_ms", waited).
				Msg("waited for the token refresh of another process")
		}
		return now, nil
	}
}
