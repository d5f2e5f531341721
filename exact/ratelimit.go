package exact

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RateLimit is the last known state of one division's call budgets, from the six
// X-RateLimit-* response headers (§2.2), adjusted for calls sent since.
type RateLimit struct {
	DailyLimit, DailyRemaining       int
	DailyReset                       time.Time // X-RateLimit-Reset: 00:00 UTC of the next day (§2.3)
	MinutelyLimit, MinutelyRemaining int
	MinutelyReset                    time.Time // X-RateLimit-Minutely-Reset: end of the clock minute
	Known                            bool      // any header seen yet
}

const (
	hdrDailyLimit        = "X-RateLimit-Limit"
	hdrDailyRemaining    = "X-RateLimit-Remaining"
	hdrDailyReset        = "X-RateLimit-Reset"
	hdrMinutelyLimit     = "X-RateLimit-Minutely-Limit"
	hdrMinutelyRemaining = "X-RateLimit-Minutely-Remaining"
	hdrMinutelyReset     = "X-RateLimit-Minutely-Reset"
)

// rateHeaders lists the headers with their log keys.
var rateHeaders = [...]struct{ name, key string }{
	{hdrDailyLimit, "x_ratelimit_limit"},
	{hdrDailyRemaining, "x_ratelimit_remaining"},
	{hdrDailyReset, "x_ratelimit_reset"},
	{hdrMinutelyLimit, "x_ratelimit_minutely_limit"},
	{hdrMinutelyRemaining, "x_ratelimit_minutely_remaining"},
	{hdrMinutelyReset, "x_ratelimit_minutely_reset"},
}

// divisionLimit is a RateLimit plus which halves are known.
type divisionLimit struct {
	RateLimit
	dailyKnown, minutelyKnown bool
	inflight                  int // calls reserved but not answered yet
}

// limiter tracks the budgets of every division this client has called. Limits are counted
// per app and division (§2.1); calls without a division do not count and are not tracked.
type limiter struct {
	mu   sync.Mutex
	divs map[int]*divisionLimit
}

func (l *limiter) get(division int) *divisionLimit {
	d := l.divs[division]
	if d == nil {
		if l.divs == nil {
			l.divs = make(map[int]*divisionLimit)
		}
		d = &divisionLimit{}
		l.divs[division] = d
	}
	return d
}

func (l *limiter) snapshot(division int) RateLimit {
	l.mu.Lock()
	defer l.mu.Unlock()
	if d := l.divs[division]; d != nil {
		return d.RateLimit
	}
	return RateLimit{}
}

// remaining returns division's remaining minute and day budgets, -1 for one not known,
// and false when neither is.
func (l *limiter) remaining(division int) (minute, day int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.divs[division]
	if d == nil || (!d.minutelyKnown && !d.dailyKnown) {
		return 0, 0, false
	}
	minute, day = -1, -1
	if d.minutelyKnown {
		minute = max(d.MinutelyRemaining, 0)
	}
	if d.dailyKnown {
		day = max(d.DailyRemaining, 0)
	}
	return minute, day, true
}

// reserve decides whether a call to division may be sent at now. It returns the time to wait
// first when the minute budget is spent (§2.3), or a *DailyLimitError when the day budget is
// spent (§2.4). When it returns (0, nil) it counts the call against both budgets, so
// concurrent callers never overdraw them.
func (l *limiter) reserve(division int, now time.Time) (time.Duration, error) {
	if division <= 0 {
		return 0, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.get(division)
	if d.dailyKnown && d.DailyRemaining <= 0 && now.Before(d.DailyReset) {
		return 0, &DailyLimitError{Division: division, Reset: d.DailyReset}
	}
	if d.minutelyKnown && d.MinutelyRemaining <= 0 && now.Before(d.MinutelyReset) {
		return clampMinuteWait(d.MinutelyReset.Sub(now)), nil
	}
	d.inflight++
	if d.dailyKnown && now.Before(d.DailyReset) {
		d.DailyRemaining--
	}
	if d.minutelyKnown && now.Before(d.MinutelyReset) {
		d.MinutelyRemaining--
	}
	return 0, nil
}

// release ends a reservation whose call got no answer.
func (l *limiter) release(division int) {
	if division <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if d := l.get(division); d.inflight > 0 {
		d.inflight--
	}
}

// observe ends a reservation with the headers of its answer; absent headers leave the known
// values alone (a 429 carries only the exhausted limit's headers, §2.4). Calls still in
// flight are subtracted from the remaining budgets the headers name, so an answer that
// overtakes another never hands out budget twice.
func (l *limiter) observe(division int, h http.Header) {
	if division <= 0 {
		return
	}
	l.release(division)
	var vals [len(rateHeaders)]int64
	var have [len(rateHeaders)]bool
	anyHave := false
	for i, rh := range rateHeaders {
		if n, ok := parseRateHeader(h.Get(rh.name)); ok {
			vals[i], have[i], anyHave = n, true, true
		}
	}
	if !anyHave {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.get(division)
	d.Known = true
	if have[0] {
		d.DailyLimit = int(vals[0])
	}
	if have[1] {
		d.DailyRemaining = int(vals[1]) - d.inflight
		d.dailyKnown = true
	}
	if have[2] {
		d.DailyReset = time.UnixMilli(vals[2]).UTC() // epoch milliseconds (§2.2)
	}
	if have[3] {
		d.MinutelyLimit = int(vals[3])
	}
	if have[4] {
		d.MinutelyRemaining = int(vals[4]) - d.inflight
		d.minutelyKnown = true
	}
	if have[5] {
		d.MinutelyReset = time.UnixMilli(vals[5]).UTC()
	}
}

// parseRateHeader reads one X-RateLimit-* value: a count or an epoch in milliseconds
// (§2.2), so decimal digits only. Anything else (a sign, a fraction, a value beyond int64)
// reports false, and the value known before is kept.
func parseRateHeader(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	if !isDigits(s) {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}

// dayLeft returns the calls of division's day the limiter counts on: the last
// X-RateLimit-Remaining less the calls reserved since; ok is false when it knows none or the
// day it knew has reset.
func (l *limiter) dayLeft(division int, now time.Time) (left int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.divs[division]
	if d == nil || !d.dailyKnown || !now.Before(d.DailyReset) {
		return 0, false
	}
	return d.DailyRemaining, true
}

// tooMany interprets a 429 for division (§2.4): a spent day budget gives a *DailyLimitError;
// otherwise the minute budget is spent and the wait until its reset is returned. The
// headers have already been observed.
func (l *limiter) tooMany(division int, h http.Header, now time.Time) (time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.get(division)
	daily := h.Get(hdrDailyRemaining) != "" && d.DailyRemaining <= 0
	minutely := h.Get(hdrMinutelyRemaining) != "" || h.Get(hdrMinutelyReset) != ""
	if !daily && !minutely && d.dailyKnown && d.DailyRemaining <= 0 && now.Before(d.DailyReset) {
		daily = true // no headers at all: trust what we knew
	}
	if daily {
		reset := d.DailyReset
		if !reset.After(now) {
			// The day window resets at 00:00 UTC (§2.3).
			reset = now.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
			d.DailyReset = reset
		}
		d.DailyRemaining, d.dailyKnown = 0, true
		return 0, &DailyLimitError{Division: division, Reset: reset}
	}
	reset := d.MinutelyReset
	if h.Get(hdrMinutelyReset) == "" || !reset.After(now) {
		// Minute windows are aligned to the clock minute (§2.3).
		reset = now.Truncate(time.Minute).Add(time.Minute)
	}
	d.MinutelyRemaining, d.MinutelyReset, d.minutelyKnown = 0, reset, true
	return clampMinuteWait(reset.Sub(now)), nil
}

// clampMinuteWait bounds a wait for the minute window: a reset further away than a minute
// means the clocks disagree, and waiting zero would spin.
func clampMinuteWait(d time.Duration) time.Duration {
	return min(max(d, 100*time.Millisecond), time.Minute)
}

// spentDay records that division's day budget is spent until reset, as learnt elsewhere
// (another process, an earlier run): the client then sends that division nothing before
// reset (§2.4: after a daily 429, stop calling the division until X-RateLimit-Reset).
func (l *limiter) spentDay(division int, reset time.Time) {
	if division <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.get(division)
	if d.dailyKnown && reset.Before(d.DailyReset) {
		return // an earlier day's: this client has seen a later one
	}
	// The same day's or a later one's: within a day the budget only shrinks, so a day seen
	// spent stays spent until its reset, whatever this client's last answer said.
	d.Known, d.dailyKnown = true, true
	d.DailyRemaining, d.DailyReset = 0, reset
}
