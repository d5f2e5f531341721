-- Verifications (exactsync verify, and the schedule EXACTSYNC_VERIFY_SCHEDULE): what a
-- comparison of the copy with Exact Online found, one row per (connection, division,
-- entity) and verification. How a verification compares and what it cannot prove: README,
-- "Verifying the copy"; the facts it relies on: docs/exact-online.md §3.16.

-- +goose Up
CREATE TABLE exact_sync.verifications (
    id            bigserial   PRIMARY KEY,
    connection_id bigint      NOT NULL REFERENCES exact_sync.connections (id) ON DELETE CASCADE,
    division      integer     NOT NULL,
    entity        text        NOT NULL,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz NOT NULL DEFAULT now(),
    status        text        NOT NULL CHECK (status IN ('clean', 'drift', 'no_count', 'skipped')),
    exact_count   bigint,
    local_count   bigint,
    groups        integer     NOT NULL DEFAULT 0,
    differences   jsonb       NOT NULL DEFAULT '[]',
    resynced      boolean     NOT NULL DEFAULT false,
    repair        text        NOT NULL DEFAULT '',
    calls         integer     NOT NULL DEFAULT 0,
    note          text        NOT NULL DEFAULT ''
);
CREATE INDEX verifications_latest_idx ON exact_sync.verifications (connection_id, division, entity, finished_at DESC);

COMMENT ON TABLE exact_sync.verifications IS
    'One row per entity, division and verification (exactsync verify): the copy compared with Exact Online''s counts and ledger totals (docs/exact-online.md §3.16).';
COMMENT ON COLUMN exact_sync.verifications.id IS 'The row''s id, in the order verifications finished.';
COMMENT ON COLUMN exact_sync.verifications.connection_id IS 'The connection whose division was verified (exact_sync.connections).';
COMMENT ON COLUMN exact_sync.verifications.division IS 'The division verified.';
COMMENT ON COLUMN exact_sync.verifications.entity IS 'The entity verified: its catalogue name, the table without its schema.';
COMMENT ON COLUMN exact_sync.verifications.started_at IS 'When the verification of this entity and division began.';
COMMENT ON COLUMN exact_sync.verifications.finished_at IS 'When it ended (repair included).';
COMMENT ON COLUMN exact_sync.verifications.status IS
    'clean: every comparison agreed; drift: a difference persisted after a fresh incremental sync; no_count: Exact has no count for the entity (nothing compared); skipped: not verified, to keep the division''s day budget out of its reserve.';
COMMENT ON COLUMN exact_sync.verifications.exact_count IS 'Exact''s count of the table''s population ($inlinecount of its regular endpoint with the table''s filter); NULL when none.';
COMMENT ON COLUMN exact_sync.verifications.local_count IS 'The rows of the division in the table at the comparison.';
COMMENT ON COLUMN exact_sync.verifications.groups IS 'For transaction_lines: the ledger groups compared with financial/ReportingBalance (both sides together); 0 for other entities.';
COMMENT ON COLUMN exact_sync.verifications.differences IS
    'The differences found, a JSON array: {"kind":"count","exact":n,"local":n} or {"kind":"ledger","year","period","gl_account","cost_center","cost_unit","type","status","exact_count","local_count","exact_amount","local_amount"}; empty when clean.';
COMMENT ON COLUMN exact_sync.verifications.resynced IS 'A first comparison differed, so the entity was synced incrementally and compared again; the row holds the second comparison.';
COMMENT ON COLUMN exact_sync.verifications.repair IS 'What --repair (or the schedule) did about the drift: since <date>, full, id_set (rows Exact no longer has removed), id_fetch (records Exact counts but its sync endpoint never served, read by key), or empty for none. The verification after a repair is a row of its own.';
COMMENT ON COLUMN exact_sync.verifications.calls IS 'The API calls this verification made to Exact (counts and ReportingBalance pages; not the syncs it ran).';
COMMENT ON COLUMN exact_sync.verifications.note IS 'Why an entity had no count, or was skipped; empty otherwise.';

-- The verifications a reader may see: those of its divisions.
CREATE VIEW exact_status.verifications WITH (security_barrier) AS
SELECT v.connection_id, v.division, v.entity, v.started_at, v.finished_at, v.status,
       v.exact_count, v.local_count, v.groups, v.differences, v.resynced, v.repair, v.note
FROM exact_sync.verifications v
WHERE coalesce(v.division = ANY ((SELECT exact_status.visible_divisions())::integer[]), true);

COMMENT ON VIEW exact_status.verifications IS
    'The verifications of the divisions the current role may see (exact_sync.verifications without the calls): whether the copy agreed with Exact Online''s counts and ledger totals.';
COMMENT ON COLUMN exact_status.verifications.connection_id IS 'The connection whose division was verified.';
COMMENT ON COLUMN exact_status.verifications.division IS 'The division verified.';
COMMENT ON COLUMN exact_status.verifications.entity IS 'The entity verified, the table without its schema.';
COMMENT ON COLUMN exact_status.verifications.started_at IS 'When the verification of this entity began.';
COMMENT ON COLUMN exact_status.verifications.finished_at IS 'When it ended.';
COMMENT ON COLUMN exact_status.verifications.status IS 'clean, drift (persisted after a fresh sync), no_count (nothing to compare with) or skipped (day budget).';
COMMENT ON COLUMN exact_status.verifications.exact_count IS 'Exact''s count of the table''s population; NULL when none.';
COMMENT ON COLUMN exact_status.verifications.local_count IS 'The rows of the division in the table.';
COMMENT ON COLUMN exact_status.verifications.groups IS 'Ledger groups compared (transaction_lines only).';
COMMENT ON COLUMN exact_status.verifications.differences IS 'The differences found, a JSON array; empty when clean.';
COMMENT ON COLUMN exact_status.verifications.resynced IS 'Compared again after a fresh incremental sync.';
COMMENT ON COLUMN exact_status.verifications.repair IS 'What the repair did: since <date>, full, id_set, id_fetch, or empty.';
COMMENT ON COLUMN exact_status.verifications.note IS 'Why there was no count, or why it was skipped.';

