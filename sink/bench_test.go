package sink_test

import (
	"context"
	"strings"
	"testing"

	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sink/sinktest"
)

// BenchmarkWrite compares, side by side, rows/s of a plain COPY of 1,000-row pages into
// an unindexed table of the same shape with WriteBatch inserting new rows into
// exact.accounts and updating them to a newer version (see sink.CompareWrites). One
// iteration is ten pages written the three ways.
//
//	go test ./sink -run '^$' -bench Write -benchtime 20x
func BenchmarkWrite(b *testing.B) {
	s := sinktest.NewStoreConfig(b, sink.Config{MaxConns: 2})
	ctx := context.Background()
	var sum sink.WriteComparison
	for b.Loop() {
		c, err := sink.CompareWrites(ctx, s, 10, 1000)
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
	s := sinktest.NewStore(t)
	ctx := context.Background()
	c, err := sink.CompareWrites(ctx, s, 2, 50)
	if err != nil {
		t.Fatal(err)
	}
	if c.Rows != 100 || c.Copy <= 0 || c.Insert <= 0 || c.Update <= 0 {
		t.Errorf("got %+v, want 100 rows and positive durations", c)
	}
	var n int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM exact.accounts`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("got %d rows left in exact.accounts, want 0", n)
	}
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename LIKE 'exactsync_bench_copy%'`).Scan(&n); err != nil {
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
	s := sinktest.NewStore(t)
	ctx := testContext(t)
	table := accountsTable("exact.accounts")
	b, err := s.NewCopyBaseline(ctx, table)
	if err != nil {
		t.Fatal(err)
	}
	rows := accountRows(acct{101, uuidN(1), "Één B.V.", 7}, acct{101, uuidN(2), "Two", 8})
	rows[1][7] = nil // a NULL
	if _, err := s.WriteBatch(ctx, sink.Batch{Table: table, Rows: rows, Division: 101}); err != nil {
		t.Fatal(err)
	}
	if err := b.Copy(ctx, b.Rows(rows)); err != nil {
		t.Fatal(err)
	}
	cols := strings.Join(accountColumns, ", ")
	var differ, copied int
	err = s.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM (SELECT `+cols+` FROM exact.accounts
		EXCEPT SELECT `+cols+` FROM public.exactsync_bench_copy_accounts) d),
		(SELECT count(*) FROM public.exactsync_bench_copy_accounts WHERE synced_at IS NOT NULL)`).Scan(&differ, &copied)
	if err != nil {
		t.Fatal(err)
	}
	if differ != 0 || copied != 2 {
		t.Errorf("got %d rows differing from WriteBatch's and %d copied with synced_at, want 0 and 2", differ, copied)
	}
	var types, indexes int
	err = s.Pool().QueryRow(ctx, `SELECT
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
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename = 'exactsync_bench_copy_accounts'`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("the baseline table is left behind after Drop")
	}
}
