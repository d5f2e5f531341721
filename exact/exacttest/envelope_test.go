package exacttest

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestUnauthorizedBody(t *testing.T) {
	tests := []struct {
		name     string
		empty    bool
		path     string
		wantBody string // prefix; "" means an empty body
		wantType string
	}{
		{name: "HTML by default", path: "/api/v1/101/crm/Accounts", wantBody: `<html><head><title>Object moved</title></head><body><h2>Object moved to <a href="/docs/Login.aspx?ReturnUrl=%2Fapi%2Fv1%2F101%2Fcrm%2FAccounts">here</a>.</h2></body></html>`, wantType: "text/html; charset=utf-8"},
		{name: "HTML on current/Me", path: "/api/v1/current/Me", wantBody: `<html><head><title>Object moved</title>`, wantType: "text/html; charset=utf-8"},
		{name: "empty", empty: true, path: "/api/v1/101/crm/Accounts"},
		{name: "empty on current/Me", empty: true, path: "/api/v1/current/Me"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions(1)
			opts.EmptyUnauthorizedBody = tt.empty
			srv := newTestServer(t, opts)
			resp, b := getJSON(t, srv, "expired-or-unknown", tt.path)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("got status %d, want 401", resp.StatusCode)
			}
			if got := string(b); tt.wantBody == "" && got != "" || !strings.HasPrefix(got, tt.wantBody) {
				t.Errorf("got body %q, want %q", got, tt.wantBody)
			}
			if got := resp.Header.Get("Content-Type"); got != tt.wantType {
				t.Errorf("got Content-Type %q, want %q", got, tt.wantType)
			}
			if got := resp.Header.Get("WWW-Authenticate"); !strings.Contains(got, "access token") {
				t.Errorf("got WWW-Authenticate %q, want it to mention the access token", got)
			}
		})
	}
}

// TestBareEnvelope pins the envelope rule of §3.5, which fits 34 of the 35 collection GETs
// recorded in 2026: a bare {"d":[…]} when $top is at most 60 and there is no $skiptoken,
// with or without $select, on every kind of endpoint; {"d":{"results":[…]}} for a larger
// $top, no $top, a continuation page, and with $inlinecount.
func TestBareEnvelope(t *testing.T) {
	const suppliers = "/api/v1/101/crm/Accounts?$filter=IsSupplier%20eq%20true"
	tests := []struct {
		name     string
		noBare   bool
		path     string
		accept   string
		wantBare bool
		wantRows int
		wantNext bool
	}{
		{name: "top without select", path: suppliers + "&$top=5", wantBare: true, wantRows: 5},
		{name: "top=0 without select", path: suppliers + "&$top=0", wantBare: true},
		{name: "top with select", path: suppliers + "&$top=5&$select=ID", wantBare: true, wantRows: 5},
		{name: "top=60", path: suppliers + "&$top=60&$select=ID", wantBare: true, wantRows: 60},
		{name: "top=61", path: suppliers + "&$top=61&$select=ID", wantRows: 60, wantNext: true},
		{name: "no top", path: suppliers + "&$select=ID", wantRows: 60, wantNext: true},
		{name: "top with inlinecount", path: suppliers + "&$top=5&$inlinecount=allpages", wantRows: 5},
		{name: "top above the page needs __next", path: suppliers + "&$top=100", wantRows: 60, wantNext: true},
		{name: "top above the rows left", path: "/api/v1/101/crm/Accounts?$filter=trim(Code)%20eq%20'3'&$top=100", wantRows: 1},
		{name: "a skiptoken page with a small top", path: suppliers + "&$top=5&$skiptoken=guid'00000000-0000-4000-8000-000000000000'", wantRows: 5},
		{name: "bulk with a small top", path: "/api/v1/101/bulk/CRM/Accounts?$filter=IsSupplier%20eq%20true&$top=1", wantBare: true, wantRows: 1},
		{name: "sync with a small top", path: "/api/v1/101/sync/CRM/Accounts?$filter=Timestamp%20gt%200L&$top=1", wantBare: true, wantRows: 1},
		{name: "system/Divisions with top=100", path: "/api/v1/101/system/Divisions?$top=100", wantRows: 2},
		{name: "system/Divisions with top=1", path: "/api/v1/101/system/Divisions?$top=1", wantBare: true, wantRows: 1},
		{name: "switched off", noBare: true, path: suppliers + "&$top=5", wantRows: 5},
		{name: "XML stays Atom", path: suppliers + "&$top=5", accept: "application/xml", wantRows: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions(500)
			opts.NoBareEnvelope = tt.noBare
			srv := newTestServer(t, opts)
			tok := newAccessTokenFor(t, srv)
			accept := cmpOr(tt.accept, "application/json")
			resp, b := get(t, srv, tok, tt.path, accept)
			if resp.StatusCode != 200 {
				t.Fatalf("got status %d %.300s, want 200", resp.StatusCode, b)
			}
			if accept != "application/json" {
				if got, want := strings.Count(string(b), "<entry>"), tt.wantRows; got != want || !strings.HasPrefix(string(b), "<?xml") {
					t.Errorf("got %d Atom entries in %.100s, want %d", got, b, want)
				}
				return
			}
			var env struct {
				D json.RawMessage `json:"d"`
			}
			if err := json.Unmarshal(b, &env); err != nil {
				t.Fatalf("decoding %.300s: %v", b, err)
			}
			var rows []map[string]any
			next := ""
			if bare := strings.HasPrefix(string(env.D), "["); bare != tt.wantBare {
				t.Fatalf("got bare %v (%.60s), want %v", bare, b, tt.wantBare)
			}
			if tt.wantBare {
				if err := json.Unmarshal(env.D, &rows); err != nil {
					t.Fatalf("decoding the bare array: %v", err)
				}
			} else {
				p := decodePage(t, b)
				rows, next = p.D.Results, p.D.Next
			}
			if len(rows) != tt.wantRows {
				t.Errorf("got %d rows, want %d", len(rows), tt.wantRows)
			}
			if (next != "") != tt.wantNext {
				t.Errorf("got __next %q, want one: %v", next, tt.wantNext)
			}
			for _, r := range rows {
				if _, ok := r["__metadata"]; !ok {
					t.Fatal("row without __metadata")
				}
			}
		})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestControlClockGet(t *testing.T) {
	srv := newTestServer(t, testOptions(0))
	srv.Advance(90 * time.Second)
	resp, err := http.Get(srv.URL + "/_sim/clock")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		Now string `json:"now"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if want := srv.Now().Format(time.RFC3339Nano); resp.StatusCode != 200 || got.Now != want {
		t.Errorf("got %d %q, want 200 %q", resp.StatusCode, got.Now, want)
	}
}
