package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/exactsync/exactsync/dest"
)

// alertsLockID serializes SyncAlerts across processes (advisory lock, bigint form, held
// by the transaction): each sees the open alerts the previous one left.
const alertsLockID int64 = 0x6578_7379_6e63_616c // "exsyncal"

// alertHistory is how long a resolved alert is kept, once its notifications are done.
const alertHistory = 90 * 24 * time.Hour

// SyncAlerts records the conditions that hold now (open): an alert not open yet is opened,
// and its notification becomes due; an open alert missing from open is resolved, and its
// "resolved" becomes due if its opening was notified. Processes that call it at the same
// time are serialized, so each condition is opened once however many processes see it.
// Alerts resolved more than 90 days ago are deleted.
func (s *Store) SyncAlerts(ctx context.Context, open []dest.Alert) (opened, resolved int, err error) {
	conds := make([]string, len(open))
	subjects := make([]string, len(open))
	for i, a := range open {
		conds[i], subjects[i] = a.Condition, a.Subject
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, alertsLockID); err != nil {
			return err
		}
		for _, a := range open {
			details, err := json.Marshal(a.Details)
			if err != nil {
				return fmt.Errorf("alert %s of %s: %w", a.Condition, a.Subject, err)
			}
			var inserted bool
			err = tx.QueryRow(ctx, `
				INSERT INTO exact_sync.alerts (condition, subject, text, details) VALUES ($1, $2, $3, $4)
				ON CONFLICT (condition, subject) WHERE resolved_at IS NULL
				DO UPDATE SET last_seen_at = now(), text = EXCLUDED.text, details = EXCLUDED.details
				RETURNING xmax = 0`, a.Condition, a.Subject, a.Text, details).Scan(&inserted)
			if err != nil {
				return fmt.Errorf("alert %s of %s: %w", a.Condition, a.Subject, err)
			}
			if inserted {
				opened++
			}
		}
		tag, err := tx.Exec(ctx, `
			UPDATE exact_sync.alerts SET resolved_at = now(), next_attempt_at = now(), attempts = 0
			WHERE resolved_at IS NULL
			  AND (condition, subject) NOT IN (SELECT * FROM unnest($1::text[], $2::text[]))`, conds, subjects)
		if err != nil {
			return err
		}
		resolved = int(tag.RowsAffected())
		_, err = tx.Exec(ctx, `DELETE FROM exact_sync.alerts WHERE resolved_at < now() - $1 * interval '1 hour'
			AND (resolved_sent_at IS NOT NULL OR sent_at IS NULL)`, alertHistory.Hours())
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("recording the alerts: %w", err)
	}
	return opened, resolved, nil
}

// DeliverAlert takes one due notification, locked so that no other process takes it
// (FOR UPDATE SKIP LOCKED), and hands it to send while the lock holds. When send returns
// nil the notification is recorded as sent; otherwise its attempt is counted and it is
// due again after backoff(attempts). ok is false when nothing was due.
func (s *Store) DeliverAlert(ctx context.Context, send func(context.Context, dest.AlertNotice) error, backoff func(attempts int) time.Duration) (ok bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var n dest.AlertNotice
		var details []byte
		var resolvedAt *time.Time
		err := tx.QueryRow(ctx, `
			SELECT id, condition, subject, text, details, opened_at, resolved_at, attempts
			FROM exact_sync.alerts
			WHERE next_attempt_at <= now()
			  AND ((sent_at IS NULL AND resolved_at IS NULL)
			    OR (sent_at IS NOT NULL AND resolved_at IS NOT NULL AND resolved_sent_at IS NULL))
			ORDER BY next_attempt_at, id
			LIMIT 1 FOR UPDATE SKIP LOCKED`).
			Scan(&n.ID, &n.Condition, &n.Subject, &n.Text, &details, &n.OpenedAt, &resolvedAt, &n.Attempts)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		ok = true
		n.Resolved, n.ResolvedAt, n.OpenedAt = resolvedAt != nil, orZero(resolvedAt), n.OpenedAt.UTC()
		if err := json.Unmarshal(details, &n.Details); err != nil {
			return fmt.Errorf("alert %d: %w", n.ID, err)
		}
		if serr := send(ctx, n); serr != nil {
			_, err = tx.Exec(ctx, `
				UPDATE exact_sync.alerts SET attempts = attempts + 1, last_error = $2,
				       next_attempt_at = now() + $3 * interval '1 millisecond'
				WHERE id = $1`, n.ID, serr.Error(), backoff(n.Attempts+1).Milliseconds())
			return err
		}
		col := "sent_at"
		if n.Resolved {
			col = "resolved_sent_at"
		}
		_, err = tx.Exec(ctx, `UPDATE exact_sync.alerts SET `+col+` = now(), attempts = 0, last_error = '' WHERE id = $1`, n.ID)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("delivering an alert: %w", err)
	}
	return ok, nil
}
