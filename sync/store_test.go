package sync

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/sink/sinktest"
)

// TestCatalogueEntitiesOnPostgreSQL runs jobs against real PostgreSQL: amounts stored as
// exact decimals, a goods delivery keyed by EntryID removed by its deletion, and units
// that disappear from Exact disappearing from their table.
func TestCatalogueEntitiesOnPostgreSQL(t *testing.T) {
	ctx := context.Background()
	st := sinktest.NewStore(t)
	conn, err := st.UpsertConnection(ctx, "https://start.exactonline.nl", "client", "user")
	if err != nil {
		t.Fatal(err)
	}
	r := NewRunner(Config{Logger: zerolog.Nop(), Enabled: []string{"transaction_lines", "goods_deliveries", "units"}}, st, st, st)
	src := &fakeSource{pages: map[string]string{}}
	run := func(entity string) {
		t.Helper()
		if res, err := r.Run(ctx, src, Job{ConnectionID: conn.ID, Division: 101, Entity: entity}); err != nil || res.Quarantined != 0 {
			t.Fatalf("Run %s: %+v, %v", entity, res, err)
		}
	}

	src.pages[syncURL(src, "transaction_lines", 0)] = page("",
		`{"ID":"`+id1+`","Timestamp":7,"AmountDC":1E-05,"AmountFC":0.1,"AmountVATFC":"-12345678901234567890.123456789",`+
			`"ExchangeRate":1.50E2,"Date":"/Date(1711848600000)/","DueDate":"/Date(1711855800000)/"}`)
	run("transaction_lines")
	var dc, fc, vat, rate string
	var exact bool
	var date, due time.Time
	err = st.Pool().QueryRow(ctx, `SELECT amount_dc::text, amount_fc::text, amount_vatfc::text, exchange_rate::text,
			amount_dc = '1E-05'::numeric AND amount_fc = '0.1'::numeric AND amount_vatfc = '-12345678901234567890.123456789'::numeric
			AND exchange_rate = '1.50E2'::numeric, date, due_date
		FROM exact.transaction_lines WHERE division = 101 AND id = $1`, id1).Scan(&dc, &fc, &vat, &rate, &exact, &date, &due)
	if err != nil {
		t.Fatal(err)
	}
	// The text PostgreSQL gives the JSON numbers it would have read itself.
	if dc != "0.00001" || fc != "0.1" || vat != "-12345678901234567890.123456789" || rate != "150" || !exact {
		t.Errorf("amounts %s, %s, %s, %s (equal to the JSON text: %t); want 0.00001, 0.1, -12345678901234567890.123456789, 150", dc, fc, vat, rate, exact)
	}
	if !date.Equal(time.Date(2024, 3, 31, 0, 30, 0, 0, time.UTC)) || !due.Equal(time.Date(2024, 3, 31, 1, 30, 0, 0, time.UTC)) {
		t.Errorf("dates %s, %s; want 00:30Z (01:30 CET) and 01:30Z (03:30 CEST)", date, due)
	}

	const entry = "00000000-0000-4000-8000-0000000000e1"
	src.pages[syncURL(src, "goods_deliveries", 0)] = page("",
		`{"EntryID":"`+entry+`","Timestamp":8,"DeliveryNumber":1,"Description":"Levering"}`)
	run("goods_deliveries")
	src.pages[deletedURL(src, 101, 0)] = page("", `{"EntityKey":"`+entry+`","EntityType":16,"Timestamp":9}`)
	run(DeletionsJob)
	if n := count(t, st.Pool().QueryRow, "exact.goods_deliveries"); n != 0 {
		t.Errorf("%d goods deliveries after their deletion, want 0", n)
	}

	e, _ := Lookup("units")
	unitsURL := src.URL(101, e.Path, url.Values{"$select": {e.Select()}})
	src.pages[unitsURL] = page("", `{"ID":"`+id1+`","Code":"st","Main":1}`, `{"ID":"`+id2+`","Code":"kg","Main":0}`)
	run("units")
	src.pages[unitsURL] = page("", `{"ID":"`+id2+`","Code":"kg","Main":0}`)
	run("units")
	if n := count(t, st.Pool().QueryRow, "exact.units"); n != 1 {
		t.Errorf("%d units after one disappeared from Exact, want 1", n)
	}
}

func count[R interface{ Scan(...any) error }](t *testing.T, q func(context.Context, string, ...any) R, table string) int {
	t.Helper()
	var n int
	if err := q(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestOmitRawOnPostgreSQL checks that with OmitRaw the typed columns are stored as
// before and raw holds '{}'.
func TestOmitRawOnPostgreSQL(t *testing.T) {
	ctx := context.Background()
	st := sinktest.NewStore(t)
	conn, err := st.UpsertConnection(ctx, "https://start.exactonline.nl", "client", "user")
	if err != nil {
		t.Fatal(err)
	}
	r := NewRunner(Config{Logger: zerolog.Nop(), OmitRaw: true, Enabled: []string{"transaction_lines"}}, st, st, st)
	src := &fakeSource{pages: map[string]string{}}
	src.pages[syncURL(src, "transaction_lines", 0)] = page("",
		`{"ID":"`+id1+`","Timestamp":7,"AmountDC":-12.50,"Description":"Huur maart","Date":"/Date(1711848600000)/"}`)
	if res, err := r.Run(ctx, src, Job{ConnectionID: conn.ID, Division: 101, Entity: "transaction_lines"}); err != nil || res.Upserted != 1 {
		t.Fatalf("Run: %+v, %v", res, err)
	}
	var amount, description, raw string
	var version int64
	err = st.Pool().QueryRow(ctx, `SELECT amount_dc::text, description, exact_timestamp, raw::text
		FROM exact.transaction_lines WHERE division = 101 AND id = $1`, id1).Scan(&amount, &description, &version, &raw)
	if err != nil {
		t.Fatal(err)
	}
	if amount != "-12.50" || description != "Huur maart" || version != 7 || raw != "{}" {
		t.Errorf("got amount %s, description %q, version %d, raw %s; want -12.50, \"Huur maart\", 7, {}", amount, description, version, raw)
	}
}
