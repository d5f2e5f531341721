package exact

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/oauth2"
)

// Token is one step of a connection's token chain, with what every process must know
// before it refreshes it. Times are on Exact's clock (see exactClock).
type Token struct {
	AccessToken  string
	RefreshToken string
	Expiry       time.Time // access-token expiry (IssuedAt + expires_in)
	IssuedAt     time.Time // when Exact issued this access token (570 s rule, §1.8)
	// NotBefore: Exact answered a refresh "too early" (§1.8), and no process sends one
	// before this time. Zero when none is pending.
	NotBefore time.Time
	// ClockOffset is Exact's clock minus the clock of the process that stored the token,
	// used by processes that have not heard from Exact yet. Zero: the same, or unknown.
	ClockOffset time.Duration
	// Pending is a refresh of RefreshToken that a Client announced before sending it;
	// zero when none is pending.
	Pending PendingRefresh
}

// TokenStore persists one connection's token chain (implemented by an adapter over sink).
type TokenStore interface {
	// LoadToken reads the stored token without locking.
	LoadToken(ctx context.Context) (Token, error)
	// UpdateToken locks the row (SELECT … FOR UPDATE, lock timeout), re-reads it and calls fn with it.
	// When fn returns changed=true, next is stored and committed before UpdateToken returns it
	// (a next with the same pair only changes NotBefore, ClockOffset and Pending); if the
	// commit of a new pair fails, the store keeps it and retries until it is stored, giving
	// up only when the pair can no longer be kept. When fn returns an error, nothing is
	// stored and the error is returned as is.
	//
	// Pending: a next.Pending with By set and Since zero announces a refresh of cur's
	// refresh token by that client, which the store records with its own clock and the
	// window in which others wait for its pair; a next.Pending with By empty ends the
	// announcement; any other leaves it as stored. A new pair ends it too, and so does
	// MarkReauthRequired. cur.Pending is the stored announcement if it concerns cur's
	// refresh token, with Left as of the reading, and zero otherwise.
	UpdateToken(ctx context.Context, fn func(ctx context.Context, cur Token) (next Token, changed bool, err error)) (Token, error)
	// MarkReauthRequired records that the chain is broken and a human must re-authorize;
	// e says why. It ends an announced refresh.
	MarkReauthRequired(ctx context.Context, e *ReauthError) error
}

// Exact Online's token rules, for every package that judges a token's age (§1.6–§1.8).
const (
	// RefreshNotBefore: Exact rejects a refresh earlier than this after the previous
	// access token was issued (§1.8).
	RefreshNotBefore = 570 * time.Second
	// AccessTokenLifetime is how long an access token lives (expires_in "600", §1.6); it
	// applies when a token answer has no expires_in.
	AccessTokenLifetime = 600 * time.Second
	// RefreshTokenIdleLifetime: Exact expires a refresh token unused this long (§1.7).
	RefreshTokenIdleLifetime = 30 * 24 * time.Hour
)

// Exact Online's call limits per app and division (§2.1).
const (
	DailyCallLimit    = 5000
	MinutelyCallLimit = 60
)

// minValidity: an access token with less left than this is refreshed (§1.8, §6.2).
const minValidity = 30 * time.Second

// AccessToken returns an access token with at least 30 s left, judged on Exact's clock
// (see exactClock). A stored token that still qualifies is used as is (no lock, no call).
// Otherwise the row is locked, the token re-read, and only if it still needs it the chain is
// refreshed, never earlier than IssuedAt+570s (§1.8) nor before the connection's shared
// NotBefore: when it is too early this waits until then. When Exact answers a refresh "too
// early" anyway, NotBefore is stored on the row for every process: the time the stored
// issue time explains, or else 570 s after Exact's answer, so that a connection costs at
// most one such answer per 570 s (§2.5: each one counts towards a block). The new pair is
// committed before it is used (§6.1). Goroutines of one process share one refresh;
// processes share the row lock. A refresh is announced on the row, committed, before the
// token is sent (see PendingRefresh); while another process's announced refresh of the
// stored token is pending, this waits for its pair instead of sending the token.
//
// Terminal answers of the token endpoint ("Old refresh token used", an expired refresh token,
// invalid_grant, rejected client credentials; §1.12) mark the connection with
// MarkReauthRequired and return a *ReauthError (errors.Is(err, ErrReauthRequired)); the
// rejected refresh token is never sent again by this Client. "Old refresh token used" is
// judged against the row first (see afterTerminal): a newer stored pair, or another
// process's pending refresh of the token, means the chain moved on, not that it broke.
func (c *Client) AccessToken(ctx context.Context) (string, error) {
	t, _, err := c.token(ctx, "", rotation{})
	if err != nil {
		return "", err
	}
	return t.AccessToken, nil
}

// RefreshIfOlder rotates the token chain when the stored pair was issued maxAge or longer
// ago, or at an unknown time, and reports whether this call rotated it: a keep-alive for
// connections that make no calls, so that the refresh token never reaches Exact's 30-day
// idle expiry (§1.7, §6.4). The age is judged again under the row lock, so of several
// processes keeping the same chain alive at once only one rotates it. Otherwise it is
// Refresh.
func (c *Client) RefreshIfOlder(ctx context.Context, maxAge time.Duration) (bool, error) {
	if maxAge <= 0 {
		return false, errors.New("refreshing the token chain: the maximum age must be positive")
	}
	_, rotated, err := c.token(ctx, "", rotation{now: true, maxAge: maxAge})
	return rotated, err
}

// rotation asks token to rotate a chain whose access token is still usable.
type rotation struct {
	now bool // rotate even a usable token
	// maxAge, when positive, spares a pair issued less than maxAge ago; when zero, a
	// pair rotated since the call began is spared.
	maxAge time.Duration
}

// token returns a usable token, and whether this call rotated the chain to get it. When
// rejected is not empty, that access token was refused with 401 and is not usable whatever
// its expiry: a newer stored token is used if there is one, else the chain is refreshed at
// once, waiting only for the connection's shared NotBefore, not for our own 570 s judgement
// (Exact's 401 says the token is over, whatever we believed). With rot.now the chain is
// rotated even if the stored token is usable, unless rot spares it (see rotation), judged
// before the call and again under the row lock.
func (c *Client) token(ctx context.Context, rejected string, rot rotation) (Token, bool, error) {
	if !rot.now {
		if t, ok := c.fromCache(rejected); ok {
			return t, false, nil
		}
	}
	select {
	case c.gate <- struct{}{}:
	case <-ctx.Done():
		return Token{}, false, ctx.Err()
	}
	defer func() { <-c.gate }()
	if !rot.now {
		if t, ok := c.fromCache(rejected); ok {
			return t, false, nil
		}
	}

	cur, err := c.store.LoadToken(ctx)
	if err != nil {
		return Token{}, false, fmt.Errorf("loading the stored token: %w", err)
	}
	c.adoptClockHint(cur.ClockOffset)
	seen := cur.RefreshToken
	// settled reports whether t makes a refresh unnecessary.
	settled := func(t Token) bool {
		switch {
		case !rot.now:
			return c.usable(t, rejected)
		case t.AccessToken == "":
			return false
		case rot.maxAge > 0:
			return !t.IssuedAt.IsZero() && c.exactNow().Sub(t.IssuedAt) < rot.maxAge
		default:
			return t.RefreshToken != seen
		}
	}
	if settled(cur) {
		c.setCache(cur)
		return cur, false, nil
	}
	if err := c.checkBroken(cur); err != nil {
		return Token{}, false, err
	}
	// After a 401 on the stored token, only the shared NotBefore holds the refresh back.
	afterReject := func(t Token) bool { return rejected != "" && t.AccessToken == rejected }

	exactTooEarly := false
	for range maxRefreshRounds {
		// Another client announced a refresh of the stored token and has not stored its
		// pair: wait for that pair rather than send a token Exact may have spent (§1.9).
		if c.pendingElsewhere(cur.Pending) {
			next, err := c.awaitPending(ctx, cur, c.spentOf(cur.RefreshToken) != nil)
			if err != nil {
				return Token{}, false, err
			}
			if settled(next) {
				c.setCache(next)
				return next, false, nil
			}
			cur = next
			continue
		}
		// Exact called the stored token already used while such a refresh was pending,
		// and that refresh stored no pair: now the chain is broken.
		if err := c.confirmSpent(ctx, cur); err != nil {
			return Token{}, false, err
		}
		// Wait for the refresh window outside the row lock, so other processes are not held.
		if err := c.waitRefreshWindow(ctx, cur, afterReject(cur)); err != nil {
			return Token{}, false, err
		}

		// 1. Announce the refresh to every process, committed, before the token is sent.
		a, err := c.announce(ctx, settled, afterReject)
		var early *tooEarlyError
		switch {
		case err == nil && a.settled:
			c.setCache(a.cur) // another process refreshed meanwhile
			return a.cur, false, nil
		case errors.Is(err, errNotNow):
			cur = a.cur
			continue
		case errors.As(err, &early):
			cur = early.cur
			continue
		case err != nil:
			return Token{}, false, fmt.Errorf("refreshing the access token: %w", err)
		}
		if p := a.replaced; p.By != "" {
			c.log.Warn().Str("holder", p.Holder).Time("announced_at", p.Since).Bool("process_ended", p.Ended).
				Msg("a token refresh another process announced stored no pair in time; refreshing with the stored refresh token")
		}

		// 2. Send the token, and store what Exact answered.
		sp, err := c.spend(ctx, settled, afterReject, a)
		switch {
		case errors.Is(err, errNotNow):
			cur = sp.cur
			continue
		case sp.terminal != nil:
			next, err := c.afterTerminal(ctx, sp.sent, sp.terminal, a.replaced)
			if err != nil {
				return Token{}, false, err
			}
			if settled(next) {
				c.setCache(next)
				return next, false, nil
			}
			cur = next
			continue
		case sp.callErr != nil:
			if err != nil {
				c.log.Warn().Str("error", err.Error()).Msg("cannot end the announced token refresh; other processes wait for it until its window passes")
			}
			return Token{}, false, fmt.Errorf("refreshing the access token: %w", sp.callErr)
		case sp.early != nil:
			if err != nil {
				// NotBefore could not be stored: this process still holds back.
				c.log.Warn().Str("error", err.Error()).Msg("cannot store the time before which no refresh is sent")
			}
			cur = sp.early.cur
			if sp.early.fromExact {
				if exactTooEarly {
					return Token{}, false, fmt.Errorf("refreshing the access token: %w", sp.early)
				}
				exactTooEarly = true
				c.log.Warn().Time("refresh_at", sp.early.until).Str("reason", sp.early.detail).
					Msg("exact refused the token refresh as too early; no process of this connection refreshes before refresh_at")
			}
			continue
		case err != nil:
			return Token{}, false, fmt.Errorf("refreshing the access token: %w", err)
		}
		if sp.refreshed {
			failpoint("after-token-commit")
		}
		c.setCache(sp.next)
		return sp.next, sp.refreshed, nil
	}
	return Token{}, false, fmt.Errorf("refreshing the access token: no refresh after %d rounds of waiting for the %d s refresh window or for other processes' refreshes",
		maxRefreshRounds, int(RefreshNotBefore.Seconds()))
}

// maxRefreshRounds bounds the rounds of token's refresh loop: waits for the refresh
// window, for another process's announced refresh, Exact's "too early".
const maxRefreshRounds = 8

// usable reports whether t can be used for a call now.
func (c *Client) usable(t Token, rejected string) bool {
	return t.AccessToken != "" && t.AccessToken != rejected && t.Expiry.Sub(c.exactNow()) >= minValidity
}

func (c *Client) fromCache(rejected string) (Token, bool) {
	c.mu.Lock()
	cached := c.cached
	c.mu.Unlock()
	return cached, c.usable(cached, rejected)
}

func (c *Client) setCache(t Token) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.AccessToken != c.cached.AccessToken && c.cached.AccessToken != "" {
		// Keep the previous pair known to redact: a late answer may concern it.
		c.previous = [2]string{c.cached.AccessToken, c.cached.RefreshToken}
	}
	c.cached = t
}

func (c *Client) setBroken(refreshToken string, err *ReauthError) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.brokenRT, c.broken = refreshToken, err
}

// checkBroken returns the terminal error again for a refresh token Exact already rejected,
// so it is never resent (§2.5: errors count towards a block). A newly imported token passes.
func (c *Client) checkBroken(t Token) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil && t.RefreshToken == c.brokenRT {
		return c.broken
	}
	if t.RefreshToken == "" {
		return &ReauthError{Reason: "no refresh token is stored for this connection"}
	}
	return nil
}

func (c *Client) markReauth(ctx context.Context, e *ReauthError) {
	// Record it even when the caller's context is ending: the next run must know.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := c.store.MarkReauthRequired(ctx, e); err != nil {
		c.log.Error().Err(err).Msg("recording that re-authorization is required")
	}
}

// issuedAt is when t was issued, on Exact's clock; zero when unknown.
func issuedAt(t Token) time.Time {
	if t.IssuedAt.IsZero() && !t.Expiry.IsZero() {
		return t.Expiry.Add(-AccessTokenLifetime)
	}
	return t.IssuedAt
}

// refreshAllowedAt is the earliest time a refresh of t may be sent, on Exact's clock: the
// shared NotBefore, and, unless Exact rejected t's access token (rejected), 570 s after t
// was issued (§1.8).
func (c *Client) refreshAllowedAt(t Token, rejected bool) time.Time {
	until := t.NotBefore
	if iss := issuedAt(t); !rejected && !iss.IsZero() && iss.Add(RefreshNotBefore).After(until) {
		until = iss.Add(RefreshNotBefore)
	}
	return until
}

// tooEarlyUntil is the NotBefore to share after Exact answered a refresh of cur "too early"
// (§1.8), on Exact's clock as just learned from the answer: the end of the 570 s window
// when cur's issue time explains the answer; otherwise that issue time is wrong (a clock
// step, a restored backup) and Exact issued the current token at most 570 s ago.
func (c *Client) tooEarlyUntil(cur Token) time.Time {
	now := c.exactNow()
	if iss := issuedAt(cur); !iss.IsZero() && iss.Add(RefreshNotBefore).After(now) {
		return iss.Add(RefreshNotBefore)
	}
	return now.Add(RefreshNotBefore)
}

// waitReason says why a refresh of t waits, for the log.
func (c *Client) waitReason(t Token, rejected bool) string {
	iss := issuedAt(t)
	if !t.NotBefore.IsZero() && (rejected || iss.IsZero() || !iss.Add(RefreshNotBefore).After(t.NotBefore)) {
		return "Exact answered a refresh of this connection too early; no process refreshes before then (§1.8)"
	}
	return fmt.Sprintf("Exact refuses a refresh earlier than %d s after the access token was issued (§1.8)", int(RefreshNotBefore.Seconds()))
}

func (c *Client) waitRefreshWindow(ctx context.Context, t Token, rejected bool) error {
	until := c.refreshAllowedAt(t, rejected)
	wait := until.Sub(c.exactNow())
	if wait <= 0 {
		return nil
	}
	if c.noRefreshWait {
		return &RefreshWaitError{Wait: wait, Reason: c.waitReason(t, rejected)}
	}
	ev := c.log.Warn().Dur("wait_ms", wait).Time("refresh_at", until).Str("reason", c.waitReason(t, rejected))
	if rejected {
		ev.Msg("access token rejected (401) and a refresh is not allowed yet; waiting")
	} else {
		ev.Msg("access token needs refreshing before Exact allows it; waiting")
	}
	return c.pause(ctx, Wait{Duration: wait, Reason: WaitRefresh})
}

// tooEarlyError means a refresh must wait: either our own 570 s rule (no call was made)
// or Exact's answer to one that it considered too early (§1.8).
type tooEarlyError struct {
	until     time.Time // on Exact's clock
	cur       Token
	fromExact bool
	detail    string // Exact's answer
	why       string // our reason to wait
}

func (e *tooEarlyError) Error() string {
	if e.fromExact {
		return "Exact refused the refresh as too early (" + e.detail + ")"
	}
	return "refresh not allowed before " + e.until.UTC().Format(time.RFC3339) + " (" + e.why + ")"
}

// refresh makes the token call for cur's refresh token.
func (c *Client) refresh(ctx context.Context, cur Token) (Token, error) {
	ctx, cancel := context.WithTimeout(ctx, c.tokenTimeout)
	defer cancel()
	ctx = context.WithValue(ctx, oauth2.HTTPClient, c.tokenHTTP)
	// The span names the call and its outcome only: the form and the answer carry the
	// client secret and the tokens.
	ctx, span := c.tracer.Start(ctx, "POST oauth2/token", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attrMethod.String(http.MethodPost), AttrEndpoint.String("oauth2/token")))
	defer span.End()
	failpoint("before-token-call")
	ot, err := c.oauth.TokenSource(ctx, &oauth2.Token{RefreshToken: cur.RefreshToken}).Token()
	if err != nil {
		err = c.tokenError(ctx, "refresh", err, cur)
		c.obs.Refresh(refreshOutcome(err))
		span.SetAttributes(AttrRefreshOutcome.String(refreshOutcome(err)))
		span.SetStatus(codes.Error, c.redact(err.Error()))
		return Token{}, err
	}
	c.obs.Refresh(RefreshOK)
	span.SetAttributes(AttrRefreshOutcome.String(RefreshOK))
	t := c.fromOAuth(ot)
	if t.RefreshToken == "" {
		t.RefreshToken = cur.RefreshToken
	}
	c.log.Debug().Time("expiry", t.Expiry).Msg("access token refreshed")
	return t, nil
}

// fromOAuth is the pair of a token answer, its times on Exact's clock: the answer's Date
// has just been learned. On a skewed clock the issue time errs late by the Date's
// resolution (the 570 s rule is never judged early) and the expiry errs early.
func (c *Client) fromOAuth(ot *oauth2.Token) Token {
	now := c.exactNow()
	life := AccessTokenLifetime
	if ot.ExpiresIn > 0 { // expires_in is the string "600" (§1.6); oauth2 parses both forms
		life = time.Duration(ot.ExpiresIn) * time.Second
	}
	return Token{AccessToken: ot.AccessToken, RefreshToken: ot.RefreshToken, IssuedAt: now.Add(c.issueMargin()),
		Expiry: now.Add(life), ClockOffset: c.clockOffset()}
}

// tokenError classifies a failed token call (§1.12). grant is "refresh" or "code".
func (c *Client) tokenError(ctx context.Context, grant string, err error, cur Token) error {
	host := c.base.Host
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response == nil {
		if ctx.Err() == context.DeadlineExceeded {
			return fmt.Errorf("token endpoint of %s did not answer within %s", host, c.tokenTimeout)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			return networkError(host, err)
		}
		return fmt.Errorf("token endpoint of %s: %s", host, c.redact(err.Error()))
	}
	status := re.Response.StatusCode
	code := c.redact(re.ErrorCode)
	desc := c.redact(re.ErrorDescription)
	reason := c.redact(re.Response.Header.Get("Reason"))
	detail := fmt.Sprintf("%d %s", status, http.StatusText(status))
	switch {
	case code != "" && desc != "":
		detail = fmt.Sprintf("%d %s: %s", status, code, desc)
	case code != "":
		detail = fmt.Sprintf("%d %s", status, code)
	case len(re.Body) > 0 && len(re.Body) <= 200 && !strings.Contains(string(re.Body), "<"):
		detail = fmt.Sprintf("%d %s", status, c.redact(strings.TrimSpace(string(re.Body))))
	}
	lower := strings.ToLower(desc + " " + reason)

	switch {
	case strings.Contains(lower, "not expired") || strings.HasPrefix(reason, "TooEarlyToRefreshTokens"):
		// §1.8: 400 access_denied "Rate limit exceeded: access_token not expired" (older: 401).
		return &tooEarlyError{until: c.tooEarlyUntil(cur), cur: cur, fromExact: true, detail: detail}
	case status >= 500 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout:
		return fmt.Errorf("token endpoint of %s answered %s", host, detail)
	}

	badClient := code == "invalid_request" && desc == "" // §1.12: wrong client id or secret
	if grant == "code" {
		switch {
		case badClient:
			return fmt.Errorf("Exact rejected the client credentials (%s): check EXACT_CLIENT_ID and EXACT_CLIENT_SECRET", detail)
		case code == "":
			// §1.12: a plain "Bad Request" answers a reused code and a redirect_uri that is
			// not the registered one (§1.4).
			return &CodeError{Detail: detail, RedirectURL: c.oauth.RedirectURL}
		default:
			// §1.7, §1.12: invalid_grant for an expired code (or one Exact cannot read).
			return &CodeError{Detail: detail, Expired: true}
		}
	}
	var what string
	used := false
	switch {
	case strings.Contains(lower, "old refresh token"):
		used = true
		what = "Exact rejected the stored refresh token because it was already used (another process or tool refreshed the chain)"
	case strings.Contains(lower, "expired"):
		what = "the refresh token expired (refresh tokens expire after 30 days without use)"
	case code == "invalid_grant":
		what = "Exact rejected the refresh token as invalid"
	case badClient:
		what = "Exact rejected the client credentials (check EXACT_CLIENT_ID and EXACT_CLIENT_SECRET)"
	case status == http.StatusUnauthorized:
		what = "Exact refused the refresh token"
	default:
		what = "Exact refused the token request"
	}
	return &ReauthError{Reason: what + " (" + detail + ")", TokenUsed: used}
}

// redact removes the secrets this client knows from s; Exact's answers should not contain
// them, but error strings and logs must never do.
func (c *Client) redact(s string) string {
	c.mu.Lock()
	secrets := []string{c.oauth.ClientSecret, c.cached.AccessToken, c.cached.RefreshToken, c.brokenRT, c.previous[0], c.previous[1]}
	c.mu.Unlock()
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

// AuthCodeURL returns the URL that asks the user to authorize the app (§1.3); Exact sends
// the browser back to the RedirectURL with ?code=…&state=….
func (c *Client) AuthCodeURL(state string) string {
	return c.oauth.AuthCodeURL(state)
}

// Exchange trades an authorization code (decoded exactly once, §1.10) for a token pair,
// stores it in the TokenStore as the new head of the chain and returns it.
func (c *Client) Exchange(ctx context.Context, code string) (Token, error) {
	tctx, cancel := context.WithTimeout(ctx, c.tokenTimeout)
	defer cancel()
	tctx = context.WithValue(tctx, oauth2.HTTPClient, c.tokenHTTP)
	ot, err := c.oauth.Exchange(tctx, code)
	if err != nil {
		return Token{}, fmt.Errorf("exchanging the authorization code: %w", c.tokenError(tctx, "code", err, Token{}))
	}
	t := c.fromOAuth(ot)
	if t.RefreshToken == "" {
		return Token{}, errors.New("exchanging the authorization code: the answer has no refresh token")
	}
	stored, err := c.store.UpdateToken(ctx, func(context.Context, Token) (Token, bool, error) {
		return t, true, nil
	})
	if err != nil {
		return Token{}, fmt.Errorf("storing the new token: %w", err)
	}
	c.setCache(stored)
	c.setBroken("", nil)
	return stored, nil
}

// ParseAuthCode extracts the authorization code from what a user pastes: the full redirected
// URL (…?code=…&state=…) or the bare code, percent-encoded (%21) or not (§1.10). The code is
// decoded exactly once. A redirect that carries an error instead of a code (the user denied
// access) gives an *[AuthDeniedError].
func ParseAuthCode(input string) (code string, err error) {
	in := strings.TrimSpace(input)
	if in == "" {
		return "", errors.New("no authorization code given")
	}
	if i := strings.IndexByte(in, '?'); i >= 0 || strings.HasPrefix(in, "code=") {
		q, err := url.ParseQuery(in[i+1:])
		if err != nil {
			return "", fmt.Errorf("reading the redirected URL: %v", err)
		}
		if e := q.Get("error"); e != "" {
			return "", &AuthDeniedError{Code: e, Description: q.Get("error_description")}
		}
		if q.Get("code") == "" {
			return "", errors.New("the redirected URL has no code parameter")
		}
		return q.Get("code"), nil
	}
	if strings.Contains(in, "%") {
		dec, err := url.QueryUnescape(in)
		if err != nil {
			return "", fmt.Errorf("decoding the authorization code: %v", err)
		}
		return dec, nil
	}
	return in, nil
}
