package sink_test

import (
	"io/fs"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/exactsync/exactsync/exact/catalogue"
	"github.com/exactsync/exactsync/migrations"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sink/sinktest"
)

func TestMigrate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		processes int // stores migrating at once, each with its own pool
		rounds    int
	}{
		{"once", 1, 1},
		{"twice in a row", 1, 2},
		{"concurrently", 4, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url := sinktest.NewDatabase(t)
			ctx := testContext(t)
			stores := make([]*sink.Store, tt.processes)
			for i := range stores {
				s, err := sink.Open(ctx, sink.Config{DatabaseURL: url})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(s.Close)
				stores[i] = s
			}
			for round := range tt.rounds {
				var wg sync.WaitGroup
				errs := make([]error, len(stores))
				for i, s := range stores {
					wg.Go(func() { errs[i] = s.Migrate(ctx) })
				}
				wg.Wait()
				for i, err := range errs {
					if err != nil {
						t.Errorf("round %d, store %d: Migrate: %v", round, i, err)
					}
				}
			}

			s := stores[0]
			var applied int
			if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM exact_sync.goose_db_version WHERE version_id > 0`).Scan(&applied); err != nil {
				t.Fatal(err)
			}
			files, err := fs.Glob(migrations.FS, "*.sql")
			if err != nil {
				t.Fatal(err)
			}
			if applied != len(files) {
				t.Errorf("applied migrations = %d, want %d (each once)", applied, len(files))
			}
			rows, err := s.Pool().Query(ctx, `SELECT table_schema || '.' || table_name FROM information_schema.tables
				WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`)
			if err != nil {
				t.Fatal(err)
			}
			got, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			// Schema exact holds a table per entity of the catalogue (checked column for
			// column by the migrations' tests).
			entities := 0
			for _, e := range catalogue.All() {
				if !e.Deprecated {
					entities++
				}
			}
			if n := len(slices.DeleteFunc(slices.Clone(got), func(t string) bool { return !strings.HasPrefix(t, "exact.") })); n != entities {
				t.Errorf("schema exact holds %d tables, want %d, one per entity", n, entities)
			}
			got = slices.DeleteFunc(got, func(t string) bool {
				return strings.HasPrefix(t, "exact.") && t != "exact.accounts" && t != "exact.suppliers"
			})
			want := []string{"exact.accounts", "exact.suppliers", "exact_history.deletions",
				"exact_status.access", "exact_status.changes", "exact_status.entities", "exact_status.rejected_records", "exact_status.runs", "exact_status.verifications",
				"exact_sync.alerts", "exact_sync.changes", "exact_sync.connections", "exact_sync.cursors", "exact_sync.division_locks",
				"exact_sync.divisions", "exact_sync.encryption_key", "exact_sync.goose_db_version", "exact_sync.history_tables", "exact_sync.pass_keys", "exact_sync.rate_limits",
				"exact_sync.readers", "exact_sync.rejected_records", "exact_sync.runs", "exact_sync.verifications",
				"exact_sync.webhook_deliveries", "exact_sync.webhook_runs"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("tables (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAccountsColumns(t *testing.T) {
	t.Parallel()
	s := sinktest.NewStore(t)
	want := []string{"division integer", "id uuid", "code text", "name text", "is_supplier boolean", "is_sales boolean",
		"status text", "email text", "city text", "country text", "vat_number text", "blocked boolean",
		"created timestamp with time zone", "modified timestamp with time zone", "exact_timestamp bigint",
		"raw jsonb", "synced_at timestamp with time zone"}
	for _, table := range []string{"accounts", "suppliers"} {
		rows, err := s.Pool().Query(testContext(t), `SELECT column_name || ' ' || data_type FROM information_schema.columns
			WHERE table_schema = 'exact' AND table_name = $1 ORDER BY ordinal_position`, table)
		if err != nil {
			t.Fatal(err)
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		// The columns accounts and suppliers had come first and keep their names and
		// types; the catalogue's migration adds the others.
		if diff := cmp.Diff(want, got[:min(len(want), len(got))]); diff != "" || len(got) <= len(want) {
			t.Errorf("exact.%s columns (-want +got), want them followed by the catalogue's others:\n%s", table, diff)
		}
		var pk string
		err = s.Pool().QueryRow(testContext(t), `SELECT pg_get_constraintdef(oid) FROM pg_constraint
			WHERE conrelid = ('exact.' || $1)::regclass AND contype = 'p'`, table).Scan(&pk)
		if err != nil || pk != "PRIMARY KEY (division, id)" {
			t.Errorf("exact.%s primary key = %q (%v), want PRIMARY KEY (division, id)", table, pk, err)
		}
	}
}

func TestEnsureDatabase(t *testing.T) {
	t.Parallel()
	url := sinktest.NewDatabase(t) // created, then dropped so EnsureDatabase has to create it
	ctx := testContext(t)
	admin, err := pgx.Connect(ctx, sinktest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	cfg, _ := pgx.ParseConfig(url)
	if _, err := admin.Exec(ctx, "DROP DATABASE "+pgx.Identifier{cfg.Database}.Sanitize()+" WITH (FORCE)"); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := sink.EnsureDatabase(ctx, url); err != nil {
			t.Fatalf("EnsureDatabase (call %d): %v", i+1, err)
		}
	}
	s, err := sink.Open(ctx, sink.Config{DatabaseURL: url})
	if err != nil {
		t.Fatalf("Open after EnsureDatabase: %v", err)
	}
	s.Close()
}

// TestDropDatabase checks that DropDatabase drops a database with a session open on it,
// does nothing for one that is gone, and refuses the "postgres" database.
func TestDropDatabase(t *testing.T) {
	t.Parallel()
	url := sinktest.NewDatabase(t)
	ctx := testContext(t)
	s, err := sink.Open(ctx, sink.Config{DatabaseURL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 2 {
		if err := sink.DropDatabase(ctx, url); err != nil {
			t.Fatalf("DropDatabase (call %d): %v", i+1, err)
		}
	}
	cfg, _ := pgx.ParseConfig(url)
	admin, err := pgx.Connect(ctx, sinktest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, cfg.Database).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Errorf("database %s still exists after DropDatabase", cfg.Database)
	}
	if err := sink.DropDatabase(ctx, sinktest.URLFor(sinktest.ServerURL(), "postgres")); err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Errorf("DropDatabase of postgres: got %v, want a refusal", err)
	}
}

func TestConnectErrors(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tests := []struct {
		name string
		call func(url string) error
	}{
		{"Open", func(url string) error { _, err := sink.Open(ctx, sink.Config{DatabaseURL: url}); return err }},
		{"EnsureDatabase", func(url string) error { return sink.EnsureDatabase(ctx, url) }},
		{"DropDatabase", func(url string) error { return sink.DropDatabase(ctx, url) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call("postgres://postgres:s3cret-pw@127.0.0.1:1/exactsync?sslmode=disable&connect_timeout=5")
			if err == nil {
				t.Fatal("no error connecting to a closed port")
			}
			msg := err.Error()
			for _, want := range []string{"127.0.0.1:1"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not contain %q", msg, want)
				}
			}
			if strings.Contains(msg, "s3cret-pw") {
				t.Errorf("error %q contains the password", msg)
			}
		})
	}

	t.Run("missing database", func(t *testing.T) {
		url := sinktest.URLFor(sinktest.ServerURL(), "exactsync_no_such_database")
		_, err := sink.Open(ctx, sink.Config{DatabaseURL: url})
		if err == nil || !strings.Contains(err.Error(), `no database "exactsync_no_such_database"`) {
			t.Errorf("Open error = %v, want one naming the missing database", err)
		}
	})
	t.Run("Open names DATABASE_URL", func(t *testing.T) {
		_, err := sink.Open(ctx, sink.Config{DatabaseURL: "postgres://127.0.0.1:1/x?connect_timeout=5"})
		if err == nil || !strings.Contains(err.Error(), "cannot connect to PostgreSQL at 127.0.0.1:1") || !strings.Contains(err.Error(), "DATABASE_URL") {
			t.Errorf("Open error = %v, want cannot connect … 127.0.0.1:1 … DATABASE_URL", err)
		}
	})
}
