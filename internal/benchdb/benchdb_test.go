package benchdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sink/sinktest"
)

func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newDB opens a fresh, migrated test database, closed when the test ends.
func newDB(t testing.TB) *DB {
	t.Helper()
	db, err := Open(testContext(t), sinktest.NewMigratedDatabase(t), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(context.Background()) })
	return db
}

// BenchmarkWrite compares, side by side, rows/s of a plain COPY of 1,000-row pages into
// an unindexed table of the same shape with WriteBatch inserting new rows into
// exact.accounts and updating them to a newer version (see CompareWrites). One
// iteration is ten pages written the three ways.
//
//	go test ./internal/benchdb -run '^$' -bench Write -benchtime 20x
func BenchmarkWrite(b *testing.B) {
	db := newDB(b)
	ctx := context.Background()
	var sum WriteComparison
	for b.Loop() {
		c, err := CompareWrites(ctx, db, 10, 1000)
		if err != nil {
			b.Fatal(err)
		}
		sum.Add(c)
	}
	b.ReportMetric(sum.CopyRate(), "copy_rows/s")
	b.ReportMetric(sum.InsertRate(), "insert_rows/s")
	b.ReportMetric(sum.UpdateRate(), "update_rows/s")
	b.ReportMetric(sum.InsertRatio(), "insert/copy")
	b.ReportMetric(sum.UpdateRatio(), "update/copy")
}

func TestCompareWrites(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx := testContext(t)
	c, err := CompareWrites(ctx, db, 2, 50)
	if err != nil {
		t.Fatal(err)
	}
	if c.Rows != 100 || c.Copy <= 0 || c.Insert <= 0 || c.Update <= 0 {
		t.Errorf("got %+v, want 100 rows and positive durations", c)
	}
	var n int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM exact.accounts`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("got %d rows left in exact.accounts, want 0", n)
	}
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename LIKE 'exactsync_bench_copy%'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("the baseline table is left behind")
	}
}

// TestCopyBaseline checks that the baseline table has the target's column types and no
// index, and that Copy stores the values WriteBatch stores.
func TestCopyBaseline(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx := testContext(t)
	b, err := db.NewCopyBaseline(ctx, accountsTable)
	if err != nil {
		t.Fatal(err)
	}
	rows := accountPage(0, 2, 1)
	rows[1][7] = nil // a NULL email
	if _, err := db.Store.WriteBatch(ctx, dest.Batch{Table: accountsTable, Rows: rows, Division: division}); err != nil {
		t.Fatal(err)
	}
	if err := b.Copy(ctx, b.Rows(rows)); err != nil {
		t.Fatal(err)
	}
	cols := strings.Join(accountColumns, ", ")
	var differ, copied int
	err = db.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM (SELECT `+cols+` FROM exact.accounts
		EXCEPT SELECT `+cols+` FROM public.exactsync_bench_copy_accounts) d),
		(SELECT count(*) FROM public.exactsync_bench_copy_accounts WHERE synced_at IS NOT NULL)`).Scan(&differ, &copied)
	if err != nil {
		t.Fatal(err)
	}
	if differ != 0 || copied != 2 {
		t.Errorf("got %d rows differing from WriteBatch's and %d copied with synced_at, want 0 and 2", differ, copied)
	}
	var types, indexes int
	err = db.Pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM pg_attribute a JOIN pg_attribute b ON b.attname = a.attname
		 WHERE a.attrelid = 'exact.accounts'::regclass AND b.attrelid = 'public.exactsync_bench_copy_accounts'::regclass
		 AND a.attnum > 0 AND NOT a.attisdropped
		 AND (a.atttypid, a.atttypmod, a.attnotnull, a.attstorage, a.attcompression) <> (b.atttypid, b.atttypmod, b.attnotnull, b.attstorage, b.attcompression)),
		(SELECT count(*) FROM pg_indexes WHERE tablename = 'exactsync_bench_copy_accounts')`).Scan(&types, &indexes)
	if err != nil {
		t.Fatal(err)
	}
	if types != 0 || indexes != 0 {
		t.Errorf("got %d columns of another type, nullability, storage or compression than the target's and %d indexes, want 0 and 0", types, indexes)
	}
	if err := b.Drop(ctx); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename = 'exactsync_bench_copy_accounts'`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("the baseline table is left behind after Drop")
	}
	if _, err := db.NewCopyBaseline(ctx, dest.Table{Name: "accounts", Columns: accountColumns}); err == nil {
		t.Errorf("NewCopyBaseline of a table without a schema: no error, want one")
	}
}

// TestCreate checks that Create replaces a database left over from an earlier run with a
// migrated one, and that Close drops it.
func TestCreate(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	suffix := make([]byte, 4)
	rand.Read(suffix)
	name := "exactsync_test_benchdb_" + hex.EncodeToString(suffix)
	url := sinktest.URLFor(sinktest.ServerURL(), name)
	t.Cleanup(func() { sink.DropDatabase(context.Background(), url) })
	admin, err := pgx.Connect(ctx, sinktest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	// A leftover with a table of its own, which the fresh database must not have.
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	left, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	_, err = left.Exec(ctx, `CREATE TABLE public.leftover (n int)`)
	left.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}

	db, err := Create(ctx, url, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	var leftover, accounts bool
	err = db.Pool.QueryRow(ctx, `SELECT to_regclass('public.leftover') IS NOT NULL, to_regclass('exact.accounts') IS NOT NULL`).Scan(&leftover, &accounts)
	if err != nil {
		t.Fatal(err)
	}
	if leftover || !accounts {
		t.Errorf("got leftover table %t, exact.accounts %t; want a fresh, migrated database", leftover, accounts)
	}
	if v, err := db.ServerVersion(ctx); err != nil || v == "" {
		t.Errorf("ServerVersion: %q, %v; want a version", v, err)
	}
	if err := db.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Errorf("database %s is left behind after Close", name)
	}
}
