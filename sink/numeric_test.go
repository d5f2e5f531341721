package sink_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sink/sinktest"
)

// numeric is PostgreSQL's binary numeric, decoded: the value is the sum of digits[i] ×
// 10000^(weight-i), negative when sign is 0x4000, shown with dscale digits after the point.
type numeric struct {
	Weight int16
	Sign   uint16
	Dscale uint16
	Digits []uint16
}

func decodeNumeric(b []byte) (numeric, error) {
	if len(b) < 8 {
		return numeric{}, fmt.Errorf("%d bytes, want at least 8", len(b))
	}
	n := int(binary.BigEndian.Uint16(b))
	if len(b) != 8+2*n {
		return numeric{}, fmt.Errorf("%d bytes for %d digits, want %d", len(b), n, 8+2*n)
	}
	v := numeric{
		Weight: int16(binary.BigEndian.Uint16(b[2:])),
		Sign:   binary.BigEndian.Uint16(b[4:]),
		Dscale: binary.BigEndian.Uint16(b[6:]),
	}
	for i := range n {
		v.Digits = append(v.Digits, binary.BigEndian.Uint16(b[8+2*i:]))
	}
	return v, nil
}

// TestAppendNumeric pins the binary numeric of decimal texts: groups of four digits
// aligned on the decimal point, no leading or trailing zero group, the display scale of
// the text (exponent included), and zero always positive.
func TestAppendNumeric(t *testing.T) {
	tests := []struct {
		in   string
		want numeric
	}{
		{"0", numeric{}},
		{"-0", numeric{}},
		{"0.00", numeric{Dscale: 2}},
		{"0e-3", numeric{Dscale: 3}},
		{"0.0e5", numeric{}},
		{"0e10000000", numeric{}},
		{"-0e1073741822", numeric{}},
		{"0e-16383", numeric{Dscale: 16383}},
		{"1", numeric{Digits: []uint16{1}}},
		{"12.50", numeric{Dscale: 2, Digits: []uint16{12, 5000}}},
		{"-12.50", numeric{Sign: 0x4000, Dscale: 2, Digits: []uint16{12, 5000}}},
		{"10000", numeric{Weight: 1, Digits: []uint16{1}}},
		{"123456789", numeric{Weight: 2, Digits: []uint16{1, 2345, 6789}}},
		{"0.0001", numeric{Weight: -1, Dscale: 4, Digits: []uint16{1}}},
		{"0.00001", numeric{Weight: -2, Dscale: 5, Digits: []uint16{1000}}},
		{"1E-05", numeric{Weight: -2, Dscale: 5, Digits: []uint16{1000}}},
		{"1.50E2", numeric{Digits: []uint16{150}}},
		{"1.5e+3", numeric{Digits: []uint16{1500}}},
		{"1e4", numeric{Weight: 1, Digits: []uint16{1}}},
		{"1.5e-3", numeric{Weight: -1, Dscale: 4, Digits: []uint16{15}}},
		{"00012", numeric{Digits: []uint16{12}}},
		{"-12345678901234567890.123456789", numeric{Weight: 4, Sign: 0x4000, Dscale: 9,
			Digits: []uint16{1234, 5678, 9012, 3456, 7890, 1234, 5678, 9000}}},
		{"9999.9999", numeric{Dscale: 4, Digits: []uint16{9999, 9999}}},
		{"1e-16383", numeric{Weight: -4096, Dscale: 16383, Digits: []uint16{10}}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			b, err := sink.AppendNumeric([]byte("prefix"), tt.in)
			if err != nil {
				t.Fatalf("AppendNumeric(%q): %v", tt.in, err)
			}
			if !strings.HasPrefix(string(b), "prefix") {
				t.Fatalf("AppendNumeric(%q) did not append to the buffer: %q", tt.in, b)
			}
			got, err := decodeNumeric(b[len("prefix"):])
			if err != nil {
				t.Fatalf("AppendNumeric(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("AppendNumeric(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// TestAppendNumericRefuses: text that is not a JSON number, or that PostgreSQL's numeric
// cannot hold, is an error naming the text, never a value.
func TestAppendNumericRefuses(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `invalid numeric ""`},
		{"-", `invalid numeric "-"`},
		{"1.", `invalid numeric "1."`},
		{".5", `invalid numeric ".5"`},
		{"+1", `invalid numeric "+1"`},
		{"1e", `invalid numeric "1e"`},
		{"1e+", `invalid numeric "1e+"`},
		{"0x10", `invalid numeric "0x10"`},
		{" 1", `invalid numeric " 1"`},
		{"1 ", `invalid numeric "1 "`},
		{"NaN", `invalid numeric "NaN"`},
		{"Infinity", `invalid numeric "Infinity"`},
		{"1,5", `invalid numeric "1,5"`},
		{"1e1048577", `numeric "1e1048577" is out of range`},
		{"1e-16384", `numeric "1e-16384" has more digits after the point than PostgreSQL holds`},
		{"1e131072", `numeric "1e131072" is out of range`},
		{"0e1073741823", `numeric "0e1073741823" is out of range`},
		{"0e-1073741823", `numeric "0e-1073741823" is out of range`},
		{"0.0e-16383", `numeric "0.0e-16383" has more digits after the point than PostgreSQL holds`},
		{strings.Repeat("9", 50) + "x", `invalid numeric "` + strings.Repeat("9", 40) + `…"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			b, err := sink.AppendNumeric(nil, tt.in)
			if err == nil || err.Error() != tt.want {
				t.Errorf("AppendNumeric(%q) = %x, %v; want error %q", tt.in, b, err, tt.want)
			}
		})
	}
}

// jsonNumber is the syntax of a JSON number (RFC 8259, section 6), the only text the
// sink is given for a numeric column.
var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// FuzzAppendNumeric compares the hand-written encoder with PostgreSQL's own numeric input,
// on the server: whatever text the encoder accepts, PostgreSQL reads as exactly the value
// the encoder wrote, byte for byte in the binary form it sends back (numeric_send); and a
// JSON number PostgreSQL accepts, the encoder accepts too.
func FuzzAppendNumeric(f *testing.F) {
	for _, s := range []string{
		"0", "-0", "0.00", "1", "12.50", "-12.50", "10000", "123456789", "0.0001", "1E-05",
		"1.50E2", "1.5e+3", "1e4", "1.5e-3", "00012", "-12345678901234567890.123456789",
		"9999.9999", "1e-16383", "1e-16384", "1e131071", "1e131072", "9.99e131071", "0e-20000",
		"0.1e-16382", "123.456e-16380", "1e1048577", "", "-", "1.", ".5", "+1", "NaN", " 1", "1e",
		"-0.000000000000000000000000000001", strings.Repeat("7", 1000) + "." + strings.Repeat("3", 1000),
	} {
		f.Add(s)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, sinktest.ServerURL())
	if err != nil {
		f.Fatalf("connecting to the test server %s: %v", sinktest.ServerURL(), err)
	}
	f.Cleanup(func() { conn.Close(ctx) })
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 4000 {
			return // long enough to hold every limit; longer inputs only slow the search
		}
		mine, myErr := sink.AppendNumeric(nil, s)
		theirs, pgErr := pgNumeric(ctx, conn, s)
		if pgErr != nil && !isDataException(pgErr) {
			t.Fatalf("SELECT %q::numeric: %v", s, pgErr)
		}
		switch {
		case myErr == nil && pgErr != nil:
			t.Fatalf("AppendNumeric(%q) = %x, but PostgreSQL refuses the text: %v", s, mine, pgErr)
		case myErr == nil && string(mine) != string(theirs):
			m, _ := decodeNumeric(mine)
			p, _ := decodeNumeric(theirs)
			t.Fatalf("AppendNumeric(%q) = %+v, PostgreSQL reads %+v", s, m, p)
		case myErr != nil && pgErr == nil && jsonNumber.MatchString(s):
			t.Fatalf("AppendNumeric(%q): %v; PostgreSQL reads the JSON number as %x", s, myErr, theirs)
		}
	})
}

// pgNumeric returns the binary numeric PostgreSQL makes of the text s.
func pgNumeric(ctx context.Context, conn *pgx.Conn, s string) ([]byte, error) {
	res := conn.PgConn().ExecParams(ctx, "SELECT $1::text::numeric", [][]byte{[]byte(s)},
		[]uint32{pgtype.TextOID}, []int16{pgtype.TextFormatCode}, []int16{pgtype.BinaryFormatCode}).Read()
	if res.Err != nil {
		return nil, res.Err
	}
	if len(res.Rows) != 1 || len(res.Rows[0]) != 1 {
		return nil, fmt.Errorf("got %d rows, want one value", len(res.Rows))
	}
	return res.Rows[0][0], nil
}

// isDataException reports whether PostgreSQL refused the value itself (SQLSTATE class 22:
// invalid text, out of range, a byte sequence not valid in the encoding), rather than
// failing.
func isDataException(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && strings.HasPrefix(pgErr.Code, "22")
}
