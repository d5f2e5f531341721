-- What every process of a connection must know before it sends a refresh (exact-online-api.md
-- §1.8, §2.5):
--
-- refresh_not_before: Exact answered a refresh "too early" (400 TooEarlyToRefreshTokens): no
-- process sends one before this time, on Exact's clock. NULL when nothing is pending.
-- exact_clock_offset_ms: Exact's clock minus the clock of the process that last wrote the
-- token, as learned from the Date header of Exact's answers; the token times of the row are
-- on Exact's clock, and a process that has not heard from Exact yet judges them with this.
-- state_cause: why the connection is reauth_required, for decisions ('' unknown or ok,
-- 'refresh_token_used' when Exact said the refresh token had already been used, §1.9).

-- +goose Up
ALTER TABLE exact_sync.connections
    ADD COLUMN refresh_not_before    timestamptz,
    ADD COLUMN exact_clock_offset_ms bigint NOT NULL DEFAULT 0,
    ADD COLUMN state_cause           text   NOT NULL DEFAULT '';
