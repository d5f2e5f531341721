package sync

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
)

// rowOf maps the columns of entity to the values of row.
func rowOf(t *testing.T, entity string, row []any) map[string]any {
	t.Helper()
	e, err := Lookup(entity)
	if err != nil {
		t.Fatal(err)
	}
	cols := e.Columns()
	if len(cols) != len(row) {
		t.Fatalf("%s: row of %d values for %d columns", entity, len(row), len(cols))
	}
	out := map[string]any{}
	for i, c := range cols {
		out[c] = row[i]
	}
	return out
}

// runOne runs one job of entity with only enabled entities enabled and returns the store.
func runOne(t *testing.T, src *fakeSource, st *fakeStore, job Job, enabled ...string) Result {
	t.Helper()
	r := NewRunner(Config{Logger: zerolog.Nop(), Enabled: enabled}, st, st, st)
	if job.ConnectionID == 0 {
		job.ConnectionID, job.Division = 1, 101
	}
	res, err := r.Run(context.Background(), src, job)
	if err != nil {
		t.Fatalf("Run %s: %v (asked %v)", job.Entity, err, src.asked)
	}
	return res
}

func syncURL(f *fakeSource, entity string, from int64) string {
	return firstURL(f, entity, 101, from)
}

func TestTransactionLinesAmountsAndDates(t *testing.T) {
	// Amounts stay the exact text of the JSON number (never a float64); dates are
	// Amsterdam wall-clock time on either side of the start of summer time
	// (2024-03-31 02:00 CET became 03:00 CEST).
	rec := `{"__metadata":{"uri":"u"},"ID":"` + id1 + `","Timestamp":"77","AmountDC":1E-05,"AmountFC":0.1,` +
		`"AmountVATFC":"-12345678901234567890.123456789","ExchangeRate":1.50E2,"AmountVATBaseFC":null,` +
		`"Date":"/Date(1711848600000)/","DueDate":"/Date(1711855800000)/","FinancialYear":2024,"FinancialPeriod":3,` +
		`"GLAccount":"` + strings.ToUpper(id2) + `","EntryNumber":24000017,"Description":"Verkoop"}`
	src := &fakeSource{pages: map[string]string{}}
	src.pages[syncURL(src, "transaction_lines", 0)] = page("", rec)
	st := &fakeStore{}
	runOne(t, src, st, Job{Entity: "transaction_lines"})
	if len(st.batches) != 1 || len(st.batches[0].Rows) != 1 || st.batches[0].Table.Name != "exact.transaction_lines" {
		t.Fatalf("batches %d, want one row of exact.transaction_lines", len(st.batches))
	}
	got := rowOf(t, "transaction_lines", st.batches[0].Rows[0])
	want := map[string]any{
		"amount_dc": "1E-05", "amount_fc": "0.1", "amount_vatfc": "-12345678901234567890.123456789",
		"exchange_rate": "1.50E2", "amount_vat_base_fc": nil,
		"date":           time.Date(2024, 3, 31, 0, 30, 0, 0, time.UTC), // 01:30 CET
		"due_date":       time.Date(2024, 3, 31, 1, 30, 0, 0, time.UTC), // 03:30 CEST
		"financial_year": int32(2024), "financial_period": int32(3), "gl_account": id2,
		"entry_number": int32(24000017), "description": "Verkoop", "id": id1, "exact_timestamp": int64(77), "division": int32(101),
	}
	for c, w := range want {
		if diff := cmp.Diff(w, got[c], cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
			t.Errorf("column %s (-want +got):\n%s", c, diff)
		}
	}
	if st.cur("transaction_lines").Timestamp != 77 {
		t.Errorf("cursor %+v, want 77", st.cur("transaction_lines"))
	}
	if u := src.asked[0]; !strings.Contains(u, "sync%2FFinancial%2FTransactionLines") && !strings.Contains(u, "sync/Financial/TransactionLines") {
		t.Errorf("asked %s, want sync/Financial/TransactionLines", u)
	}
}

func TestCatalogueEntitiesConvert(t *testing.T) {
	tests := []struct {
		entity, record string
		want           map[string]any
	}{
		{"sales_invoices", `{"InvoiceID":"` + id1 + `","ID":"` + id1 + `","Timestamp":5,"InvoiceNumber":16000001,"AmountDC":"1210.00",` +
			`"InvoiceDate":"/Date(1735689600000)/","InvoiceTo":"` + id2 + `","Currency":"EUR","Status":50}`,
			map[string]any{"invoice_number": int32(16000001), "amount_dc": "1210.00", "currency": "EUR",
				"invoice_date": time.Date(2024, 12, 31, 23, 0, 0, 0, time.UTC), "invoice_to": id2, "status": int32(50)}},
		{"gl_accounts", `{"ID":"` + id1 + `","Timestamp":6,"Code":"8000","Description":"Omzet","BalanceSide":"C",` +
			`"AllowCostsInSales":1,"VATNonDeductiblePercentage":0.21,"IsBlocked":false}`,
			map[string]any{"code": "8000", "description": "Omzet", "balance_side": "C", "allow_costs_in_sales": int32(1),
				"vat_non_deductible_percentage": "0.21", "is_blocked": false}},
	}
	for _, tt := range tests {
		t.Run(tt.entity, func(t *testing.T) {
			src := &fakeSource{pages: map[string]string{}}
			src.pages[syncURL(src, tt.entity, 0)] = page("", tt.record)
			st := &fakeStore{}
			runOne(t, src, st, Job{Entity: tt.entity})
			if len(st.batches) != 1 || len(st.batches[0].Rows) != 1 || len(st.batches[0].Rejects) != 0 {
				t.Fatalf("batches %+v, want one row", st.batches)
			}
			got := rowOf(t, tt.entity, st.batches[0].Rows[0])
			for c, w := range tt.want {
				if diff := cmp.Diff(w, got[c], cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
					t.Errorf("column %s (-want +got):\n%s", c, diff)
				}
			}
		})
	}
}

func TestModifiedCursorTiesAtAPageBoundary(t *testing.T) {
	// journals are read from a regular endpoint by Modified, 60 a page. Two records
	// share the Modified value at the end of page 1 and the start of page 2: both are
	// written, the cursor is that value, and the next run asks from a little before it,
	// so a record with the same Modified written after the run is not skipped.
	const tie = 1751328000000 // 2025-07-01T00:00 Amsterdam wall clock = 2025-06-30T22:00Z
	journal := func(id string, modified int64) string {
		return fmt.Sprintf(`{"ID":"%s","Code":"70","Description":"Bank","Modified":"/Date(%d)/"}`, id, modified)
	}
	e, _ := Lookup("journals")
	src := &fakeSource{pages: map[string]string{}}
	first := src.URL(101, "financial/Journals", url.Values{"$select": {e.Select()}, "$orderby": {"Modified"}})
	src.pages[first] = page("x:/journals?$skiptoken=2", journal(id1, tie-60000), journal(id2, tie))
	src.pages["x:/journals?$skiptoken=2"] = page("", journal(id3, tie))
	st := &fakeStore{}
	r := NewRunner(Config{Logger: zerolog.Nop(), Enabled: []string{"journals"}, BatchPages: 1}, st, st, st)
	res, err := r.Run(context.Background(), src, Job{ConnectionID: 1, Division: 101, Entity: "journals"})
	if err != nil {
		t.Fatalf("Run: %v (asked %v)", err, src.asked)
	}
	wantCursor := time.Date(2025, 6, 30, 22, 0, 0, 0, time.UTC).UnixMilli()
	if res.Upserted != 3 || st.cur("journals").Timestamp != wantCursor {
		t.Errorf("upserted %d, cursor %d; want 3, %d", res.Upserted, st.cur("journals").Timestamp, wantCursor)
	}
	if got := rowOf(t, "journals", st.batches[1].Rows[0])["exact_timestamp"]; got != wantCursor {
		t.Errorf("version of the second page's record %v, want its Modified %d", got, wantCursor)
	}

	// The next run starts 5 seconds before the cursor, in Amsterdam time (§3.8).
	next := src.URL(101, "financial/Journals", url.Values{"$select": {e.Select()}, "$orderby": {"Modified"},
		"$filter": {"Modified ge datetime'2025-06-30T23:59:55'"}})
	const id4 = "00000000-0000-4000-8000-000000000004"
	src.pages[next] = page("", journal(id3, tie), journal(id4, tie))
	res, err = r.Run(context.Background(), src, Job{ConnectionID: 1, Division: 101, Entity: "journals"})
	if err != nil {
		t.Fatalf("second Run: %v (asked %v)", err, src.asked[len(src.asked)-1])
	}
	last := st.batches[len(st.batches)-1]
	if len(last.Rows) != 2 || rowOf(t, "journals", last.Rows[1])["id"] != id4 || res.CursorFrom != wantCursor {
		t.Errorf("second run wrote %d rows, from %d; want the tied record and the new one, from %d", len(last.Rows), res.CursorFrom, wantCursor)
	}
}

func TestModifiedLiteralAcrossTheEndOfSummerTime(t *testing.T) {
	tests := []struct {
		at   time.Time
		want string
	}{
		{time.Date(2025, 6, 30, 22, 0, 0, 0, time.UTC), "2025-06-30T23:59:55"},
		{time.Date(2025, 1, 10, 12, 0, 4, 0, time.UTC), "2025-01-10T12:59:59"},
		// 2025-10-26 03:00 CEST became 02:00 CET: 01:30Z is 02:30 CET, which also
		// names 00:30Z; the literal starts an hour earlier.
		{time.Date(2025, 10, 26, 1, 30, 0, 0, time.UTC), "2025-10-26T02:29:55"},
	}
	for _, tt := range tests {
		if got := modifiedLiteral(tt.at.UnixMilli()); got != tt.want {
			t.Errorf("modifiedLiteral(%s) = %s, want %s", tt.at, got, tt.want)
		}
	}
}

func TestFullReadSweepsEveryRun(t *testing.T) {
	// units are read in full on every run; the run reconciles the division, so units
	// deleted in Exact disappear.
	e, _ := Lookup("units")
	src := &fakeSource{pages: map[string]string{}}
	src.pages[src.URL(101, "logistics/Units", url.Values{"$select": {e.Select()}})] =
		page("", `{"ID":"`+id1+`","Code":"st","Description":"Stuk","Main":1,"Active":true}`)
	st := &fakeStore{hasRows: true, cursor: dest.Cursor{Timestamp: 5}}
	res := runOne(t, src, st, Job{Entity: "units"}, "units")
	if st.sweepsStart != 1 || len(st.sweepsDone) != 1 || !st.batches[0].Cursor.Sweep || res.Removed != 2 || !res.Job.Full {
		t.Errorf("sweeps started %d, finished %v, first write sweeps %t, removed %d, full %t; want a sweeping full read removing 2",
			st.sweepsStart, st.sweepsDone, st.batches[0].Cursor.Sweep, res.Removed, res.Job.Full)
	}
	if got := rowOf(t, "units", st.batches[0].Rows[0]); got["exact_timestamp"] != int64(0) || got["main"] != int32(1) {
		t.Errorf("row %v, want version 0 (units have no Modified) and main 1", got)
	}
}

func TestAccountsAndSuppliersShareOneRead(t *testing.T) {
	src := &fakeSource{pages: map[string]string{}}
	src.pages[syncURL(src, "accounts", 0)] = page("x:/2", account(id1, 3, true), account(id2, 5, false))
	src.pages["x:/2"] = page("", account(id3, 9, true))
	st := &fakeStore{}
	r := NewRunner(Config{Logger: zerolog.Nop(), Enabled: []string{"accounts", "suppliers"}, BatchPages: 8}, st, st, st)
	if w, _ := r.Writes("accounts"); !slices.Equal(w, []string{"accounts", "suppliers"}) {
		t.Errorf("Writes(accounts) = %v, want accounts and suppliers", w)
	}
	if w, _ := r.Writes("suppliers"); !slices.Equal(w, []string{"suppliers", "accounts"}) {
		t.Errorf("Writes(suppliers) = %v, want suppliers and accounts", w)
	}
	res, err := r.Run(context.Background(), src, Job{ConnectionID: 1, Division: 101, Entity: "accounts"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Calls != 2 || len(src.asked) != 2 {
		t.Errorf("%d calls (%v), want the 2 pages of accounts alone", res.Calls, src.asked)
	}
	rows := map[string]int{}
	for _, w := range st.writes {
		if len(w) != 2 {
			t.Errorf("a write of %d batches, want accounts and suppliers in one transaction", len(w))
		}
		for _, b := range w {
			rows[b.Entity] += len(b.Rows)
		}
	}
	if rows["accounts"] != 3 || rows["suppliers"] != 2 || st.cur("accounts").Timestamp != 9 || st.cur("suppliers").Timestamp != 9 {
		t.Errorf("rows %v, cursors %d/%d; want 3 accounts, 2 suppliers, both cursors 9", rows, st.cur("accounts").Timestamp, st.cur("suppliers").Timestamp)
	}
	if len(st.started) != 2 || st.started[1].Entity != "suppliers" || st.finished[1].APICalls != 0 || st.finished[0].APICalls != 2 {
		t.Errorf("runs %+v / %+v, want one per entity, the calls on accounts", st.started, st.finished)
	}
}

func TestQuietIncrementalRunCostsOneCallPerEndpointPlusDeletions(t *testing.T) {
	enabled := []string{"accounts", "suppliers", "contacts", "gl_accounts", "transaction_lines", "sales_invoices", "items"}
	src := &fakeSource{pages: map[string]string{}, def: page("")}
	st := &fakeStore{}
	r := NewRunner(Config{Logger: zerolog.Nop(), Enabled: enabled}, st, st, st)
	jobs := r.Jobs(1, 101, false)
	var names []string
	for _, j := range jobs {
		names = append(names, j.Entity)
	}
	if want := []string{"accounts", "contacts", "gl_accounts", "transaction_lines", "items", "sales_invoices", DeletionsJob}; !slices.Equal(names, want) {
		t.Fatalf("Jobs = %v, want %v", names, want)
	}
	calls := 0
	for _, j := range jobs {
		res, err := r.Run(context.Background(), src, j)
		if err != nil {
			t.Fatal(err)
		}
		calls += res.Calls
	}
	if n := len(jobs) - 1; calls != n+1 || len(src.asked) != n+1 {
		t.Errorf("%d calls for %d quiet endpoints and the deletions, want %d", calls, n, n+1)
	}
}

func TestDeletionsRouteByEntityType(t *testing.T) {
	src := &fakeSource{pages: map[string]string{}}
	src.pages[deletedURL(src, 101, 40)] = page("x:/d2",
		`{"EntityKey":"`+id1+`","EntityType":2,"Timestamp":41}`,  // accounts (and suppliers, not enabled)
		`{"EntityKey":"`+id2+`","EntityType":5,"Timestamp":42}`,  // contacts
		`{"EntityKey":"`+id3+`","EntityType":1,"Timestamp":43}`,  // transaction_lines: not enabled, skipped
		`{"EntityKey":"`+id3+`","EntityType":99,"Timestamp":44}`) // unknown
	src.pages["x:/d2"] = page("", `{"EntityKey":"`+id3+`","EntityType":16,"Timestamp":45}`) // goods_deliveries, by EntryID
	// Before the shared stream, each entity had its own deletion cursor: the stream
	// starts at the lowest of the enabled entities' (transaction_lines' is lower, but
	// it is not enabled).
	st := &fakeStore{cursors: map[string]dest.Cursor{
		"accounts": {Timestamp: 100, DeletedTimestamp: 50}, "contacts": {Timestamp: 90, DeletedTimestamp: 40},
		"transaction_lines": {Timestamp: 10, DeletedTimestamp: 3},
	}}
	r := NewRunner(Config{Logger: zerolog.Nop(), Enabled: []string{"accounts", "contacts", "goods_deliveries"}}, st, st, st)
	res, err := r.Run(context.Background(), src, Job{ConnectionID: 1, Division: 101, Entity: DeletionsJob})
	if err != nil {
		t.Fatalf("Run: %v (asked %v)", err, src.asked)
	}
	removed := map[string][]string{}
	for _, b := range st.batches {
		for _, rm := range b.Removals {
			removed[b.Entity] = append(removed[b.Entity], rm.ID)
		}
	}
	want := map[string][]string{"accounts": {id1}, "contacts": {id2}, "goods_deliveries": {id3}}
	if diff := cmp.Diff(want, removed); diff != "" {
		t.Errorf("removals by entity (-want +got):\n%s", diff)
	}
	for _, w := range st.writes {
		if own := w[len(w)-1]; own.Entity != DeletionsJob || own.NoCursor {
			t.Errorf("a write without the deletions cursor in its transaction: %+v", own)
		}
	}
	if c := st.cur(DeletionsJob); c.Timestamp != 45 || res.CursorFrom != 40 || res.CursorTo != 45 || res.Removed != 3 {
		t.Errorf("cursor %d, result from %d to %d, removed %d; want 40 → 45, 3 removed", c.Timestamp, res.CursorFrom, res.CursorTo, res.Removed)
	}
	if st.cur("accounts").DeletedTimestamp != 50 {
		t.Errorf("the accounts cursor changed: %+v", st.cur("accounts"))
	}
	if w, _ := r.Writes(DeletionsJob); !slices.Equal(w, []string{"accounts", "contacts", "goods_deliveries"}) {
		t.Errorf("Writes(deletions) = %v", w)
	}
}

func TestBudgetReserveHoldsFullPasses(t *testing.T) {
	src := &fakeSource{pages: map[string]string{}, def: page(""),
		limit: &exact.RateLimit{Known: true, DailyLimit: 5000, DailyRemaining: 499}}
	st := &fakeStore{}
	r := NewRunner(Config{Logger: zerolog.Nop(), Enabled: []string{"accounts"}}, st, st, st)
	res, err := r.Run(context.Background(), src, Job{ConnectionID: 1, Division: 101, Entity: "accounts", Full: true})
	if res.Status != StatusBudgetReserve || len(src.asked) != 0 || len(st.started) != 0 {
		t.Errorf("full pass with 499 of 5000 calls left: status %q (%v), %d calls; want %s and no call", res.Status, err, len(src.asked), StatusBudgetReserve)
	}
	for _, job := range []Job{{Entity: "accounts"}, {Entity: DeletionsJob}} {
		job.ConnectionID, job.Division = 1, 101
		if res, err := r.Run(context.Background(), src, job); err != nil || res.Status != StatusOK {
			t.Errorf("incremental %s run: %s, %v; want ok", job.Entity, res.Status, err)
		}
	}
	src.limit.DailyRemaining = 500
	if res, err := r.Run(context.Background(), src, Job{ConnectionID: 1, Division: 101, Entity: "accounts", Full: true}); err != nil || res.Status != StatusOK {
		t.Errorf("full pass with 10%% left: %s, %v; want ok", res.Status, err)
	}
}

func TestCatalogueIsReadOnly(t *testing.T) {
	e, _ := Lookup("accounts")
	e.Fields[0].Column = "changed"
	e.Keep = &Condition{Source: "x"}
	all := Catalogue()
	all[0].Fields = nil
	again, _ := Lookup("accounts")
	if again.Fields[0].Column == "changed" || again.Keep != nil || len(Catalogue()[0].Fields) == 0 {
		t.Error("changing a returned entity changed the catalogue")
	}
	names := Names()
	if !slices.IsSorted(names) || slices.Contains(names, "quotations") || !slices.Contains(names, "transaction_lines") {
		t.Errorf("Names() = %v, want the non-deprecated entities, sorted", names)
	}
}

// TestShapeReadsWhatFieldReads converts records of several shapes (the same members in
// the same order, another order, a member missing, a member the entity does not have, a
// name written with escapes) with the shape of the record before, renewed when it does
// not fit, as a page is converted, and checks that every row equals the row converted by
// name. (A record with a name twice never gets here: the decoder flags it, see
// FuzzRecordColumnsMatchRaw.)
func TestShapeReadsWhatFieldReads(t *testing.T) {
	e, _ := lookup("transaction_lines")
	recs := []string{
		`{"ID":"` + id1 + `","Timestamp":1,"AmountDC":1.5,"Description":"a","Date":"/Date(1711848600000)/"}`,
		`{"ID":"` + id2 + `","Timestamp":2,"AmountDC":2.5,"Description":"b","Date":"/Date(1711848600000)/"}`,
		`{"Timestamp":3,"ID":"` + id1 + `","Description":"c","AmountDC":3.5,"Date":null}`,
		`{"ID":"` + id2 + `","Timestamp":4,"AmountDC":4.5,"Date":"/Date(1711848600000)/"}`,
		`{"ID":"` + id1 + `","Timestamp":5,"AmountDC":5.5,"Descr\u0069ption":"first","Notes":"n","Date":null}`,
		`{"ID":"` + id2 + `","Timestamp":6,"AmountDC":6.5,"Descr\u0069ption":"second","Notes":"n","Date":null}`,
		`{"ID":"` + id2 + `","Timestamp":7,"AmountDC":7.5,"Description":"d","Date":"/Date(1711848600000)/"}`,
	}
	p, err := exact.DecodePage("test", []byte(page("", recs...)))
	if err != nil {
		t.Fatal(err)
	}
	cols := len(e.Columns())
	var sh *shape
	renewed := 0
	for i, rec := range p.Records {
		if rec.Err() != nil {
			t.Fatalf("record %d: %v", i, rec.Err())
		}
		if sh == nil || !sh.fits(rec) {
			sh = e.newShape(rec)
			renewed++
		}
		byName, byShape := make([]any, cols), make([]any, cols)
		k1, v1, _, err1 := e.row(101, rec, nil, byName)
		k2, v2, _, err2 := e.row(101, rec, sh, byShape)
		if err1 != nil || err2 != nil || k1 != k2 || v1 != v2 {
			t.Fatalf("record %d: by name (%s, %d, %v), by shape (%s, %d, %v)", i, k1, v1, err1, k2, v2, err2)
		}
		if diff := cmp.Diff(byName, byShape); diff != "" {
			t.Errorf("record %d: row by shape differs from the row by name (-name +shape):\n%s", i, diff)
		}
	}
	if renewed != 5 {
		t.Errorf("shape learnt %d times, want 5 (records 1, 3, 4, 5 and 7)", renewed)
	}
}

// TestModifiedCursorWhenExactDropsTheOrder: Exact may drop $orderby (§3.7), and then serves
// a Modified-read endpoint in its default order. The pages below come out of Modified order;
// the read stops at page 3 (a 400). The cursor must not move past records not read yet: it
// stays where the run started, so the next run reads them; a run that reads every page
// then moves the cursor to the highest Modified.
func TestModifiedCursorWhenExactDropsTheOrder(t *testing.T) {
	const base = 1751328000000
	journal := func(id string, modified int64) string {
		return fmt.Sprintf(`{"ID":"%s","Code":"70","Description":"Bank","Modified":"/Date(%d)/"}`, id, modified)
	}
	const id4 = "00000000-0000-4000-8000-000000000004"
	e, _ := Lookup("journals")
	src := &fakeSource{pages: map[string]string{}, fail: map[string]error{}}
	first := src.URL(101, "financial/Journals", url.Values{"$select": {e.Select()}, "$orderby": {"Modified"}})
	src.pages[first] = page("x:/journals?$skiptoken=2", journal(id1, base+3000), journal(id2, base+9000))
	src.pages["x:/journals?$skiptoken=2"] = page("x:/journals?$skiptoken=3", journal(id3, base+1000))
	src.fail["x:/journals?$skiptoken=3"] = &exact.APIError{Status: 400, Endpoint: "financial/Journals", Division: 101}
	st := &fakeStore{}
	r := NewRunner(Config{Logger: zerolog.Nop(), Enabled: []string{"journals"}, BatchPages: 1}, st, st, st)
	if _, err := r.Run(context.Background(), src, Job{ConnectionID: 1, Division: 101, Entity: "journals"}); err == nil {
		t.Fatalf("Run with page 3 failing: no error")
	}
	if got := st.cur("journals").Timestamp; got != 0 {
		t.Fatalf("cursor after a stopped read out of Modified order: %d, want 0 (where the run started): page 3 is not read yet", got)
	}

	delete(src.fail, "x:/journals?$skiptoken=3")
	src.pages["x:/journals?$skiptoken=3"] = page("", journal(id4, base+2000))
	res, err := r.Run(context.Background(), src, Job{ConnectionID: 1, Division: 101, Entity: "journals"})
	if err != nil {
		t.Fatalf("second Run: %v", err)
	}
	highest := int64(base + 9000 - 2*3600*1000) // /Date()/ is Amsterdam wall-clock time, summer time here (§3.8)
	if res.Upserted != 4 || res.CursorFrom != 0 || st.cur("journals").Timestamp != highest {
		t.Errorf("second run: upserted %d from %d, cursor %d; want 4 from 0, cursor %d", res.Upserted, res.CursorFrom, st.cur("journals").Timestamp, highest)
	}
}

// TestFirstURLsFitExactsLimit: Exact refuses URLs over 6,000 characters after
// percent-encoding (§2.6). Every entity's first URL, with the longest filter it can carry
// and room for the $skiptoken Exact adds to __next, stays under it; the catalogue's field
// lists grow, and this says when one no longer fits.
func TestFirstURLsFitExactsLimit(t *testing.T) {
	const limit, skiptoken = 6000, len("&$skiptoken=guid'00000000-0000-0000-0000-000000000000'")
	client, err := exact.New(exact.Config{BaseURL: "https://start.exactonline.co.uk", ClientID: "id", ClientSecret: "secret",
		Logger: zerolog.Nop()}, NewTokenStore(nil, 1)) // no token is asked for: URL makes no call
	if err != nil {
		t.Fatal(err)
	}
	longest, name := 0, ""
	for _, e := range Catalogue() {
		s := &stream{src: client, job: Job{Division: 99999999}, members: []*member{{e: &e, from: time.Now().UnixMilli()}}}
		u := s.firstURL()
		if n := len(u) + skiptoken; n > limit {
			t.Errorf("%s: the first URL and a skiptoken take %d characters, over Exact's %d: %s", e.Name, n, limit, u)
		}
		if len(u) > longest {
			longest, name = len(u), e.Name
		}
	}
	t.Logf("longest first URL: %s, %d characters", name, longest)
}
