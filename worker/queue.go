package worker

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

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

// Queue is the job queue of a database as the commands see it from outside a worker:
// it queues sync jobs, counts them, names the leader and cancels a connection's jobs,
// through one River client (insert only, never started) built once. It is safe for
// concurrent use.
type Queue struct {
	pool  *pgxpool.Pool
	river *river.Client[pgx.Tx]
}

// NewQueue builds the Queue of pool's database.
func NewQueue(pool *pgxpool.Pool) (*Queue, error) {
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Schema: Schema, Logger: slog.New(discard{})})
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	return &Queue{pool: pool, river: rc}, nil
}

// Enqueue hands job to the running workers and returns its job id. When the same job
// is already queued or running, it returns that job's id and duplicate true.
func (q *Queue) Enqueue(ctx context.Context, job sync.Job) (id int64, duplicate bool, err error) {
	res, err := q.river.Insert(ctx, SyncArgs{Connection: job.ConnectionID, Division: job.Division, Entity: job.Entity, Full: job.Full}, nil)
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
	Queued     int // available
	Running    int
	Retrying   int // failed, waiting for their next attempt
	Snoozed    int // waiting for the division's lock or its day budget
}

// unfinished are the states of a sync job that has not finished.
var unfinished = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateScheduled,
	rivertype.JobStateRunning, rivertype.JobStateRetryable,
}

// listPage is how many jobs one JobList call returns.
const listPage = 5000

// unfinishedJobs lists the sync jobs that have not finished, all of them, with River's
// JobList, page after page; where is a condition on the job's args (see
// river.JobListParams.Where), "" for none. It returns nothing, without error, when the
// queue's tables do not exist yet.
func unfinishedJobs(ctx context.Context, rc *river.Client[pgx.Tx], states []rivertype.JobState, where string, args river.NamedArgs) ([]*rivertype.JobRow, error) {
	params := river.NewJobListParams().Kinds(KindSync).States(states...).First(listPage)
	if where != "" {
		params = params.Where(where, args)
	}
	var out []*rivertype.JobRow
	for {
		res, err := rc.JobList(ctx, params)
		if err != nil {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && (pgErr.Code == "42P01" || pgErr.Code == "3F000") {
				return nil, nil // undefined table or schema: never migrated
			}
			return nil, err
		}
		out = append(out, res.Jobs...)
		if len(res.Jobs) < listPage || res.LastCursor == nil {
			return out, nil
		}
		params = params.After(res.LastCursor)
	}
}

// Waiting counts the sync jobs waiting or running, per division and entity, ordered by
// connection, division and entity, from River's JobList. Nothing queues a sync job for
// later, so a sync job River holds as scheduled is a snoozed one. It returns nothing,
// without error, when the queue's tables do not exist yet.
func (q *Queue) Waiting(ctx context.Context) ([]Waiting, error) {
	jobs, err := unfinishedJobs(ctx, q.river, unfinished, "", nil)
	if err != nil {
		return nil, fmt.Errorf("reading the job queue: %w", err)
	}
	type key struct {
		conn   int64
		div    int
		entity string
	}
	counts := map[key]*Waiting{}
	for _, j := range jobs {
		var a SyncArgs
		if err := json.Unmarshal(j.EncodedArgs, &a); err != nil {
			return nil, fmt.Errorf("reading the job queue: job %d: %w", j.ID, err)
		}
		k := key{a.Connection, a.Division, a.Entity}
		w := counts[k]
		if w == nil {
			w = &Waiting{Connection: a.Connection, Division: a.Division, Entity: a.Entity}
			counts[k] = w
		}
		switch j.State {
		case rivertype.JobStateAvailable, rivertype.JobStatePending:
			w.Queued++
		case rivertype.JobStateRunning:
			w.Running++
		case rivertype.JobStateRetryable:
			w.Retrying++
		case rivertype.JobStateScheduled:
			w.Snoozed++
		}
	}
	out := make([]Waiting, 0, len(counts))
	for _, w := range counts {
		out = append(out, *w)
	}
	slices.SortFunc(out, func(a, b Waiting) int {
		return cmp.Or(cmp.Compare(a.Connection, b.Connection), cmp.Compare(a.Division, b.Division), strings.Compare(a.Entity, b.Entity))
	})
	return out, nil
}

// Leader returns the id of the run process that leads the queue (Config.ID), and false
// when none does: no run process is alive on the database, or one started a moment ago
// and is being elected (within seconds). Nothing, without error, when the queue's tables
// do not exist yet. River has no call for it: it reads River's leader table.
func (q *Queue) Leader(ctx context.Context) (id string, ok bool, err error) {
	err = q.pool.QueryRow(ctx, `SELECT leader_id FROM `+Schema+`.river_leader WHERE expires_at > now() LIMIT 1`).Scan(&id)
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
func (q *Queue) CancelConnection(ctx context.Context, connID int64) (int, error) {
	return cancelJobs(ctx, q.river, connID, unfinished, 0)
}

// cancelJobs cancels the sync jobs of connection connID in one of states, but for the job
// except, and returns how many it cancelled.
func cancelJobs(ctx context.Context, rc *river.Client[pgx.Tx], connID int64, states []rivertype.JobState, except int64) (int, error) {
	jobs, err := unfinishedJobs(ctx, rc, states, "(args->>'connection')::bigint = @connection", river.NamedArgs{"connection": connID})
	if err != nil {
		return 0, fmt.Errorf("listing the jobs of connection %d: %w", connID, err)
	}
	n := 0
	for _, j := range jobs {
		if j.ID == except {
			continue
		}
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
