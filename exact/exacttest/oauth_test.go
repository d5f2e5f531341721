package exacttest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// authorize runs the browser step and returns the Location header and the decoded code.
func authorize(t *testing.T, srv *Server, q url.Values) (*http.Response, string) {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(srv.URL + "/api/oauth2/auth?" + q.Encode())
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc == nil {
		return resp, ""
	}
	return resp, loc.Query().Get("code")
}

func authQuery(srv *Server) url.Values {
	return url.Values{"client_id": {srv.opts.ClientID}, "redirect_uri": {srv.opts.RedirectURI},
		"response_type": {"code"}, "state": {"xyz"}}
}

func codeForm(srv *Server, code string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {srv.opts.RedirectURI},
		"client_id": {srv.opts.ClientID}, "client_secret": {srv.opts.ClientSecret}}
}

func decodeToken(t *testing.T, b []byte) tokenBody {
	t.Helper()
	var tb tokenBody
	if err := json.Unmarshal(b, &tb); err != nil {
		t.Fatalf("decoding token body %q: %v", b, err)
	}
	return tb
}

func TestAuthorizeRedirectsWithEncodedCode(t *testing.T) {
	srv := newTestServer(t, testOptions(0))
	resp, code := authorize(t, srv, authQuery(srv))
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("got status %d, want 302", resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, srv.opts.RedirectURI+"?") {
		t.Errorf("got Location %q, want the registered redirect URI", loc)
	}
	if !strings.Contains(code, "!") {
		t.Errorf("got code %q, want one containing '!'", code)
	}
	if strings.Contains(loc, "!") || !strings.Contains(loc, "%21") {
		t.Errorf("got Location %q, want '!' percent-encoded as %%21", loc)
	}
	if !strings.Contains(loc, "state=xyz") {
		t.Errorf("got Location %q, want state echoed", loc)
	}
}

func TestAuthorizeRejects(t *testing.T) {
	tests := []struct {
		name string
		edit func(q url.Values)
	}{
		{"wrong redirect uri", func(q url.Values) { q.Set("redirect_uri", "https://localhost:8443/other") }},
		{"unknown client", func(q url.Values) { q.Set("client_id", "nope") }},
		{"implicit grant", func(q url.Values) { q.Set("response_type", "token") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newTestServer(t, testOptions(0))
			q := authQuery(srv)
			tt.edit(q)
			resp, _ := authorize(t, srv, q)
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("got status %d, want 400", resp.StatusCode)
			}
		})
	}
}

func TestCodeExchange(t *testing.T) {
	srv := newTestServer(t, testOptions(0))
	_, code := authorize(t, srv, authQuery(srv))
	resp, b := tokenCall(t, srv, codeForm(srv, code))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("got status %d body %s, want 200", resp.StatusCode, b)
	}
	tb := decodeToken(t, b)
	if diff := cmp.Diff(any("600"), tb.ExpiresIn); diff != "" {
		t.Errorf("expires_in (-want +got, a JSON string):\n%s", diff)
	}
	if tb.TokenType != "bearer" {
		t.Errorf("got token_type %q, want bearer", tb.TokenType)
	}
	if !strings.Contains(tb.RefreshToken, "!") || tb.RefreshToken != srv.RefreshToken() {
		t.Errorf("got refresh token %q, want the new chain head containing '!'", tb.RefreshToken)
	}
	if len(tb.AccessToken) < 600 {
		t.Errorf("got access token of %d characters, want >= 600 (§1.6)", len(tb.AccessToken))
	}
	// Single use: the second exchange is a plain-text 400 (§1.12).
	resp, b = tokenCall(t, srv, codeForm(srv, code))
	if resp.StatusCode != http.StatusBadRequest || strings.TrimSpace(string(b)) != "Bad Request" {
		t.Errorf("reused code: got %d %q, want 400 \"Bad Request\"", resp.StatusCode, b)
	}
}

func TestCodeErrors(t *testing.T) {
	tests := []struct {
		name       string
		advance    time.Duration
		edit       func(form url.Values)
		wantStatus int
		wantError  string
		wantReason string
		wantStat   string
	}{
		{name: "expired after 3 minutes", advance: 3*time.Minute + time.Second, wantStatus: 400,
			wantError: "invalid_grant", wantReason: "Unknown: Token is not allowed, because of invalid or empty chainId",
			wantStat: "authorization_code/code_expired"},
		{name: "wrong redirect uri", edit: func(f url.Values) { f.Set("redirect_uri", "https://x/cb") },
			wantStatus: 400, wantStat: "authorization_code/bad_redirect_uri"},
		{name: "double-encoded code", edit: func(f url.Values) { f.Set("code", strings.ReplaceAll(f.Get("code"), "!", "%21")) },
			wantStatus: 400, wantError: "invalid_grant", wantStat: "authorization_code/unknown_code"},
		{name: "bad client secret", edit: func(f url.Values) { f.Set("client_secret", "wrong") },
			wantStatus: 400, wantError: "invalid_request", wantStat: "authorization_code/bad_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newTestServer(t, testOptions(0))
			_, code := authorize(t, srv, authQuery(srv))
			srv.Advance(tt.advance)
			form := codeForm(srv, code)
			if tt.edit != nil {
				tt.edit(form)
			}
			resp, b := tokenCall(t, srv, form)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("got status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantError != "" {
				if got := decodeToken(t, b).Error; got != tt.wantError {
					t.Errorf("got error %q, want %q", got, tt.wantError)
				}
			}
			if got := resp.Header.Get("Reason"); got != tt.wantReason {
				t.Errorf("got Reason %q, want %q", got, tt.wantReason)
			}
			if got := srv.Stats().TokenCalls[tt.wantStat]; got != 1 {
				t.Errorf("got %d calls counted as %s, want 1", got, tt.wantStat)
			}
		})
	}
}

func TestRefreshRotates(t *testing.T) {
	srv := newTestServer(t, Options{RefreshToken: "seed!token", FreezeClock: true})
	if got := srv.RefreshToken(); got != "seed!token" {
		t.Fatalf("got head %q, want the configured refresh token", got)
	}
	resp, b := tokenCall(t, srv, refreshForm(srv, "seed!token"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("got status %d body %s, want 200", resp.StatusCode, b)
	}
	tb := decodeToken(t, b)
	if tb.RefreshToken == "seed!token" || tb.RefreshToken != srv.RefreshToken() {
		t.Errorf("got refresh token %q, want a new head", tb.RefreshToken)
	}
	srv.Advance(570 * time.Second)
	if resp, b := tokenCall(t, srv, refreshForm(srv, tb.RefreshToken)); resp.StatusCode != http.StatusOK {
		t.Errorf("refresh at 570 s: got status %d body %s, want 200", resp.StatusCode, b)
	}
	if got, want := srv.Stats().TokenCalls["refresh_token/ok"], 2; got != want {
		t.Errorf("got %d refresh_token/ok, want %d", got, want)
	}
}

func TestRefreshErrors(t *testing.T) {
	tests := []struct {
		name string
		// setup returns the refresh token to send after preparing the chain.
		setup      func(t *testing.T, srv *Server) string
		wantStatus int
		wantBody   map[string]string
		wantReason string
		wantStat   string
		wantReuse  int
		wantEarly  int
	}{
		{
			name: "too early (570 s rule)",
			setup: func(t *testing.T, srv *Server) string {
				newAccessTokenFor(t, srv)
				srv.Advance(569 * time.Second)
				return srv.RefreshToken()
			},
			wantStatus: 400,
			wantBody:   map[string]string{"error": "access_denied", "error_description": "Rate limit exceeded: access_token not expired"},
			wantReason: "TooEarlyToRefreshTokens: Rate limit exceeded: access_token not expired",
			wantStat:   "refresh_token/too_early", wantEarly: 1,
		},
		{
			name: "old refresh token reused",
			setup: func(t *testing.T, srv *Server) string {
				old := srv.RefreshToken()
				newAccessTokenFor(t, srv)
				return old
			},
			wantStatus: 401,
			wantBody:   map[string]string{"error": "unauthorized_client", "error_description": "Old refresh token used."},
			wantStat:   "refresh_token/old_refresh_token", wantReuse: 1,
		},
		{
			name: "idle for more than 30 days",
			setup: func(t *testing.T, srv *Server) string {
				srv.Advance(30*24*time.Hour + time.Second)
				return srv.RefreshToken()
			},
			wantStatus: 400,
			wantBody: map[string]string{"error": "invalid_request",
				"error_description": "The refresh token expired at 2/4/2026 9:00:00 AM and it is now 2/4/2026 9:00:01 AM."},
			wantStat: "refresh_token/expired",
		},
		{
			name: "second consent invalidates the previous chain",
			setup: func(t *testing.T, srv *Server) string {
				old := srv.RefreshToken()
				_, code := authorize(t, srv, authQuery(srv))
				if resp, b := tokenCall(t, srv, codeForm(srv, code)); resp.StatusCode != 200 {
					t.Fatalf("code exchange: %d %s", resp.StatusCode, b)
				}
				return old
			},
			wantStatus: 400,
			wantBody:   map[string]string{"error": "invalid_grant", "error_description": "Token is not allowed, because of invalid or empty chainId"},
			wantReason: "Unknown: Token is not allowed, because of invalid or empty chainId",
			wantStat:   "refresh_token/invalid_chain",
		},
		{
			name:       "bad client",
			setup:      func(t *testing.T, srv *Server) string { srv.opts.ClientSecret = "rotated"; return srv.RefreshToken() },
			wantStatus: 400,
			wantBody:   map[string]string{"error": "invalid_request"},
			wantStat:   "refresh_token/bad_client",
		},
		{
			name:       "never issued",
			setup:      func(t *testing.T, srv *Server) string { return "abc%21def" },
			wantStatus: 400,
			wantBody:   map[string]string{"error": "invalid_grant", "error_description": "Signed data extraction has failed."},
			wantStat:   "refresh_token/unknown_token",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newTestServer(t, testOptions(0))
			rt := tt.setup(t, srv)
			form := refreshForm(srv, rt)
			if tt.name == "bad client" {
				form.Set("client_secret", "exactsim-secret")
			}
			resp, b := tokenCall(t, srv, form)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("got status %d body %s, want %d", resp.StatusCode, b, tt.wantStatus)
			}
			var got map[string]string
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("decoding %s: %v", b, err)
			}
			if diff := cmp.Diff(tt.wantBody, got); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
			if got := resp.Header.Get("Reason"); got != tt.wantReason {
				t.Errorf("got Reason %q, want %q", got, tt.wantReason)
			}
			st := srv.Stats()
			if st.TokenCalls[tt.wantStat] != 1 {
				t.Errorf("got token calls %v, want one %s", st.TokenCalls, tt.wantStat)
			}
			if st.RefreshReuseRejections != tt.wantReuse || st.EarlyRefreshRejections != tt.wantEarly {
				t.Errorf("got reuse/early rejections %d/%d, want %d/%d", st.RefreshReuseRejections, st.EarlyRefreshRejections, tt.wantReuse, tt.wantEarly)
			}
		})
	}
}

func TestEarlyRefreshKeepsTokenValid(t *testing.T) {
	srv := newTestServer(t, testOptions(0))
	newAccessTokenFor(t, srv)
	rt := srv.RefreshToken()
	srv.Advance(5 * time.Minute)
	if resp, _ := tokenCall(t, srv, refreshForm(srv, rt)); resp.StatusCode != 400 {
		t.Fatalf("early refresh: got %d, want 400", resp.StatusCode)
	}
	srv.Advance(270 * time.Second)
	if resp, b := tokenCall(t, srv, refreshForm(srv, rt)); resp.StatusCode != 200 {
		t.Errorf("refresh at 570 s with the same token: got %d %s, want 200", resp.StatusCode, b)
	}
}

func TestTokenEndpointNeedsFormBody(t *testing.T) {
	srv := newTestServer(t, testOptions(0))
	// Credentials in HTTP Basic instead of the body are not accepted (§1.5).
	form := refreshForm(srv, srv.RefreshToken())
	form.Del("client_id")
	form.Del("client_secret")
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(srv.opts.ClientID, srv.opts.ClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("basic auth: got %d, want 400 invalid_request", resp.StatusCode)
	}
}
