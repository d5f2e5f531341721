package onboard

import (
	"errors"
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

func TestParseCode(t *testing.T) {
	const state = fuzzState
	tests := []struct {
		name, in     string
		requireState bool
		want         string
		wantErr      string
	}{
		{"pasted bare code", "dAfj!hB1k", false, "dAfj!hB1k", ""},
		{"pasted redirect", "https://localhost:8443/callback?code=dAfj%21hB1k&state=" + state, false, "dAfj!hB1k", ""},
		{"callback without state", "?code=dAfj%21hB1k", true, "", "no state parameter"},
		{"callback with a bare code", "dAfj!hB1k", true, "", "no state parameter"},
		{"callback with another state", "?code=a&state=other", true, "", "does not match this login"},
		{"callback with the state twice", "?code=a&state=" + state + "&state=" + state, true, "", "does not match this login"},
		{"encoded twice", "dAfj%2521hB1k", false, "", "still percent-encoded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCode(tt.in, state, tt.requireState)
			if got != tt.want || (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("ParseCode(%q, %v): got (%q, %v), want (%q, error containing %q)", tt.in, tt.requireState, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// The errors callers branch on are typed, never recognised by their text.
func TestParseCodeTypedErrors(t *testing.T) {
	_, err := ParseCode("https://localhost:8443/callback?error=access_denied&error_description=No&state="+fuzzState, fuzzState, true)
	var denied *exact.AuthDeniedError
	if !errors.As(err, &denied) || denied.Code != "access_denied" || denied.Description != "No" {
		t.Errorf("a denied authorization: got %v, want *exact.AuthDeniedError access_denied: No", err)
	}
	_, err = ParseCode("?code=a&state=other", fuzzState, true)
	var se *StateError
	if !errors.As(err, &se) || se.Missing {
		t.Errorf("another state: got %#v, want *StateError{Missing: false}", err)
	}
	_, err = ParseCode("?code=a", fuzzState, true)
	if !errors.As(err, &se) || !se.Missing {
		t.Errorf("no state: got %#v, want *StateError{Missing: true}", err)
	}
}

func TestParseRedirectURL(t *testing.T) {
	tests := []struct {
		raw     string
		wantErr string
	}{
		{DefaultRedirectURL, ""},
		{"https://exactsync.example.nl/callback", ""},
		{"http://127.0.0.1:8080/callback", ""},
		{"http://LOCALHOST/cb", ""},
		{"http://sim.localhost:8080/cb", ""},
		{"http://[::1]:8443/cb", ""},
		{"http://example.nl/callback", "only https"},
		{"http://127.0.0.1.evil.example/", "only https"},
		{"ftp://localhost/", "only https"},
		{"localhost:8443/callback", "not an absolute URL"},
		{"https://", "not an absolute URL"},
		{"", "not an absolute URL"},
	}
	for _, tt := range tests {
		_, err := ParseRedirectURL(tt.raw)
		if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("ParseRedirectURL(%q): got %v, want error containing %q", tt.raw, err, tt.wantErr)
		}
	}
}

func TestCallbackAddrs(t *testing.T) {
	tests := []struct {
		redirect string
		want     []string
	}{
		{"https://localhost:8443/callback", []string{"127.0.0.1:8443", "[::1]:8443"}},
		{"http://sim.localhost/callback", []string{"127.0.0.1:80", "[::1]:80"}},
		{"http://127.0.0.2:9000/cb", []string{"127.0.0.2:9000"}},
		{"http://[::1]:9000/cb", []string{"[::1]:9000"}},
		{"https://exactsync.example.nl/callback", []string{":443"}},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.redirect)
		if err != nil {
			t.Fatal(err)
		}
		if got := CallbackAddrs(u); strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("CallbackAddrs(%s) = %q, want %q", tt.redirect, got, tt.want)
		}
	}
}

// FuzzParseCode checks the code read from a redirect or a paste: it is decoded once,
// never still percent-encoded, and a redirect with a state is only accepted with this
// login's state.
func FuzzParseCode(f *testing.F) {
	for _, s := range loginSeeds {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, input string, requireState bool) {
		code, err := ParseCode(input, fuzzState, requireState)
		authCode, authErr := exact.ParseAuthCode(input)
		if err != nil {
			return
		}
		if authErr != nil || authCode != code {
			t.Fatalf("ParseCode(%q) = %q, but ParseAuthCode gives %q, %v", input, code, authCode, authErr)
		}
		if code == "" || strings.Contains(code, "%") {
			t.Fatalf("ParseCode(%q) = %q: empty or still percent-encoded", input, code)
		}
		in := strings.TrimSpace(input)
		i := strings.IndexByte(in, '?')
		if i < 0 && !strings.HasPrefix(in, "code=") {
			if requireState {
				t.Fatalf("ParseCode(%q) accepted a bare code where the state is required", input)
			}
			return
		}
		q, err := url.ParseQuery(in[i+1:])
		if err != nil {
			t.Fatalf("ParseCode(%q) accepted a query url.ParseQuery refuses: %v", input, err)
		}
		if got, ok := q["state"]; (ok || requireState) && (len(got) != 1 || got[0] != fuzzState) {
			t.Fatalf("ParseCode(%q) accepted state %q", input, got)
		}
		if q.Get("code") != code || q.Get("error") != "" {
			t.Fatalf("ParseCode(%q) = %q, want the code parameter %q", input, code, q.Get("code"))
		}
	})
}

// FuzzParseRedirectURL checks that only https redirect URIs are accepted (§1.4), or plain
// http to this machine, and that every accepted one gives listen addresses.
func FuzzParseRedirectURL(f *testing.F) {
	for _, s := range []string{
		DefaultRedirectURL, "https://exactsync.example.nl/callback", "http://127.0.0.1:8080/callback",
		"http://localhost/cb", "http://[::1]:8443/cb", "http://example.nl/callback", "localhost:8443/callback",
		"https://", "ftp://localhost/", "http://127.0.0.1.evil.example/", "http://LOCALHOST/", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := ParseRedirectURL(raw)
		if err != nil {
			return
		}
		if u.Host == "" {
			t.Fatalf("ParseRedirectURL(%q) accepted a URL without a host", raw)
		}
		if u.Scheme != "https" && !(u.Scheme == "http" && exact.IsLoopbackHost(u.Hostname())) {
			t.Fatalf("ParseRedirectURL(%q) accepted %s://%s", raw, u.Scheme, u.Host)
		}
		for _, a := range CallbackAddrs(u) {
			if _, _, err := net.SplitHostPort(a); err != nil {
				t.Fatalf("ParseRedirectURL(%q): listen address %q: %v", raw, a, err)
			}
		}
	})
}

// FuzzCallbackQuery checks the callback listener with any query: only a redirect that
// ParseCode accepts is delivered, only once, and the page never echoes markup.
func FuzzCallbackQuery(f *testing.F) {
	for _, s := range loginSeeds {
		if i := strings.IndexByte(s, '?'); i >= 0 {
			f.Add(s[i+1:])
		} else {
			f.Add(s)
		}
	}
	f.Fuzz(func(t *testing.T, rawQuery string) {
		codes := make(chan string, 1)
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
		want, err := ParseCode("?"+rawQuery, fuzzState, true)
		if (rec.Code == http.StatusOK) != (err == nil) {
			t.Fatalf("query %q: answered %d, but ParseCode says %v", rawQuery, rec.Code, err)
		}
		if rec.Code != http.StatusOK {
			if len(codes) != 0 {
				t.Fatalf("query %q: answered %d and delivered a code", rawQuery, rec.Code)
			}
			return
		}
		if got := <-codes; got != want {
			t.Fatalf("query %q: delivered %q, want %q", rawQuery, got, want)
		}
		if again := serve(); again.Code != http.StatusConflict || len(codes) != 0 {
			t.Fatalf("query %q replayed: answered %d, delivered %d", rawQuery, again.Code, len(codes))
		}
	})
}
