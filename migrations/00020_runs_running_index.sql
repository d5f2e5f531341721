-- A run's start marks the runs of its entity and division still 'running' abandoned
-- (sink.Store.StartRun). Through the index on (connection, division, entity, started_at)
-- that reads every run the history keeps of them: 8,640 at a 15-minute schedule and the
-- default 90 days, about 8,700 pages and 0.2–0.5 s per job. Runs still 'running' are a
-- few at any time: an index of them alone finds them at once.

-- +goose Up
CREATE INDEX runs_running_idx ON exact_sync.runs (connection_id, division, entity) WHERE status = 'running';
