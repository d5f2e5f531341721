package exacttest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/exactsync/exactsync/exact/catalogue"
	"github.com/exactsync/exactsync/exact/exacttest"
)

// The test client below knows Exact Online only as its public clients do: the token
// endpoint's form, the REST paths, the two JSON envelopes, __next and __metadata. It shares
// no code with exactsync's client or with the simulator's internals, so the simulator is
// checked the way other applications would use it.

// publicClient is a minimal Exact Online REST client.
type publicClient struct {
	t     *testing.T
	base  string
	token string
	hc    *http.Client
	calls int
}

// newPublicClient gets an access token with the refresh token the simulator starts with.
func newPublicClient(t *testing.T, srv *exacttest.Server, clientID, secret string) *publicClient {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {srv.RefreshToken()},
		"client_id": {clientID}, "client_secret": {secret}}
	resp, err := http.PostForm(srv.URL+"/api/oauth2/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("token: %d %v", resp.StatusCode, err)
	}
	return &publicClient{t: t, base: srv.URL, token: tok.AccessToken, hc: &http.Client{}}
}

// get GETs an absolute URL or a path below the base URL as JSON.
func (c *publicClient) get(u string) (int, []byte) {
	c.t.Helper()
	if !strings.HasPrefix(u, "http") {
		u = c.base + u
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	c.calls++
	return resp.StatusCode, b
}

// collection reads every page from first on, following d.__next, and accepts both
// envelopes: {"d":{"results":[…],"__next":…}} and the bare {"d":[…]}.
func (c *publicClient) collection(first string) ([]map[string]json.RawMessage, error) {
	var all []map[string]json.RawMessage
	for next := first; next != ""; {
		status, b := c.get(next)
		if status != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %d %s", next, status, b)
		}
		var env struct {
			D json.RawMessage `json:"d"`
		}
		if err := json.Unmarshal(b, &env); err != nil {
			return nil, fmt.Errorf("GET %s: %w", next, err)
		}
		if bytes.HasPrefix(env.D, []byte("[")) {
			var rows []map[string]json.RawMessage
			if err := json.Unmarshal(env.D, &rows); err != nil {
				return nil, err
			}
			return append(all, rows...), nil
		}
		var page struct {
			Results []map[string]json.RawMessage `json:"results"`
			Next    string                       `json:"__next"`
		}
		if err := json.Unmarshal(env.D, &page); err != nil {
			return nil, fmt.Errorf("GET %s: %w", next, err)
		}
		all = append(all, page.Results...)
		next = page.Next
		if len(all) > 1_000_000 {
			return nil, fmt.Errorf("paging %s does not end", first)
		}
	}
	return all, nil
}

// byKey GETs one record at its __metadata.uri: {"d":{…}}.
func (c *publicClient) byKey(uri string) (map[string]json.RawMessage, error) {
	status, b := c.get(uri)
	if status != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d %s", uri, status, b)
	}
	var env struct {
		D map[string]json.RawMessage `json:"d"`
	}
	if err := json.Unmarshal(b, &env); err != nil || env.D == nil {
		return nil, fmt.Errorf("GET %s: not {\"d\":{…}}: %.200s", uri, b)
	}
	return env.D, nil
}

// truth reads /_sim/records, the simulator's own list of an entity's records.
func truth(t *testing.T, srv *exacttest.Server, entity string, division int) []map[string]json.RawMessage {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("%s/_sim/records?entity=%s&division=%d", srv.URL, entity, division))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var recs []map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&recs); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /_sim/records %s: %d %v", entity, resp.StatusCode, err)
	}
	return recs
}

// sameRecord compares a served record with the truth: every field of the truth, but the
// Timestamp of sync records on a regular endpoint; the served record has no other fields
// than __metadata and deferred navigation members.
func sameRecord(served, want map[string]json.RawMessage, regular bool) error {
	for k, v := range want {
		if k == "Timestamp" && regular {
			if _, ok := served[k]; ok {
				return fmt.Errorf("a regular endpoint serves Timestamp")
			}
			continue
		}
		if got, ok := served[k]; !ok || string(got) != string(v) {
			return fmt.Errorf("%s: served %s, /_sim/records %s", k, got, v)
		}
	}
	for k, v := range served {
		if _, ok := want[k]; !ok && k != "__metadata" && !bytes.HasPrefix(v, []byte(`{"__deferred":`)) {
			return fmt.Errorf("served %s, which /_sim/records does not have", k)
		}
	}
	return nil
}

// TestPublicClientReadsEveryEntity: a client written only against the public API shape
// pages the regular endpoint of every entity that has one (the sync endpoint of the
// others), in two divisions, and gets what /_sim/records holds, once each; then GETs each
// record by the key its __metadata.uri names and gets the same record back.
func TestPublicClientReadsEveryEntity(t *testing.T) {
	const id, secret = "public-client", "public-secret"
	srv := exacttest.NewServer(exacttest.Options{ClientID: id, ClientSecret: secret, Divisions: []int{101, 102},
		Accounts: 61, Seed: 9, FreezeClock: true, Records: map[string]int{"*": 61}})
	t.Cleanup(srv.Close)
	c := newPublicClient(t, srv, id, secret)
	regular, records := 0, 0
	for _, ce := range catalogue.All() {
		if ce.Name == "suppliers" {
			continue // the accounts, filtered (§5.1)
		}
		path, isRegular := ce.Regular, true
		switch {
		case ce.Read != catalogue.ReadSync:
			path = ce.Path
		case path == "":
			path, isRegular = ce.Path, false
		}
		if isRegular {
			regular++
		}
		t.Run(ce.Name, func(t *testing.T) {
			for _, div := range []int{101, 102} {
				want := truth(t, srv, ce.Name, div)
				if len(want) == 0 {
					t.Fatalf("division %d: /_sim/records has no %s", div, ce.Name)
				}
				q := url.Values{}
				if !isRegular {
					// A sync endpoint needs $select (§3.9) and a Timestamp filter (§3.10).
					var names []string
					for k := range want[0] {
						names = append(names, k)
					}
					q.Set("$select", strings.Join(names, ","))
					q.Set("$filter", "Timestamp gt 0L")
				}
				first := fmt.Sprintf("/api/v1/%d/%s?%s", div, path, q.Encode())
				served, err := c.collection(first)
				if err != nil && strings.Contains(err.Error(), "mandatory filtering") {
					// §3.9: crm/Accounts and logistics/Items want a $filter; every record has its key.
					q.Set("$filter", ce.Key+" ne null")
					served, err = c.collection(fmt.Sprintf("/api/v1/%d/%s?%s", div, path, q.Encode()))
				}
				if err != nil {
					t.Fatal(err)
				}
				byKey := map[string]map[string]json.RawMessage{}
				for _, r := range served {
					k := string(r[ce.Key])
					if byKey[k] != nil {
						t.Errorf("division %d: record %s served twice", div, k)
					}
					byKey[k] = r
				}
				if len(served) != len(want) {
					t.Errorf("division %d: %d records served, /_sim/records has %d", div, len(served), len(want))
				}
				for _, w := range want {
					k := string(w[ce.Key])
					r := byKey[k]
					if r == nil {
						t.Errorf("division %d: record %s not served", div, k)
						continue
					}
					if err := sameRecord(r, w, isRegular); err != nil {
						t.Errorf("division %d, record %s: %v", div, k, err)
					}
					if div != 101 {
						continue // by key in one division is enough
					}
					var meta struct {
						URI string `json:"uri"`
					}
					if err := json.Unmarshal(r["__metadata"], &meta); err != nil {
						t.Fatalf("record %s: __metadata %s: %v", k, r["__metadata"], err)
					}
					one, err := c.byKey(meta.URI)
					if err != nil {
						t.Errorf("record %s: %v", k, err)
						continue
					}
					if err := sameRecord(one, w, isRegular); err != nil {
						t.Errorf("record %s by key: %v", k, err)
					}
					records++
				}
			}
		})
	}
	if regular < 50 {
		t.Errorf("%d entities have a regular endpoint, want the 14 reference entities and the sync entities the facts name (over 50)", regular)
	}
	t.Logf("%d regular endpoints paged, %d records read by key, %d calls", regular, records, c.calls)
}
