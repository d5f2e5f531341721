-- raw compressed with lz4 where the server supports it, and updates that do not bloat
-- (issue 26).
--
-- The raw column of every entity's table is most of its bytes, and PostgreSQL compresses
-- it (TOAST) with pglz by default. lz4 compresses to about the same size several times
-- faster; PostgreSQL 14 and later offer it when built with lz4 (Debian's and the official
-- images are). BENCHMARKS.md ("Storage and updates") has the figures.
--
-- exact_sync.compress_raw(table) sets lz4 on a table's raw column and returns 'lz4', or
-- leaves the server's default and returns 'pglz' when the server cannot (built without
-- lz4). This migration applies it to every table of schema exact that has a raw column,
-- says what it chose in a NOTICE, and the catalogue's later migrations call it for each
-- table they create. The choice is per column and in the catalog (pg_attribute.attcompression:
-- 'l' for lz4). Values already stored keep the compression they
-- were written with until the row is next written: no table is rewritten here.
--
-- Updates that do not bloat. Every write sets synced_at, which the index
-- <table>_synced_at_idx (migration 00008) held so that applications could read "what
-- changed since T": and on PostgreSQL 15 any index on a column an UPDATE changes makes it
-- a non-HOT update, a new tuple in every index and a dead one left for vacuum. Over 30
-- incremental cycles that each changed 1 % of 200,000 transaction lines, 0 of 60,000
-- updates were HOT (BENCHMARKS.md, "Storage and updates"). So the entities' tables lose that index,
-- get fillfactor 90 (room on each page for the new version of a row), and "what changed"
-- is a change log instead:
--
--   exact_sync.changes    one row per table, division and statement that inserted rows,
--                         and one per those that changed rows (an upsert that does both
--                         adds two; a replayed page, which changes none, adds none):
--                         the keys, as text, in keys; id rises with every row, and the
--                         writes of one division never overlap (its lock), so within a
--                         division a reader that keeps the last id it read misses nothing.
--                         Kept 7 days (exactsync run prunes it hourly).
--   exact_status.changes  the same for readers, limited to their divisions.
--
-- Statement-level triggers with transition tables write it (exact_sync.log_changes):
-- one INSERT per write and division, whatever the number of rows; exactsync's own code
-- does not change. exact_sync.track_changes(table) sets all of it on a table; this
-- migration runs it on every table of schema exact, and the catalogue's later migrations
-- on each table they create.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION exact_sync.compress_raw(tbl regclass) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ALTER COLUMN raw SET COMPRESSION lz4', tbl);
    RETURN 'lz4';
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    -- "compression method lz4 not supported": the server was built without lz4.
    RETURN 'pglz';
END
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION exact_sync.compress_raw(regclass) IS
    'Sets lz4 compression on the raw column of an entity''s table and returns ''lz4'', or returns ''pglz'' (the column left as it was) when the server was built without lz4 (migration 00018).';

-- +goose StatementBegin
DO $$
DECLARE
    tbl regclass;
    chosen text;
    n integer := 0;
BEGIN
    FOR tbl IN
        SELECT c.oid::regclass FROM pg_class c
        JOIN pg_namespace ns ON ns.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'raw' AND NOT a.attisdropped
        WHERE ns.nspname = 'exact' AND c.relkind = 'r'
        ORDER BY c.relname
    LOOP
        chosen := exact_sync.compress_raw(tbl);
        n := n + 1;
    END LOOP;
    RAISE NOTICE 'raw: % compression on the raw column of % tables of schema exact', coalesce(chosen, 'no'), n;
END
$$;
-- +goose StatementEnd

CREATE TABLE exact_sync.changes (
    id         bigserial   PRIMARY KEY,
    table_name text        NOT NULL,
    division   integer     NOT NULL,
    keys       text[]      NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX changes_table_division_id_idx ON exact_sync.changes (table_name, division, id);
CREATE INDEX changes_changed_at_idx ON exact_sync.changes (changed_at);

COMMENT ON TABLE exact_sync.changes IS 'The change log: per statement that inserted or changed rows of an entity''s table, per division, the keys of those rows (migration 00018). Readers see it through exact_status.changes. Kept 7 days.';
COMMENT ON COLUMN exact_sync.changes.id IS 'Rises with every entry; within a division, entries commit in id order (a division''s writes never overlap).';
COMMENT ON COLUMN exact_sync.changes.table_name IS 'The table of schema exact, without the schema: accounts, transaction_lines.';
COMMENT ON COLUMN exact_sync.changes.division IS 'The division of the rows.';
COMMENT ON COLUMN exact_sync.changes.keys IS 'The keys of the rows inserted or changed, as text: join with the table on (division, key).';
COMMENT ON COLUMN exact_sync.changes.changed_at IS 'The start of the write''s transaction (the rows'' synced_at).';

-- +goose StatementBegin
CREATE FUNCTION exact_sync.log_changes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- TG_ARGV[0] is the table's key column; "changed" the transition table.
    EXECUTE format('INSERT INTO exact_sync.changes (table_name, division, keys)
        SELECT %L, division, array_agg(%I::text) FROM changed GROUP BY division', TG_TABLE_NAME, TG_ARGV[0]);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION exact_sync.log_changes() IS
    'The trigger of exact_sync.track_changes: adds to exact_sync.changes, per division, the keys of the rows a statement inserted or changed (migration 00018).';

-- +goose StatementBegin
CREATE FUNCTION exact_sync.track_changes(tbl regclass) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    key name;
    idx regclass;
BEGIN
    SELECT a.attname INTO STRICT key FROM pg_index i
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[1]
    WHERE i.indrelid = tbl AND i.indisprimary;
    FOR idx IN
        SELECT i.indexrelid::regclass FROM pg_index i
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
        WHERE i.indrelid = tbl AND a.attname = 'synced_at'
    LOOP
        EXECUTE format('DROP INDEX %s', idx);
    END LOOP;
    EXECUTE format('ALTER TABLE %s SET (fillfactor = 90)', tbl);
    EXECUTE format('CREATE OR REPLACE TRIGGER exactsync_inserted AFTER INSERT ON %s REFERENCING NEW TABLE AS changed
        FOR EACH STATEMENT EXECUTE FUNCTION exact_sync.log_changes(%I)', tbl, key);
    EXECUTE format('CREATE OR REPLACE TRIGGER exactsync_updated AFTER UPDATE ON %s REFERENCING NEW TABLE AS changed
        FOR EACH STATEMENT EXECUTE FUNCTION exact_sync.log_changes(%I)', tbl, key);
END
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION exact_sync.track_changes(regclass) IS
    'Sets an entity''s table up for updates that do not bloat: drops its synced_at index, sets fillfactor 90, and logs its inserted and changed keys in exact_sync.changes (migration 00018).';

-- +goose StatementBegin
DO $$
DECLARE
    tbl regclass;
BEGIN
    FOR tbl IN
        SELECT c.oid::regclass FROM pg_class c
        JOIN pg_namespace ns ON ns.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'synced_at' AND NOT a.attisdropped
        WHERE ns.nspname = 'exact' AND c.relkind = 'r'
        ORDER BY c.relname
    LOOP
        PERFORM exact_sync.track_changes(tbl);
    END LOOP;
END
$$;
-- +goose StatementEnd

CREATE VIEW exact_status.changes WITH (security_barrier) AS
SELECT id, table_name, division, keys, changed_at
FROM exact_sync.changes
WHERE coalesce(division = ANY ((SELECT exact_status.visible_divisions())::integer[]), true);

COMMENT ON VIEW exact_status.changes IS 'What changed: per write and division, the keys of the rows an entity''s table gained or changed, for the divisions the reader may see (README, "Change notifications"). Kept 7 days.';
