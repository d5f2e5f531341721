-- The database is the interface: what other people's applications may read, and nothing
-- more (README, "Giving an application access").
--
-- Reader roles. The group role exactsync_reader (NOLOGIN) holds USAGE on schemas exact and
-- exact_status, SELECT on their tables and views, and default privileges for the tables
-- later migrations add; `exactsync readers add` makes roles that are members of it. A role
-- is the server's, not the database's: what the group may read is granted in each database
-- on its own, and which rows a member sees is decided by this database's
-- exact_sync.readers, which only exactsync writes: a role it does not list sees no row here,
-- whatever it may read elsewhere. The group is made only when exactsync's role may create
-- roles (CREATEROLE); without it, the grants wait for the first `readers add` made by a
-- role that may.
--
-- Row-level security. Every table of the schemas exact_sync.reader_schemas() names (exact,
-- and any later schema of records that opts in) has row-level security and one policy,
-- exactsync_divisions: a row is visible when its division is one that
-- exact_status.visible_divisions() returns for the current role (NULL: all). The tables'
-- owner (exactsync's own role, and the roles whose privileges it has), superusers and
-- BYPASSRLS roles are not affected. Views in those schemas run as their invoker, so the
-- policy holds through them too. exact_sync.secure_readers() applies all of it and changes
-- nothing when nothing is missing; exactsync calls it after every migration, so a table a
-- later migration adds is covered before any run writes to it. A later schema opts in by
-- a migration that replaces exact_sync.reader_schemas() with a list that names it and then
-- runs SELECT exact_sync.secure_readers(); each of its tables needs a division column.
--
-- Nothing internal is readable by others: exact_sync (tokens, client secrets, the
-- quarantined bytes) grants nothing to PUBLIC or to readers. exact_status holds views
-- without secrets for readers, each limited to the divisions the reader may see: per
-- (connection, division, entity) where it stands, the runs kept, the quarantined records'
-- reasons (not their bytes), and the reader's own access.
--
-- exact_sync.encryption_key records the id of the key an exactsync process generated
-- (EXACTSYNC_STATE_DIR/encryption.key) when it sealed the first secrets, or the key that
-- `auth rotate-key` last sealed every secret with: a process without that key refuses to
-- start instead of generating a second one. The key itself is never stored here.

-- +goose Up
CREATE TABLE exact_sync.readers (
    role_name  text        PRIMARY KEY,
    divisions  integer[]   CHECK (divisions IS NULL OR cardinality(divisions) > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE exact_sync.encryption_key (
    singleton   boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    key_id      text        NOT NULL,
    generated   boolean     NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);

CREATE SCHEMA exact_status;

-- The readers whose privileges the current role has (itself, when it is one), with the
-- divisions each may see (NULL: all). Reading exact_sync.readers through this view is
-- what lets the policies find the current role's divisions without readers being able
-- to read exact_sync.
CREATE VIEW exact_status.access WITH (security_barrier) AS
SELECT r.role_name AS reader, r.divisions, r.created_at, r.updated_at
FROM exact_sync.readers r
JOIN pg_catalog.pg_roles ro ON ro.rolname = r.role_name
WHERE pg_catalog.pg_has_role(current_user, ro.oid, 'USAGE');

-- The divisions the current role may see: NULL for all of them (exactsync's own role,
-- superusers, BYPASSRLS roles, a reader without division limits), else the divisions of
-- the readers whose privileges it has. A role that is none of these is told so, instead
-- of seeing empty tables. STABLE: a query calls it once, as an initial plan.
-- +goose StatementBegin
CREATE FUNCTION exact_status.visible_divisions() RETURNS integer[]
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    readers integer;
    every   boolean;
    divs    integer[];
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = current_user AND (r.rolsuper OR r.rolbypassrls))
       OR pg_catalog.pg_has_role(current_user,
            (SELECT n.nspowner FROM pg_catalog.pg_namespace n WHERE n.nspname = 'exact_status'), 'USAGE') THEN
        RETURN NULL;
    END IF;
    SELECT count(*), bool_or(a.divisions IS NULL) INTO readers, every FROM exact_status.access a;
    IF readers = 0 THEN
        RAISE EXCEPTION 'role % is not an exactsync reader of database %', current_user, current_database()
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Use a role made by exactsync readers add: log in as it, or SET ROLE to it.';
    END IF;
    IF every THEN
        RETURN NULL;
    END IF;
    SELECT array_agg(DISTINCT d ORDER BY d) INTO divs FROM exact_status.access a, unnest(a.divisions) d;
    RETURN divs;
END
$$;
-- +goose StatementEnd

-- Where each entity of each division of each connection stands: its last run and how it
-- ended, its last success and the time since (lag), the records it has in quarantine, and
-- whether its connection works (ok, or reauth_required).
CREATE VIEW exact_status.entities WITH (security_barrier) AS
WITH k AS (
    SELECT connection_id, division, entity FROM exact_sync.cursors
    UNION
    SELECT connection_id, division, entity FROM exact_sync.runs
)
SELECT k.connection_id, k.division, k.entity,
       r.status      AS last_run_status,
       r.full_sync   AS last_run_full,
       r.started_at  AS last_run_started_at,
       r.finished_at AS last_run_finished_at,
       r.error       AS last_run_error,
       ok.finished_at AS last_success_at,
       now() - ok.finished_at AS lag,
       coalesce(q.records, 0) AS quarantined,
       c.state       AS connection_state
FROM k
JOIN exact_sync.connections c ON c.id = k.connection_id
LEFT JOIN LATERAL (
    SELECT x.status, x.full_sync, x.started_at, x.finished_at, x.error FROM exact_sync.runs x
    WHERE (x.connection_id, x.division, x.entity) = (k.connection_id, k.division, k.entity)
    ORDER BY x.started_at DESC, x.id DESC LIMIT 1
) r ON true
LEFT JOIN LATERAL (
    SELECT max(o.finished_at) AS finished_at FROM exact_sync.runs o
    WHERE (o.connection_id, o.division, o.entity) = (k.connection_id, k.division, k.entity) AND o.status = 'ok'
) ok ON true
LEFT JOIN LATERAL (
    SELECT count(*) AS records FROM exact_sync.rejected_records j
    WHERE (j.connection_id, j.division, j.entity) = (k.connection_id, k.division, k.entity)
) q ON true
WHERE coalesce(k.division = ANY ((SELECT exact_status.visible_divisions())::integer[]), true);

-- Every run kept (exactsync run prunes runs older than EXACTSYNC_RUN_HISTORY, 90 days by
-- default, keeping the last successful run of each entity in each division).
CREATE VIEW exact_status.runs WITH (security_barrier) AS
SELECT id, connection_id, division, entity, full_sync, status, started_at, finished_at,
       finished_at - started_at AS duration, upserted, removed, quarantined, pages, api_calls,
       cursor_from, cursor_to, error
FROM exact_sync.runs
WHERE coalesce(division = ANY ((SELECT exact_status.visible_divisions())::integer[]), true);

-- The records in quarantine and why; their bytes stay in exact_sync.rejected_records.
CREATE VIEW exact_status.rejected_records WITH (security_barrier) AS
SELECT connection_id, division, entity, ref, record_key, exact_timestamp, reason,
       octet_length(record) AS record_bytes, rejected_at
FROM exact_sync.rejected_records
WHERE coalesce(division = ANY ((SELECT exact_status.visible_divisions())::integer[]), true);

-- The group role of readers. A function, so that SQL and Go name it in one place each.
CREATE FUNCTION exact_sync.reader_group() RETURNS name
LANGUAGE sql IMMUTABLE AS $$ SELECT 'exactsync_reader'::name $$;

-- The schemas of records readers may read, each under the division policy.
CREATE FUNCTION exact_sync.reader_schemas() RETURNS name[]
LANGUAGE sql IMMUTABLE AS $$ SELECT ARRAY['exact']::name[] $$;

-- Makes the group role grp when it is missing and the current role may create roles;
-- returns whether it exists. Roles are the server's: another database's migration may
-- create it at the same moment, which is not an error.
-- +goose StatementBegin
CREATE FUNCTION exact_sync.create_reader_group(grp name DEFAULT exact_sync.reader_group()) RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = grp) THEN
        RETURN true;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = current_user AND (rolsuper OR rolcreaterole)) THEN
        RETURN false;
    END IF;
    BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN', grp);
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL; -- created meanwhile by another session
    END;
    RETURN true;
END
$$;
-- +goose StatementEnd

-- Puts the tables and views of schema target under the division policy and grants the
-- group (when it exists) USAGE on the schema, SELECT on its tables and views, and the same
-- on every table the current role creates there later. Returns how many changes it made:
-- 0 when everything was in place.
-- +goose StatementBegin
CREATE FUNCTION exact_sync.secure_schema(target name) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    grp     constant name := exact_sync.reader_group();
    grp_oid oid := (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = grp);
    nsp     oid := (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = target);
    t       record;
    n       integer := 0;
BEGIN
    IF nsp IS NULL THEN
        RETURN 0;
    END IF;
    FOR t IN SELECT c.oid, c.oid::regclass AS rel, c.relkind, c.relrowsecurity, c.reloptions
             FROM pg_catalog.pg_class c WHERE c.relnamespace = nsp AND c.relkind IN ('r', 'p', 'v')
             ORDER BY c.relname LOOP
        IF t.relkind = 'v' THEN
            IF NOT coalesce('security_invoker=true' = ANY (t.reloptions), false) THEN
                EXECUTE format('ALTER VIEW %s SET (security_invoker = true)', t.rel);
                n := n + 1;
            END IF;
        ELSE
            IF NOT t.relrowsecurity THEN
                EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t.rel);
                n := n + 1;
            END IF;
            IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_policy p WHERE p.polrelid = t.oid AND p.polname = 'exactsync_divisions') THEN
                -- NULL from visible_divisions() means every division: the comparison is
                -- then NULL, and coalesce makes it true. division is never NULL (it leads
                -- every primary key).
                EXECUTE format('CREATE POLICY exactsync_divisions ON %s FOR SELECT TO PUBLIC '
                    'USING (coalesce(division = ANY ((SELECT exact_status.visible_divisions())::integer[]), true))', t.rel);
                n := n + 1;
            END IF;
        END IF;
        IF grp_oid IS NOT NULL AND NOT has_table_privilege(grp_oid, t.oid, 'SELECT') THEN
            EXECUTE format('GRANT SELECT ON %s TO %I', t.rel, grp);
            n := n + 1;
        END IF;
    END LOOP;
    IF grp_oid IS NOT NULL THEN
        IF NOT has_schema_privilege(grp_oid, nsp, 'USAGE') THEN
            EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', target, grp);
            n := n + 1;
        END IF;
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_default_acl d, aclexplode(d.defaclacl) a
                       WHERE d.defaclrole = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user)
                         AND d.defaclnamespace = nsp AND d.defaclobjtype = 'r'
                         AND a.grantee = grp_oid AND a.privilege_type = 'SELECT') THEN
            EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT ON TABLES TO %I', target, grp);
            n := n + 1;
        END IF;
    END IF;
    RETURN n;
END
$$;
-- +goose StatementEnd

-- Applies every reader_schemas() schema's policy and grants (secure_schema) and the group's
-- access to exact_status: USAGE, SELECT on its views (now and later ones), EXECUTE on
-- visible_divisions(). Returns how many changes it made: 0 when nothing was missing.
-- +goose StatementBegin
CREATE FUNCTION exact_sync.secure_readers() RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    grp     constant name := exact_sync.reader_group();
    grp_oid oid := (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = grp);
    nsp     oid := (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = 'exact_status');
    s       name;
    t       record;
    n       integer := 0;
BEGIN
    FOREACH s IN ARRAY exact_sync.reader_schemas() LOOP
        n := n + exact_sync.secure_schema(s);
    END LOOP;
    IF grp_oid IS NULL THEN
        RETURN n;
    END IF;
    IF NOT has_schema_privilege(grp_oid, nsp, 'USAGE') THEN
        EXECUTE format('GRANT USAGE ON SCHEMA exact_status TO %I', grp);
        n := n + 1;
    END IF;
    FOR t IN SELECT c.oid, c.oid::regclass AS rel FROM pg_catalog.pg_class c
             WHERE c.relnamespace = nsp AND c.relkind IN ('r', 'v', 'm') ORDER BY c.relname LOOP
        IF NOT has_table_privilege(grp_oid, t.oid, 'SELECT') THEN
            EXECUTE format('GRANT SELECT ON %s TO %I', t.rel, grp);
            n := n + 1;
        END IF;
    END LOOP;
    FOR t IN SELECT p.oid, p.oid::regprocedure AS fn FROM pg_catalog.pg_proc p WHERE p.pronamespace = nsp LOOP
        IF NOT has_function_privilege(grp_oid, t.oid, 'EXECUTE') THEN
            EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', t.fn, grp);
            n := n + 1;
        END IF;
    END LOOP;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_default_acl d, aclexplode(d.defaclacl) a
                   WHERE d.defaclrole = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user)
                     AND d.defaclnamespace = nsp AND d.defaclobjtype = 'r'
                     AND a.grantee = grp_oid AND a.privilege_type = 'SELECT') THEN
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA exact_status GRANT SELECT ON TABLES TO %I', grp);
        n := n + 1;
    END IF;
    RETURN n;
END
$$;
-- +goose StatementEnd

-- exact_sync is exactsync's alone; readers reach exact_status's functions through the
-- group only.
REVOKE ALL ON SCHEMA exact_sync FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA exact_sync FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA exact_sync FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA exact_sync FROM PUBLIC;
REVOKE ALL ON SCHEMA exact_status FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA exact_status FROM PUBLIC;

SELECT exact_sync.create_reader_group();
SELECT exact_sync.secure_readers();
