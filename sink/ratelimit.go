package sink

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/exactsync/exactsync/dest"
)

// SaveRateLimit stores the rate-limit state last seen for a division of a connection.
func (s *Store) SaveRateLimit(ctx context.Context, connID int64, division int, rl dest.RateLimit) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO exact_sync.rate_limits AS r (connection_id, division, daily_limit, daily_remaining, daily_reset_at,
			minutely_limit, minutely_remaining, minutely_reset_at, observed_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, coalesce($9, now()))
		ON CONFLICT (connection_id, division) DO UPDATE
		SET daily_limit = EXCLUDED.daily_limit, daily_remaining = EXCLUDED.daily_remaining,
		    daily_reset_at = EXCLUDED.daily_reset_at, minutely_limit = EXCLUDED.minutely_limit,
		    minutely_remaining = EXCLUDED.minutely_remaining, minutely_reset_at = EXCLUDED.minutely_reset_at,
		    observed_at = EXCLUDED.observed_at
		WHERE r.observed_at <= EXCLUDED.observed_at`,
		connID, division, rl.DailyLimit, rl.DailyRemaining, orNull(rl.DailyReset),
		rl.MinutelyLimit, rl.MinutelyRemaining, orNull(rl.MinutelyReset), orNull(rl.ObservedAt))
	if err != nil {
		return fmt.Errorf("storing the rate limits of division %d: %w", division, err)
	}
	return nil
}

// RateLimits returns the rate-limit state last seen per division of a connection.
func (s *Store) RateLimits(ctx context.Context, connID int64) (map[int]dest.RateLimit, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT division, coalesce(daily_limit, 0), coalesce(daily_remaining, 0), daily_reset_at,
		       coalesce(minutely_limit, 0), coalesce(minutely_remaining, 0), minutely_reset_at, observed_at
		FROM exact_sync.rate_limits WHERE connection_id = $1`, connID)
	if err != nil {
		return nil, fmt.Errorf("reading rate limits of connection %d: %w", connID, err)
	}
	out := make(map[int]dest.RateLimit)
	var division int
	var rl dest.RateLimit
	var dr, mr *time.Time
	_, err = pgx.ForEachRow(rows, []any{&division, &rl.DailyLimit, &rl.DailyRemaining, &dr,
		&rl.MinutelyLimit, &rl.MinutelyRemaining, &mr, &rl.ObservedAt}, func() error {
		rl.DailyReset, rl.MinutelyReset, rl.ObservedAt = orZero(dr), orZero(mr), rl.ObservedAt.UTC()
		out[division] = rl
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading rate limits of connection %d: %w", connID, err)
	}
	return out, nil
}

// DivisionRateLimit returns the rate-limit state last seen for one division of a
// connection; ok is false when none is stored. A run reads its division's alone: reading
// the connection's every division (RateLimits) would cost each job as much as the
// divisions are many.
func (s *Store) DivisionRateLimit(ctx context.Context, connID int64, division int) (rl dest.RateLimit, ok bool, err error) {
	var dr, mr *time.Time
	err = s.pool.QueryRow(ctx, `
		SELECT coalesce(daily_limit, 0), coalesce(daily_remaining, 0), daily_reset_at,
		       coalesce(minutely_limit, 0), coalesce(minutely_remaining, 0), minutely_reset_at, observed_at
		FROM exact_sync.rate_limits WHERE connection_id = $1 AND division = $2`, connID, division).
		Scan(&rl.DailyLimit, &rl.DailyRemaining, &dr, &rl.MinutelyLimit, &rl.MinutelyRemaining, &mr, &rl.ObservedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return dest.RateLimit{}, false, nil
	}
	if err != nil {
		return dest.RateLimit{}, false, fmt.Errorf("reading the rate limits of division %d of connection %d: %w", division, connID, err)
	}
	rl.DailyReset, rl.MinutelyReset, rl.ObservedAt = orZero(dr), orZero(mr), rl.ObservedAt.UTC()
	return rl, true, nil
}

// AppCalls returns the API calls that the runs of connID's app (every connection with its
// client id: Exact counts the day per app and division, docs/exact-online.md §2.1) recorded in
// division since since (exact_sync.runs.api_calls, by the runs' start). Calls made outside
// a run, such as division listings, are not counted.
func (s *Store) AppCalls(ctx context.Context, connID int64, division int, since time.Time) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `
		SELECT coalesce(sum(r.api_calls), 0)
		FROM exact_sync.runs r JOIN exact_sync.connections c ON c.id = r.connection_id
		WHERE r.division = $2 AND r.started_at >= $3
		  AND c.client_id = (SELECT client_id FROM exact_sync.connections WHERE id = $1)`,
		connID, division, since).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("counting the calls of division %d since %s: %w", division, since.UTC().Format(time.RFC3339), err)
	}
	return n, nil
}

// EntityCalls is the API calls the runs of one entity's job recorded.
type EntityCalls struct {
	Entity string
	Calls  int
}

// CallsByEntity sums the API calls recorded by the runs started since since, by the
// entity of their job, most calls first (exact_sync.runs.api_calls; calls made outside a
// run, such as division listings, are not counted).
func (s *Store) CallsByEntity(ctx context.Context, since time.Time) ([]EntityCalls, error) {
	rows, err := s.pool.Query(ctx, `SELECT entity, sum(api_calls)::int
		FROM exact_sync.runs WHERE started_at >= $1
		GROUP BY entity HAVING sum(api_calls) > 0 ORDER BY 2 DESC, 1`, since)
	if err != nil {
		return nil, fmt.Errorf("summing the calls since %s by entity: %w", since.UTC().Format(time.RFC3339), err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[EntityCalls])
	if err != nil {
		return nil, fmt.Errorf("summing the calls since %s by entity: %w", since.UTC().Format(time.RFC3339), err)
	}
	return out, nil
}
