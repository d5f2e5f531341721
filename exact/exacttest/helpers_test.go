package exacttest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// testOptions are deterministic defaults for tests of the accounts: a frozen clock, no limits
// and no records of the other entities, so that the Timestamps after the accounts are the changes'.
func testOptions(accounts int) Options {
	return Options{Accounts: accounts, Seed: 1, Divisions: []int{101, 102}, FreezeClock: true, Records: map[string]int{"*": 0}}
}

func newTestServer(t testing.TB, opts Options) *Server {
	t.Helper()
	srv := NewServer(opts)
	t.Cleanup(srv.Close)
	return srv
}

// tokenCall posts a form to the token endpoint.
func tokenCall(t testing.TB, srv *Server, form url.Values) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.PostForm(srv.URL+"/api/oauth2/token", form)
	if err != nil {
		t.Fatalf("token call: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading token response: %v", err)
	}
	return resp, b
}

func refreshForm(srv *Server, rt string) url.Values {
	return url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {rt},
		"client_id": {srv.opts.ClientID}, "client_secret": {srv.opts.ClientSecret},
	}
}

type tokenBody struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    any    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Error        string `json:"error"`
	Description  string `json:"error_description"`
}

// accessToken refreshes the chain head and returns the new access token.
func newAccessTokenFor(t testing.TB, srv *Server) string {
	t.Helper()
	resp, b := tokenCall(t, srv, refreshForm(srv, srv.RefreshToken()))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("refresh: got status %d body %s, want 200", resp.StatusCode, b)
	}
	var tb tokenBody
	if err := json.Unmarshal(b, &tb); err != nil {
		t.Fatalf("decoding token: %v", err)
	}
	return tb.AccessToken
}

// get calls a REST path ("/api/v1/101/crm/Accounts?…" or an absolute URL) with a bearer token.
func get(t testing.TB, srv *Server, token, path string, accept string) (*http.Response, []byte) {
	t.Helper()
	u := path
	if !strings.HasPrefix(u, "http") {
		u = srv.URL + path
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return resp, b
}

func getJSON(t testing.TB, srv *Server, token, path string) (*http.Response, []byte) {
	t.Helper()
	return get(t, srv, token, path, "application/json")
}

type page struct {
	D struct {
		Results []map[string]any `json:"results"`
		Next    string           `json:"__next"`
		Count   string           `json:"__count"`
	} `json:"d"`
}

// decodePage decodes a page in either envelope of §3.5: {"d":{"results":[…]}} or the bare
// {"d":[…]}, which has no __next and no __count.
func decodePage(t testing.TB, b []byte) page {
	t.Helper()
	var p page
	var bare struct {
		D []map[string]any `json:"d"`
	}
	if err := json.Unmarshal(b, &bare); err == nil && bare.D != nil {
		p.D.Results = bare.D
		return p
	}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("decoding page: %v: %.300s", err, b)
	}
	return p
}

func errorMessage(t testing.TB, b []byte) string {
	t.Helper()
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message struct {
				Lang  string `json:"lang"`
				Value string `json:"value"`
			} `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("decoding error envelope: %v: %s", err, b)
	}
	return e.Error.Message.Value
}

var _ = time.Second

func sortStrings(s []string) { slices.Sort(s) }
