package exact

import (
	"errors"
	"time"
)

// Observer is told what a Client does, for metrics: every data call, every refresh of the
// token chain and the rate-limit budgets each answer reports. Its methods are called on the
// caller's goroutine, some under the connection's row lock, so they must be quick and safe
// for concurrent use. Config.Observer is optional.
type Observer interface {
	// Request is told of every REST call once it is answered or has failed: endpoint is
	// the path without host, version, division and query (sync/CRM/Accounts), division
	// is 0 for calls without one (current/Me), status is the HTTP status, or 0 when no
	// answer came (a network error or a timeout), and d is how long the call took.
	Request(endpoint string, division int, status int, d time.Duration)
	// Refresh is told the outcome of every refresh call to the token endpoint: one of
	// RefreshOK, RefreshTooEarly, RefreshReauth or RefreshError.
	Refresh(outcome string)
	// RateLimit is told a division's remaining budgets (§2.2) after each answer that
	// reported one, adjusted for the calls in flight; -1 for a budget not known yet.
	RateLimit(division int, minuteRemaining, dayRemaining int)
}

// Outcomes of a token refresh, as told to Observer.Refresh.
const (
	// RefreshOK: Exact answered with a new pair.
	RefreshOK = "ok"
	// RefreshTooEarly: Exact answered that the access token is not expired yet (§1.8).
	RefreshTooEarly = "too_early"
	// RefreshReauth: Exact refused the chain for good; the connection needs
	// re-authorization (§1.12).
	RefreshReauth = "reauth_required"
	// RefreshError: no usable answer (a network error, a timeout, a 5xx).
	RefreshError = "error"
)

// nopObserver is the Observer of a Client configured without one.
type nopObserver struct{}

func (nopObserver) Request(string, int, int, time.Duration) {}
func (nopObserver) Refresh(string)                          {}
func (nopObserver) RateLimit(int, int, int)                 {}

// refreshOutcome classifies the result of a refresh call for Observer.Refresh.
func refreshOutcome(err error) string {
	var early *tooEarlyError
	var reauth *ReauthError
	switch {
	case err == nil:
		return RefreshOK
	case errors.As(err, &early):
		return RefreshTooEarly
	case errors.As(err, &reauth):
		return RefreshReauth
	default:
		return RefreshError
	}
}
