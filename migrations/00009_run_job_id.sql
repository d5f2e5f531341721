-- The queue delivers a job at least once: a process that dies after a run finished but
-- before the queue recorded the job complete leaves the job to run again elsewhere.
-- job_id is the queue's id of the job a run belongs to (NULL for a run started outside
-- the queue, by `exactsync sync`), so that the next attempt finds the run that already
-- finished and does not run it again. A job that writes several entities has one run
-- per entity, and a job retried after a failure one per attempt: the index is not unique.

-- +goose Up
ALTER TABLE exact_sync.runs ADD COLUMN job_id bigint;

CREATE INDEX runs_job_id_idx ON exact_sync.runs (job_id) WHERE job_id IS NOT NULL;
