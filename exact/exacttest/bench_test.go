package exacttest

import (
	"bytes"
	"io"
	"net/http"
	"runtime"
	"testing"
	"time"
)

// BenchmarkSyncAccounts1M pages a whole 1,000,000-account division through sync/CRM/Accounts
// over real HTTP with a plain net/http client (rate limits off) and reports records/s.
//
//	go test -run '^$' -bench SyncAccounts1M -benchtime 3x ./exact/exacttest
func BenchmarkSyncAccounts1M(b *testing.B) {
	const n = 1_000_000
	srv := newTestServer(b, Options{Accounts: n, Seed: 1, FreezeClock: true})
	token := newAccessTokenFor(b, srv)
	benchPages(b, srv.URL+"/api/v1/101/sync/CRM/Accounts?$filter=Timestamp%20gt%200L&$select=ID,Code,Name,IsSupplier,IsSales,Status,Email,City,Country,VATNumber,Blocked,Created,Modified,Timestamp", token, n)
}

// BenchmarkSyncTransactionLines1M pages a whole 1,000,000-line division through
// sync/Financial/TransactionLines with every field selected, over real HTTP (rate limits off),
// and reports records/s and the heap the simulator holds for the division.
//
//	go test -run '^$' -bench SyncTransactionLines1M -benchtime 1x ./exact/exacttest
func BenchmarkSyncTransactionLines1M(b *testing.B) {
	const n = 1_000_000
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	srv := newTestServer(b, Options{Seed: 1, FreezeClock: true, Divisions: []int{101}, Records: map[string]int{"transaction_lines": n}})
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / (1 << 20)
	token := newAccessTokenFor(b, srv)
	path, _ := endpointOf(entitiesByName["transaction_lines"])
	benchPages(b, srv.URL+path, token, n)
	b.ReportMetric(heap, "heap-MB")
}

// benchPages follows first's __next links to the end b.N times with a plain net/http
// client, checks that n records came each time, and reports records/s.
func benchPages(b *testing.B, first, token string, n int) {
	b.Helper()
	client := &http.Client{}
	var buf bytes.Buffer
	b.ResetTimer()
	start := time.Now()
	records := 0
	for range b.N {
		next := first
		for next != "" {
			req, _ := http.NewRequest(http.MethodGet, next, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Accept", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			buf.Reset()
			_, err = io.Copy(&buf, resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				b.Fatalf("status %d, err %v: %.200s", resp.StatusCode, err, buf.Bytes())
			}
			body := buf.Bytes()
			records += bytes.Count(body, []byte(`{"__metadata"`))
			next = ""
			if i := bytes.LastIndex(body, []byte(`"__next":"`)); i >= 0 {
				rest := body[i+len(`"__next":"`):]
				next = string(rest[:bytes.IndexByte(rest, '"')])
			}
		}
	}
	b.StopTimer()
	if want := n * b.N; records != want {
		b.Fatalf("got %d records, want %d", records, want)
	}
	b.ReportMetric(float64(records)/time.Since(start).Seconds(), "records/s")
}

// BenchmarkReportingBalance1M computes financial/ReportingBalance (§3.16) of a 1,000,000-line
// division: each iteration changes one line (which invalidates the cached rows) and reads
// the first page over real HTTP, so it measures the grouping with exact sums. It reports
// lines/s and the groups.
//
//	go test -run '^$' -bench ReportingBalance1M -benchtime 3x ./exact/exacttest
func BenchmarkReportingBalance1M(b *testing.B) {
	const n = 1_000_000
	srv := newTestServer(b, Options{Seed: 1, FreezeClock: true, Divisions: []int{101}, Records: map[string]int{"transaction_lines": n}})
	token := newAccessTokenFor(b, srv)
	recs, err := srv.Records("gl_accounts", 101)
	if err != nil || len(recs) == 0 {
		b.Fatalf("no G/L accounts: %v", err)
	}
	client := &http.Client{}
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		b.StopTimer()
		if _, err := srv.UpsertRecords("transaction_lines", 101, map[string]any{"AmountDC": i}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/101/financial/ReportingBalance?$select=ID,Amount,Count&$inlinecount=allpages", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Accept", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d, err %v: %.200s", resp.StatusCode, err, body)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "lines/s")
	srv.dataMu.RLock()
	groups := len(srv.data[101].balanceRows())
	srv.dataMu.RUnlock()
	b.ReportMetric(float64(groups), "groups")
}
