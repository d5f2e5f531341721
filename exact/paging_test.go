package exact

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const onePage = `{"d":{"results":[{"__metadata":{"uri":"x"},"ID":"5b7f4515-0c8d-4c1a-9d3e-0123456789ab","Timestamp":4001}]}}`

// rateHeaders sets the six headers for a division as Exact does (§2.2).
func setRateHeaders(w http.ResponseWriter, daily, dailyLeft int, dailyReset time.Time, minutely, minutelyLeft int, minutelyReset time.Time) {
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(daily))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(dailyLeft))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(dailyReset.UnixMilli(), 10))
	h.Set("X-RateLimit-Minutely-Limit", strconv.Itoa(minutely))
	h.Set("X-RateLimit-Minutely-Remaining", strconv.Itoa(minutelyLeft))
	h.Set("X-RateLimit-Minutely-Reset", strconv.FormatInt(minutelyReset.UnixMilli(), 10))
}

var (
	nextMidnight = time.Date(2026, 1, 6, 0, 0, 0, 0, time.UTC)
	nextMinute   = testStart.Add(time.Minute)
)

// script answers the REST calls in order, one function per call; the last one repeats.
type script struct {
	mu    sync.Mutex
	steps []http.HandlerFunc
	n     int
	seen  []*http.Request
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	step := s.steps[min(s.n, len(s.steps)-1)]
	s.n++
	s.seen = append(s.seen, r)
	s.mu.Unlock()
	step(w, r)
}

func ok(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, body) }
}

func status(code int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { writeJSON(w, code, body) }
}

func TestPageRetries(t *testing.T) {
	tests := []struct {
		name           string
		steps          []http.HandlerFunc
		wantCalls      int
		wantTokenCalls int64
		wantErr        func(error) string // "" when the error is as expected
		wantSleeps     func([]time.Duration) string
	}{
		{
			name:      "200 at once",
			steps:     []http.HandlerFunc{ok(onePage)},
			wantCalls: 1, wantTokenCalls: 1,
		},
		{
			name: "401: one refresh and one retry",
			steps: []http.HandlerFunc{
				status(401, `<html><head><title>Object moved</title></head></html>`),
				ok(onePage),
			},
			// The rejected token was issued just now by our reckoning, but Exact's 401 says it
			// is over: one refresh at once, no wait on our own 570 s judgement (§1.8).
			wantCalls: 2, wantTokenCalls: 2,
		},
		{
			name:      "401 twice: APIError after one refresh",
			steps:     []http.HandlerFunc{status(401, ``)},
			wantCalls: 2, wantTokenCalls: 2,
			wantErr: func(err error) string {
				var ae *APIError
				if !errors.As(err, &ae) || ae.Status != 401 {
					return fmt.Sprintf("got %v, want *APIError 401", err)
				}
				return ""
			},
		},
		{
			name: "429 minute: waits until the reset it names",
			steps: []http.HandlerFunc{
				func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("X-RateLimit-Minutely-Limit", "60")
					w.Header().Set("X-RateLimit-Minutely-Remaining", "0")
					w.Header().Set("X-RateLimit-Minutely-Reset", strconv.FormatInt(testStart.Add(42*time.Second).UnixMilli(), 10))
					w.WriteHeader(429)
				},
				ok(onePage),
			},
			wantCalls: 2, wantTokenCalls: 1,
			wantSleeps: func(s []time.Duration) string { return cmp.Diff([]time.Duration{42 * time.Second}, s) },
		},
		{
			name: "429 without headers: waits for the next clock minute",
			steps: []http.HandlerFunc{
				func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(429) },
				ok(onePage),
			},
			wantCalls: 2, wantTokenCalls: 1,
			wantSleeps: func(s []time.Duration) string { return cmp.Diff([]time.Duration{time.Minute}, s) },
		},
		{
			name: "daily 429: DailyLimitError",
			steps: []http.HandlerFunc{
				func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("X-RateLimit-Limit", "5000")
					w.Header().Set("X-RateLimit-Remaining", "0")
					w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(nextMidnight.UnixMilli(), 10))
					w.WriteHeader(429)
				},
			},
			wantCalls: 1, wantTokenCalls: 1,
			wantErr: func(err error) string {
				var de *DailyLimitError
				if !errors.As(err, &de) || de.Division != 101 || !de.Reset.Equal(nextMidnight) {
					return fmt.Sprintf("got %v, want *DailyLimitError for 101 until %v", err, nextMidnight)
				}
				if want := "daily limit reached for division 101, resumes after 2026-01-06T00:00:00Z"; err.Error() != want {
					return fmt.Sprintf("got message %q, want %q", err, want)
				}
				return ""
			},
		},
		{
			name: "5xx: backoff, then success",
			steps: []http.HandlerFunc{
				status(503, ``),
				status(500, `{"error":{"code":"","message":{"lang":"","value":"Verplicht: Serie"}}}`),
				ok(onePage),
			},
			wantCalls: 3, wantTokenCalls: 1,
			wantSleeps: func(s []time.Duration) string {
				if len(s) != 2 || s[0] < 500*time.Millisecond || s[0] > time.Second || s[1] < time.Second || s[1] > 2*time.Second {
					return fmt.Sprintf("got sleeps %v, want one in [0.5s,1s] then one in [1s,2s]", s)
				}
				return ""
			},
		},
		{
			name:      "5xx every time: APIError after RetryPolicy.Attempts",
			steps:     []http.HandlerFunc{status(503, ``)},
			wantCalls: 5, wantTokenCalls: 1,
			wantErr: func(err error) string {
				var ae *APIError
				if !errors.As(err, &ae) || ae.Status != 503 {
					return fmt.Sprintf("got %v, want *APIError 503", err)
				}
				return ""
			},
			wantSleeps: func(s []time.Duration) string {
				if len(s) != 4 || s[3] < 4*time.Second || s[3] > 8*time.Second {
					return fmt.Sprintf("got sleeps %v, want 4 growing ones, the last in [4s,8s]", s)
				}
				return ""
			},
		},
		{
			name: "400: APIError without retry",
			steps: []http.HandlerFunc{
				status(400, `{"error":{"code":"","message":{"lang":"","value":"Please add a $select or a $top=1 statement to the query string."}}}`),
			},
			wantCalls: 1, wantTokenCalls: 1,
			wantErr: func(err error) string {
				want := &APIError{Status: 400, Endpoint: "sync/CRM/Accounts", Division: 101, Message: "Please add a $select or a $top=1 statement to the query string."}
				var ae *APIError
				if !errors.As(err, &ae) {
					return fmt.Sprintf("got %v, want *APIError", err)
				}
				return cmp.Diff(want, ae)
			},
		},
		{
			name: "403 with Reason header",
			steps: []http.HandlerFunc{
				func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Reason", "NoDivisionAccess")
					writeJSON(w, 403, `{"error":{"code":"","message":{"lang":"","value":"Forbidden - User division is not within division scope"}}}`)
				},
			},
			wantCalls: 1, wantTokenCalls: 1,
			wantErr: func(err error) string {
				var ae *APIError
				if !errors.As(err, &ae) || ae.Status != 403 || ae.Reason != "NoDivisionAccess" {
					return fmt.Sprintf("got %v, want *APIError 403 NoDivisionAccess", err)
				}
				want := "sync/CRM/Accounts for division 101 returned 403 Forbidden: Forbidden - User division is not within division scope (reason: NoDivisionAccess)"
				return cmp.Diff(want, err.Error())
			},
		},
		{
			name:      "malformed JSON every time: DecodeError naming the endpoint after RetryPolicy.Attempts",
			steps:     []http.HandlerFunc{ok(`{"d":{"results":[{"ID":"a"},{"ID":`)},
			wantCalls: 5, wantTokenCalls: 1,
			wantSleeps: func(s []time.Duration) string {
				if len(s) != 4 || s[0] < 500*time.Millisecond || s[0] > time.Second {
					return fmt.Sprintf("got sleeps %v, want four backoffs, the first in [0.5s,1s]", s)
				}
				return ""
			},
			wantErr: func(err error) string {
				var de *DecodeError
				if !errors.As(err, &de) || de.Endpoint != "sync/CRM/Accounts" {
					return fmt.Sprintf("got %v, want *DecodeError for sync/CRM/Accounts", err)
				}
				if !strings.HasPrefix(err.Error(), "malformed JSON from sync/CRM/Accounts: ") {
					return fmt.Sprintf("got message %q", err)
				}
				return ""
			},
		},
		{
			// One count of attempts for both kinds of failure: a page costs at most
			// RetryPolicy.Attempts calls (FailingPageCalls), never attempts × attempts.
			name: "5xx and malformed bodies in turn: one count of attempts",
			steps: []http.HandlerFunc{
				status(503, ``), ok(`{"d":{"results":[{"ID":`), status(503, ``), ok(`{"d":{"results":[{"ID":`),
				status(502, ``), ok(onePage),
			},
			wantCalls: FailingPageCalls, wantTokenCalls: 1,
			wantErr: func(err error) string {
				var ae *APIError
				if !errors.As(err, &ae) || ae.Status != 502 {
					return fmt.Sprintf("got %v, want *APIError 502 after %d calls", err, FailingPageCalls)
				}
				return ""
			},
			wantSleeps: func(s []time.Duration) string {
				if len(s) != FailingPageCalls-1 {
					return fmt.Sprintf("got sleeps %v, want %d", s, FailingPageCalls-1)
				}
				return ""
			},
		},
		{
			name:      "truncated once: fetched again",
			steps:     []http.HandlerFunc{ok(onePage[:40]), ok(onePage)},
			wantCalls: 2, wantTokenCalls: 1,
			wantSleeps: func(s []time.Duration) string {
				if len(s) != 1 || s[0] < 500*time.Millisecond || s[0] > time.Second {
					return fmt.Sprintf("got sleeps %v, want one backoff in [0.5s,1s]", s)
				}
				return ""
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			sc := &script{steps: tt.steps}
			env.exact.setAPI(func(w http.ResponseWriter, r *http.Request) {
				if !env.exact.authorized(r) {
					t.Errorf("call %s without a valid access token", r.URL)
				}
				sc.ServeHTTP(w, r)
			})
			u := env.client.URL(101, "sync/CRM/Accounts", url.Values{"$select": {"ID,Timestamp"}, "$filter": {"Timestamp gt 4000L"}})
			p, err := env.client.Page(context.Background(), 101, u)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Page: %v", err)
				}
				if len(p.Records) != 1 || p.Calls != tt.wantCalls {
					t.Errorf("got %d records in %d calls, want 1 record in %d calls", len(p.Records), p.Calls, tt.wantCalls)
				}
			} else {
				if err == nil {
					t.Fatalf("Page: got no error")
				}
				if msg := tt.wantErr(err); msg != "" {
					t.Error(msg)
				}
				checkNoSecrets(t, "error", err.Error())
			}
			if got := env.client.Calls(); got != int64(tt.wantCalls) {
				t.Errorf("calls: got %d, want %d", got, tt.wantCalls)
			}
			if got := env.client.TokenCalls(); got != tt.wantTokenCalls {
				t.Errorf("token calls: got %d, want %d", got, tt.wantTokenCalls)
			}
			sleeps := env.clock.Sleeps()
			if tt.wantSleeps == nil {
				if len(sleeps) != 0 {
					t.Errorf("got sleeps %v, want none", sleeps)
				}
			} else if msg := tt.wantSleeps(sleeps); msg != "" {
				t.Error(msg)
			}
			for _, r := range sc.seen {
				if got := r.Header.Get("Accept"); got != "application/json" {
					t.Errorf("Accept: got %q, want application/json", got)
				}
			}
		})
	}
}

// A record that is bad on its own costs no second call: fetching the page again would
// bring the same record.
func TestPageBadRecordNotFetchedAgain(t *testing.T) {
	env := newTestEnv(t)
	env.exact.setAPI(ok(`{"d":{"results":[{"ID":"a","Name":"x\u0000"},{"ID":"b","Name":"y"}]}}`))
	p, err := env.client.Page(context.Background(), 101, env.client.URL(101, "sync/CRM/Accounts", nil))
	if err != nil {
		t.Fatalf("Page: %v", err)
	}
	if p.Calls != 1 || len(env.clock.Sleeps()) != 0 {
		t.Errorf("got %d calls and sleeps %v, want 1 call and no sleep", p.Calls, env.clock.Sleeps())
	}
	if len(p.Records) != 2 {
		t.Fatalf("got %d records, want 2", len(p.Records))
	}
	want := `record 0 (ID "a") from sync/CRM/Accounts: member "Name" holds a NUL character (\u0000), which PostgreSQL cannot store`
	if err := p.Records[0].Err(); err == nil || err.Error() != want {
		t.Errorf("record 0: got Err %v, want %s", err, want)
	}
	if err := p.Records[1].Err(); err != nil || string(p.Records[1].Raw()) != `{"ID":"b","Name":"y"}` {
		t.Errorf("record 1: got Err %v, Raw %s, want a good record", err, p.Records[1].Raw())
	}
}

func TestMeRefusesABadRecord(t *testing.T) {
	env := newTestEnv(t)
	env.exact.setAPI(ok(`{"d":{"results":[{"UserID":"5b7f4515-0c8d-4c1a-9d3e-0123456789ab","FullName":"Jan \ud800","CurrentDivision":101}]}}`))
	_, err := env.client.Me(context.Background())
	if err == nil || !strings.Contains(err.Error(), `reading current/Me: record 0 from current/Me: member "FullName" holds a lone UTF-16 surrogate`) {
		t.Errorf("got %v, want the bad record named", err)
	}
}

func TestPageRateLimitBeforeSending(t *testing.T) {
	tests := []struct {
		name        string
		first       http.HandlerFunc
		wantCalls   int
		wantSleeps  []time.Duration
		wantDailyAt time.Time // zero: no DailyLimitError expected
	}{
		{
			name: "minute budget spent: sleeps until its reset before sending",
			first: func(w http.ResponseWriter, r *http.Request) {
				setRateHeaders(w, 5000, 4000, nextMidnight, 60, 0, testStart.Add(20*time.Second))
				writeJSON(w, 200, onePage)
			},
			wantCalls:  2,
			wantSleeps: []time.Duration{20 * time.Second},
		},
		{
			name: "minute budget left: no wait",
			first: func(w http.ResponseWriter, r *http.Request) {
				setRateHeaders(w, 5000, 4000, nextMidnight, 60, 1, nextMinute)
				writeJSON(w, 200, onePage)
			},
			wantCalls: 2,
		},
		{
			name: "day budget spent: DailyLimitError without a call",
			first: func(w http.ResponseWriter, r *http.Request) {
				setRateHeaders(w, 5000, 0, nextMidnight, 60, 30, nextMinute)
				writeJSON(w, 200, onePage)
			},
			wantCalls:   1,
			wantDailyAt: nextMidnight,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			env.validToken(t)
			env.exact.setAPI((&script{steps: []http.HandlerFunc{tt.first, func(w http.ResponseWriter, r *http.Request) {
				setRateHeaders(w, 5000, 3999, nextMidnight, 60, 59, nextMinute.Add(time.Minute))
				writeJSON(w, 200, onePage)
			}}}).ServeHTTP)
			u := env.client.URL(101, "sync/CRM/Accounts", nil)
			if _, err := env.client.Page(context.Background(), 101, u); err != nil {
				t.Fatalf("first page: %v", err)
			}
			_, err := env.client.Page(context.Background(), 101, u)
			var de *DailyLimitError
			if tt.wantDailyAt.IsZero() {
				if err != nil {
					t.Fatalf("second page: %v", err)
				}
			} else if !errors.As(err, &de) || !de.Reset.Equal(tt.wantDailyAt) {
				t.Fatalf("second page: got %v, want *DailyLimitError until %v", err, tt.wantDailyAt)
			}
			if _, got := env.exact.counts(); got != tt.wantCalls {
				t.Errorf("calls at the server: got %d, want %d", got, tt.wantCalls)
			}
			if diff := cmp.Diff(tt.wantSleeps, env.clock.Sleeps()); diff != "" {
				t.Errorf("sleeps (-want +got):\n%s", diff)
			}
			// Another division has its own budget.
			if _, err := env.client.Page(context.Background(), 202, env.client.URL(202, "sync/CRM/Accounts", nil)); err != nil {
				t.Errorf("division 202: %v", err)
			}
		})
	}
}

func TestRateLimitState(t *testing.T) {
	env := newTestEnv(t)
	env.exact.setAPI(func(w http.ResponseWriter, r *http.Request) {
		setRateHeaders(w, 5000, 4766, nextMidnight, 60, 58, nextMinute)
		writeJSON(w, 200, onePage)
	})
	if got := env.client.RateLimit(101); got.Known {
		t.Errorf("before any call: got %+v, want unknown", got)
	}
	if _, err := env.client.Page(context.Background(), 101, env.client.URL(101, "crm/Accounts", nil)); err != nil {
		t.Fatal(err)
	}
	want := RateLimit{DailyLimit: 5000, DailyRemaining: 4766, DailyReset: nextMidnight, MinutelyLimit: 60, MinutelyRemaining: 58, MinutelyReset: nextMinute, Known: true}
	if diff := cmp.Diff(want, env.client.RateLimit(101)); diff != "" {
		t.Errorf("RateLimit (-want +got):\n%s", diff)
	}
}

// Concurrent pages of one division never overdraw the minute budget.
func TestPageConcurrentCallersShareTheMinuteBudget(t *testing.T) {
	env := newTestEnv(t)
	env.validToken(t)
	var mu sync.Mutex
	left := 3
	env.exact.setAPI(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if left == 0 {
			t.Errorf("a call was sent with the minute budget spent")
			w.WriteHeader(429)
			return
		}
		left--
		setRateHeaders(w, 5000, 4000, nextMidnight, 60, left, nextMinute)
		writeJSON(w, 200, onePage)
	})
	u := env.client.URL(101, "crm/Accounts", nil)
	if _, err := env.client.Page(context.Background(), 101, u); err != nil {
		t.Fatal(err)
	}
	// Callers that would have to wait for the next minute stop instead.
	errWait := errors.New("would wait")
	env.client.sleep = func(context.Context, time.Duration) error { return errWait }
	var wg sync.WaitGroup
	var mu2 sync.Mutex
	waited := 0
	for range 6 {
		wg.Go(func() {
			_, err := env.client.Page(context.Background(), 101, u)
			if errors.Is(err, errWait) {
				mu2.Lock()
				waited++
				mu2.Unlock()
			} else if err != nil {
				t.Errorf("Page: %v", err)
			}
		})
	}
	wg.Wait()
	if waited != 4 {
		t.Errorf("callers that waited: got %d, want 4", waited)
	}
	if _, got := env.exact.counts(); got != 3 {
		t.Errorf("calls at the server: got %d, want 3", got)
	}
}

func TestPageEnvelopes(t *testing.T) {
	next := "http://HOST/api/v1/101/sync/CRM/Accounts?$filter=Timestamp%20gt%204000L&$select=ID&$skiptoken=4001L"
	tests := []struct {
		name     string
		body     string
		wantIDs  []string
		wantNext string
	}{
		{"d.results with __next", `{"d":{"results":[{"ID":"a"},{"ID":"b"}],"__next":"` + next + `"}}`, []string{`"a"`, `"b"`}, next},
		{"bare d array", `{"d":[{"ID":"a"}]}`, []string{`"a"`}, ""},
		{"empty last page", `{"d":{"results":[]}}`, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			host := strings.TrimPrefix(env.exact.srv.URL, "http://")
			env.exact.setAPI(ok(strings.ReplaceAll(tt.body, "HOST", host)))
			p, err := env.client.Page(context.Background(), 101, env.client.URL(101, "sync/CRM/Accounts", nil))
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, r := range p.Records {
				ids = append(ids, string(r.Field("ID")))
			}
			if diff := cmp.Diff(tt.wantIDs, ids); diff != "" {
				t.Errorf("IDs (-want +got):\n%s", diff)
			}
			if want := strings.ReplaceAll(tt.wantNext, "HOST", host); p.Next != want {
				t.Errorf("Next: got %q, want %q (verbatim)", p.Next, want)
			}
			if p.Next == "" {
				return
			}
			// Following __next sends exactly that URL.
			var got string
			env.exact.setAPI(func(w http.ResponseWriter, r *http.Request) {
				got = "http://" + r.Host + r.URL.RequestURI()
				writeJSON(w, 200, `{"d":[]}`)
			})
			if _, err := env.client.Page(context.Background(), 101, p.Next); err != nil {
				t.Fatal(err)
			}
			if got != p.Next {
				t.Errorf("requested %q, want %q", got, p.Next)
			}
		})
	}
}

func TestPageRefusesForeignHost(t *testing.T) {
	env := newTestEnv(t)
	_, err := env.client.Page(context.Background(), 101, "https://evil.example/api/v1/101/sync/CRM/Accounts")
	if err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Errorf("got %v, want a refusal", err)
	}
	if env.client.Calls() != 0 || env.client.TokenCalls() != 0 {
		t.Errorf("calls were made for a foreign host")
	}
}

func TestCheckPageURL(t *testing.T) {
	c, err := New(Config{BaseURL: "https://start.exactonline.nl", ClientID: "id", ClientSecret: "secret"}, &memStore{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, in, want, wantEndpoint string
	}{
		{"__next on the host", "https://start.exactonline.nl/api/v1/101/sync/CRM/Accounts?$skiptoken=4001L",
			"https://start.exactonline.nl/api/v1/101/sync/CRM/Accounts?$skiptoken=4001L", "sync/CRM/Accounts"},
		{"host in another case", "https://START.exactonline.nl/api/v1/current/Me", "https://START.exactonline.nl/api/v1/current/Me", "current/Me"},
		{"relative", "/api/v1/101/crm/Accounts", "https://start.exactonline.nl/api/v1/101/crm/Accounts", "crm/Accounts"},
		{"another host", "https://evil.example/api/v1/101/crm/Accounts", "", ""},
		{"another host, relative to the scheme", "//evil.example/api", "", ""},
		{"another host behind user information", "https://start.exactonline.nl@evil.example/api", "", ""},
		{"user information", "https://user:pass@start.exactonline.nl/api/v1/current/Me", "", ""},
		{"plain http", "http://start.exactonline.nl/api/v1/current/Me", "", ""},
		{"another port", "https://start.exactonline.nl:8443/api/v1/current/Me", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, endpoint, err := c.checkPageURL(tt.in)
			if got != tt.want || endpoint != tt.wantEndpoint || (err == nil) != (tt.want != "") {
				t.Errorf("checkPageURL(%q): got (%q, %q, %v), want (%q, %q)", tt.in, got, endpoint, err, tt.want, tt.wantEndpoint)
			}
		})
	}
}

func TestPageUnreachableNamesHost(t *testing.T) {
	env := newTestEnv(t)
	env.validToken(t)
	env.exact.srv.Close()
	_, err := env.client.Page(context.Background(), 101, env.client.URL(101, "crm/Accounts", nil))
	host := strings.TrimPrefix(env.exact.srv.URL, "http://")
	if err == nil || !strings.Contains(err.Error(), "cannot reach "+host+": ") {
		t.Errorf("got %v, want it to say cannot reach %s", err, host)
	}
	if got := env.client.Calls(); got != 5 {
		t.Errorf("calls: got %d, want 5 attempts", got)
	}
}

func TestPageTimeoutIsRetried(t *testing.T) {
	env := newTestEnv(t)
	env.client.requestTimeout = 50 * time.Millisecond
	n := 0
	var mu sync.Mutex
	env.exact.setAPI(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		first := n == 1
		mu.Unlock()
		if first {
			<-r.Context().Done()
			return
		}
		writeJSON(w, 200, onePage)
	})
	p, err := env.client.Page(context.Background(), 101, env.client.URL(101, "crm/Accounts", nil))
	if err != nil {
		t.Fatal(err)
	}
	if p.Calls != 2 {
		t.Errorf("calls: got %d, want 2", p.Calls)
	}
}

func TestPageStopsOnCancel(t *testing.T) {
	env := newTestEnv(t)
	env.validToken(t)
	env.exact.setAPI(status(503, ``))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := env.client.Page(ctx, 101, env.client.URL(101, "crm/Accounts", nil))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

func TestURL(t *testing.T) {
	env := newTestEnv(t)
	base := env.exact.srv.URL
	tests := []struct {
		name     string
		division int
		path     string
		query    url.Values
		want     string
	}{
		{"sync with filter and select", 101, "sync/CRM/Accounts",
			url.Values{"$filter": {"Timestamp gt 4000L"}, "$select": {"ID,Code,Name"}},
			base + "/api/v1/101/sync/CRM/Accounts?$filter=Timestamp%20gt%204000L&$select=ID,Code,Name"},
		{"quotes and guid", 7, "/crm/Accounts",
			url.Values{"$filter": {"IsSupplier eq true and ID eq guid'5b7f-1'"}},
			base + "/api/v1/7/crm/Accounts?$filter=IsSupplier%20eq%20true%20and%20ID%20eq%20guid'5b7f-1'"},
		{"reserved characters stay escaped", 7, "crm/Accounts",
			url.Values{"$filter": {"Name eq 'A&B+C=D#%'"}},
			base + "/api/v1/7/crm/Accounts?$filter=Name%20eq%20'A%26B%2BC%3DD%23%25'"},
		{"no division", 0, "current/Me", nil, base + "/api/v1/current/Me"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := env.client.URL(tt.division, tt.path, tt.query)
			if got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			u, err := url.Parse(got)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.query, u.Query(), cmp.Comparer(func(a, b url.Values) bool {
				return len(a) == 0 && len(b) == 0 || cmp.Equal(map[string][]string(a), map[string][]string(b))
			})); diff != "" {
				t.Errorf("query does not round-trip (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseBaseURL(t *testing.T) {
	tests := []struct {
		in, want, wantErr string
	}{
		{"https://start.exactonline.nl", "https://start.exactonline.nl", ""},
		{"https://start.exactonline.be/", "https://start.exactonline.be", ""},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080", ""},
		{"http://localhost:8080", "http://localhost:8080", ""},
		{"http://[::1]:8080", "http://[::1]:8080", ""},
		{"http://start.exactonline.nl", "", "must use https"},
		{"start.exactonline.nl", "", "want https://host"},
		{"ftp://x", "", "want https://host"},
		{"https://u:p@start.exactonline.nl", "", "only scheme"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			u, err := ParseBaseURL(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("got %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || u.String() != tt.want {
				t.Errorf("got (%v, %v), want %s", u, err, tt.want)
			}
		})
	}
}

func TestNewValidates(t *testing.T) {
	store := &memStore{}
	tests := []struct {
		name    string
		cfg     Config
		store   TokenStore
		wantErr string
	}{
		{"no store", Config{ClientID: "a", ClientSecret: "b"}, nil, "token store"},
		{"no client id", Config{ClientSecret: "b"}, store, "client id is required"},
		{"no secret", Config{ClientID: "a"}, store, "client secret is required"},
		{"plain http", Config{ClientID: "a", ClientSecret: "b", BaseURL: "http://exact.example"}, store, "https"},
		{"defaults", Config{ClientID: "a", ClientSecret: "b"}, store, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg, tt.store)
			if tt.wantErr == "" {
				if err != nil || c.BaseURL() != DefaultBaseURL {
					t.Errorf("got (%v, %v), want a client for %s", c, err, DefaultBaseURL)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestMeAndDivisions(t *testing.T) {
	env := newTestEnv(t)
	var divisionsURL string
	env.exact.setAPI(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/api/v1/current/Me":
			writeJSON(w, 200, `{"d":{"results":[{"__metadata":{"uri":"x"},"UserID":"5B7F4515-0C8D-4C1A-9D3E-0123456789AB","FullName":"Jan de Vries","Email":"jan@example.nl","CurrentDivision":101,"Legislation":"128"}]}}`)
		case r.URL.Path == "/api/v1/101/system/Divisions" && r.URL.Query().Get("$skiptoken") == "":
			divisionsURL = r.URL.RequestURI()
			writeJSON(w, 200, `{"d":{"results":[{"Code":101,"Description":"Main B.V.","Status":1,"Current":true}],"__next":"http://`+r.Host+`/api/v1/101/system/Divisions?$select=Code&$skiptoken=101"}}`)
		case r.URL.Path == "/api/v1/101/system/Divisions":
			writeJSON(w, 200, `{"d":{"results":[{"Code":"202","Description":"Second","Status":2,"Current":false}]}}`)
		default:
			http.NotFound(w, r)
		}
	})
	me, err := env.client.Me(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	wantMe := Me{UserID: "5b7f4515-0c8d-4c1a-9d3e-0123456789ab", FullName: "Jan de Vries", Email: "jan@example.nl", CurrentDivision: 101}
	if diff := cmp.Diff(wantMe, me); diff != "" {
		t.Errorf("Me (-want +got):\n%s", diff)
	}
	divs, err := env.client.Divisions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	wantDivs := []Division{{Code: 101, Description: "Main B.V.", Status: 1, Current: true}, {Code: 202, Description: "Second", Status: 2}}
	if diff := cmp.Diff(wantDivs, divs); diff != "" {
		t.Errorf("Divisions (-want +got):\n%s", diff)
	}
	if want := "/api/v1/101/system/Divisions?$select=Code,Description,Status,Current,DivisionMoveDate"; divisionsURL != want {
		t.Errorf("divisions URL: got %s, want %s", divisionsURL, want)
	}
}

func TestParseRateHeader(t *testing.T) {
	tests := []struct {
		name, in string
		want     int64
		wantOK   bool
	}{
		{"count", "4766", 4766, true},
		{"epoch milliseconds (§2.2)", "1683936000000", 1683936000000, true},
		{"surrounding spaces", " 58 ", 58, true},
		{"absent", "", 0, false},
		{"negative", "-1", 0, false},
		{"plus sign", "+5", 0, false},
		{"fraction", "1.5", 0, false},
		{"beyond int64", "99999999999999999999", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseRateHeader(tt.in)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("parseRateHeader(%q): got (%d, %v), want (%d, %v)", tt.in, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
