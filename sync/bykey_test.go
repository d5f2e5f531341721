package sync

import (
	"context"
	"testing"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/sink/sinktest"
)

// TestWriteRecordsOnPostgreSQL: records read by key (no Timestamp) are written at version
// 0, a bad one is quarantined, a row stored at a newer version stays as it is, and the
// sync endpoint's next version of a record written so replaces it.
func TestWriteRecordsOnPostgreSQL(t *testing.T) {
	ctx := context.Background()
	st, pool := sinktest.NewStorePool(t)
	conn, err := st.UpsertConnection(ctx, "https://start.exactonline.nl", "client", "user")
	if err != nil {
		t.Fatal(err)
	}
	r := NewRunner(Config{Logger: zerolog.Nop(), Enabled: []string{"transaction_lines"}}, st, st, st)
	src := &fakeSource{pages: map[string]string{}}
	src.pages[syncURL(src, "transaction_lines", 0)] = page("",
		`{"ID":"`+id3+`","Timestamp":9,"AmountDC":3.00,"Description":"synced"}`)
	job := Job{ConnectionID: conn.ID, Division: 101, Entity: "transaction_lines"}
	if _, err := r.Run(ctx, src, job); err != nil {
		t.Fatal(err)
	}
	p, err := exact.DecodePage("bulk/Financial/TransactionLines", []byte(page("",
		`{"ID":"`+id1+`","AmountDC":-12.50,"Description":"by key","Modified":"/Date(1711848600000)/"}`,
		`{"ID":"`+id2+`","AmountDC":"not a number","Description":"bad"}`,
		`{"ID":"`+id3+`","AmountDC":99.00,"Description":"older read"}`)))
	if err != nil {
		t.Fatal(err)
	}
	w, err := r.WriteRecords(ctx, conn.ID, 101, "transaction_lines", p.Records)
	if err != nil {
		t.Fatal(err)
	}
	if w.Upserted != 1 || w.Quarantined != 1 {
		t.Errorf("written %+v, want 1 upserted (id1; id3 is stored at a newer version) and 1 quarantined", w)
	}
	rows := func() map[string]string {
		out := map[string]string{}
		rs, err := pool.Query(ctx, `SELECT id::text, amount_dc::text || ' @' || exact_timestamp FROM exact.transaction_lines WHERE division = 101`)
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Close()
		for rs.Next() {
			var id, v string
			if err := rs.Scan(&id, &v); err != nil {
				t.Fatal(err)
			}
			out[id] = v
		}
		return out
	}
	got := rows()
	if got[id1] != "-12.50 @0" || got[id3] != "3.00 @9" || len(got) != 2 {
		t.Errorf("rows %v, want %s at version 0 and %s as synced", got, id1, id3)
	}
	q, err := st.Quarantined(ctx, conn.ID, 101, "transaction_lines")
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != 1 || q[0] != id2 {
		t.Errorf("quarantined %v, want %s", q, id2)
	}
	// The sync endpoint serves id1 at last: its version replaces the one read by key.
	src.pages[syncURL(src, "transaction_lines", 9)] = page("",
		`{"ID":"`+id1+`","Timestamp":11,"AmountDC":-12.75,"Description":"by key"}`)
	if _, err := r.Run(ctx, src, job); err != nil {
		t.Fatal(err)
	}
	if got := rows()[id1]; got != "-12.75 @11" {
		t.Errorf("after the sync endpoint served it: %s, want -12.75 @11", got)
	}
}
