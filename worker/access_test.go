package worker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sink/sinktest"
	"github.com/exactsync/exactsync/worker"
)

// TestQueueIsClosedToReaders: a reader (README, "Giving an application access") gets
// "permission denied" on every table of River's schema, and a grant to PUBLIC made there
// by hand is taken back by the next Migrate.
func TestQueueIsClosedToReaders(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url := sinktest.NewScratchDatabase(t)
	st := sinktest.OpenStore(t, sink.Config{DatabaseURL: url})
	pool := sinktest.NewPool(t, url)
	if err := worker.Migrate(ctx, pool, zerolog.Nop()); err != nil {
		t.Fatal(err)
	}
	name := sinktest.NewRoleName(t, "queue", url)
	if _, err := st.AddReader(ctx, name, nil, "queue-reader"); err != nil {
		t.Fatal(err)
	}
	reader := sinktest.NewPool(t, sinktest.ConnectAs(t, url, name))

	rows, err := pool.Query(ctx, `SELECT schemaname || '.' || tablename FROM pg_tables WHERE schemaname = $1 ORDER BY 1`, worker.Schema)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(tables) < 3 {
		t.Fatalf("River's tables: %v, %v; want river_job and more", tables, err)
	}
	denied := func(when string) {
		t.Helper()
		for _, table := range tables {
			_, err := reader.Exec(ctx, `SELECT * FROM `+table+` LIMIT 1`)
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
				t.Errorf("%s: a reader reading %s: %v, want permission denied", when, table, err)
			}
		}
	}
	denied("after Migrate")

	for _, q := range []string{
		`GRANT USAGE ON SCHEMA ` + worker.Schema + ` TO PUBLIC`,
		`GRANT SELECT ON ALL TABLES IN SCHEMA ` + worker.Schema + ` TO PUBLIC`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := reader.Exec(ctx, `SELECT * FROM `+worker.Schema+`.river_job LIMIT 1`); err != nil {
		t.Fatalf("after a grant to PUBLIC, a reader still cannot read river_job (%v): the test proves nothing", err)
	}
	if err := worker.Migrate(ctx, pool, zerolog.Nop()); err != nil {
		t.Fatal(err)
	}
	denied("after a grant to PUBLIC and the next Migrate")
	var public bool
	err = pool.QueryRow(ctx, `SELECT has_schema_privilege('public', $1, 'USAGE')
		OR EXISTS (SELECT 1 FROM pg_proc p WHERE p.pronamespace = $1::regnamespace AND has_function_privilege('public', p.oid, 'EXECUTE'))`,
		worker.Schema).Scan(&public)
	if err != nil || public {
		t.Errorf("PUBLIC keeps privileges in %s (%v)", worker.Schema, err)
	}
}
