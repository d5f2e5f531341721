package worker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/internal/divisions"
	"github.com/exactsync/exactsync/sync"
	"github.com/exactsync/exactsync/webhook"
)

// ErrBudgetReserve is returned by WebhookTrigger.Trigger when a division's day budget,
// less what its schedules will spend before Exact's reset, would fall into the reserve
// kept for the schedules (sync.BudgetReserve of the day's limit).
var ErrBudgetReserve = errors.New("the day budget left after the schedules' forecast is within the reserve; the schedule runs it")

// WebhookConfig configures a WebhookTrigger.
type WebhookConfig struct {
	Pool  *pgxpool.Pool // the queue's database. Required.
	Store WebhookStore  // connections, divisions, rate limits, webhook state. Required.
	// Divisions restricts the synced divisions (EXACT_DIVISIONS); empty: every stored one.
	Divisions []int
	// ForecastPerDay is the calls a day the schedules forecast per division
	// (sync.Forecast.Total).
	ForecastPerDay int
	// Every bounds the webhook-triggered runs of one entity and division, across every
	// process (default webhook.DefaultEvery).
	Every  time.Duration
	Logger zerolog.Logger
	Now    func() time.Time // default time.Now
}

// WebhookTrigger queues the sync jobs that webhook deliveries ask for (webhook.Trigger)
// and stores the deliveries seen (webhook.Recorder).
type WebhookTrigger struct {
	cfg   WebhookConfig
	river *river.Client[pgx.Tx] // insert only
}

var (
	_ webhook.Trigger  = (*WebhookTrigger)(nil)
	_ webhook.Recorder = (*WebhookTrigger)(nil)
)

// NewWebhookTrigger checks cfg and builds a WebhookTrigger.
func NewWebhookTrigger(cfg WebhookConfig) (*WebhookTrigger, error) {
	if cfg.Pool == nil || cfg.Store == nil {
		return nil, errors.New("worker: WebhookConfig.Pool and Store are required")
	}
	cfg.Every = cmp.Or(cfg.Every, webhook.DefaultEvery)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	rc, err := river.NewClient(riverpgxv5.New(cfg.Pool), &river.Config{Schema: Schema, Logger: slog.New(discard{})})
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	return &WebhookTrigger{cfg: cfg, river: rc}, nil
}

// Trigger queues the run of t in every connection of the delivery's app that syncs its
// division: unless the day budget would fall into the reserve (ErrBudgetReserve), and at
// most one a minute across processes (a *webhook.LaterError says when the next may be).
// The job carries the time of its first delivery, so that its latency is known when it
// commits. A job of the same run already queued takes the place of this one; one already
// running may have read before the change, so the run is asked again a minute later.
func (t *WebhookTrigger) Trigger(ctx context.Context, target webhook.Target) error {
	st := t.cfg.Store
	conns, err := st.Connections(ctx)
	if err != nil {
		return fmt.Errorf("reading connections: %w", err)
	}
	found := false
	var errs []error
	for _, conn := range conns {
		if !sameClient(conn.ClientID, target.ClientID) || conn.State == dest.StateReauthRequired {
			continue
		}
		ok, err := t.syncs(ctx, conn.ID, target.Division)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !ok {
			continue
		}
		found = true
		if err := t.queue(ctx, conn.ID, target); err != nil {
			errs = append(errs, err)
		}
	}
	if !found && len(errs) == 0 {
		return fmt.Errorf("no connection of app %s syncs division %d", target.ClientID, target.Division)
	}
	return errors.Join(errs...)
}

// syncs reports whether connection connID syncs division: one of its stored divisions,
// within Divisions.
func (t *WebhookTrigger) syncs(ctx context.Context, connID int64, division int) (bool, error) {
	stored, err := t.cfg.Store.Divisions(ctx, connID)
	if err != nil {
		return false, err
	}
	return slices.Contains(divisions.Filter(divisions.Codes(stored), t.cfg.Divisions), division), nil
}

func (t *WebhookTrigger) queue(ctx context.Context, connID int64, target webhook.Target) error {
	st := t.cfg.Store
	limits, err := st.RateLimits(ctx, connID)
	if err != nil {
		return err
	}
	now := t.cfg.Now()
	if !budgetLeavesReserve(limits[target.Division], t.cfg.ForecastPerDay, now) {
		return fmt.Errorf("division %d of connection %d: %w", target.Division, connID, ErrBudgetReserve)
	}
	ok, next, err := st.ClaimWebhookRun(ctx, connID, target.Division, target.Entity, t.cfg.Every)
	if err != nil {
		return err
	}
	if !ok {
		return &webhook.LaterError{At: next}
	}
	args := SyncArgs{Connection: connID, Division: target.Division, Entity: target.Entity, Webhook: target.First.UTC()}
	res, err := t.river.Insert(ctx, args, nil)
	if err != nil {
		return fmt.Errorf("queueing %s: %w", args.Job(), err)
	}
	if res.UniqueSkippedAsDuplicate && res.Job.State == rivertype.JobStateRunning {
		return &webhook.LaterError{At: now.Add(t.cfg.Every)}
	}
	return nil
}

// budgetLeavesReserve reports whether a division can spend a call now and still keep
// the reserve (sync.BudgetReserve of its day limit) after what the schedules forecast
// for the rest of Exact's day (perDay calls a day, spread evenly; the day resets at
// 00:00 UTC, §2.3). A budget never seen, or seen before the last reset, allows it.
func budgetLeavesReserve(rl dest.RateLimit, perDay int, now time.Time) bool {
	if rl.DailyLimit <= 0 || rl.DailyReset.IsZero() || !now.Before(rl.DailyReset) {
		return true
	}
	left := min(rl.DailyReset.Sub(now), 24*time.Hour)
	rest := int(math.Ceil(float64(perDay) * left.Hours() / 24))
	reserve := int(math.Ceil(sync.BudgetReserve * float64(rl.DailyLimit)))
	return rl.DailyRemaining-rest-1 >= reserve
}

// sameClient compares an app's client id as stored and as a delivery names it: GUIDs,
// with or without braces, in any case.
func sameClient(stored, delivered string) bool {
	norm := func(s string) string { return strings.ToLower(strings.Trim(strings.TrimSpace(s), "{}")) }
	return norm(stored) != "" && norm(stored) == norm(delivered)
}

// RecordWebhookDeliveries stores the last deliveries seen (webhook.Recorder).
func (t *WebhookTrigger) RecordWebhookDeliveries(ctx context.Context, seen []webhook.Seen) error {
	rows := make([]dest.WebhookDelivery, len(seen))
	for i, s := range seen {
		rows[i] = dest.WebhookDelivery{ClientID: s.ClientID, Division: s.Division, Topic: s.Topic, Action: s.Action,
			Outcome: s.Outcome, At: s.At, Deliveries: s.Deliveries}
	}
	return t.cfg.Store.RecordWebhookDeliveries(ctx, rows)
}
