-- Notifications and the other installation (issue 27).
--
-- exact_sync.alerts: one row per condition that EXACTSYNC_ALERT_URL was told about, so
-- that several run processes on one database send each notification once: a process
-- inserts the row (INSERT ... ON CONFLICT DO NOTHING) and sends only when it inserted it;
-- a "resolved" is sent by the process whose UPDATE ... WHERE resolved_at IS NULL changed
-- the row. Rows of resolved conditions stay 90 days, the history of what was notified.
--
-- connections.refresh_sends: how many times processes of this database announced sending
-- the stored refresh token (an announcement is committed before every send, see 00013).
-- When Exact answers that this token was already used and only the send that received
-- the answer was ours, another installation (or tool) refreshed the chain: the same
-- Exact user and app are connected elsewhere (docs/exact-online.md §1.9).

-- +goose Up
CREATE TABLE exact_sync.alerts (
    id            bigserial   PRIMARY KEY,
    condition     text        NOT NULL,
    subject       text        NOT NULL,
    opened_at     timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    text          text        NOT NULL,
    details       jsonb       NOT NULL DEFAULT '{}',
    sent_at       timestamptz,
    resolved_at   timestamptz,
    resolved_sent_at timestamptz,
    attempts      integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error    text        NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX alerts_open ON exact_sync.alerts (condition, subject) WHERE resolved_at IS NULL;

COMMENT ON TABLE exact_sync.alerts IS 'Conditions notified to EXACTSYNC_ALERT_URL: one open row per condition and subject, shared by every run process so that each notification is sent once.';
COMMENT ON COLUMN exact_sync.alerts.id IS 'Row id.';
COMMENT ON COLUMN exact_sync.alerts.condition IS 'The condition: reauth_required, refresh_token_idle, day_budget_spent, entity_refused or sync_lag.';
COMMENT ON COLUMN exact_sync.alerts.subject IS 'What the condition concerns: "connection 3", "connection 3 division 101 entity accounts".';
COMMENT ON COLUMN exact_sync.alerts.opened_at IS 'When a run process first saw the condition.';
COMMENT ON COLUMN exact_sync.alerts.last_seen_at IS 'When a run process last saw the condition hold.';
COMMENT ON COLUMN exact_sync.alerts.text IS 'The notification''s one-line text, without secrets.';
COMMENT ON COLUMN exact_sync.alerts.details IS 'The notification''s structured fields (connection, division, entity, ...), without secrets.';
COMMENT ON COLUMN exact_sync.alerts.sent_at IS 'When the receiver accepted the notification; NULL while it is still to be sent.';
COMMENT ON COLUMN exact_sync.alerts.resolved_at IS 'When a run process saw the condition clear; NULL while it holds.';
COMMENT ON COLUMN exact_sync.alerts.resolved_sent_at IS 'When the receiver accepted the "resolved" notification.';
COMMENT ON COLUMN exact_sync.alerts.attempts IS 'Failed deliveries of the pending notification (the retry backoff grows with it).';
COMMENT ON COLUMN exact_sync.alerts.next_attempt_at IS 'When the pending notification may be sent (again): now, or after a backoff that doubles with each failed delivery.';
COMMENT ON COLUMN exact_sync.alerts.last_error IS 'Why the last delivery failed, without secrets; empty after a success.';

ALTER TABLE exact_sync.connections ADD COLUMN refresh_sends integer NOT NULL DEFAULT 0;
COMMENT ON COLUMN exact_sync.connections.refresh_sends IS 'How many times processes of this database announced sending the stored refresh token; 0 after a new one is stored. Exact calling the token used when only one send was ours means another installation uses the same user and app.';
