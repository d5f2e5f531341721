package exacttest

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestInProcessClientServesLikeTheServer: a refresh through InProcessClient rotates the
// chain as one over the socket does, and a data call answers with __next URLs of the
// base URL the client used.
func TestInProcessClientServesLikeTheServer(t *testing.T) {
	sim := New(testOptions(1001)) // one more than a sync page
	client := sim.InProcessClient()
	refresh := sim.RefreshToken()
	resp, err := client.PostForm(InProcessURL+"/api/oauth2/token", url.Values{"grant_type": {"refresh_token"},
		"refresh_token": {refresh}, "client_id": {sim.opts.ClientID}, "client_secret": {sim.opts.ClientSecret}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token call: %d %s, want 200", resp.StatusCode, body)
	}
	tb := decodeToken(t, body)
	if tb.AccessToken == "" || tb.RefreshToken == refresh || sim.RefreshToken() != tb.RefreshToken {
		t.Fatalf("token body %+v; want a new pair that is the chain's head", tb)
	}

	req, _ := http.NewRequest(http.MethodGet, InProcessURL+"/api/v1/101/sync/CRM/Accounts?$select=ID,Timestamp&$filter=Timestamp+gt+0L", nil)
	req.Header.Set("Authorization", "Bearer "+tb.AccessToken)
	req.Header.Set("Accept", "application/json")
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"__next"`) ||
		!strings.Contains(string(body), InProcessURL+"/api/v1/101/sync/CRM/Accounts") {
		t.Errorf("data call: %d %.300s; want 200 with a __next on %s", resp.StatusCode, body, InProcessURL)
	}
}
