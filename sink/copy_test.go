package sink_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sink/sinktest"
)

// TestWriteBatchEncodesEveryValue writes values of each kind the sink's COPY encoder
// meets, in both the table it encodes itself and one with a domain column, which pgx's
// CopyFrom writes instead, and reads them back; then copies the same rows with a Copier
// into an unindexed table like each, and reads those back too.
func TestWriteBatchEncodesEveryValue(t *testing.T) {
	t.Parallel()
	s := sinktest.NewStore(t)
	ctx := testContext(t)
	_, err := s.Pool().Exec(ctx, `
		CREATE DOMAIN public.nonempty AS text CHECK (VALUE <> '');
		CREATE TABLE public.plain (division integer, id uuid, n bigint, note text, doc jsonb, at timestamptz, ok boolean,
			v bigint NOT NULL, synced_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (division, id));
		CREATE TABLE public.with_domain (LIKE public.plain INCLUDING ALL, label public.nonempty);
		CREATE TABLE public.plain_copy (LIKE public.plain INCLUDING DEFAULTS);
		CREATE TABLE public.with_domain_copy (LIKE public.with_domain INCLUDING DEFAULTS)`)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC)
	rows := [][]any{
		{int32(1), "0C2054C6-2B8C-46D1-8C20-509AA85EAD7B", int64(1) << 40, "Çelik & Zn.", []byte(`{"a": [1, "x"]}`), at, true, int64(1)},
		{int32(1), "fb0eec52-9386-4e9a-bb0e-a560d3eba44c", int32(-7), nil, nil, nil, nil, int64(2)},
		{int32(1), "00000000-0000-4000-8000-000000000003", 42, "", []byte(`null`), at.Add(time.Hour), false, int64(3)},
		{int32(1), "00000000000040008000000000000004", nil, "x", []byte(`{}`), at, nil, int64(4)}, // without hyphens
	}
	want := []string{
		"1 0c2054c6-2b8c-46d1-8c20-509aa85ead7b 1099511627776 Çelik & Zn. {\"a\": [1, \"x\"]} 2026-03-29T01:30:00Z true 1",
		"1 fb0eec52-9386-4e9a-bb0e-a560d3eba44c -7 <nil> <nil> <nil> <nil> 2",
		"1 00000000-0000-4000-8000-000000000003 42  null 2026-03-29T02:30:00Z false 3",
		"1 00000000-0000-4000-8000-000000000004 <nil> x {} 2026-03-29T01:30:00Z <nil> 4",
	}
	cols := []string{"division", "id", "n", "note", "doc", "at", "ok", "v"}
	for _, tc := range []struct {
		table string
		extra any
	}{{"public.plain", nil}, {"public.with_domain", "label"}} {
		t.Run(tc.table, func(t *testing.T) {
			tcols, trows := cols, rows
			if tc.extra != nil {
				tcols = append(cols[:len(cols):len(cols)], "label")
				trows = nil
				for _, r := range rows {
					trows = append(trows, append(r[:len(r):len(r)], "l"))
				}
			}
			table := dest.Table{Name: tc.table, Columns: tcols, Key: []string{"division", "id"}, VersionColumn: "v"}
			res, err := s.WriteBatch(ctx, dest.Batch{Table: table, Rows: trows, Division: 1})
			if err != nil {
				t.Fatal(err)
			}
			if res.Upserted != len(rows) {
				t.Errorf("upserted %d, want %d", res.Upserted, len(rows))
			}
			got := readValues(t, s, tc.table)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("stored values (-want +got):\n%s", diff)
			}

			copyTable := pgx.Identifier{"public", strings.TrimPrefix(tc.table, "public.") + "_copy"}
			err = pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
				c, err := sink.NewCopier(ctx, tx, copyTable, tcols)
				if err != nil {
					return err
				}
				n, err := c.Copy(ctx, tx, trows)
				if err == nil && n != int64(len(trows)) {
					err = fmt.Errorf("copied %d rows, want %d", n, len(trows))
				}
				return err
			})
			if err != nil {
				t.Fatalf("Copier: %v", err)
			}
			if diff := cmp.Diff(want, readValues(t, s, copyTable.Sanitize())); diff != "" {
				t.Errorf("values copied by the Copier (-want +got):\n%s", diff)
			}
		})
	}

	// A value the column cannot take fails the page, naming the column's position.
	bad := dest.Table{Name: "public.plain", Columns: cols, Key: []string{"division", "id"}, VersionColumn: "v"}
	_, err = s.WriteBatch(ctx, dest.Batch{Table: bad, Division: 1,
		Rows: [][]any{{int32(1), "00000000-0000-4000-8000-000000000009", "not a number", nil, nil, nil, nil, int64(1)}}})
	if err == nil {
		t.Errorf("a text value for a bigint column was written, want an error")
	}
	_, err = s.WriteBatch(ctx, dest.Batch{Table: bad, Division: 1,
		Rows: [][]any{{int32(1), "not-a-uuid", nil, nil, nil, nil, nil, int64(1)}}})
	if err == nil {
		t.Errorf("an invalid UUID was written, want an error")
	}
	err = pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
		_, err := sink.NewCopier(ctx, tx, pgx.Identifier{"public", "plain_copy"}, []string{"division", "nope"})
		return err
	})
	if err == nil || !strings.Contains(err.Error(), `no column "nope"`) {
		t.Errorf("NewCopier with a column the table lacks: got %v, want an error naming it", err)
	}
}

func readValues(t *testing.T, s *sink.Store, table string) []string {
	t.Helper()
	rows, err := s.Pool().Query(testContext(t), `SELECT division, id::text, n, note, doc::text, at, ok, v FROM `+table+` ORDER BY v`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var (
			division int32
			id       string
			n        *int64
			note     *string
			doc      *string
			at       *time.Time
			ok       *bool
			v        int64
		)
		if err := rows.Scan(&division, &id, &n, &note, &doc, &at, &ok, &v); err != nil {
			t.Fatal(err)
		}
		str := func(p any) string {
			switch p := p.(type) {
			case *int64:
				if p != nil {
					return fmtAny(*p)
				}
			case *string:
				if p != nil {
					return *p
				}
			case *time.Time:
				if p != nil {
					return p.UTC().Format(time.RFC3339)
				}
			case *bool:
				if p != nil {
					return fmtAny(*p)
				}
			}
			return "<nil>"
		}
		out = append(out, fmtAny(division)+" "+id+" "+str(n)+" "+str(note)+" "+str(doc)+" "+str(at)+" "+str(ok)+" "+fmtAny(v))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
