package exacttest

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
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
	tooMany := func() bool {
		s.stats.TooManyRequests++
		s.stats.TooManyByDivision[strconv.Itoa(division)]++
		return false
	}
	if dayLimit > 0 && st.dayCalls >= dayLimit {
		setDay(0)
		return tooMany()
	}
	use := s.licenceUse(division, day)
	if lim := s.licence.DailyLimit; lim > 0 && use.ours+use.others >= lim {
		// The licence's day is spent by the calls of every app together (§2.7): the 429 of a
		// spent day (§2.4), its headers only, and 0 left. The limit named is the app's own, the
		// one every answer names (the licence's when the app has none): Exact's headers for
		// this cap are UNCONFIRMED, and a client can tell it only by the 0 coming early.
		h.Set("X-RateLimit-Limit", strconv.Itoa(cmp.Or(dayLimit, lim)))
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("X-RateLimit-Reset", dayReset)
		s.stats.LicenceTooMany++
		return tooMany()
	}
	if minuteLimit > 0 && st.minuteCalls >= minuteLimit {
		setMinute(0)
		return tooMany()
	}
	st.dayCalls++
	st.minuteCalls++
	use.ours++
	if dayLimit > 0 {
		setDay(dayLimit - st.dayCalls)
	}
	if minuteLimit > 0 {
		setMinute(minuteLimit - st.minuteCalls)
	}
	return true
}

// Licence is the daily cap Exact is reported to place, since 1 January 2025, on the calls of
// every app of a licence together, on top of each app's own 5,000 a day per division (§2.7,
// UNCONFIRMED: one integrator's knowledge base, and a second who says the daily limit
// "applies to all applications combined"): 20,000 calls a day per licence on Essentials,
// Plus and Professional, 30,000 per administration (division) on Premium. Other apps' calls
// count towards it, so it can end an app's day long before the app's own budget does.
//
// The simulator counts every call a division's limits let through (calls without a
// division, current/Me, count on neither, §2.1) and the other apps' calls (OtherAppCalls,
// SpendLicence) per UTC day, resetting at 00:00 UTC like the app's day (§2.3). Once the cap is
// reached every call of the licence's divisions gets the 429 of a spent day: only the day's
// headers, X-RateLimit-Remaining 0 and X-RateLimit-Reset the next 00:00 UTC, an empty body
// (§2.4); the answers before it name the app's own budget, which is all Exact documents
// (§2.2). The headers of this 429 are a choice (UNCONFIRMED): the sheet's consequence is that
// "the X-RateLimit-* headers, not a local count, are the truth" (§2.7).
type Licence struct {
	// DailyLimit is the calls of all apps together per UTC day; 0 is no cap.
	DailyLimit int `json:"daily_limit"`
	// PerDivision counts DailyLimit per division (Premium's cap per administration) rather
	// than over all the licence's divisions together.
	PerDivision bool `json:"per_division"`
	// OtherAppCalls are the calls other apps of the licence spend each UTC day, counted from
	// the day's start (in each division when PerDivision).
	OtherAppCalls int `json:"other_app_calls"`
}

// LicenceDay is the licence's current UTC day: its cap and the calls counted towards it.
type LicenceDay struct {
	Day string `json:"day"` // 2026-01-05
	Licence
	// Ours and Others are the calls of this app and of the other apps counted today, by
	// division code when the cap is per division, else under "licence".
	Ours   map[string]int `json:"ours"`
	Others map[string]int `json:"others"`
}

// licenceCount is one scope's count of the day: the licence's, or a division's.
type licenceCount struct{ ours, others int }

// licenceScope is the key of a division's count: the division when the cap is per division,
// else 0, the licence.
func (s *Simulator) licenceScope(division int) int {
	if s.licence.PerDivision {
		return division
	}
	return 0
}

// licenceUse returns the count of division's scope on day (00:00 UTC), starting the day with
// the other apps' daily calls. s.mu is held.
func (s *Simulator) licenceUse(division int, day time.Time) *licenceCount {
	if !s.licenceDay.Equal(day) {
		s.licenceDay, s.licenceUsed = day, map[int]*licenceCount{}
	}
	k := s.licenceScope(division)
	u := s.licenceUsed[k]
	if u == nil {
		u = &licenceCount{others: s.licence.OtherAppCalls}
		s.licenceUsed[k] = u
	}
	return u
}

// SetLicence replaces the licence's cap (Options.Licence); today's counts stay.
func (s *Simulator) SetLicence(l Licence) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.licence = l
}

// SpendLicence spends calls of the licence's day as another app would: they count towards
// the licence's cap from now until the day turns at 00:00 UTC, in division's count when the
// cap is per division (any division of the licence otherwise). The division must be one of
// the simulator's.
func (s *Simulator) SpendLicence(division, calls int) error {
	if !slices.Contains(s.opts.Divisions, division) {
		return fmt.Errorf("spending the licence's calls: unknown division %d", division)
	}
	if calls < 0 {
		return fmt.Errorf("spending the licence's calls: %d calls, want 0 or more", calls)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowLocked().UTC()
	s.licenceUse(division, time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)).others += calls
	return nil
}

// LicenceUsage returns the licence's cap and today's counts.
func (s *Simulator) LicenceUsage() LicenceDay {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowLocked().UTC()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	out := LicenceDay{Day: day.Format(time.DateOnly), Licence: s.licence, Ours: map[string]int{}, Others: map[string]int{}}
	scopes := []int{0}
	if s.licence.PerDivision {
		scopes = s.opts.Divisions
	}
	for _, d := range scopes {
		u := s.licenceUse(d, day)
		name := "licence"
		if d != 0 {
			name = strconv.Itoa(d)
		}
		out.Ours[name], out.Others[name] = u.ours, u.others
	}
	return out
}

// The error budget (§2.5): at most 10 error responses (400, 401, 403, 404) per app, user,
// division and endpoint per hour; exceeding it blocks that endpoint for an hour, and "the
// block grows on repetition" (§2.5, by how much is not documented). The simulator doubles
// it: a block that starts within a day of the end of the endpoint's previous block lasts
// twice as long (1 h, 2 h, 4 h, … up to 24 h); a day without a block starts again at an
// hour. The response while blocked is UNCONFIRMED (§2.5): the simulator answers 429 with
// the JSON error "API rate limit exceeded" and no rate-limit headers.
const (
	errorBudget         = 10
	errorBudgetBlock    = time.Hour
	errorBudgetMaxBlock = 24 * time.Hour
	// errorBudgetMemory is how long after a block ends the next one still counts as a repetition.
	errorBudgetMemory = 24 * time.Hour
)

type budgetKey struct {
	division int
	endpoint string
}

type budgetState struct {
	window  time.Time // start of the hour being counted
	errors  int
	blocked time.Time // blocked until
	blocks  int       // blocks in a row, each within errorBudgetMemory of the previous one's end
}

// blockFor is the length of the n-th block in a row: an hour, doubled each time, capped.
func blockFor(n int) time.Duration {
	d := errorBudgetBlock
	for range n - 1 {
		if d *= 2; d >= errorBudgetMaxBlock {
			return errorBudgetMaxBlock
		}
	}
	return d
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
		if st.blocks > 0 && now.Sub(st.blocked) < errorBudgetMemory {
			st.blocks++
		} else {
			st.blocks = 1
		}
		st.blocked = now.Add(blockFor(st.blocks))
		st.window, st.errors = now, 0
	}
}
