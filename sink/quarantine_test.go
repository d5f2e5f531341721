package sink_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sink/sinktest"
)

// quarantine is what the tests compare of exact_sync.rejected_records.
type quarantine struct {
	Ref    string
	Key    string
	TS     *int64
	Reason string
	Record string
}

func storedQuarantine(t *testing.T, s *sink.Store, connID int64) []quarantine {
	t.Helper()
	rows, err := s.Pool().Query(testContext(t), `SELECT ref, coalesce(record_key, ''), exact_timestamp, reason, record
		FROM exact_sync.rejected_records WHERE connection_id = $1 ORDER BY ref`, connID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []quarantine
	for rows.Next() {
		var q quarantine
		var rec []byte
		if err := rows.Scan(&q.Ref, &q.Key, &q.TS, &q.Reason, &rec); err != nil {
			t.Fatal(err)
		}
		q.Record = string(rec)
		out = append(out, q)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func ts(n int64) *int64 { return &n }

func TestQuarantineStoresRejectsWithTheirPage(t *testing.T) {
	t.Parallel()
	s := sinktest.NewStore(t)
	ctx := testContext(t)
	conn := newConnection(t, s)
	table := accountsTable("exact.accounts")
	// Bytes PostgreSQL's text and jsonb would refuse are kept as they came, in bytea.
	nul := `{"ID":"` + uuidN(7) + `","Name":"has\u0000nul"}`
	keyless := dest.Reject{Reason: "field ID: want a GUID", Record: []byte(`{"ID":"x"}`)}
	b := dest.Batch{Table: table, Rows: accountRows(acct{101, uuidN(1), "Alpha", 5}), ConnectionID: conn.ID, Division: 101,
		Entity: "accounts", Cursor: dest.Cursor{Timestamp: 9},
		Rejects: []dest.Reject{
			{Key: uuidN(7), Timestamp: 7, HasTimestamp: true, Reason: "holds NUL", Record: []byte(nul)},
			keyless,
		}}
	if _, err := s.WriteBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	want := []quarantine{
		{uuidN(7), uuidN(7), ts(7), "holds NUL", nul},
		{keyless.Ref(), "", nil, keyless.Reason, `{"ID":"x"}`},
	}
	if diff := cmp.Diff(want, storedQuarantine(t, s, conn.ID)); diff != "" {
		t.Errorf("quarantine (-want +got):\n%s", diff)
	}
	if cur, err := s.Cursor(ctx, conn.ID, 101, "accounts"); err != nil || cur.Timestamp != 9 {
		t.Errorf("cursor %+v, %v; want 9: the page moves on", cur, err)
	}
	refs, err := s.Quarantined(ctx, conn.ID, 101, "accounts")
	if err != nil || len(refs) != 2 {
		t.Errorf("Quarantined = %v, %v; want both refs", refs, err)
	}

	// Replayed: nothing doubles. Then a good version releases uuidN(7) while, in the
	// same batch, an older bad version of uuidN(8) is released and a newer one rejected.
	if _, err := s.WriteBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	b2 := dest.Batch{Table: table, Rows: accountRows(acct{101, uuidN(7), "Fixed", 8}), ConnectionID: conn.ID, Division: 101,
		Entity: "accounts", Cursor: dest.Cursor{Timestamp: 12},
		Released: []dest.Release{{Ref: uuidN(7), Version: 8}, {Ref: uuidN(8), Version: 10}},
		Rejects: []dest.Reject{
			{Key: uuidN(7), Timestamp: 6, HasTimestamp: true, Reason: "older bad copy", Record: []byte(`{}`)},
			{Key: uuidN(8), Timestamp: 11, HasTimestamp: true, Reason: "newer bad version", Record: []byte(`{}`)},
		}}
	if _, err := s.WriteBatch(ctx, b2); err != nil {
		t.Fatal(err)
	}
	want = []quarantine{
		{uuidN(8), uuidN(8), ts(11), "newer bad version", `{}`},
		{keyless.Ref(), "", nil, keyless.Reason, `{"ID":"x"}`},
	}
	if diff := cmp.Diff(want, storedQuarantine(t, s, conn.ID)); diff != "" {
		t.Errorf("quarantine after the good version (-want +got):\n%s", diff)
	}
}

func TestSweepForgetsQuarantinedRecordsThePassDidNotSee(t *testing.T) {
	t.Parallel()
	s := sinktest.NewStore(t)
	ctx := testContext(t)
	conn := newConnection(t, s)
	table := accountsTable("exact.accounts")
	write := func(b dest.Batch) {
		t.Helper()
		b.Table, b.ConnectionID, b.Division, b.Entity = table, conn.ID, 101, "accounts"
		if _, err := s.WriteBatch(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	// Quarantined first: uuidN(2) (still in Exact) and uuidN(3) (deleted, unreported).
	write(dest.Batch{Rows: accountRows(acct{101, uuidN(2), "Beta", 1}), Cursor: dest.Cursor{Timestamp: 3}, Rejects: []dest.Reject{
		{Key: uuidN(2), Timestamp: 2, HasTimestamp: true, Reason: "bad", Record: []byte(`{}`)},
		{Key: uuidN(3), Timestamp: 3, HasTimestamp: true, Reason: "bad", Record: []byte(`{}`)},
	}})
	if has, err := s.StartSweep(ctx, table, conn.ID, 101, "accounts"); err != nil || !has {
		t.Fatalf("StartSweep = %v, %v; want true", has, err)
	}
	// The pass sees uuidN(2) still bad: its stored good version and its quarantine stay.
	write(dest.Batch{Cursor: dest.Cursor{Timestamp: 2, Sweep: true}, Rejects: []dest.Reject{
		{Key: uuidN(2), Timestamp: 2, HasTimestamp: true, Reason: "still bad", Record: []byte(`{}`)},
	}})
	removed, err := s.FinishSweep(ctx, table, conn.ID, 101, "accounts", dest.Cursor{Timestamp: 2, Sweep: true}, 0)
	if err != nil || removed != 0 {
		t.Fatalf("FinishSweep = %d, %v; want 0 rows removed", removed, err)
	}
	q := storedQuarantine(t, s, conn.ID)
	if len(q) != 1 || q[0].Ref != uuidN(2) || q[0].Reason != "still bad" {
		t.Errorf("quarantine after the sweep %+v, want only %s", q, uuidN(2))
	}
	if got := storedAccounts(t, s, "exact.accounts"); len(got) != 1 || got[0].ID != uuidN(2) {
		t.Errorf("accounts after the sweep %+v, want %s kept", got, uuidN(2))
	}
}

func TestDataError(t *testing.T) {
	for _, tt := range []struct {
		name   string
		err    error
		reason string // "" when not a data error
	}{
		{"data exception", &pgconn.PgError{Code: "22P05", Message: "unsupported Unicode escape sequence"}, "unsupported Unicode escape sequence (SQLSTATE 22P05)"},
		{"wrapped", errors.Join(errors.New("copying"), &pgconn.PgError{Code: "22021", Message: "invalid byte sequence"}), "invalid byte sequence (SQLSTATE 22021)"},
		{"unique violation", &pgconn.PgError{Code: "23505"}, ""},
		{"network", errors.New("connection reset"), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := sink.AsDataError(tt.err)
			if err.Error() != tt.err.Error() {
				t.Errorf("error text %q, want %q unchanged", err, tt.err)
			}
			d, ok := errors.AsType[*dest.DataError](fmt.Errorf("writing: %w", err))
			if got, want := ok, tt.reason != ""; got != want {
				t.Fatalf("a *dest.DataError: %t, want %t", got, want)
			}
			if ok && d.Reason != tt.reason {
				t.Errorf("reason %q, want %q", d.Reason, tt.reason)
			}
		})
	}
}
