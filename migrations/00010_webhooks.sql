-- Webhooks (exact-online-api.md §3.14). A delivery only makes an incremental run happen
-- sooner; these tables hold what `exactsync webhooks status` shows and the bound on
-- webhook-triggered runs that every run process shares.
--
-- webhook_deliveries: the last delivery seen per app (the delivery's ClientId), division
-- and topic, with its action and what exactsync made of it (ok, debounced,
-- unknown_topic) and how many were seen. Only verified deliveries are recorded: an
-- unsigned one names nothing that can be trusted.
--
-- webhook_runs: when a delivery last queued a run of an entity of a division of a
-- connection, whichever process received it: at most one such run a minute.

-- +goose Up
CREATE TABLE exact_sync.webhook_deliveries (
    client_id        text        NOT NULL,
    division         integer     NOT NULL,
    topic            text        NOT NULL,
    last_action      text        NOT NULL,
    last_outcome     text        NOT NULL,
    last_received_at timestamptz NOT NULL,
    deliveries       bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (client_id, division, topic)
);

CREATE TABLE exact_sync.webhook_runs (
    connection_id bigint      NOT NULL REFERENCES exact_sync.connections (id) ON DELETE CASCADE,
    division      integer     NOT NULL,
    entity        text        NOT NULL,
    queued_at     timestamptz NOT NULL,
    PRIMARY KEY (connection_id, division, entity)
);
