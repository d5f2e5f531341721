package exacttest

import (
	"net/http"
	"strconv"
	"time"
)

// limitKey: limits are counted per app (client id) and division (§2.1). The simulator has one
// app, so the division alone keys them; the client id is kept for clarity.
type limitKey struct {
	client   string
	division int
}

type limitState struct {
	minute      time.Time // start of the counted clock minute (§2.3)
	minuteCalls int
	day         time.Time // 00:00 UTC of the counted day (§2.3)
	dayCalls    int
}

// takeCall counts one call against the division's limits and sets the rate-limit headers in
// epoch milliseconds (§2.2). When a limit is exhausted it returns false and sets only the
// exhausted limit's headers (§2.4); the call is then not counted. A limit of 0 is off and its
// headers are omitted.
func (s *Simulator) takeCall(h http.Header, division int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowLocked().UTC()
	k := limitKey{s.opts.ClientID, division}
	st := s.limits[k]
	if st == nil {
		st = &limitState{}
		s.limits[k] = st
	}
	minute := now.Truncate(time.Minute)
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	if !st.minute.Equal(minute) {
		st.minute, st.minuteCalls = minute, 0
	}
	if !st.day.Equal(day) {
		st.day, st.dayCalls = day, 0
	}
	dayLimit, minuteLimit := s.opts.DailyLimit, s.opts.MinutelyLimit
	dayReset := strconv.FormatInt(day.AddDate(0, 0, 1).UnixMilli(), 10)
	minuteReset := strconv.FormatInt(minute.Add(time.Minute).UnixMilli(), 10)
	setDay := func(remaining int) {
		h.Set("X-RateLimit-Limit", strconv.Itoa(dayLimit))
		h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
		h.Set("X-RateLimit-Reset", dayReset)
	}
	setMinute := func(remaining int) {
		h.Set("X-RateLimit-Minutely-Limit", strconv.Itoa(minuteLimit))
		h.Set("X-RateLimit-Minutely-Remaining", strconv.Itoa(remaining))
		h.Set("X-RateLimit-Minutely-Reset", minuteReset)
	}
	if dayLimit > 0 && st.dayCalls >= dayLimit {
		setDay(0)
		s.stats.TooManyRequests++
		return false
	}
	if minuteLimit > 0 && st.minuteCalls >= minuteLimit {
		setMinute(0)
		s.stats.TooManyRequests++
		return false
	}
	st.dayCalls++
	st.minuteCalls++
	if dayLimit > 0 {
		setDay(dayLimit - st.dayCalls)
	}
	if minuteLimit > 0 {
		setMinute(minuteLimit - st.minuteCalls)
	}
	return true
}

// The error budget (§2.5): at most 10 error responses (400, 401, 403, 404) per app, user,
// division and endpoint per hour; exceeding it blocks that endpoint for an hour. The response
// while blocked is UNCONFIRMED (§2.5): the simulator answers 429 with the JSON error
// "API rate limit exceeded" and no rate-limit headers.
const (
	errorBudget      = 10
	errorBudgetBlock = time.Hour
)

type budgetKey struct {
	division int
	endpoint string
}

type budgetState struct {
	window  time.Time // start of the hour being counted
	errors  int
	blocked time.Time // blocked until
}

func (s *Simulator) budgetBlocked(division int, endpoint string) bool {
	if !s.opts.ErrorBudget {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.budget[budgetKey{division, endpoint}]
	return st != nil && s.nowLocked().Before(st.blocked)
}

func (s *Simulator) recordError(division int, endpoint string, status int) {
	if !s.opts.ErrorBudget {
		return
	}
	switch status {
	case 400, 401, 403, 404:
	default:
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowLocked()
	k := budgetKey{division, endpoint}
	st := s.budget[k]
	if st == nil {
		st = &budgetState{}
		s.budget[k] = st
	}
	if now.Sub(st.window) >= time.Hour {
		st.window, st.errors = now, 0
	}
	st.errors++
	if st.errors > errorBudget {
		st.blocked = now.Add(errorBudgetBlock)
		st.window, st.errors = now, 0
	}
}
