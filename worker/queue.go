package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/sync"
)

// Schema is the PostgreSQL schema of River's tables (river_job, river_leader, …),
// apart from exact and exact_sync.
const Schema = "exact_river"

// RiverVersion is the version of River's schema Migrate brings the database to. It
// moves with the River release in go.mod, in a commit of its own.
const RiverVersion = 8

// migrateLockID serializes Migrate across processes (advisory lock, bigint form).
const migrateLockID int64 = 0x6578_7379_6e63_7276 // "exsyncrv"

// Migrate creates River's tables in Schema, or brings them to RiverVersion, with
// River's own migrator (each version in a transaction of its own, as River's enum
// changes require) under a session advisory lock: processes that migrate at the same
// time serialize, one applies, the others find nothing to do. Up only. PUBLIC, and so any
// reader, is left no privilege in Schema.
func Migrate(ctx context.Context, pool *pgxpool.Pool, log zerolog.Logger) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrating the job queue: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrateLockID); err != nil {
		return fmt.Errorf("migrating the job queue: taking the migration lock: %w", err)
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrateLockID); err != nil {
			conn.Conn().Close(context.WithoutCancel(ctx)) // ends the session, which releases the lock
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+Schema); err != nil {
		return fmt.Errorf("migrating the job queue: creating schema %s: %w", Schema, err)
	}
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Schema: Schema, Logger: newSlogger(log)})
	if err != nil {
		return fmt.Errorf("migrating the job queue: %w", err)
	}
	res, err := m.Migrate(ctx, rivermigrate.DirectionUp, &rivermigrate.MigrateOpts{TargetVersion: RiverVersion})
	if err != nil {
		return fmt.Errorf("migrating the job queue: %w", err)
	}
	for _, v := range res.Versions {
		log.Info().Int("river_version", v.Version).Str("schema", Schema).Dur("duration_ms", v.Duration).Msg("applied job queue migration")
	}
	if err := revokePublic(ctx, conn.Conn()); err != nil {
		return fmt.Errorf("migrating the job queue: %w", err)
	}
	return nil
}

// revokePublic takes from PUBLIC whatever it may do in Schema: the queue's jobs carry
// nothing secret, but they are exactsync's alone, and readers (README, "Giving an
// application access") get nothing of them. PostgreSQL grants EXECUTE on new functions
// to PUBLIC; River's tables and schema grant nothing by default. Only what PUBLIC holds is
// revoked, so a start with nothing to take changes no catalog row.
func revokePublic(ctx context.Context, conn *pgx.Conn) error {
	var open bool
	err := conn.QueryRow(ctx, `
		SELECT has_schema_privilege('public', n.oid, 'USAGE') OR has_schema_privilege('public', n.oid, 'CREATE')
		    OR EXISTS (SELECT 1 FROM pg_class c, aclexplode(c.relacl) a WHERE c.relnamespace = n.oid AND a.grantee = 0)
		    OR EXISTS (SELECT 1 FROM pg_proc p WHERE p.pronamespace = n.oid AND has_function_privilege('public', p.oid, 'EXECUTE'))
		FROM pg_namespace n WHERE n.nspname = $1`, Schema).Scan(&open)
	if err != nil {
		return fmt.Errorf("reading what PUBLIC may do in schema %s: %w", Schema, err)
	}
	if !open {
		return nil
	}
	schema := pgx.Identifier{Schema}.Sanitize()
	for _, q := range []string{
		`REVOKE ALL ON SCHEMA ` + schema + ` FROM PUBLIC`,
		`REVOKE ALL ON ALL TABLES IN SCHEMA ` + schema + ` FROM PUBLIC`,
		`REVOKE ALL ON ALL SEQUENCES IN SCHEMA ` + schema + ` FROM PUBLIC`,
		`REVOKE ALL ON ALL FUNCTIONS IN SCHEMA ` + schema + ` FROM PUBLIC`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("revoking PUBLIC's privileges in schema %s: %w", Schema, err)
		}
	}
	return nil
}

// Enqueue hands job to the running workers and returns its job id. When the same job
// is already queued or running, it returns that job's id and duplicate true.
func Enqueue(ctx context.Context, pool *pgxpool.Pool, job sync.Job) (id int64, duplicate bool, err error) {
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Schema: Schema, Logger: slog.New(discard{})})
	if err != nil {
		return 0, false, err
	}
	res, err := rc.Insert(ctx, SyncArgs{Connection: job.ConnectionID, Division: job.Division, Entity: job.Entity, Full: job.Full}, nil)
	if err != nil {
		return 0, false, fmt.Errorf("queueing %s: %w", job, err)
	}
	return res.Job.ID, res.UniqueSkippedAsDuplicate, nil
}

// Waiting counts the sync jobs of one entity (the entity a job is named after, or
// sync.DeletionsJob) of one division by state.
type Waiting struct {
	Connection int64
	Division   int
	Entity     string
	Queued     int // available, or scheduled for later by hand
	Running    int
	Retrying   int // failed, waiting for their next attempt
	Snoozed    int // waiting for the division's lock or its day budget
}

// Queue counts the sync jobs waiting or running, per division and entity, from River's
// job table, ordered by connection, division and entity. It returns nothing, without
// error, when the queue's tables do not exist yet.
func Queue(ctx context.Context, pool *pgxpool.Pool) ([]Waiting, error) {
	rows, err := pool.Query(ctx, `
		SELECT (args->>'connection')::int8, (args->>'division')::int, coalesce(args->>'entity', ''),
		       count(*) FILTER (WHERE state IN ('available', 'pending') OR (state = 'scheduled' AND NOT metadata ? 'snoozes')),
		       count(*) FILTER (WHERE state = 'running'),
		       count(*) FILTER (WHERE state = 'retryable'),
		       count(*) FILTER (WHERE state = 'scheduled' AND metadata ? 'snoozes')
		FROM `+Schema+`.river_job
		WHERE kind = $1 AND state IN ('available', 'pending', 'scheduled', 'running', 'retryable')
		GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`, KindSync)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && (pgErr.Code == "42P01" || pgErr.Code == "3F000") {
			return nil, nil // undefined table or schema: never migrated
		}
		return nil, fmt.Errorf("reading the job queue: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Waiting, error) {
		var w Waiting
		err := r.Scan(&w.Connection, &w.Division, &w.Entity, &w.Queued, &w.Running, &w.Retrying, &w.Snoozed)
		return w, err
	})
}

// Leader returns the id of the run process that leads the queue (Config.ID), and false
// when none does: no run process is alive on the database, or one started a moment ago
// and is being elected (within seconds). Nothing, without error, when the queue's tables
// do not exist yet.
func Leader(ctx context.Context, pool *pgxpool.Pool) (id string, ok bool, err error) {
	err = pool.QueryRow(ctx, `SELECT leader_id FROM `+Schema+`.river_leader WHERE expires_at > now() LIMIT 1`).Scan(&id)
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return "", false, nil
	case errors.As(err, &pgErr) && (pgErr.Code == "42P01" || pgErr.Code == "3F000"):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("reading the queue's leader: %w", err)
	}
	return id, true, nil
}

// CancelConnection cancels every sync job of connection connID that has not finished:
// queued, snoozed, retrying, or running (River tells the process running it, which stops
// it as it would for a shutdown). It returns how many it cancelled; none, without error,
// when the queue's tables do not exist yet.
func CancelConnection(ctx context.Context, pool *pgxpool.Pool, connID int64) (int, error) {
	if _, err := pool.Exec(ctx, `SELECT 1 FROM `+Schema+`.river_job LIMIT 0`); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && (pgErr.Code == "42P01" || pgErr.Code == "3F000") {
			return 0, nil
		}
		return 0, fmt.Errorf("reading the job queue: %w", err)
	}
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Schema: Schema, Logger: slog.New(discard{})})
	if err != nil {
		return 0, err
	}
	params := river.NewJobListParams().Kinds(KindSync).First(10000).
		States(rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateScheduled, rivertype.JobStateRetryable, rivertype.JobStateRunning).
		Where("(args->>'connection')::bigint = @connection", river.NamedArgs{"connection": connID})
	res, err := rc.JobList(ctx, params)
	if err != nil {
		return 0, fmt.Errorf("listing the jobs of connection %d: %w", connID, err)
	}
	n := 0
	for _, j := range res.Jobs {
		if _, err := rc.JobCancel(ctx, j.ID); err != nil {
			if errors.Is(err, rivertype.ErrNotFound) {
				continue // finished meanwhile
			}
			return n, fmt.Errorf("cancelling job %d of connection %d: %w", j.ID, connID, err)
		}
		n++
	}
	return n, nil
}

// QueueVersion is the version of River's schema the database has (see RiverVersion): 0
// when the job queue's tables do not exist yet.
func QueueVersion(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, Schema+".river_migration").Scan(&exists); err != nil {
		return 0, fmt.Errorf("reading the job queue's version: %w", err)
	}
	if !exists {
		return 0, nil
	}
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Schema: Schema, Logger: slog.New(discard{})})
	if err != nil {
		return 0, err
	}
	vs, err := m.ExistingVersions(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading the job queue's version: %w", err)
	}
	if len(vs) == 0 {
		return 0, nil
	}
	return vs[len(vs)-1].Version, nil
}
