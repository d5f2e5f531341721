package exact

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// traced gives env's client a tracer that records into the returned exporter.
func traced(t *testing.T, env *testEnv) *tracetest.InMemoryExporter {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	env.client.tracer = tp.Tracer(TracerName)
	return exp
}

// spanAttrs are a span's attributes by key, as emitted.
func spanAttrs(s tracetest.SpanStub) map[attribute.Key]string {
	m := map[attribute.Key]string{}
	for _, kv := range s.Attributes {
		m[kv.Key] = kv.Value.String()
	}
	return m
}

// Each call is a span under the caller's: its endpoint, division, status, the budgets the
// answer left, its retry number and the wait before it, counted across the retries of a
// 5xx, a 429 and a truncated page; the waits are events of the caller's span. The token
// refresh is a span of its own. No span carries a token or the client secret.
func TestCallSpans(t *testing.T) {
	env := newTestEnv(t)
	exp := traced(t, env)
	env.exact.setAPI((&script{steps: []http.HandlerFunc{
		status(503, `{"error":{"message":{"value":"busy"}}}`),
		func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-RateLimit-Minutely-Limit", "60")
			w.Header().Set("X-RateLimit-Minutely-Remaining", "0")
			w.Header().Set("X-RateLimit-Minutely-Reset", "0")
			w.WriteHeader(429)
		},
		func(w http.ResponseWriter, r *http.Request) {
			setRateHeaders(w, 5000, 4322, nextMidnight, 60, 58, nextMinute.Add(2*time.Minute))
			writeJSON(w, 200, onePage[:20]) // cut short: fetched again
		},
		func(w http.ResponseWriter, r *http.Request) {
			setRateHeaders(w, 5000, 4321, nextMidnight, 60, 57, nextMinute.Add(2*time.Minute))
			writeJSON(w, 200, onePage)
		},
	}}).ServeHTTP)
	ctx, run := env.client.tracer.Start(context.Background(), "run")
	u := env.client.URL(101, "sync/CRM/Accounts", url.Values{"$filter": {"Timestamp gt 1L"}})
	if _, err := env.client.Page(ctx, 101, u); err != nil {
		t.Fatal(err)
	}
	run.End()

	sleeps := env.clock.Sleeps()
	if len(sleeps) != 3 {
		t.Fatalf("the client waited %v, want three waits (backoff, 429, backoff)", sleeps)
	}
	ms := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	type call struct{ Status, Retry, Wait, Minute, Day string }
	var got []call
	var refresh, runSpan tracetest.SpanStub
	spans := exp.GetSpans()
	for _, s := range spans {
		switch s.Name {
		case "run":
			runSpan = s
		case "POST oauth2/token":
			refresh = s
		}
	}
	for _, s := range spans {
		a := spanAttrs(s)
		if s.Name != "GET sync/CRM/Accounts" {
			continue
		}
		if s.Parent.SpanID() != runSpan.SpanContext.SpanID() {
			t.Errorf("call span's parent %v, want the caller's %v", s.Parent.SpanID(), runSpan.SpanContext.SpanID())
		}
		if a[AttrEndpoint] != "sync/CRM/Accounts" || a[AttrDivision] != "101" || a["http.request.method"] != "GET" {
			t.Errorf("call span attributes %v", a)
		}
		if want := env.exact.srv.URL + "/api/v1/101/sync/CRM/Accounts?$filter=Timestamp%20gt%201L"; a["url.full"] != want {
			t.Errorf("url.full %q, want %q", a["url.full"], want)
		}
		got = append(got, call{a["http.response.status_code"], a[AttrRetry], a[AttrWaitMS], a[AttrMinuteRemaining], a[AttrDayRemaining]})
	}
	want := []call{
		{"503", "0", "0", "-1", "-1"},
		{"429", "1", ms(sleeps[0]), "0", "-1"},
		{"200", "2", ms(sleeps[1]), "58", "4322"},
		{"200", "3", ms(sleeps[2]), "57", "4321"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("call spans (-want +got):\n%s", diff)
	}
	var reasons []string
	for _, e := range runSpan.Events {
		for _, kv := range e.Attributes {
			if kv.Key == AttrWaitReason {
				reasons = append(reasons, kv.Value.AsString())
			}
		}
	}
	if diff := cmp.Diff([]string{WaitRetry, WaitTooMany, WaitRetry}, reasons); diff != "" {
		t.Errorf("wait events of the caller's span (-want +got):\n%s", diff)
	}
	if a := spanAttrs(refresh); a[AttrRefreshOutcome] != RefreshOK || refresh.Parent.SpanID() != runSpan.SpanContext.SpanID() {
		t.Errorf("token refresh span %q: attributes %v, parent %v; want outcome ok under the caller's", refresh.Name, a, refresh.Parent.SpanID())
	}
	for _, s := range spans {
		texts := []string{s.Name, s.Status.Description}
		for _, kv := range s.Attributes {
			texts = append(texts, kv.Value.String())
		}
		for _, e := range s.Events {
			for _, kv := range e.Attributes {
				texts = append(texts, kv.Value.String())
			}
		}
		checkNoSecrets(t, "span "+s.Name, strings.Join(texts, " "))
	}
}

// A failed call's span has the error's status, and a refused refresh says its outcome;
// neither carries the rejected tokens that Exact's answers may echo.
func TestFailedCallSpans(t *testing.T) {
	env := newTestEnv(t)
	exp := traced(t, env)
	env.exact.setAPI(status(403, `{"error":{"message":{"value":"Forbidden for `+env.exact.rt+`"}}}`))
	_, err := env.client.Page(context.Background(), 101, env.client.URL(101, "crm/Accounts", nil))
	if err == nil {
		t.Fatal("Page answered 403: no error")
	}
	spans := exp.GetSpans()
	var call *tracetest.SpanStub
	for i := range spans {
		if spans[i].Name == "GET crm/Accounts" {
			call = &spans[i]
		}
		checkNoSecrets(t, "span status", spans[i].Status.Description)
	}
	if call == nil {
		t.Fatalf("no call span among %d", len(spans))
	}
	if a := spanAttrs(*call); a["http.response.status_code"] != "403" || call.Status.Code.String() != "Error" {
		t.Errorf("refused call span: attributes %v, status %v; want 403, Error", a, call.Status)
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://start.exactonline.nl/api/v1/101/sync/CRM/Accounts?$filter=Timestamp%20gt%201L&$select=ID",
			"https://start.exactonline.nl/api/v1/101/sync/CRM/Accounts?$filter=Timestamp%20gt%201L&$select=ID"},
		{"https://start.exactonline.nl/api/v1/101/crm/Accounts?$skiptoken=guid'5b7f4515'",
			"https://start.exactonline.nl/api/v1/101/crm/Accounts?$skiptoken=guid'5b7f4515'"},
		{"https://h/p?access_token=abc&$top=1", "https://h/p?$top=1&access_token=REDACTED"},
		{"https://h/p?code=stampNL001.x!y&state=s", "https://h/p?code=REDACTED&state=s"},
		{"https://h/p?client_secret=s&refresh_token=r&apiKey=k&sig=z", "https://h/p?apiKey=REDACTED&client_secret=REDACTED&refresh_token=REDACTED&sig=REDACTED"},
		{"https://user:pw@h/p#frag", "https://h/p"},
		{"https://h/p?a=%zz", "https://h/p?REDACTED"},
		{"://bad", "[unparsable URL]"},
	}
	for _, tt := range tests {
		if got := RedactURL(tt.in); got != tt.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzRedactURL: whatever the URL (a __next link is Exact's text), the redacted one has
// no user information, and a query parameter named like a credential keeps no value but
// REDACTED.
func FuzzRedactURL(f *testing.F) {
	for _, s := range []string{
		"https://start.exactonline.nl/api/v1/101/sync/CRM/Accounts?$filter=Timestamp%20gt%201L&$select=ID,Name",
		"https://start.exactonline.nl/api/v1/101/crm/Accounts?$skiptoken=guid'5b7f4515-0c8d'&$top=60",
		"https://u:p@h/p?access_token=x&Refresh_Token=y;code=z",
		"http://127.0.0.1:8080/api/v1/current/Me?token=%41&token=b#f",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := RedactURL(in)
		if out == "[unparsable URL]" {
			return
		}
		p, err := url.Parse(out)
		if err != nil {
			t.Fatalf("RedactURL(%q) = %q, which does not parse: %v", in, out, err)
		}
		if p.User != nil {
			t.Errorf("RedactURL(%q) = %q keeps user information", in, out)
		}
		q, err := url.ParseQuery(p.RawQuery)
		if err != nil {
			return // a query that did not parse is replaced whole
		}
		for k, vs := range q {
			if strings.HasPrefix(k, "$") || !secretName(k) {
				continue
			}
			for _, v := range vs {
				if v != "REDACTED" {
					t.Errorf("RedactURL(%q) = %q keeps %s=%q", in, out, k, v)
				}
			}
		}
	})
}
