package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/exact"
)

const fuzzState = "0123456789abcdef0123456789abcdef"

// Redirects and pastes as users and Exact produce them (§1.3, §1.10).
var loginSeeds = []string{
	"https://localhost:8443/callback?code=dAfj%21hB1k&state=" + fuzzState,
	"http://127.0.0.1:8080/callback?state=" + fuzzState + "&code=__1P%21I%2BabcDEF",
	"?code=SDFu%2112SA&state=" + fuzzState,
	"code=dAfj%21hB1k&state=" + fuzzState,
	"dAfj!hB1k", "dAfj%21hB1k", "dAfj%2521hB1k", "  dAfj!hB1k\n", "%zz", "",
	"https://localhost:8443/callback?error=access_denied&error_description=The+user+denied&state=" + fuzzState,
	"https://localhost:8443/callback?code=a&state=other",
	"https://localhost:8443/callback?code=a&state=" + fuzzState + "&state=" + fuzzState,
	"https://localhost:8443/callback?code=a",
	"?code=%3Cscript%3E&state=" + fuzzState,
}

// FuzzParseLoginInput checks the code read from a redirect or a paste: it is decoded once,
// never still percent-encoded, and a redirect with a state is only accepted with this
// login's state.
func FuzzParseLoginInput(f *testing.F) {
	for _, s := range loginSeeds {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, input string, requireState bool) {
		code, err := parseLoginInput(input, fuzzState, requireState)
		authCode, authErr := exact.ParseAuthCode(input)
		if err != nil {
			return
		}
		if authErr != nil || authCode != code {
			t.Fatalf("parseLoginInput(%q) = %q, but ParseAuthCode gives %q, %v", input, code, authCode, authErr)
		}
		if code == "" || strings.Contains(code, "%") {
			t.Fatalf("parseLoginInput(%q) = %q: empty or still percent-encoded", input, code)
		}
		in := strings.TrimSpace(input)
		i := strings.IndexByte(in, '?')
		if i < 0 && !strings.HasPrefix(in, "code=") {
			if requireState {
				t.Fatalf("parseLoginInput(%q) accepted a bare code where the state is required", input)
			}
			return
		}
		q, err := url.ParseQuery(in[i+1:])
		if err != nil {
			t.Fatalf("parseLoginInput(%q) accepted a query url.ParseQuery refuses: %v", input, err)
		}
		if got, ok := q["state"]; (ok || requireState) && (len(got) != 1 || got[0] != fuzzState) {
			t.Fatalf("parseLoginInput(%q) accepted state %q", input, got)
		}
		if q.Get("code") != code || q.Get("error") != "" {
			t.Fatalf("parseLoginInput(%q) = %q, want the code parameter %q", input, code, q.Get("code"))
		}
	})
}

// FuzzParseRedirectURL checks that only https redirect URIs are accepted (§1.4), or plain
// http to this machine.
func FuzzParseRedirectURL(f *testing.F) {
	for _, s := range []string{
		defaultRedirectURL, "https://exactsync.example.nl/callback", "http://127.0.0.1:8080/callback",
		"http://localhost/cb", "http://[::1]:8443/cb", "http://example.nl/callback", "localhost:8443/callback",
		"https://", "ftp://localhost/", "http://127.0.0.1.evil.example/", "http://LOCALHOST/", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := parseRedirectURL(raw)
		if err != nil {
			if !strings.Contains(err.Error(), "EXACT_REDIRECT_URL") {
				t.Fatalf("parseRedirectURL(%q): error %q does not name the variable", raw, err)
			}
			return
		}
		if u.Host == "" {
			t.Fatalf("parseRedirectURL(%q) accepted a URL without a host", raw)
		}
		if u.Scheme != "https" && !(u.Scheme == "http" && isLoopbackHost(u.Hostname())) {
			t.Fatalf("parseRedirectURL(%q) accepted %s://%s", raw, u.Scheme, u.Host)
		}
		for _, a := range callbackAddrs(u) {
			if _, _, err := net.SplitHostPort(a); err != nil {
				t.Fatalf("parseRedirectURL(%q): listen address %q: %v", raw, a, err)
			}
		}
	})
}

// FuzzCallbackQuery checks the callback listener with any query: only a redirect that
// parseLoginInput accepts is delivered, only once, and the page never echoes markup.
func FuzzCallbackQuery(f *testing.F) {
	for _, s := range loginSeeds {
		if i := strings.IndexByte(s, '?'); i >= 0 {
			f.Add(s[i+1:])
		} else {
			f.Add(s)
		}
	}
	f.Fuzz(func(t *testing.T, rawQuery string) {
		codes := make(chan loginInput, 1)
		h := callbackHandler("/callback", fuzzState, codes, zerolog.Nop())
		serve := func() *httptest.ResponseRecorder {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/callback", nil)
			req.URL.RawQuery = rawQuery
			h.ServeHTTP(rec, req)
			return rec
		}
		rec := serve()
		if n := strings.Count(rec.Body.String(), "<"); n != 8 {
			t.Fatalf("query %q: the page has %d '<', want the 8 of its own tags:\n%s", rawQuery, n, rec.Body)
		}
		_, err := parseLoginInput("?"+rawQuery, fuzzState, true)
		if (rec.Code == http.StatusOK) != (err == nil) {
			t.Fatalf("query %q: answered %d, but parseLoginInput says %v", rawQuery, rec.Code, err)
		}
		if rec.Code != http.StatusOK {
			if len(codes) != 0 {
				t.Fatalf("query %q: answered %d and delivered a code", rawQuery, rec.Code)
			}
			return
		}
		if in := <-codes; in.text != "?"+rawQuery || !in.callback {
			t.Fatalf("query %q: delivered %+v", rawQuery, in)
		}
		if again := serve(); again.Code != http.StatusConflict || len(codes) != 0 {
			t.Fatalf("query %q replayed: answered %d, delivered %d", rawQuery, again.Code, len(codes))
		}
	})
}
