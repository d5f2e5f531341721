package exact

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// ErrReauthRequired reports that the stored token chain can no longer be used and a human
// must authorize the app again. Errors returned for this condition are *ReauthError values,
// which satisfy errors.Is(err, ErrReauthRequired).
var ErrReauthRequired = errors.New("re-authorization required")

// ReauthError is returned when Exact rejects the stored refresh token or client credentials
// in a way that retrying cannot fix (§1.12, §6.3). The connection has been marked as needing
// re-authorization in the TokenStore.
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

// DailyLimitError reports that the daily call budget of a division is spent (§2.1, §2.4).
// No call was sent (or the call was answered with 429); the division can be resumed after Reset.
type DailyLimitError struct {
	Division int
	Reset    time.Time
}

func (e *DailyLimitError) Error() string {
	return fmt.Sprintf("daily limit reached for division %d, resumes after %s",
		e.Division, e.Reset.UTC().Format(time.RFC3339))
}

// DecodeError reports a response body that is not the JSON envelope Exact serves (§3.5),
// for instance a truncated page.
type DecodeError struct {
	Endpoint string
	Err      error
}

func (e *DecodeError) Error() string {
	return "malformed JSON from " + e.Endpoint + ": " + e.Err.Error()
}

func (e *DecodeError) Unwrap() error { return e.Err }
