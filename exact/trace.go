package exact

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// TracerName is the instrumentation scope of the client's spans.
const TracerName = "github.com/exactsync/exactsync/exact"

// Attributes of the client's spans. Each call to Exact is one span, a retry is a span of
// its own; a token refresh is a span too. No attribute carries a token, the client secret
// or a request header: the URL is the one sent, with the values of query parameters that
// could carry a secret replaced (see RedactURL).
const (
	AttrEndpoint        = attribute.Key("exact.endpoint")                   // sync/CRM/Accounts
	AttrDivision        = attribute.Key("exact.division")                   // 0 for current/Me
	AttrRetry           = attribute.Key("exact.retry")                      // 0 for a first attempt, n for the n-th retry
	AttrWaitMS          = attribute.Key("exact.wait_ms")                    // waited before this call: rate limits, backoff
	AttrMinuteRemaining = attribute.Key("exact.ratelimit.minute_remaining") // after the answer; -1 unknown
	AttrDayRemaining    = attribute.Key("exact.ratelimit.day_remaining")    // after the answer; -1 unknown
	AttrRefreshOutcome  = attribute.Key("exact.refresh.outcome")            // an Observer.Refresh outcome
	AttrWaitReason      = attribute.Key("exact.wait.reason")                // on a "wait" event: a Wait* reason
	attrMethod          = attribute.Key("http.request.method")
	attrStatus          = attribute.Key("http.response.status_code")
	attrURL             = attribute.Key("url.full")
	attrErrorType       = attribute.Key("error.type")
)

// callTrace is what the calls of one request (a page and its retries) have in common
// for their spans: how many calls it made before, and the wait since the last one.
type callTrace struct {
	retry  int
	waited time.Duration
}

// startCall starts the span of one HTTP call to Exact.
func (c *Client) startCall(ctx context.Context, method, endpoint, pageURL string, division int, ct callTrace) (context.Context, trace.Span) {
	return c.tracer.Start(ctx, method+" "+endpoint, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attrMethod.String(method),
		attrURL.String(c.redact(RedactURL(pageURL))),
		AttrEndpoint.String(endpoint),
		AttrDivision.Int(division),
		AttrRetry.Int(ct.retry),
		AttrWaitMS.Int64(ct.waited.Milliseconds()),
	))
}

// endCall ends the span of a call with its answer: the status (0 when none came), the
// division's remaining budgets, and an error when the call failed or Exact refused it.
func (c *Client) endCall(span trace.Span, division, status int, err error) {
	if !span.IsRecording() {
		span.End()
		return
	}
	if status > 0 {
		span.SetAttributes(attrStatus.Int(status))
	}
	minute, day := -1, -1
	if division > 0 {
		if m, d, ok := c.limits.remaining(division); ok {
			minute, day = m, d
		}
	}
	span.SetAttributes(AttrMinuteRemaining.Int(minute), AttrDayRemaining.Int(day))
	switch {
	case err != nil:
		span.SetAttributes(attrErrorType.String("network"))
		span.SetStatus(codes.Error, c.redact(err.Error()))
	case status >= 400:
		span.SetAttributes(attrErrorType.Int(status))
		span.SetStatus(codes.Error, "HTTP "+strconv.Itoa(status))
	}
	span.End()
}

// traceWait adds a wait of the client, before it starts, to the span of ctx (the caller's:
// the run, or the request a retry belongs to).
func traceWait(ctx context.Context, w Wait) {
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent("wait", trace.WithAttributes(AttrWaitReason.String(w.Reason),
			AttrDivision.Int(w.Division), AttrWaitMS.Int64(w.Duration.Milliseconds())))
	}
}

// RedactURL returns u for a trace or a log: without user information or fragment, the
// values of query parameters whose name could carry a secret (token, secret, code,
// password, key, signature, auth, session) replaced by "REDACTED". OData's own options
// ($filter, $select, $skiptoken, …) are kept: they are the request, and Exact's
// $skiptoken is a position in a collection (§3.6), not a credential. Text that is not a
// URL is returned as "[unparsable URL]".
func RedactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "[unparsable URL]"
	}
	p.User, p.Fragment, p.RawFragment = nil, "", ""
	if p.RawQuery == "" {
		return p.String()
	}
	q, err := url.ParseQuery(p.RawQuery)
	if err != nil {
		p.RawQuery = "REDACTED"
		return p.String()
	}
	changed := false
	for k, vs := range q {
		if strings.HasPrefix(k, "$") || !secretName(k) {
			continue
		}
		for i := range vs {
			vs[i] = "REDACTED"
		}
		changed = true
	}
	if changed {
		p.RawQuery = encodeQuery(q)
	}
	return p.String()
}

// secretName reports whether a query parameter's name suggests a credential.
func secretName(k string) bool {
	k = strings.ToLower(k)
	for _, s := range []string{"token", "secret", "code", "password", "passwd", "key", "sig", "auth", "session", "credential"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}
