package sync

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/exact/exacttest"
	"github.com/exactsync/exactsync/sink/sinktest"
)

// TestRawExtraRebuildsEveryEntityOnPostgreSQL syncs every entity of the catalogue from the
// simulator twice, into a database with raw kept (EXACTSYNC_RAW=on) and into one with
// raw=extra, and checks that exact.received(t) of every row of the second gives back, field
// for field, the record the first stores, while raw holds fewer bytes.
func TestRawExtraRebuildsEveryEntityOnPostgreSQL(t *testing.T) {
	if testing.Short() {
		t.Skip("syncs every entity twice")
	}
	ctx := context.Background()
	sim := exacttest.New(exacttest.Options{Accounts: 25, Seed: 11})
	type side struct {
		pool   *pgxpool.Pool
		runner *Runner
	}
	var sides [2]side
	for i, extra := range []bool{false, true} {
		st, pool := sinktest.NewStorePool(t)
		conn, err := st.UpsertConnection(ctx, "https://start.exactonline.nl", "client", "user")
		if err != nil {
			t.Fatal(err)
		}
		if conn.ID != 1 {
			t.Fatalf("connection %d, want 1 in a fresh database", conn.ID)
		}
		sides[i] = side{pool, NewRunner(Config{Logger: zerolog.Nop(), RawExtra: extra, Now: sim.Now}, st, st, st)}
	}
	client := simClient(t, sim, &memTokens{})
	entities := 0
	var onBytes, extraBytes int64
	for _, e := range Catalogue() {
		if e.Deprecated {
			continue
		}
		entities++
		t.Run(e.Name, func(t *testing.T) {
			for _, s := range sides {
				res, err := s.runner.Run(ctx, client, Job{ConnectionID: 1, Division: 101, Entity: e.Name})
				if err != nil || res.Status != StatusOK || res.Quarantined != 0 {
					t.Fatalf("Run %s: %+v, %v", e.Name, res, err)
				}
			}
			key := e.KeyColumn
			want := rowsByKey(t, sides[0].pool, `SELECT `+key+`::text, raw::text, octet_length(raw::text) FROM `+e.Table+` WHERE division = 101`)
			got := rowsByKey(t, sides[1].pool, `SELECT `+key+`::text, exact.received(t)::text, octet_length(raw::text) FROM `+e.Table+` t WHERE division = 101`)
			if len(want.records) == 0 {
				t.Fatalf("no rows of %s: the simulator serves none?", e.Table)
			}
			if len(got.records) != len(want.records) {
				t.Errorf("%d rows with raw=extra, %d with raw=on", len(got.records), len(want.records))
			}
			for k, w := range want.records {
				g, ok := got.records[k]
				if !ok {
					t.Errorf("row %s missing with raw=extra", k)
					continue
				}
				if diff := cmp.Diff(decodeJSON(t, w), decodeJSON(t, g)); diff != "" {
					t.Errorf("row %s: exact.received(t) differs from the record as received (-received +rebuilt):\n%s", k, diff)
				}
			}
			// Every entity's writes feed the change log, with the keys of the rows written.
			var logged, missing int
			if err := sides[0].pool.QueryRow(ctx, `SELECT count(DISTINCT k), count(*) FILTER (WHERE NOT EXISTS (
					SELECT 1 FROM exact_sync.changes c, unnest(c.keys) ck WHERE c.table_name = $1 AND c.division = 101 AND ck = t.`+key+`::text))
				FROM `+e.Table+` t LEFT JOIN (SELECT unnest(keys) AS k FROM exact_sync.changes WHERE table_name = $1 AND division = 101) c ON c.k = t.`+key+`::text
				WHERE t.division = 101`, strings.TrimPrefix(e.Table, "exact.")).Scan(&logged, &missing); err != nil {
				t.Fatal(err)
			}
			if logged != len(want.records) || missing != 0 {
				t.Errorf("the change log holds %d keys of the %d rows written (%d rows not logged)", logged, len(want.records), missing)
			}
			if got.bytes >= want.bytes {
				t.Errorf("raw holds %d bytes with extra, %d with on: want fewer", got.bytes, want.bytes)
			}
			onBytes += want.bytes
			extraBytes += got.bytes
		})
	}
	if entities < 70 {
		t.Errorf("%d entities, want the catalogue's 70 or more", entities)
	}
	t.Logf("raw as text: %d bytes with on, %d with extra (%.0f %%)", onBytes, extraBytes, 100*float64(extraBytes)/float64(max(onBytes, 1)))
}

// keyedRows are a table's records (JSON text) by key, and the bytes of their raw column.
type keyedRows struct {
	records map[string]string
	bytes   int64
}

func rowsByKey(t *testing.T, pool *pgxpool.Pool, query string) keyedRows {
	t.Helper()
	rows, err := pool.Query(context.Background(), query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := keyedRows{records: map[string]string{}}
	for rows.Next() {
		var key, rec string
		var n int64
		if err := rows.Scan(&key, &rec, &n); err != nil {
			t.Fatal(err)
		}
		out.records[key] = rec
		out.bytes += n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// decodeJSON decodes a record, its numbers kept as their text (jsonb's output, the same
// for equal numerics of equal scale).
func decodeJSON(t *testing.T, s string) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader([]byte(s)))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("%v: %s", err, s)
	}
	return v
}

// TestRawExtraKeepsWhatColumnsDoNotOnPostgreSQL: values whose form a column does not keep
// (a GUID in upper case, a padded code, a number sent as a string, a date with an offset),
// a navigation member, a field the catalogue does not know and fields the record lacks
// come back as received from exact.received(t).
func TestRawExtraKeepsWhatColumnsDoNotOnPostgreSQL(t *testing.T) {
	ctx := context.Background()
	st, pool := sinktest.NewStorePool(t)
	conn, err := st.UpsertConnection(ctx, "https://start.exactonline.nl", "client", "user")
	if err != nil {
		t.Fatal(err)
	}
	r := NewRunner(Config{Logger: zerolog.Nop(), RawExtra: true, Enabled: []string{"transaction_lines"}}, st, st, st)
	src := &fakeSource{pages: map[string]string{}}
	rec := `{"ID":"` + id1 + `","Timestamp":7,"AmountDC":-12.50,"AmountFC":"3.10","Description":"Huur \"maart\"",` +
		`"Date":"/Date(1711848600000+0100)/","DueDate":"/Date(1711855800000)/","AccountCode":"                12",` +
		`"VATCode":"21","GLAccount":"` + "00000000-0000-4000-8000-0000000000AB" + `","Document":null,` +
		`"Attachments":{"__deferred":{"uri":"https://start.exactonline.nl/api/v1/101/crm/Accounts"}},"NewField":[1,"a"]}`
	src.pages[syncURL(src, "transaction_lines", 0)] = page("", rec)
	if res, err := r.Run(ctx, src, Job{ConnectionID: conn.ID, Division: 101, Entity: "transaction_lines"}); err != nil || res.Upserted != 1 {
		var reason string
		_ = pool.QueryRow(ctx, `SELECT string_agg(reason, '; ') FROM exact_sync.rejected_records`).Scan(&reason)
		t.Fatalf("Run: %+v, %v (quarantined: %s)", res, err, reason)
	}
	var equal bool
	var raw, rebuilt string
	err = pool.QueryRow(ctx, `SELECT exact.received(t) = $2::jsonb, raw::text, exact.received(t)::text
		FROM exact.transaction_lines t WHERE division = 101 AND id = $1`, id1, rec).Scan(&equal, &raw, &rebuilt)
	if err != nil {
		t.Fatal(err)
	}
	if !equal {
		t.Errorf("exact.received(t) = %s\nwant %s\n(raw %s)", rebuilt, rec, raw)
	}
	for _, kept := range []string{`"AmountFC"`, `"Date"`, `"AccountCode"`, `"GLAccount"`, `"Attachments"`, `"NewField"`} {
		if !bytes.Contains([]byte(raw), []byte(kept)) {
			t.Errorf("raw %s lacks %s, whose form the columns do not keep", raw, kept)
		}
	}
	for _, given := range []string{`"AmountDC"`, `"DueDate"`, `"VATCode"`, `"Description"`, `"Document"`} {
		if bytes.Contains([]byte(raw), []byte(given+":")) {
			t.Errorf("raw %s holds %s, which its column gives back", raw, given)
		}
	}
}
