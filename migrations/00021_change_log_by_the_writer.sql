-- The change log written by the writes themselves, not by triggers (issue 26).
--
-- Migration 00018 fed exact_sync.changes from two statement triggers with transition
-- tables on every entity's table. A transition table holds a copy of every row the
-- statement wrote, whole, and the trigger then turned the keys to text and aggregated
-- them: on a first sync, where every page is copied straight into the table, that was
-- about a sixth of PostgreSQL's work per row (BENCHMARKS.md, "A million transaction
-- lines"). The sink knows the keys it writes, so it now adds the entries itself, in the
-- statement's transaction: a page copied into the table logs the page's keys, and the
-- upsert logs the keys it inserted and those it changed from its RETURNING clause (one
-- entry per division and kind, as before; a replayed page, which changes nothing, logs
-- nothing). The log's content and its reader view are as they were. Rows written to the
-- tables by anything other than exactsync are not logged: the tables are exactsync's.
--
-- exact_sync.track_changes(table) keeps its name and its other work (no synced_at index,
-- fillfactor 90) and creates no trigger; the catalogue's migrations call it for each table
-- they create. The keys are compressed with lz4 where the server has it.

-- +goose Up
-- +goose StatementBegin
DO $$
DECLARE
    tbl regclass;
BEGIN
    FOR tbl IN
        SELECT DISTINCT g.tgrelid::regclass FROM pg_trigger g
        JOIN pg_class c ON c.oid = g.tgrelid
        JOIN pg_namespace ns ON ns.oid = c.relnamespace
        WHERE ns.nspname = 'exact' AND g.tgname IN ('exactsync_inserted', 'exactsync_updated')
    LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS exactsync_inserted ON %s', tbl);
        EXECUTE format('DROP TRIGGER IF EXISTS exactsync_updated ON %s', tbl);
    END LOOP;
END
$$;
-- +goose StatementEnd

DROP FUNCTION exact_sync.log_changes();

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION exact_sync.track_changes(tbl regclass) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    idx regclass;
BEGIN
    FOR idx IN
        SELECT i.indexrelid::regclass FROM pg_index i
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
        WHERE i.indrelid = tbl AND a.attname = 'synced_at'
    LOOP
        EXECUTE format('DROP INDEX %s', idx);
    END LOOP;
    EXECUTE format('ALTER TABLE %s SET (fillfactor = 90)', tbl);
END
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION exact_sync.track_changes(regclass) IS
    'Sets an entity''s table up for updates that do not bloat: drops its synced_at index and sets fillfactor 90 (migration 00018). Its writes are logged in exact_sync.changes by exactsync''s sink (migration 00021).';

-- +goose StatementBegin
DO $$
BEGIN
    ALTER TABLE exact_sync.changes ALTER COLUMN keys SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'changes: the server has no lz4; keys stay compressed with its default';
END
$$;
-- +goose StatementEnd

COMMENT ON TABLE exact_sync.changes IS 'The change log: per write that inserted or changed rows of an entity''s table, per division and kind (inserted, changed), the keys of those rows, added by exactsync''s sink in the write''s transaction (migrations 00018, 00021). Readers see it through exact_status.changes. Kept 7 days.';
