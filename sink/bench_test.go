package sink_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sink/sinktest"
)

// benchPageSize is the page size of Exact's sync endpoints (§3.10).
const benchPageSize = 1000

// benchAccount returns a realistic exact.accounts row whose raw JSON is about 1 KB.
func benchAccount(division, n int, version int64) []any {
	id := fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", n*2654435761%0xffffffff, n%0xffff, n%0xfff, (n/7)%0xfff, n)
	name := fmt.Sprintf("Account %d Holding B.V.", n)
	code := fmt.Sprintf("%18d", n)
	created := time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Minute)
	modified := created.Add(time.Duration(version) * time.Second)
	raw := fmt.Sprintf(`{"ID":%q,"Code":%q,"Name":%q,"IsSupplier":%t,"IsSales":true,"IsPurchase":false,"Blocked":false,`+
		`"Status":"C","Type":"A","Email":"info@account%d.example.nl","Phone":"+31 30 %07d","Website":"https://www.account%d.example.nl",`+
		`"AddressLine1":"Stationsplein %d","AddressLine2":null,"Postcode":"3511 ED","City":"Utrecht","Country":"NL","State":null,`+
		`"VATNumber":"NL%09dB01","ChamberOfCommerce":"%08d","Created":"/Date(%d)/","Modified":"/Date(%d)/","Division":%d,`+
		`"Timestamp":%d,"AccountManager":"9b6f1d1e-3c1a-4b8e-a6f2-%012d","Classification1":null,"Language":"NL","Remarks":%q}`,
		id, code, name, n%5 == 0, n, n, n, n%300, n, n, created.UnixMilli(), modified.UnixMilli(), division, version, n,
		strings.Repeat("Lorem ipsum dolor sit amet. ", 12))
	return []any{int32(division), id, strings.TrimSpace(code), name, n%5 == 0, true, "C",
		fmt.Sprintf("info@account%d.example.nl", n), "Utrecht", "NL", fmt.Sprintf("NL%09dB01", n), false,
		created, modified, version, []byte(raw)}
}

// BenchmarkWrite measures, side by side, rows/s of (a) a plain COPY of 1,000-row pages
// into an unindexed table of the same shape, (b) WriteBatch inserting new rows into
// exact.accounts and (c) WriteBatch updating those rows to a newer version. Each
// iteration writes one page in each of the three ways, so drift (checkpoints, autovacuum)
// hits all three alike. Every page is its own transaction, committed with the server's
// synchronous_commit.
func BenchmarkWrite(b *testing.B) {
	s := sinktest.NewStoreConfig(b, sink.Config{MaxConns: 2})
	ctx := context.Background()
	if _, err := s.Pool().Exec(ctx, `CREATE TABLE public.copy_baseline AS SELECT * FROM exact.accounts WITH NO DATA`); err != nil {
		b.Fatal(err)
	}
	if sample := benchAccount(101, 1, 1); len(sample[15].([]byte)) < 900 {
		b.Fatalf("raw JSON is %d bytes, want about 1 KB", len(sample[15].([]byte)))
	}
	table := accountsTable("exact.accounts")
	copyCols := append(append([]string{}, accountColumns...), "synced_at")

	page := func(i int, version int64) [][]any {
		rows := make([][]any, benchPageSize)
		for j := range rows {
			rows[j] = benchAccount(101, i*benchPageSize+j, version)
		}
		return rows
	}
	var copyTime, insertTime, updateTime time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		inserts, updates := page(i, 1), page(i, 2)
		baseline := make([][]any, len(inserts))
		now := time.Now()
		for j, r := range inserts {
			baseline[j] = append(r[:len(r):len(r)], now)
		}
		b.StartTimer()

		t0 := time.Now()
		if _, err := s.Pool().CopyFrom(ctx, pgx.Identifier{"public", "copy_baseline"}, copyCols, pgx.CopyFromRows(baseline)); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		res, err := s.WriteBatch(ctx, sink.Batch{Table: table, Rows: inserts, ConnectionID: 0, Division: 101})
		if err != nil || res.Upserted != benchPageSize {
			b.Fatalf("insert page %d: %+v, %v", i, res, err)
		}
		t2 := time.Now()
		res, err = s.WriteBatch(ctx, sink.Batch{Table: table, Rows: updates, ConnectionID: 0, Division: 101})
		if err != nil || res.Upserted != benchPageSize {
			b.Fatalf("update page %d: %+v, %v", i, res, err)
		}
		t3 := time.Now()
		copyTime, insertTime, updateTime = copyTime+t1.Sub(t0), insertTime+t2.Sub(t1), updateTime+t3.Sub(t2)
	}
	rows := float64(b.N * benchPageSize)
	copyRate, insertRate, updateRate := rows/copyTime.Seconds(), rows/insertTime.Seconds(), rows/updateTime.Seconds()
	b.ReportMetric(copyRate, "copy_rows/s")
	b.ReportMetric(insertRate, "insert_rows/s")
	b.ReportMetric(updateRate, "update_rows/s")
	b.ReportMetric(insertRate/copyRate, "insert/copy")
	b.ReportMetric(updateRate/copyRate, "update/copy")
}
