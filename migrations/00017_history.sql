-- Nothing is forgotten (issue 24): a trail of every deletion, and the opt-in history of
-- every version of a row.
--
-- Schema exact_history holds records for readers, like exact, under the same division
-- policy (it is added to exact_sync.reader_schemas()).
--
-- exact_history.deletions, always written: one row per row that a sync removed from a
-- table of exact, written by the statement that removed it (so in its transaction), with
-- why (deleted in Exact, not seen by a full pass, no longer a supplier, …), Exact's date
-- and user of the deletion when sync/Deleted gave them (§3.12), and the row as it last
-- was. EXACTSYNC_DELETIONS_RETENTION prunes it by removed_at (default: kept).
--
-- exact_history.<table>, one per table whose entity EXACTSYNC_HISTORY names, is made by
-- exactsync at the start of `run` and `sync` (sink.Store.SetHistory), not here: the
-- table's columns plus valid_from, valid_to, ended and seeded, the function
-- exact_history.<table>_at(timestamptz), and statement triggers on exact.<table>
-- (functions exact_sync.history_<table>_*) that write every change of the table into its
-- history in the same statement. exact_sync.history_tables records which tables have one.

-- +goose Up
CREATE SCHEMA exact_history;
COMMENT ON SCHEMA exact_history IS 'What exact no longer shows: the deletions trail (deletions) and, per table whose entity EXACTSYNC_HISTORY names, every version of its rows (<table>, and <table>_at(timestamptz) for the rows as they were at a moment). Readers see the divisions they see in exact.';

CREATE TABLE exact_history.deletions (
    id            bigserial   PRIMARY KEY,
    connection_id bigint      NOT NULL,
    division      integer     NOT NULL,
    entity        text        NOT NULL,
    key           text        NOT NULL,
    deleted_at    timestamptz,
    deleted_by    uuid,
    cause         text        NOT NULL,
    record        jsonb       NOT NULL,
    removed_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deletions_division_entity ON exact_history.deletions (division, entity, removed_at);
CREATE INDEX deletions_removed_at ON exact_history.deletions (removed_at);
COMMENT ON TABLE exact_history.deletions IS 'Every row exactsync removed from a table of exact, written in the transaction that removed it. Kept for EXACTSYNC_DELETIONS_RETENTION after removed_at (default: always).';
COMMENT ON COLUMN exact_history.deletions.id IS 'Sequence number of the removal.';
COMMENT ON COLUMN exact_history.deletions.connection_id IS 'The connection (exact_sync.connections.id) whose sync removed the row.';
COMMENT ON COLUMN exact_history.deletions.division IS 'Exact division of the row.';
COMMENT ON COLUMN exact_history.deletions.entity IS 'The entity (table of exact) the row was removed from, e.g. accounts.';
COMMENT ON COLUMN exact_history.deletions.key IS 'The row''s key (its id) as text.';
COMMENT ON COLUMN exact_history.deletions.deleted_at IS 'When the record was deleted in Exact, from sync/Deleted''s DeletedDate (Amsterdam wall time, stored as UTC); NULL when the removal had another cause.';
COMMENT ON COLUMN exact_history.deletions.deleted_by IS 'The Exact user who deleted the record, from sync/Deleted''s DeletedBy; NULL when unknown or for another cause.';
COMMENT ON COLUMN exact_history.deletions.cause IS 'Why the row was removed: deleted in Exact (sync/Deleted), not seen by a full pass (Exact forgot the deletion, or a record left the endpoint), no longer a supplier (the record left the entity''s condition), …';
COMMENT ON COLUMN exact_history.deletions.record IS 'The row as it last was in exact, as jsonb (to_jsonb of the row).';
COMMENT ON COLUMN exact_history.deletions.removed_at IS 'When exactsync removed the row (its transaction''s time).';

CREATE TABLE exact_sync.history_tables (
    table_name  text        PRIMARY KEY,
    enabled     boolean     NOT NULL,
    enabled_at  timestamptz NOT NULL DEFAULT now(),
    disabled_at timestamptz
);
COMMENT ON TABLE exact_sync.history_tables IS 'The tables of exact with a history table in exact_history: enabled while EXACTSYNC_HISTORY names their entity (their triggers write it), disabled once it stopped (the table is kept, its triggers dropped).';
COMMENT ON COLUMN exact_sync.history_tables.table_name IS 'The table of exact, e.g. accounts; its history is exact_history.<table_name>.';
COMMENT ON COLUMN exact_sync.history_tables.enabled IS 'Whether the history is being written.';
COMMENT ON COLUMN exact_sync.history_tables.enabled_at IS 'When the history was last turned on (and seeded from the current rows).';
COMMENT ON COLUMN exact_sync.history_tables.disabled_at IS 'When the history was last turned off; NULL while on.';

CREATE OR REPLACE FUNCTION exact_sync.reader_schemas() RETURNS name[]
LANGUAGE sql IMMUTABLE AS $$ SELECT ARRAY['exact', 'exact_history']::name[] $$;

SELECT exact_sync.secure_readers();

