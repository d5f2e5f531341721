package exacttest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var rateHeaders = []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset",
	"X-RateLimit-Minutely-Limit", "X-RateLimit-Minutely-Remaining", "X-RateLimit-Minutely-Reset"}

func headersOf(resp *http.Response) map[string]string {
	m := map[string]string{}
	for _, h := range rateHeaders {
		if v := resp.Header.Get(h); v != "" {
			m[h] = v
		}
	}
	return m
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

const divisionsPath = "/api/v1/101/system/Divisions"

func TestRateLimitHeaders(t *testing.T) {
	start := time.Date(2026, 1, 5, 23, 59, 25, 0, time.UTC)
	srv := newTestServer(t, Options{Divisions: []int{101, 102}, MinutelyLimit: 60, DailyLimit: 5000, Start: start, FreezeClock: true})
	tok := newAccessTokenFor(t, srv)
	resp, _ := getJSON(t, srv, tok, divisionsPath)
	want := map[string]string{
		"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "4999",
		"X-RateLimit-Reset":          ms(time.Date(2026, 1, 6, 0, 0, 0, 0, time.UTC)), // 00:00 UTC (§2.3)
		"X-RateLimit-Minutely-Limit": "60", "X-RateLimit-Minutely-Remaining": "59",
		"X-RateLimit-Minutely-Reset": ms(time.Date(2026, 1, 5, 23, 60, 0, 0, time.UTC)), // clock minute (§2.3)
	}
	if diff := cmp.Diff(want, headersOf(resp)); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
	// A 400 is counted too; another division has its own counters (§2.1).
	resp, _ = getJSON(t, srv, tok, "/api/v1/101/crm/Accounts?$select=ID")
	if resp.StatusCode != 400 || resp.Header.Get("X-RateLimit-Minutely-Remaining") != "58" {
		t.Errorf("400: got status %d remaining %q, want 400 and 58", resp.StatusCode, resp.Header.Get("X-RateLimit-Minutely-Remaining"))
	}
	resp, _ = getJSON(t, srv, tok, "/api/v1/102/system/Divisions")
	if got := resp.Header.Get("X-RateLimit-Minutely-Remaining"); got != "59" {
		t.Errorf("division 102: got remaining %q, want 59", got)
	}
}

func TestRateLimit429(t *testing.T) {
	tests := []struct {
		name        string
		minutely    int
		daily       int
		calls       int
		advance     time.Duration // after the 429, to the next window
		wantHeaders map[string]string
	}{
		{
			name: "minutely", minutely: 3, daily: 100, calls: 3, advance: 35 * time.Second,
			wantHeaders: map[string]string{"X-RateLimit-Minutely-Limit": "3", "X-RateLimit-Minutely-Remaining": "0",
				"X-RateLimit-Minutely-Reset": ms(time.Date(2026, 1, 5, 9, 1, 0, 0, time.UTC))},
		},
		{
			name: "daily", minutely: 100, daily: 2, calls: 2, advance: 15*time.Hour + 35*time.Second,
			wantHeaders: map[string]string{"X-RateLimit-Limit": "2", "X-RateLimit-Remaining": "0",
				"X-RateLimit-Reset": ms(time.Date(2026, 1, 6, 0, 0, 0, 0, time.UTC))},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Date(2026, 1, 5, 9, 0, 25, 0, time.UTC)
			srv := newTestServer(t, Options{MinutelyLimit: tt.minutely, DailyLimit: tt.daily, Start: start, FreezeClock: true})
			tok := newAccessTokenFor(t, srv)
			for i := range tt.calls {
				if resp, _ := getJSON(t, srv, tok, divisionsPath); resp.StatusCode != 200 {
					t.Fatalf("call %d: got %d, want 200", i, resp.StatusCode)
				}
			}
			resp, b := getJSON(t, srv, tok, divisionsPath)
			if resp.StatusCode != http.StatusTooManyRequests || len(b) != 0 {
				t.Fatalf("got %d with %d body bytes, want 429 with an empty body", resp.StatusCode, len(b))
			}
			if diff := cmp.Diff(tt.wantHeaders, headersOf(resp)); diff != "" {
				t.Errorf("429 headers, only the exhausted limit's (-want +got):\n%s", diff)
			}
			if resp, _ := getJSON(t, srv, tok, "/api/v1/current/Me"); resp.StatusCode != 200 {
				t.Errorf("current/Me while limited: got %d, want 200 (not counted)", resp.StatusCode)
			}
			srv.Advance(tt.advance)
			if tt.advance >= accessTokenLifetime {
				tok = newAccessTokenFor(t, srv)
			}
			if resp, _ := getJSON(t, srv, tok, divisionsPath); resp.StatusCode != 200 {
				t.Errorf("next window: got %d, want 200", resp.StatusCode)
			}
			if got := srv.Stats().TooManyRequests; got != 1 {
				t.Errorf("got %d too_many_requests, want 1", got)
			}
		})
	}
}

func TestNoLimitsNoHeaders(t *testing.T) {
	srv := newTestServer(t, testOptions(0))
	tok := newAccessTokenFor(t, srv)
	resp, _ := getJSON(t, srv, tok, divisionsPath)
	if got := headersOf(resp); len(got) != 0 {
		t.Errorf("limits off: got headers %v, want none", got)
	}
}

func TestErrorBudget(t *testing.T) {
	srv := newTestServer(t, Options{ErrorBudget: true, FreezeClock: true})
	tok := newAccessTokenFor(t, srv)
	bad := "/api/v1/101/crm/Accounts?$select=ID" // mandatory filter: 400
	for i := range 11 {
		if resp, _ := getJSON(t, srv, tok, bad); resp.StatusCode != 400 {
			t.Fatalf("error %d: got %d, want 400", i+1, resp.StatusCode)
		}
	}
	good := "/api/v1/101/crm/Accounts?$filter=IsSupplier%20eq%20true&$select=ID"
	resp, b := getJSON(t, srv, tok, good)
	if resp.StatusCode != http.StatusTooManyRequests || errorMessage(t, b) != "API rate limit exceeded" {
		t.Errorf("after 11 errors: got %d %s, want 429 API rate limit exceeded", resp.StatusCode, b)
	}
	if resp, _ := getJSON(t, srv, tok, divisionsPath); resp.StatusCode != 200 {
		t.Errorf("other endpoint: got %d, want 200", resp.StatusCode)
	}
	srv.Advance(time.Hour)
	tok = newAccessTokenFor(t, srv)
	if resp, _ := getJSON(t, srv, tok, good); resp.StatusCode != 200 {
		t.Errorf("an hour later: got %d, want 200", resp.StatusCode)
	}
}

// TestErrorBudgetCountsTokenErrors: refreshes refused as too early count towards the
// error budget (§1.8, §2.5); past 10 in an hour the token endpoint is blocked for an hour.
func TestErrorBudgetCountsTokenErrors(t *testing.T) {
	srv := newTestServer(t, Options{ErrorBudget: true, FreezeClock: true})
	newAccessTokenFor(t, srv) // the 570 s window starts
	for i := range 11 {
		if resp, b := tokenCall(t, srv, refreshForm(srv, srv.RefreshToken())); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("early refresh %d: got %d %s, want 400", i+1, resp.StatusCode, b)
		}
	}
	srv.Advance(570 * time.Second)
	resp, b := tokenCall(t, srv, refreshForm(srv, srv.RefreshToken()))
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(b), "API rate limit exceeded") {
		t.Errorf("refresh after 11 refused ones: got %d %s, want 429 API rate limit exceeded", resp.StatusCode, b)
	}
	srv.Advance(time.Hour)
	if resp, b := tokenCall(t, srv, refreshForm(srv, srv.RefreshToken())); resp.StatusCode != http.StatusOK {
		t.Errorf("an hour later: got %d %s, want 200", resp.StatusCode, b)
	}
}

// TestLicenceCap: the licence's daily cap counts the calls of every app together (§2.7).
// Another app spends most of it; this app's answers name its own budget until the cap is
// reached, then every call of the licence's divisions gets the 429 of a spent day, with 0
// left and the reset at 00:00 UTC, long before the app's own 5,000. current/Me is not
// counted; the next UTC day starts afresh. Per division (Premium's cap per administration)
// each division has its own count.
func TestLicenceCap(t *testing.T) {
	midnight := ms(time.Date(2026, 1, 6, 0, 0, 0, 0, time.UTC))
	srv := newTestServer(t, Options{DailyLimit: 5000, MinutelyLimit: 60, Divisions: []int{101, 102}, FreezeClock: true,
		Records: map[string]int{"*": 0}, Licence: Licence{DailyLimit: 10}})
	tok := newAccessTokenFor(t, srv)
	if err := srv.SpendLicence(101, 7); err != nil {
		t.Fatal(err)
	}
	path := func(div int) string { return "/api/v1/" + strconv.Itoa(div) + "/system/Divisions" }
	for i, div := range []int{101, 102, 101} {
		resp, _ := getJSON(t, srv, tok, path(div))
		if resp.StatusCode != 200 {
			t.Fatalf("call %d of the 3 the other app left: got %d, want 200", i+1, resp.StatusCode)
		}
		if got, want := resp.Header.Get("X-RateLimit-Remaining"), strconv.Itoa(5000-1-i/2); got != want {
			t.Errorf("call %d: X-RateLimit-Remaining %s, want the app's own %s", i+1, got, want)
		}
	}
	for _, div := range []int{102, 101} {
		resp, b := getJSON(t, srv, tok, path(div))
		if resp.StatusCode != http.StatusTooManyRequests || len(b) != 0 {
			t.Fatalf("division %d past the cap: got %d with %q, want 429 with an empty body", div, resp.StatusCode, b)
		}
		want := map[string]string{"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": midnight}
		if diff := cmp.Diff(want, headersOf(resp)); diff != "" {
			t.Errorf("division %d: headers of the licence's 429 (-want +got):\n%s", div, diff)
		}
	}
	if resp, _ := getJSON(t, srv, tok, "/api/v1/current/Me"); resp.StatusCode != 200 {
		t.Errorf("current/Me past the cap: got %d, want 200 (it counts on no budget)", resp.StatusCode)
	}
	st := srv.Stats()
	if st.LicenceTooMany != 2 || st.TooManyByDivision["101"] != 1 || st.TooManyByDivision["102"] != 1 {
		t.Errorf("stats: licence 429s %d, by division %v; want 2, one in each", st.LicenceTooMany, st.TooManyByDivision)
	}
	use := srv.LicenceUsage()
	if use.Day != "2026-01-05" || use.Ours["licence"] != 3 || use.Others["licence"] != 7 {
		t.Errorf("usage %+v, want 3 of ours and 7 of the other app's on 2026-01-05", use)
	}

	srv.Advance(15 * time.Hour) // 00:00 UTC
	tok = newAccessTokenFor(t, srv)
	if resp, _ := getJSON(t, srv, tok, path(101)); resp.StatusCode != 200 {
		t.Errorf("the next day: got %d, want 200", resp.StatusCode)
	}
	if use := srv.LicenceUsage(); use.Ours["licence"] != 1 || use.Others["licence"] != 0 {
		t.Errorf("the next day's usage %+v, want 1 of ours and none of the other apps'", use)
	}

	// Per division, through the control endpoint: 2 a day, of which other apps spend 1
	// every day from its start, and 1 more in division 102 now.
	post := func(body string) LicenceDay {
		t.Helper()
		resp, err := http.Post(srv.URL+"/_sim/licence", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var day LicenceDay
		if err := json.NewDecoder(resp.Body).Decode(&day); err != nil || resp.StatusCode != 200 {
			t.Fatalf("POST /_sim/licence %s: %d %v", body, resp.StatusCode, err)
		}
		return day
	}
	post(`{"daily_limit":2,"per_division":true,"other_app_calls":1}`)
	srv.Advance(24 * time.Hour)
	tok = newAccessTokenFor(t, srv)
	if day := post(`{"spend":1,"division":102}`); day.Others["102"] != 2 || day.Others["101"] != 1 || !day.PerDivision {
		t.Errorf("after spending in 102: %+v, want others 1 in 101 and 2 in 102", day)
	}
	statuses := func(div int) []int {
		var out []int
		for range 2 {
			resp, _ := getJSON(t, srv, tok, path(div))
			out = append(out, resp.StatusCode)
		}
		return out
	}
	if got := statuses(101); !cmp.Equal(got, []int{200, 429}) {
		t.Errorf("division 101 per division: %v, want one call left: [200 429]", got)
	}
	if got := statuses(102); !cmp.Equal(got, []int{429, 429}) {
		t.Errorf("division 102 per division: %v, want none left", got)
	}
	for _, bad := range []string{`{"daily_limit":-1}`, `{"spend":5,"division":999}`, `{nope`} {
		resp, err := http.Post(srv.URL+"/_sim/licence", "application/json", strings.NewReader(bad))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("POST /_sim/licence %s: got %d, want 400", bad, resp.StatusCode)
		}
	}
}

// TestErrorBudgetBlockGrows: a block that comes back within a day of the previous one's end
// lasts twice as long (§2.5: the block grows on repetition; the doubling is the simulator's
// choice), up to a day; a day without a block starts again at an hour.
func TestErrorBudgetBlockGrows(t *testing.T) {
	srv := newTestServer(t, Options{ErrorBudget: true, FreezeClock: true})
	bad := "/api/v1/101/crm/Accounts?$select=ID" // mandatory filter: 400
	good := "/api/v1/101/crm/Accounts?$filter=IsSupplier%20eq%20true&$select=ID"
	var (
		tok    string
		issued time.Time
	)
	status := func(path string) int {
		t.Helper()
		if srv.Now().Sub(issued) >= 570*time.Second { // a refresh is allowed (§1.8)
			tok, issued = newAccessTokenFor(t, srv), srv.Now()
		}
		resp, _ := getJSON(t, srv, tok, path)
		return resp.StatusCode
	}
	block := func() {
		t.Helper()
		for i := range 11 {
			if got := status(bad); got != 400 {
				t.Fatalf("error %d: got %d, want 400", i+1, got)
			}
		}
	}
	for _, tt := range []struct {
		before time.Duration // idle time before the errors
		block  time.Duration
	}{{0, time.Hour}, {0, 2 * time.Hour}, {30 * time.Minute, 4 * time.Hour}, {25 * time.Hour, time.Hour}} {
		srv.Advance(tt.before)
		block()
		srv.Advance(tt.block - time.Minute)
		if got := status(good); got != http.StatusTooManyRequests {
			t.Errorf("a minute before the end of a %s block: got %d, want 429", tt.block, got)
		}
		srv.Advance(time.Minute)
		if got := status(good); got != 200 {
			t.Errorf("at the end of a %s block: got %d, want 200", tt.block, got)
		}
	}
	if got := blockFor(12); got != 24*time.Hour {
		t.Errorf("the 12th block in a row lasts %s, want the cap of 24h", got)
	}
}
