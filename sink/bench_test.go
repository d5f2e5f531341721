package sink_test

import (
	"context"
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
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename = 'exactsync_bench_copy'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("the baseline table is left behind")
	}
}
