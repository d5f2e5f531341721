-- A full pass reconciles a division: Exact keeps its deletion log (sync/Deleted) for two
-- months only, so a division not synced for longer can hold rows whose deletion will never
-- be reported (exact-online-api.md §3.12, §6.16). While a pass sweeps, each of its pages
-- adds the keys it wrote to pass_keys, one row per page; when the pass has read every
-- record, the rows of the division it did not see are removed. sweeping survives an
-- interrupted pass, whose next run goes on recording from where it stopped.

-- +goose Up
ALTER TABLE exact_sync.cursors ADD COLUMN sweeping boolean NOT NULL DEFAULT false;

CREATE TABLE exact_sync.pass_keys (
    connection_id bigint  NOT NULL REFERENCES exact_sync.connections (id) ON DELETE CASCADE,
    division      integer NOT NULL,
    entity        text    NOT NULL,
    ids           uuid[]  NOT NULL
);
CREATE INDEX pass_keys_connection_division_entity_idx
    ON exact_sync.pass_keys (connection_id, division, entity);
