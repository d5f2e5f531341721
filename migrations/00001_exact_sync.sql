-- Internal state of exactsync: connections and their tokens, cursors, run history,
-- divisions and rate limits. Nothing here is meant for downstream applications.

-- +goose Up
CREATE SCHEMA IF NOT EXISTS exact_sync;

-- One row per connection: an Exact Online host, an app (client id) and a user.
-- Tokens are unbounded text: Exact's access tokens are long and their length is not
-- documented. Times are NULL when unknown.
CREATE TABLE exact_sync.connections (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    base_url                text        NOT NULL,
    client_id               text        NOT NULL,
    user_key                text        NOT NULL DEFAULT '',
    access_token            text        NOT NULL DEFAULT '',
    refresh_token           text        NOT NULL DEFAULT '',
    access_token_expires_at timestamptz,
    access_token_issued_at  timestamptz,
    refresh_token_issued_at timestamptz,
    last_refresh_at         timestamptz,
    state                   text        NOT NULL DEFAULT 'ok'
                                        CHECK (state IN ('ok', 'reauth_required')),
    state_reason            text        NOT NULL DEFAULT '',
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    UNIQUE (base_url, client_id, user_key)
);

-- Where the next incremental run of an entity in a division starts.
CREATE TABLE exact_sync.cursors (
    connection_id     bigint      NOT NULL REFERENCES exact_sync.connections (id) ON DELETE CASCADE,
    division          integer     NOT NULL,
    entity            text        NOT NULL,
    cursor_timestamp  bigint      NOT NULL DEFAULT 0,
    deleted_timestamp bigint      NOT NULL DEFAULT 0,
    last_full_at      timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, division, entity)
);

-- One row per run of one entity in one division.
CREATE TABLE exact_sync.runs (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    connection_id bigint      NOT NULL REFERENCES exact_sync.connections (id) ON DELETE CASCADE,
    division      integer     NOT NULL,
    entity        text        NOT NULL,
    full_sync     boolean     NOT NULL DEFAULT false,
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    status        text        NOT NULL DEFAULT 'running',
    upserted      integer     NOT NULL DEFAULT 0,
    removed       integer     NOT NULL DEFAULT 0,
    pages         integer     NOT NULL DEFAULT 0,
    api_calls     integer     NOT NULL DEFAULT 0,
    cursor_from   bigint,
    cursor_to     bigint,
    error         text        NOT NULL DEFAULT ''
);
CREATE INDEX runs_connection_division_entity_started_idx
    ON exact_sync.runs (connection_id, division, entity, started_at DESC);

-- Divisions a connection has been granted, as last listed.
CREATE TABLE exact_sync.divisions (
    connection_id bigint      NOT NULL REFERENCES exact_sync.connections (id) ON DELETE CASCADE,
    division      integer     NOT NULL,
    description   text        NOT NULL DEFAULT '',
    status        integer,
    seen_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, division)
);

-- The rate-limit headers last seen per division (exact-online-api.md §2.2).
CREATE TABLE exact_sync.rate_limits (
    connection_id      bigint      NOT NULL REFERENCES exact_sync.connections (id) ON DELETE CASCADE,
    division           integer     NOT NULL,
    daily_limit        integer,
    daily_remaining    integer,
    daily_reset_at     timestamptz,
    minutely_limit     integer,
    minutely_remaining integer,
    minutely_reset_at  timestamptz,
    observed_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, division)
);
