package exact

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"
)

// ErrReauthRequired reports that the stored token chain can no longer be used and a human
// must authorize the app again. Errors returned for this condition are *ReauthError values,
// which satisfy errors.Is(err, ErrReauthRequired).
var ErrReauthRequired = errors.New("re-authorization required")

// ErrTooEarly is matched by a *RefreshWaitError.
var ErrTooEarly = errors.New("too early to refresh the access token")

// RefreshWaitError is what a call returns instead of waiting, with Config.NoRefreshWait,
// when it needs a new access token and Exact allows the refresh only in Wait: 570 s
// after the current token was issued, or, when Exact answered a refresh "too early"
// (§1.8) and the token's issue time is unknown (an imported refresh token), 570 s after
// that answer. The refresh token stays valid meanwhile.
type RefreshWaitError struct {
	Wait   time.Duration // from when the error was returned
	Reason string
}

func (e *RefreshWaitError) Error() string {
	return fmt.Sprintf("refreshing the access token: not allowed for another %s (%s)", e.Wait.Round(time.Second), e.Reason)
}

// Is reports whether target is ErrTooEarly.
func (e *RefreshWaitError) Is(target error) bool { return target == ErrTooEarly }

// ReauthError reports a token chain that cannot be used (§1.12, §6.3): Exact rejected the
// stored refresh token or the client credentials in a way that retrying cannot fix, no
// refresh token is stored, or the TokenStore already marks the connection as needing
// re-authorization. For Exact's rejections the Client records it with
// TokenStore.MarkReauthRequired (a failure to record it is logged, not returned).
type ReauthError struct {
	Reason string // what happened, without secrets; also stored by MarkReauthRequired
	// TokenUsed says Exact answered that the refresh token had already been used (§1.9):
	// the chain moved on without this process, for instance because the pair that replaced
	// it was not stored yet. Recovering that pair repairs the chain.
	TokenUsed bool
}

func (e *ReauthError) Error() string {
	return "re-authorization required: " + e.Reason +
		"; run `exactsync auth login` (or `exactsync auth import --refresh-token …`) to re-authorize"
}

// Is reports whether target is ErrReauthRequired.
func (e *ReauthError) Is(target error) bool { return target == ErrReauthRequired }

// AuthDeniedError is a redirect that brings an error instead of an authorization code
// (§1.3): the user denied access, or Exact refused the request. Only a new authorization
// can follow it.
type AuthDeniedError struct {
	Code        string // the error parameter, e.g. "access_denied"
	Description string // the error_description parameter, may be empty
}

func (e *AuthDeniedError) Error() string {
	return "Exact answered the authorization with " + e.Code + ": " + e.Description
}

// CodeError reports that Exact refused an authorization code at the token endpoint
// (§1.12): it was already used (a code works once), it expired (a few minutes after the
// redirect, §1.7), or it came with a redirect URI other than the registered one (§1.4).
// Only a new authorization helps.
type CodeError struct {
	Detail string // Exact's answer, e.g. "400 Bad Request"
	// Expired: Exact answered invalid_grant, for a code that expired or that it cannot
	// read. Otherwise the code was used already or RedirectURL is not the registered one.
	Expired     bool
	RedirectURL string // the redirect URI sent with the code
}

func (e *CodeError) Error() string {
	if e.Expired {
		return "Exact rejected the authorization code as expired or invalid (" + e.Detail + "): a code expires a few minutes after the redirect"
	}
	return "Exact rejected the authorization code (" + e.Detail + "): either it was already used (a code works once), " +
		"or the redirect URI " + e.RedirectURL + " is not exactly the one registered for the app in the App Center"
}

// APIError is a functional error answered by the REST API (4xx, or 5xx after the retries
// were spent). Endpoint is the path without host, version, division and query, e.g.
// "sync/CRM/Accounts".
type APIError struct {
	Status   int
	Endpoint string
	Division int    // 0 for calls without a division (current/Me)
	Code     string // error.code of the body (§4.1), usually empty
	Message  string // error.message.value of the body, or a short plain-text body
	Reason   string // the Reason response header (§4.3), e.g. "NoDivisionAccess"
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("%s returned %d %s", e.Endpoint, e.Status, http.StatusText(e.Status))
	if e.Division != 0 {
		s = fmt.Sprintf("%s for division %d returned %d %s", e.Endpoint, e.Division, e.Status, http.StatusText(e.Status))
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Reason != "" {
		s += " (reason: " + e.Reason + ")"
	}
	return s
}

// Refused reports whether Exact refused the request in a way a retry cannot change: 400,
// 403, 404 or 405 (§4.2), such as an endpoint outside the app's scope or a module the
// company does not have. Exact counts 400, 401, 403 and 404 towards the 10 errors an hour
// it allows a key per endpoint before blocking it (§2.5), and advises not to retry them.
func (e *APIError) Refused() bool {
	switch e.Status {
	case http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound, http.StatusMethodNotAllowed:
		return true
	}
	return false
}

// DailyLimitError reports that the daily call budget of a division is spent (§2.1, §2.4).
// No call was sent (or the call was answered with 429); the division can be resumed after Reset.
type DailyLimitError struct {
	Division int
	Reset    time.Time
	// Expected is, when Exact answered 429 on the day window, how many calls of the day
	// the client still counted on, from the last X-RateLimit-Remaining less its calls
	// since; 0 when none or not known. Exact's headers are the truth (§2.7): since 2025
	// Exact is reported to cap the calls of all applications of a licence together, so
	// other applications can spend a day this app had not (other processes of this app
	// can too, between two of this client's answers).
	Expected int
}

func (e *DailyLimitError) Error() string {
	s := fmt.Sprintf("daily limit reached for division %d, resumes after %s",
		e.Division, e.Reset.UTC().Format(time.RFC3339))
	if e.Expected > 0 {
		s += fmt.Sprintf(" (Exact ended the day with %d calls of this app's budget left by its last answer: "+
			"other applications of the licence share a daily cap, docs/exact-online.md §2.7)", e.Expected)
	}
	return s
}

// DecodeError reports a response body that is not the JSON envelope Exact serves (§3.5),
// for instance a truncated page (Record is -1), or one record of an otherwise sound page
// that is not valid JSON, holds text PostgreSQL cannot store or has a member name twice
// (Record is its index, see [Record.Err]).
type DecodeError struct {
	Endpoint string // "" when unknown
	Record   int    // 0-based index of the bad record in its page; -1 for the whole page
	Key      string // the bad record's ID, when that member could be read
	Err      error
}

func (e *DecodeError) Error() string {
	from := ""
	if e.Endpoint != "" {
		from = " from " + e.Endpoint
	}
	if e.Record < 0 {
		return "malformed JSON" + from + ": " + e.Err.Error()
	}
	rec := "record " + strconv.Itoa(e.Record)
	if e.Key != "" {
		rec += " (ID " + strconv.QuoteToASCII(truncateString(e.Key, 64)) + ")"
	}
	var se *scanError
	if errors.As(e.Err, &se) && (se.text || se.twice) {
		return rec + from + ": " + e.Err.Error()
	}
	return "malformed JSON" + from + " in " + rec + ": " + e.Err.Error()
}

func (e *DecodeError) Unwrap() error { return e.Err }

// pageError is the *DecodeError of a page that cannot be split into records.
func pageError(endpoint string, err error) *DecodeError {
	return &DecodeError{Endpoint: endpoint, Record: -1, Err: err}
}

// truncateString cuts s to at most n bytes, at a character boundary.
func truncateString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
