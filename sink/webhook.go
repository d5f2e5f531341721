package sink

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/exactsync/exactsync/dest"
)

// RecordWebhookDeliveries adds deliveries to exact_sync.webhook_deliveries in one
// transaction: each row keeps the latest delivery and counts them all.
func (s *Store) RecordWebhookDeliveries(ctx context.Context, seen []dest.WebhookDelivery) error {
	b := &pgx.Batch{}
	for _, d := range seen {
		b.Queue(`
			INSERT INTO exact_sync.webhook_deliveries AS w (client_id, division, topic, last_action, last_outcome, last_received_at, deliveries)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (client_id, division, topic) DO UPDATE SET
				deliveries = w.deliveries + EXCLUDED.deliveries,
				last_action = CASE WHEN EXCLUDED.last_received_at >= w.last_received_at THEN EXCLUDED.last_action ELSE w.last_action END,
				last_outcome = CASE WHEN EXCLUDED.last_received_at >= w.last_received_at THEN EXCLUDED.last_outcome ELSE w.last_outcome END,
				last_received_at = greatest(w.last_received_at, EXCLUDED.last_received_at)`,
			d.ClientID, d.Division, d.Topic, d.Action, d.Outcome, d.At, max(d.Deliveries, 1))
	}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("recording %d webhook deliveries: %w", len(seen), err)
	}
	return nil
}

// WebhookDeliveries returns the last delivery of every app, division and topic, ordered
// by division, topic and app.
func (s *Store) WebhookDeliveries(ctx context.Context) ([]dest.WebhookDelivery, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT client_id, division, topic, last_action, last_outcome, last_received_at, deliveries
		FROM exact_sync.webhook_deliveries ORDER BY division, topic, client_id`)
	if err != nil {
		return nil, fmt.Errorf("reading the webhook deliveries: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (dest.WebhookDelivery, error) {
		var d dest.WebhookDelivery
		err := r.Scan(&d.ClientID, &d.Division, &d.Topic, &d.Action, &d.Outcome, &d.At, &d.Deliveries)
		d.At = d.At.UTC()
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading the webhook deliveries: %w", err)
	}
	return out, nil
}

// ClaimWebhookRun records that a webhook queues a run of entity in a division of a
// connection, unless one was queued less than every ago by any process: then it returns
// false and when the next may be. Times are the database's.
func (s *Store) ClaimWebhookRun(ctx context.Context, connID int64, division int, entity string, every time.Duration) (bool, time.Time, error) {
	var claimed bool
	var last time.Time
	err := s.pool.QueryRow(ctx, `
		WITH claim AS (
			INSERT INTO exact_sync.webhook_runs AS w (connection_id, division, entity, queued_at)
			VALUES ($1, $2, $3, now())
			ON CONFLICT (connection_id, division, entity) DO UPDATE SET queued_at = now()
			WHERE w.queued_at <= now() - make_interval(secs => $4)
			RETURNING queued_at
		)
		SELECT EXISTS (SELECT 1 FROM claim),
		       coalesce((SELECT queued_at FROM claim),
		                (SELECT queued_at FROM exact_sync.webhook_runs WHERE (connection_id, division, entity) = ($1, $2, $3)))`,
		connID, division, entity, every.Seconds()).Scan(&claimed, &last)
	if err != nil {
		return false, time.Time{}, fmt.Errorf("claiming the webhook run of %s in division %d of connection %d: %w", entity, division, connID, err)
	}
	if claimed {
		return true, time.Time{}, nil
	}
	return false, last.Add(every).UTC(), nil
}
