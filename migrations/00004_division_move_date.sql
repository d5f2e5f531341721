-- When Exact last moved each division to another database (system/Divisions
-- DivisionMoveDate): a move regenerates every Timestamp of the division, so a change of
-- this date means the stored cursors and row versions of the division are void
-- (exact-online-api.md §3.10, §6.9).

-- +goose Up
ALTER TABLE exact_sync.divisions ADD COLUMN move_date timestamptz;
