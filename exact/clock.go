package exact

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Exact judges the 570 s rule and token expiry on its own clock (§1.8), which need not be
// ours: a machine's clock can be off or step, and a token row may have been written by a
// process on another machine. So the client learns Exact's clock from the Date header of
// every answer, API and token endpoint alike (RFC 9110: the time the answer was made, to
// the second), and judges token times on it. Token times it stores are on Exact's clock.
//
// Each Date is a lower bound on Exact's time when the answer arrives (truncated to the
// second, and made before it arrived), so the estimate keeps the highest bound seen,
// carried forward on our monotonic clock; a bound more than clockStep below the estimate
// means a clock changed, and replaces it. Within dateResolution of our own clock the two
// cannot be told apart and ours is used.
const (
	dateResolution = time.Second
	clockStep      = 2 * time.Second
)

// exactClock is the client's estimate of Exact's clock.
type exactClock struct {
	mu    sync.Mutex
	known bool          // a Date header has been seen
	date  time.Time     // Exact's time at at, by the best Date seen
	at    time.Time     // our clock (with its monotonic reading) when that Date arrived
	hint  time.Duration // offset stored with the token row, used until a Date is seen
}

// observeDate learns from the Date header of one of Exact's answers.
func (c *Client) observeDate(h http.Header) {
	d, err := http.ParseTime(h.Get("Date"))
	if err != nil {
		return
	}
	now := c.now()
	k := &c.clock
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.known {
		est := k.date.Add(now.Sub(k.at))
		if !d.After(est) && !d.Before(est.Add(-clockStep)) {
			return // no better than what is known
		}
	}
	k.known, k.date, k.at = true, d, now
}

// exactNow is the current time on Exact's clock, as well as the client knows it.
func (c *Client) exactNow() time.Time {
	now := c.now()
	k := &c.clock
	k.mu.Lock()
	defer k.mu.Unlock()
	switch {
	case !k.known:
		return now.Add(k.hint)
	case k.skewed():
		return k.date.Add(now.Sub(k.at))
	default:
		return now
	}
}

// skewed reports whether Exact's clock is told apart from ours. k.mu is held.
func (k *exactClock) skewed() bool {
	off := k.date.Sub(k.at)
	return off >= dateResolution || off <= -dateResolution
}

// clockOffset is Exact's clock minus ours, as stored with the token row for processes that
// have not heard from Exact yet (zero: the same, or unknown).
func (c *Client) clockOffset() time.Duration {
	k := &c.clock
	k.mu.Lock()
	defer k.mu.Unlock()
	switch {
	case !k.known:
		return k.hint
	case k.skewed():
		return k.date.Sub(k.at).Round(time.Millisecond)
	default:
		return 0
	}
}

// issueMargin is added to an issue time read on a learned, skewed clock: the Date it
// comes from may be up to a second behind, and the 570 s rule must not be judged early.
func (c *Client) issueMargin() time.Duration {
	k := &c.clock
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.known && k.skewed() {
		return dateResolution
	}
	return 0
}

// adoptClockHint uses the offset stored with the token row until a Date header is seen:
// the row's times were written on Exact's clock by a process that knew it.
func (c *Client) adoptClockHint(off time.Duration) {
	k := &c.clock
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.known {
		k.hint = off
	}
}

// ClockOffset asks Exact at baseURL for its time with one unauthenticated call to
// current/Me (its 401 carries a Date header; the call has no division, so it spends no
// division's budget, §2.2), and returns how far Exact's clock is ahead of this machine's,
// measured against the middle of the call, to the second. ok is false when the answer
// carries no Date. hc nil means http.DefaultClient.
func ClockOffset(ctx context.Context, baseURL string, hc *http.Client) (offset time.Duration, ok bool, err error) {
	base, err := url.Parse(baseURL)
	if err != nil || base.Host == "" {
		return 0, false, fmt.Errorf("base URL %q is not a URL with a host", baseURL)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(baseURL, "/")+"/api/v1/current/Me", nil)
	if err != nil {
		return 0, false, err
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	sent := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return 0, false, networkError(base.Host, err)
	}
	resp.Body.Close()
	got := time.Now()
	date, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return 0, false, nil
	}
	return date.Sub(sent.Add(got.Sub(sent) / 2)).Round(time.Second), true, nil
}
