-- A token refresh announced before it is sent (exact-online-api.md §1.9). Exact spends the
-- refresh token when it answers, so until its answer is committed the new pair exists only
-- in the process that received it; if PostgreSQL goes away at that moment, that process
-- keeps the pair and retries its commit (and writes a recovery file). Every other process
-- must then wait for that pair instead of sending the spent token again, which Exact
-- answers with "Old refresh token used". So before a process sends a refresh token, it
-- commits who is sending which token:
--
-- refresh_pending_sha256: hex SHA-256 of the refresh token being sent ('' when none). The
--   announcement concerns that token only: once another refresh token is stored, it is over.
-- refresh_pending_by: the announcing client (a random id per client of a process).
-- refresh_pending_process: the announcing process, as JSON: host name and pid (for people)
--   and what tells a process of the same machine whether it still runs.
-- refresh_pending_since, refresh_pending_until: when it was announced and until when the
--   other processes wait for its pair, on the database's clock: the token call, plus the
--   time the announcing process keeps retrying to store a pair PostgreSQL refused.

-- +goose Up
ALTER TABLE exact_sync.connections
    ADD COLUMN refresh_pending_sha256  text NOT NULL DEFAULT '',
    ADD COLUMN refresh_pending_by      text NOT NULL DEFAULT '',
    ADD COLUMN refresh_pending_process jsonb,
    ADD COLUMN refresh_pending_since   timestamptz,
    ADD COLUMN refresh_pending_until   timestamptz;
