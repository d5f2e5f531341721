package onboard

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/exactsync/exactsync/exact"
)

// DefaultRedirectURL is the redirect URI used when none is configured. Exact accepts only
// https redirect URIs (§1.4), so the callback listener serves https with a self-signed
// certificate.
const DefaultRedirectURL = "https://localhost:8443/callback"

// ParseRedirectURL checks a redirect URI: absolute, and https (§1.4), or plain http on a
// loopback host (a local simulator; see exact.IsLoopbackHost). The error does not repeat
// raw: the caller names the setting it came from.
func ParseRedirectURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("not an absolute URL; use the redirect URI registered for the app, e.g. %s", DefaultRedirectURL)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && exact.IsLoopbackHost(u.Hostname()):
	default:
		return nil, fmt.Errorf("Exact Online accepts only https redirect URIs; register one such as %s", DefaultRedirectURL)
	}
	return u, nil
}

// NewState returns a random state for one authorization, which its redirect must carry back.
func NewState() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating the login state: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// StateError reports a redirect that does not belong to this authorization: it has no
// state where one is required, or another one.
type StateError struct {
	Missing bool // no state parameter
}

func (e *StateError) Error() string {
	if e.Missing {
		return "the redirect has no state parameter: it does not come from this login"
	}
	return "the redirect's state does not match this login: it belongs to another `exactsync auth login` (use the URL printed by this one) or was altered"
}

// ParseCode reads the authorization code from a redirected URL, its query, or a bare code,
// decoding it exactly once (§1.10) with exact.ParseAuthCode, and checks the state when the
// input has one; requireState refuses input without one (the callback listener: a pasted
// bare code has none). A redirect that brings an error instead of a code (the user denied
// access) gives an *exact.AuthDeniedError; another state, a *StateError.
func ParseCode(input, state string, requireState bool) (string, error) {
	in := strings.TrimSpace(input)
	code, err := exact.ParseAuthCode(in)
	if err != nil {
		return "", err
	}
	var got []string
	haveState := false
	if i := strings.IndexByte(in, '?'); i >= 0 || strings.HasPrefix(in, "code=") {
		q, _ := url.ParseQuery(in[i+1:]) // ParseAuthCode parsed it already
		got, haveState = q["state"]
	}
	switch {
	case !haveState && requireState:
		return "", &StateError{Missing: true}
	case haveState && (len(got) != 1 || got[0] != state):
		return "", &StateError{}
	}
	if strings.Contains(code, "%") {
		return "", errors.New("the code is still percent-encoded after decoding it once (was it encoded twice, %2521?): copy the URL from the browser's address bar unchanged")
	}
	return code, nil
}
