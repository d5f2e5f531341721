-- Live Exact Online accounts and suppliers for downstream applications. Only records that
-- exist in Exact are kept: deleted ones are removed. raw is the record as received,
-- without __metadata. exact_timestamp is Exact's row version: an older version never
-- overwrites a newer one. synced_at is when exactsync last changed the row.

-- +goose Up
CREATE SCHEMA IF NOT EXISTS exact;

CREATE TABLE exact.accounts (
    division        integer     NOT NULL,
    id              uuid        NOT NULL,
    code            text,
    name            text,
    is_supplier     boolean,
    is_sales        boolean,
    status          text,
    email           text,
    city            text,
    country         text,
    vat_number      text,
    blocked         boolean,
    created         timestamptz,
    modified        timestamptz,
    exact_timestamp bigint      NOT NULL,
    raw             jsonb       NOT NULL,
    synced_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (division, id)
);

CREATE TABLE exact.suppliers (LIKE exact.accounts INCLUDING ALL);
