package sink

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// TestCopyEncoderMatchesPgx checks that the values the COPY encoder writes itself are
// the bytes pgx's own encode plans write for them.
func TestCopyEncoderMatchesPgx(t *testing.T) {
	m := pgtype.NewMap()
	ams, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		oid uint32
		v   any
	}{
		{pgtype.TimestamptzOID, time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC)},
		{pgtype.TimestamptzOID, time.Date(2026, 3, 29, 3, 30, 0, 123456789, ams)},
		{pgtype.TimestamptzOID, time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.UTC)},
		{pgtype.TimestamptzOID, time.Date(1969, 7, 20, 20, 17, 40, 1500, time.UTC)},
		{pgtype.TimestamptzOID, time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)},
		{pgtype.TimestamptzOID, time.UnixMilli(-1).UTC()},
		{pgtype.TimestamptzOID, time.Time{}},
		{pgtype.Int4OID, int32(0)},
		{pgtype.Int4OID, int32(-7)},
		{pgtype.Int4OID, int32(math.MaxInt32)},
		{pgtype.Int4OID, int32(math.MinInt32)},
		{pgtype.Int8OID, int64(1) << 40},
		{pgtype.Int8OID, int64(math.MinInt64)},
		{pgtype.BoolOID, true},
		{pgtype.BoolOID, false},
		{pgtype.TextOID, "Çelik & Zn."},
		{pgtype.TextOID, ""},
		{pgtype.VarcharOID, "               101"},
	} {
		e := &copyEncoder{m: m, oids: []uint32{tc.oid}, plans: make([]columnPlan, 1)}
		got, err := e.value(0, tc.v, []byte{0xaa})
		if err != nil {
			t.Errorf("%T %v as OID %d: %v", tc.v, tc.v, tc.oid, err)
			continue
		}
		want, err := m.Encode(tc.oid, pgtype.BinaryFormatCode, tc.v, []byte{0xaa})
		if err != nil {
			t.Fatalf("pgx: %T %v as OID %d: %v", tc.v, tc.v, tc.oid, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%T %v as OID %d: got % x, pgx writes % x", tc.v, tc.v, tc.oid, got, want)
		}
	}
}

// TestCopyEncoderValuesDoNotAllocate checks that the values sync makes most are encoded
// without an allocation each.
func TestCopyEncoderValuesDoNotAllocate(t *testing.T) {
	oids := []uint32{pgtype.TimestamptzOID, pgtype.Int4OID, pgtype.Int8OID, pgtype.BoolOID, pgtype.TextOID,
		pgtype.UUIDOID, pgtype.NumericOID}
	vals := []any{time.Now(), int32(1 << 20), int64(1 << 40), true, "text", "5b7f4515-0c8d-4c1a-9d3e-0123456789ab", "-1234.50"}
	e := &copyEncoder{m: pgtype.NewMap(), oids: oids, plans: make([]columnPlan, len(oids))}
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() {
		for c, v := range vals {
			if _, err := e.value(c, v, buf[:0]); err != nil {
				t.Fatal(err)
			}
		}
	}); n != 0 {
		t.Errorf("got %v allocations a row, want 0", n)
	}
}
