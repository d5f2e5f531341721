package exact

import (
	"context"
	"time"
)

// Wait is a pause the client takes before a call: for a rate limit, a retry, or the
// token refresh window. See WithWaitHook.
type Wait struct {
	Division int           // 0 for a token wait
	Duration time.Duration // how long the client waits
	Reason   string        // one of the Wait* reasons
}

// Reasons of a Wait.
const (
	// WaitMinuteLimit: the division's minute limit is spent; the client waits for its
	// reset (§2.3).
	WaitMinuteLimit = "minute_limit"
	// WaitTooMany: Exact answered 429; the client waits for the reset it names (§2.4).
	WaitTooMany = "too_many_requests"
	// WaitRetry: a call failed (5xx, a timeout, a truncated page); the client backs off
	// before the next attempt (§6.11).
	WaitRetry = "retry"
	// WaitRefresh: the access token needs refreshing and Exact does not allow it yet
	// (§1.8).
	WaitRefresh = "refresh_window"
	// WaitPendingRefresh: another process announced a refresh of the stored refresh token
	// and has not stored its pair yet; the client waits for that pair at most Duration
	// rather than send the token Exact has spent (§1.9).
	WaitPendingRefresh = "pending_refresh"
)

// Describe says what a wait is for, for people: "waiting 32 s for Exact's minute limit".
func (w Wait) Describe(left time.Duration) string {
	d := left.Round(time.Second)
	if left < time.Second {
		d = left.Round(100 * time.Millisecond)
	}
	switch w.Reason {
	case WaitMinuteLimit:
		return "waiting " + d.String() + " for Exact's minute limit"
	case WaitTooMany:
		return "waiting " + d.String() + " after a 429 from Exact"
	case WaitRetry:
		return "waiting " + d.String() + " to retry a failed call"
	case WaitRefresh:
		return "waiting " + d.String() + " for Exact to allow a token refresh"
	case WaitPendingRefresh:
		return "waiting up to " + d.String() + " for the token refresh of another process"
	}
	return "waiting " + d.String()
}

type waitHookKey struct{}

// WithWaitHook returns a context whose calls report each wait of the client to fn
// before it starts, the way net/http/httptrace reports a request's events: a progress
// display can show "waiting 32 s for Exact's minute limit" instead of nothing. fn must
// not block.
func WithWaitHook(ctx context.Context, fn func(Wait)) context.Context {
	return context.WithValue(ctx, waitHookKey{}, fn)
}

// pause reports w to ctx's wait hook, then sleeps for w.Duration.
func (c *Client) pause(ctx context.Context, w Wait) error {
	tell(ctx, w)
	traceWait(ctx, w)
	return c.sleep(ctx, w.Duration)
}

// tell reports w to the context's wait hook, if it has one.
func tell(ctx context.Context, w Wait) {
	if fn, ok := ctx.Value(waitHookKey{}).(func(Wait)); ok && fn != nil {
		fn(w)
	}
}
