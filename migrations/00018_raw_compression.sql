-- raw compressed with lz4 where the server supports it (issue 26).
--
-- The raw column of every entity's table is most of its bytes, and PostgreSQL compresses
-- it (TOAST) with pglz by default. lz4 compresses to about the same size several times
-- faster; PostgreSQL 14 and later offer it when built with lz4 (Debian's and the official
-- images are). BENCHMARKS.md ("Storage") has the figures.
--
-- exact_sync.compress_raw(table) sets lz4 on a table's raw column and returns 'lz4', or
-- leaves the server's default and returns 'pglz' when the server cannot (built without
-- lz4). This migration applies it to every table of schema exact that has a raw column,
-- says what it chose in a NOTICE, and the catalogue's later migrations call it for each
-- table they create. The choice is per column and in the catalog (pg_attribute.attcompression:
-- 'l' for lz4). Values already stored keep the compression they
-- were written with until the row is next written: no table is rewritten here.

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
