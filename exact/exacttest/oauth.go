package exacttest

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// tokenEndpoint names the token endpoint in the error budget.
const tokenEndpoint = "oauth2/token"

// Token lifetimes (§0, §1.7, §1.8).
const (
	accessTokenLifetime = 600 * time.Second
	earliestRefresh     = 570 * time.Second
	codeLifetime        = 3 * time.Minute
	refreshIdleLifetime = 30 * 24 * time.Hour
)

// authState is the OAuth2 state of the simulator's one app and one user: a single token chain
// (§1.9: one chain per app and user).
type authState struct {
	chain      int       // generation of the current chain; a new consent starts the next one
	head       string    // the refresh token currently valid
	headIssued time.Time // for the 30-day idle expiry (§1.7)
	lastIssued time.Time // last access token of the chain (570 s rule, §1.8); zero = none yet
	refresh    map[string]int
	access     map[string]accessToken
	codes      map[string]authCode
}

type accessToken struct {
	chain   int
	expires time.Time
}

type authCode struct {
	issued time.Time
	used   bool
}

func (a *authState) init(now time.Time, refreshToken string) {
	a.refresh = map[string]int{}
	a.access = map[string]accessToken{}
	a.codes = map[string]authCode{}
	a.head = refreshToken
	if a.head == "" {
		a.head = newRefreshToken()
	}
	a.headIssued = now
}

// newRefreshToken returns a token shaped like Exact's: it contains '!' (§1.6, §1.10).
func newRefreshToken() string {
	return "SDFu!" + rand.Text() + rand.Text() + "AAEAAA"
}

// newAccessToken returns a long opaque token: Exact's are 600+ characters (§1.6).
func newAccessToken() string {
	var b strings.Builder
	b.WriteString("gAAAA")
	for b.Len() < 620 {
		b.WriteString(rand.Text())
	}
	return b.String()
}

// newAuthCode returns a JWT-like code containing '!' (§1.7, §1.10).
func newAuthCode() string {
	return "stampNL001." + rand.Text() + "!" + rand.Text() + rand.Text()
}

// RefreshToken returns the refresh token currently valid at the head of the chain.
func (s *Simulator) RefreshToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.auth.head
}

// serveAuthorize auto-consents: it redirects to the registered redirect URI with a single-use,
// 3-minute code, percent-encoded in the query (§1.3, §1.10).
func (s *Simulator) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	if !s.maintenance(w, r) {
		return
	}
	q := r.URL.Query()
	if q.Get("client_id") != s.opts.ClientID || q.Get("redirect_uri") != s.opts.RedirectURI ||
		q.Get("response_type") != "code" {
		// §1.4: the redirect URI must equal the registered one exactly.
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return
	}
	target, err := url.Parse(s.opts.RedirectURI)
	if err != nil {
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return
	}
	code := newAuthCode()
	s.mu.Lock()
	s.auth.codes[code] = authCode{issued: s.nowLocked()}
	s.mu.Unlock()
	tq := target.Query()
	tq.Set("code", code) // url.Values encodes '!' as %21
	if st := q.Get("state"); st != "" {
		tq.Set("state", st)
	}
	target.RawQuery = tq.Encode()
	http.Redirect(w, r, target.String(), http.StatusFound)
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    string `json:"expires_in"` // a JSON string, "600" (§1.6)
	RefreshToken string `json:"refresh_token"`
}

// tokenError is one row of the token-endpoint error catalogue (§1.12).
type tokenError struct {
	status       int
	err, desc    string
	reason       string // Reason header
	plain        bool   // body is the plain text "Bad Request"
	outcome      string // stats key suffix
	reuse, early bool
}

var (
	errBadClient = tokenError{status: 400, err: "invalid_request", outcome: "bad_client"}
	errTooEarly  = tokenError{status: 400, err: "access_denied",
		desc:    "Rate limit exceeded: access_token not expired",
		reason:  "TooEarlyToRefreshTokens: Rate limit exceeded: access_token not expired",
		outcome: "too_early", early: true}
	errOldRefresh = tokenError{status: 401, err: "unauthorized_client", desc: "Old refresh token used.",
		outcome: "old_refresh_token", reuse: true}
	errChain = tokenError{status: 400, err: "invalid_grant",
		desc:   "Token is not allowed, because of invalid or empty chainId",
		reason: "Unknown: Token is not allowed, because of invalid or empty chainId"}
	// "Signed data extraction has failed" is UNCONFIRMED (§1.10), which allows it as the invented
	// description for a token or code the simulator never issued (mangled, double-encoded).
	errUnsigned = tokenError{status: 400, err: "invalid_grant", desc: "Signed data extraction has failed."}
	errPlainBad = tokenError{status: 400, plain: true}
)

// serveToken is the token endpoint (§1.5, §1.6, §1.12). Client credentials are read from the
// form body only: whether Exact accepts HTTP Basic is UNCONFIRMED (§1.5), so it is not accepted.
func (s *Simulator) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return
	}
	grant := r.PostForm.Get("grant_type")
	if !s.maintenance(w, r) {
		s.mu.Lock()
		s.stats.TokenCalls[cmp.Or(grant, "none")+"/maintenance"]++
		s.mu.Unlock()
		return
	}
	// §1.8, §2.5: token errors, an early refresh among them, count towards the error
	// budget like the REST API's (the token endpoint has no division).
	if s.budgetBlocked(0, tokenEndpoint) {
		s.mu.Lock()
		s.stats.TokenCalls[cmp.Or(grant, "none")+"/blocked"]++
		s.mu.Unlock()
		writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "rate_limited", "error_description": msgRateBlocked})
		return
	}
	s.mu.Lock()
	resp, terr := s.grantLocked(grant, r.PostForm)
	outcome := "ok"
	if terr != nil {
		outcome = terr.outcome
		if terr.reuse {
			s.stats.RefreshReuseRejections++
		}
		if terr.early {
			s.stats.EarlyRefreshRejections++
		}
	}
	s.stats.TokenCalls[cmp.Or(grant, "none")+"/"+outcome]++
	s.mu.Unlock()

	w.Header().Set("Cache-Control", "no-store")
	if terr != nil {
		s.recordError(0, tokenEndpoint, terr.status)
		if terr.reason != "" {
			w.Header().Set("Reason", terr.reason)
		}
		if terr.plain {
			http.Error(w, "Bad Request", terr.status)
			return
		}
		body := map[string]string{"error": terr.err}
		if terr.desc != "" {
			body["error_description"] = terr.desc
		}
		writeJSON(w, terr.status, body)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Simulator) grantLocked(grant string, form url.Values) (tokenResponse, *tokenError) {
	now := s.nowLocked()
	a := &s.auth
	if form.Get("client_id") != s.opts.ClientID || form.Get("client_secret") != s.opts.ClientSecret {
		return tokenResponse{}, &errBadClient
	}
	switch grant {
	case "authorization_code":
		code := form.Get("code")
		c, ok := a.codes[code]
		switch {
		case !ok:
			return tokenResponse{}, with(errUnsigned, "unknown_code")
		case c.used:
			return tokenResponse{}, with(errPlainBad, "code_reused")
		case form.Get("redirect_uri") != s.opts.RedirectURI:
			return tokenResponse{}, with(errPlainBad, "bad_redirect_uri")
		case now.Sub(c.issued) > codeLifetime:
			return tokenResponse{}, with(errChain, "code_expired")
		}
		c.used = true
		a.codes[code] = c
		// A new consent starts a new chain and invalidates the previous one (§1.9). The chain
		// is replaced at the code exchange, when the new tokens are issued.
		a.refresh[a.head] = a.chain
		a.chain++
		return s.issueLocked(now), nil
	case "refresh_token":
		rt := form.Get("refresh_token")
		if rt != a.head {
			chain, ok := a.refresh[rt]
			switch {
			case !ok:
				return tokenResponse{}, with(errUnsigned, "unknown_token")
			case chain == a.chain:
				return tokenResponse{}, &errOldRefresh
			default:
				return tokenResponse{}, with(errChain, "invalid_chain")
			}
		}
		if expiry := a.headIssued.Add(refreshIdleLifetime); now.After(expiry) {
			const layout = "1/2/2006 3:04:05 PM"
			e := tokenError{status: 400, err: "invalid_request", outcome: "expired",
				desc: "The refresh token expired at " + expiry.Format(layout) + " and it is now " + now.Format(layout) + "."}
			return tokenResponse{}, &e
		}
		if !a.lastIssued.IsZero() && now.Sub(a.lastIssued) < earliestRefresh {
			// The refresh token sent stays valid: UNCONFIRMED, assumed by §1.8.
			return tokenResponse{}, &errTooEarly
		}
		a.refresh[rt] = a.chain
		return s.issueLocked(now), nil
	default:
		return tokenResponse{}, &tokenError{status: 400, err: "unsupported_grant_type", outcome: "unsupported"}
	}
}

func with(e tokenError, outcome string) *tokenError {
	e.outcome = outcome
	return &e
}

func (s *Simulator) issueLocked(now time.Time) tokenResponse {
	a := &s.auth
	for tok, at := range a.access {
		if now.Sub(at.expires) > time.Hour || at.chain != a.chain {
			delete(a.access, tok)
		}
	}
	access := newAccessToken()
	a.access[access] = accessToken{chain: a.chain, expires: now.Add(accessTokenLifetime)}
	a.head = newRefreshToken()
	a.headIssued = now
	a.lastIssued = now
	if path := s.opts.AuthStateFile; path != "" {
		// The answer goes out either way, as Exact's would; a chain not saved is lost only
		// if the simulator restarts before the next save.
		if err := a.saveAuth(path); err != nil {
			fmt.Fprintf(os.Stderr, "exacttest: saving the token chain in %s: %v\n", path, err)
		}
	}
	return tokenResponse{AccessToken: access, TokenType: "bearer", ExpiresIn: "600", RefreshToken: a.head}
}

// authenticate checks the Bearer token of a REST call; ok=false when it is missing, unknown,
// expired or from an invalidated chain.
func (s *Simulator) authenticate(r *http.Request) (expired, ok bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return false, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	at, known := s.auth.access[strings.TrimSpace(tok)]
	if !known || at.chain != s.auth.chain {
		return false, false
	}
	if !s.nowLocked().Before(at.expires) {
		return true, false
	}
	return false, true
}

// writeUnauthorized is the REST 401 (§4.2): not JSON but the historic HTML "Object moved" page,
// or an empty body with Options.EmptyUnauthorizedBody (§7), with a WWW-Authenticate header. The
// header's exact value is UNCONFIRMED (§8); it carries the "access token expired" substring
// clients look for.
func (s *Simulator) writeUnauthorized(w http.ResponseWriter, r *http.Request, expired bool) {
	s.mu.Lock()
	s.stats.Unauthorized++
	s.mu.Unlock()
	desc := "access token invalid"
	if expired {
		desc = "access token expired"
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="Exact Online", error="invalid_token", error_description="`+desc+`"`)
	if s.opts.EmptyUnauthorizedBody { // the other body §7 asks for
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write([]byte(`<html><head><title>Object moved</title></head><body><h2>Object moved to <a href="/docs/Login.aspx?ReturnUrl=` +
		url.QueryEscape(r.URL.Path) + `">here</a>.</h2></body></html>`))
}

// writeJSON writes v as JSON without escaping <, > and & (a record's text stays the text the
// REST endpoints serve, as /_sim/records promises).
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}
