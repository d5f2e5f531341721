package sinktest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The migrated databases of NewMigratedDatabase are reused rather than made and dropped
// for every test: on this kind of server a copy of the template and its drop take about
// 0.6 s, emptying a database about 0.15 s. A database belongs to one test at a time,
// across every test process of the server, through an advisory lock on its slot; it is
// emptied when a test takes it, so a test process that died leaves nothing behind for
// the next. The databases are named after the template, so a change of the migrations
// starts a new set (the old ones are dropped once free).

// poolSlots bounds the databases kept for one template: more tests at once than this
// (every package's parallel tests together) get databases of their own, dropped after.
const poolSlots = 32

// poolLockKey is the first key of the slots' advisory locks (the slot is the second).
const poolLockKey = 0x65787370 // "exsp"

var slots struct {
	mu   gosync.Mutex
	conn *pgx.Conn // holds the slot locks of this process, on the server's admin database
	held map[int]bool
}

// reuseDatabase takes a free slot's database, emptied, and returns its name; ok is false
// when every slot is taken.
func reuseDatabase(t testing.TB, template string) (name string, ok bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	slot, ok := takeSlot(t, ctx, template)
	if !ok {
		return "", false
	}
	t.Cleanup(func() {
		slots.mu.Lock()
		defer slots.mu.Unlock()
		delete(slots.held, slot)
		if slots.conn != nil && !slots.conn.IsClosed() {
			slots.conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1, $2)`, poolLockKey, slot)
		}
	})
	// The slot is this test's: the database is readied on a connection of its own, while
	// other tests take theirs.
	admin, err := pgx.Connect(ctx, ServerURL())
	if err != nil {
		t.Fatalf("connecting to the test PostgreSQL server: %v", err)
	}
	defer admin.Close(context.Background())
	name = fmt.Sprintf("%s_p%02d", strings.Replace(template, "_template_", "_pool_", 1), slot)
	for attempt := 1; ; attempt++ {
		if err := emptyDatabase(ctx, admin, name, template); err != nil {
			// Missing (a test dropped it) or not emptied: made afresh.
			ident := pgx.Identifier{name}.Sanitize()
			if _, err := admin.Exec(ctx, `DROP DATABASE IF EXISTS `+ident+` WITH (FORCE)`); err != nil {
				t.Fatalf("dropping test database %s: %v", name, err)
			}
			if _, err := admin.Exec(ctx, `CREATE DATABASE `+ident+` TEMPLATE `+pgx.Identifier{template}.Sanitize()); err != nil {
				t.Fatalf("creating test database %s: %v", name, err)
			}
			configure(t, ctx, admin, name)
		}
		// A session on the database for the test's lifetime: a checkout with other
		// migrations drops the pool databases of this one that no session uses (see
		// dropStalePools; an older one does not look at the slot's lock), and a test
		// that runs commands one after the other leaves moments without any. Dropped
		// before the session began, it is made again.
		hold, err := pgx.Connect(ctx, URLFor(ServerURL(), name))
		if err == nil {
			t.Cleanup(func() { hold.Close(context.Background()) })
			return name, true
		}
		if attempt == 3 {
			t.Fatalf("connecting to test database %s: %v", name, err)
		}
	}
}

// takeSlot takes a free slot under its advisory lock, held by this process's slot
// connection; ok is false when every slot is taken.
func takeSlot(t testing.TB, ctx context.Context, template string) (slot int, ok bool) {
	t.Helper()
	slots.mu.Lock()
	defer slots.mu.Unlock()
	if slots.conn == nil || slots.conn.IsClosed() {
		conn, err := pgx.Connect(ctx, ServerURL())
		if err != nil {
			t.Fatalf("connecting to the test PostgreSQL server: %v", err)
		}
		slots.conn, slots.held = conn, map[int]bool{}
		dropStalePools(ctx, conn, template)
	}
	for i := range poolSlots {
		if slots.held[i] {
			continue // advisory locks are reentrant: this process holds it already
		}
		var got bool
		if err := slots.conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, poolLockKey, i).Scan(&got); err != nil {
			t.Fatalf("taking a test database slot: %v", err)
		}
		if got {
			slots.held[i] = true
			return i, true
		}
	}
	return -1, false
}

// emptyDatabase ends the sessions left on database name and deletes every row of
// exactsync's schemas (the migrations' bookkeeping excepted), restarts their
// sequences and empties the public schema. A database whose migrations' bookkeeping
// differs from the template's (a test changed it) is an error: it is made afresh.
func emptyDatabase(ctx context.Context, admin *pgx.Conn, name, template string) error {
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, name); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, URLFor(ServerURL(), name))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	want, err := appliedMigrations(ctx, template)
	if err != nil {
		return err
	}
	if got, err := migrationsOf(ctx, conn); err != nil || got != want {
		return fmt.Errorf("database %s has migrations %q, the template %q", name, got, want)
	}
	_, err = conn.Exec(ctx, `
SET session_replication_role = replica;
DO $$ DECLARE r record; BEGIN
  FOR r IN SELECT p.oid::regprocedure AS fn FROM pg_proc p WHERE p.pronamespace = 'exact_sync'::regnamespace AND p.proname LIKE 'history\_%' LOOP
    EXECUTE format('DROP FUNCTION %s CASCADE', r.fn);
  END LOOP;
  FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = 'exact_history' AND tablename <> 'deletions' LOOP
    EXECUTE format('DROP TABLE exact_history.%I CASCADE', r.tablename);
  END LOOP;
  FOR r IN SELECT schemaname, tablename FROM pg_tables WHERE schemaname IN ('exact', 'exact_sync', 'exact_river', 'exact_status', 'exact_history')
      AND (schemaname, tablename) NOT IN (('exact_sync', 'goose_db_version'), ('exact_river', 'river_migration')) LOOP
    EXECUTE format('DELETE FROM %I.%I', r.schemaname, r.tablename);
  END LOOP;
  FOR r IN SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'S' AND n.nspname IN ('exact', 'exact_sync', 'exact_river', 'exact_status', 'exact_history') LOOP
    EXECUTE format('ALTER SEQUENCE %I.%I RESTART', r.nspname, r.relname);
  END LOOP;
END $$;
DROP SCHEMA public CASCADE;
CREATE SCHEMA public;`)
	return err
}

// dropStalePools drops the free pool databases of other templates (other migrations).
// A database is free when nobody holds its slot's lock: a test of another checkout may
// hold the slot between taking it and connecting, when no session shows it in use.
func dropStalePools(ctx context.Context, admin *pgx.Conn, template string) {
	prefix := strings.Replace(template, "_template_", "_pool_", 1)
	rows, err := admin.Query(ctx, `SELECT datname FROM pg_database WHERE datname LIKE 'exactsync\_test\_pool\_%' AND left(datname, length($1)) <> $1`, prefix)
	if err != nil {
		return
	}
	names, _ := pgx.CollectRows(rows, pgx.RowTo[string])
	for _, n := range names {
		_, suffix, ok := strings.Cut(n[len("exactsync_test_pool_"):], "_p")
		slot, err := strconv.Atoi(suffix)
		if !ok || err != nil {
			continue
		}
		var free bool
		if err := admin.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, poolLockKey, slot).Scan(&free); err != nil || !free {
			continue
		}
		// Without FORCE: a database still in use by another checkout stays.
		admin.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{n}.Sanitize())
		admin.Exec(ctx, `SELECT pg_advisory_unlock($1, $2)`, poolLockKey, slot)
	}
}

var applied struct {
	once gosync.Once
	list string
	err  error
}

// appliedMigrations is migrationsOf the template, read once.
func appliedMigrations(ctx context.Context, template string) (string, error) {
	applied.once.Do(func() {
		conn, err := pgx.Connect(ctx, URLFor(ServerURL(), template))
		if err != nil {
			applied.err = err
			return
		}
		defer conn.Close(context.Background())
		applied.list, applied.err = migrationsOf(ctx, conn)
	})
	return applied.list, applied.err
}

// migrationsOf lists the rows of goose's version table.
func migrationsOf(ctx context.Context, conn *pgx.Conn) (string, error) {
	var list string
	err := conn.QueryRow(ctx, `SELECT coalesce(string_agg(version_id || ':' || is_applied, ',' ORDER BY id), '') FROM exact_sync.goose_db_version`).Scan(&list)
	return list, err
}

// configure sets what a test database needs that CREATE DATABASE does not copy: a
// test's commits need not survive a crash of the server, so none waits for the WAL
// flush.
func configure(t testing.TB, ctx context.Context, admin *pgx.Conn, name string) {
	t.Helper()
	if _, err := admin.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{name}.Sanitize()+` SET synchronous_commit = off`); err != nil {
		t.Fatalf("configuring test database %s: %v", name, err)
	}
}
