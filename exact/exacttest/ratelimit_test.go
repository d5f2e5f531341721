package exacttest

import (
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
