// Package divisions lists the divisions an Exact Online connection has been granted and
// keeps the list in the store (exact_sync.divisions), noticing divisions Exact moved to
// another database. It is shared by exactsync's commands and its worker, which both need
// the list and the day budgets stored per division; it sits under internal because no
// other program should depend on it.
//
// It does not decide how often to list: the worker lists hourly, the commands when asked.
//
// A citation such as §3.10 in its comments names a section of docs/exact-online.md, the
// project's reference of Exact Online.
package divisions

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/sync"
)

// Store keeps a connection's division list and the rate limits last seen in each
// division. The PostgreSQL store (package sink) implements it.
type Store interface {
	Divisions(ctx context.Context, connID int64) ([]dest.Division, error)
	// SaveDivisionsResettingMoved stores the list, and resets the cursors and the
	// stored row versions in tables of the divisions whose move date changed; it returns
	// those divisions.
	SaveDivisionsResettingMoved(ctx context.Context, connID int64, divs []dest.Division, tables ...dest.Table) ([]int, error)
	sync.RateLimitLoader
	sync.RateLimitSaver
}

// Save lists the divisions a connection has been granted and stores them
// (exact_sync.divisions). A division that Exact moved to another database since the last
// listing has new Timestamps throughout: its cursors and stored row versions are reset in
// the same transaction, so the next run reads it in full (docs/exact-online.md §3.10, §6.9).
//
// Besides the user's current division, the list may go through any stored division and
// any of also (EXACT_DIVISIONS), the ones with the most day budget left first. When every
// one of them has spent its day budget, the stored list is returned as it is.
func Save(ctx context.Context, st Store, connID int64, client *exact.Client, also []int, log zerolog.Logger) ([]dest.Division, error) {
	// Each division has its own day budget (§2.1): the list goes through a division
	// with budget left, the fullest first, and a spent one costs no call.
	limits, err := PrimeRateLimits(ctx, st, connID, client)
	if err != nil {
		return nil, err
	}
	stored, err := st.Divisions(ctx, connID)
	if err != nil {
		return nil, err
	}
	via := slices.Clone(also)
	for _, d := range stored {
		via = append(via, d.Code)
	}
	now := time.Now()
	slices.SortStableFunc(via, func(a, b int) int { return cmp.Compare(budgetLeft(limits, b, now), budgetLeft(limits, a, now)) })
	ds, err := client.Divisions(ctx, via...)
	saveRateLimits(ctx, st, connID, client, append(via, listedCodes(ds)...), log)
	var daily *exact.DailyLimitError
	if errors.As(err, &daily) && len(stored) > 0 {
		log.Warn().Int64("connection", connID).Err(err).
			Msg("every known division's day budget is spent; using the stored division list until the budgets reset")
		return stored, nil
	}
	var denied *exact.APIError
	if errors.As(err, &denied) && denied.Status == http.StatusForbidden {
		// §3.3: the user's current division may be one the app was not granted.
		return nil, fmt.Errorf("%w; the app was not granted division %d: set EXACT_DIVISIONS to divisions it was granted, or grant this one by authorizing again (exactsync auth login)",
			err, denied.Division)
	}
	if err != nil {
		return nil, err // the client's error says what it was listing
	}
	out := make([]dest.Division, len(ds))
	for i, d := range ds {
		out[i] = dest.Division{Code: d.Code, Description: d.Description, Status: d.Status, MoveDate: d.MoveDate}
	}
	moved, err := st.SaveDivisionsResettingMoved(ctx, connID, out, sync.Targets()...)
	if err != nil {
		return nil, err
	}
	for _, d := range moved {
		log.Warn().Int64("connection", connID).Int("division", d).
			Msg("Exact moved this division to another database; its cursors were reset and the next run reads it in full")
	}
	return out, nil
}

// saveRateLimits stores the rate limits the client learnt from Exact's answers for the
// divisions it may have listed through, as a run does, so that every process knows a day
// Exact ended while listing (docs/exact-online.md §2.4, §2.7). A failure is logged: the list matters more.
func saveRateLimits(ctx context.Context, st sync.RateLimitSaver, connID int64, client *exact.Client, divs []int, log zerolog.Logger) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	seen := map[int]bool{}
	for _, d := range divs {
		rl := client.RateLimit(d)
		if seen[d] || !rl.Known || rl.DailyLimit == 0 && rl.MinutelyLimit == 0 {
			continue // nothing learnt from Exact's headers
		}
		seen[d] = true
		err := st.SaveRateLimit(ctx, connID, d, dest.RateLimit{
			DailyLimit: rl.DailyLimit, DailyRemaining: rl.DailyRemaining, DailyReset: rl.DailyReset,
			MinutelyLimit: rl.MinutelyLimit, MinutelyRemaining: rl.MinutelyRemaining, MinutelyReset: rl.MinutelyReset,
		})
		if err != nil {
			log.Warn().Err(err).Int("division", d).Msg("cannot store the rate limits")
		}
	}
}

// listedCodes are the codes of the divisions listed.
func listedCodes(ds []exact.Division) []int {
	out := make([]int, len(ds))
	for i, d := range ds {
		out[i] = d.Code
	}
	return out
}

// PrimeRateLimits tells client which divisions of the connection have spent their day
// budget, as stored by any process, so that it sends them nothing until their reset,
// and returns the stored limits.
func PrimeRateLimits(ctx context.Context, st sync.RateLimitLoader, connID int64, client *exact.Client) (map[int]dest.RateLimit, error) {
	limits, err := st.RateLimits(ctx, connID)
	if err != nil {
		return nil, err
	}
	for d, rl := range limits {
		if !rl.DailyReset.IsZero() && rl.DailyRemaining <= 0 {
			client.SpentDay(d, rl.DailyReset)
		}
	}
	return limits, nil
}

// budgetLeft is the day budget last seen for division; unknown counts as full.
func budgetLeft(limits map[int]dest.RateLimit, division int, now time.Time) int {
	rl, ok := limits[division]
	if !ok || rl.DailyLimit <= 0 || now.After(rl.DailyReset) {
		return math.MaxInt
	}
	return rl.DailyRemaining
}

// Codes are the codes of ds, in their order.
func Codes(ds []dest.Division) []int {
	out := make([]int, len(ds))
	for i, d := range ds {
		out[i] = d.Code
	}
	return out
}

// Filter keeps the codes in filter, all when filter is empty.
func Filter(codes, filter []int) []int {
	if len(filter) == 0 {
		return codes
	}
	var out []int
	for _, c := range codes {
		if slices.Contains(filter, c) {
			out = append(out, c)
		}
	}
	return out
}
