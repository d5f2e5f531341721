-- Quarantine and fencing.
--
-- rejected_records holds the records that could not be decoded or stored: a record
-- with text PostgreSQL cannot hold (NUL, lone surrogates), a key that is not a GUID, a
-- value of the wrong type. Each is written in the transaction of its page, which then
-- commits with the rest of its rows and its cursor, so one bad record never stops a
-- division. ref is the record's key when it could be read, else 'sha256:' and the hash
-- of its bytes; a record that later arrives in good shape deletes its row here.
--
-- division_locks carries a fencing token per (connection, division): taking the
-- division's advisory lock increments it, and every write checks, in its own
-- transaction, that the token is still the one its run took. A worker whose lock was
-- lost (its database session ended, say on a server restart) and taken by another
-- worker stops at its next write instead of syncing alongside.
--
-- runs.quarantined counts the records a run quarantined; a run left 'running' by a
-- process that died becomes 'abandoned' when the next run of its job starts.

-- +goose Up
CREATE TABLE exact_sync.rejected_records (
    connection_id   bigint      NOT NULL REFERENCES exact_sync.connections (id) ON DELETE CASCADE,
    division        integer     NOT NULL,
    entity          text        NOT NULL,
    ref             text        NOT NULL,
    record_key      text,
    exact_timestamp bigint,
    reason          text        NOT NULL,
    record          bytea       NOT NULL,
    rejected_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, division, entity, ref)
);

CREATE TABLE exact_sync.division_locks (
    connection_id bigint      NOT NULL,
    division      integer     NOT NULL,
    fence         bigint      NOT NULL,
    acquired_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, division)
);

ALTER TABLE exact_sync.runs ADD COLUMN quarantined integer NOT NULL DEFAULT 0;
