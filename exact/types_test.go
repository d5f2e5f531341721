package exact

import (
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func raw(s string) []byte {
	if s == "<absent>" {
		return nil
	}
	return []byte(s)
}

func TestString(t *testing.T) {
	tests := []struct {
		name, in, want  string
		wantOK, wantErr bool
	}{
		{"plain", `"Amsterdam"`, "Amsterdam", true, false},
		{"escapes", `"a \"b\" \u00e9\/"`, `a "b" é/`, true, false},
		{"empty", `""`, "", true, false},
		{"null", `null`, "", false, false},
		{"absent", "<absent>", "", false, false},
		{"number as text", `128`, "128", true, false},
		{"object", `{"a":1}`, "", false, true},
		{"bool", `true`, "", false, true},
		{"surrogate pair", `"\ud83d\ude00"`, "😀", true, false},
		{"NUL escape", `"a\u0000b"`, "", false, true},
		{"lone high surrogate", `"\ud800"`, "", false, true},
		{"high surrogate before a non-surrogate", `"\ud800\u0041"`, "", false, true},
		{"lone low surrogate", `"\udfff"`, "", false, true},
		{"invalid UTF-8", "\"a\xffb\"", "", false, true},
		{"invalid UTF-8 after an escape", "\"\\n\xc3\"", "", false, true},
		{"invalid escape", `"\x"`, "", false, true},
		{"short unicode escape", `"\u12"`, "", false, true},
		{"unescaped quote", `"a"b"`, "", false, true},
		{"raw control character", "\"a\tb\"", "", false, true},
		{"lone quote", `"`, "", false, true},
		{"empty input", "", "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := String(raw(tt.in))
			if (err != nil) != tt.wantErr || ok != tt.wantOK || got != tt.want {
				t.Errorf("String(%s): got (%q, %v, %v), want (%q, %v, error %v)", tt.in, got, ok, err, tt.want, tt.wantOK, tt.wantErr)
			}
		})
	}
}

func TestCode(t *testing.T) {
	tests := []struct {
		name, in, want string
		wantOK         bool
	}{
		{"padded to 18 (§3.8)", `"               101"`, "101", true},
		{"not padded", `"ABC"`, "ABC", true},
		{"escaped", `"  A\"B  "`, `A"B`, true},
		{"null", `null`, "", false},
		{"number", `101`, "101", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := Code(raw(tt.in))
			if err != nil || ok != tt.wantOK || got != tt.want {
				t.Errorf("Code(%s): got (%q, %v, %v), want (%q, %v, nil)", tt.in, got, ok, err, tt.want, tt.wantOK)
			}
		})
	}
}

// Text PostgreSQL cannot store is an error naming it, never replaced (U+FFFD) or dropped.
func TestStringUnstorableText(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"NUL", `"  a\u0000"`, `the text holds a NUL character (\u0000), which PostgreSQL cannot store`},
		{"lone surrogate", `"  \ud800  "`, `the text holds a lone UTF-16 surrogate (\ud800), which PostgreSQL cannot store`},
		{"invalid UTF-8", "\"  \x80  \"", `the text holds bytes that are not UTF-8 (0x80), which PostgreSQL cannot store`},
		{"invalid UTF-8 without escapes", "\"\xff\"", `the text holds bytes that are not UTF-8 (0xff)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for fn, conv := range map[string]func([]byte) (string, bool, error){"String": String, "Code": Code} {
				got, ok, err := conv([]byte(tt.in))
				if err == nil || !strings.HasPrefix(err.Error(), tt.want) || ok || got != "" {
					t.Errorf("%s(%q): got (%q, %v, %v), want an error starting %q", fn, tt.in, got, ok, err, tt.want)
				}
			}
		})
	}
}

// Error messages end up in logs and in the run history's text column: they quote what
// is not printable UTF-8, and cut values at a character.
func TestTypeErrorPrintable(t *testing.T) {
	for _, in := range []string{"\"\x00\xff\"", `"` + strings.Repeat("é", 40) + `"`, "\"a\nb\""} {
		_, _, err := GUID([]byte(in))
		if err == nil {
			t.Fatalf("GUID(%q): got no error", in)
		}
		if msg := err.Error(); !utf8.ValidString(msg) || strings.ContainsAny(msg, "\x00\n") {
			t.Errorf("GUID(%q): error %q is not printable UTF-8", in, msg)
		}
	}
}

func TestGUID(t *testing.T) {
	tests := []struct {
		name, in, want  string
		wantOK, wantErr bool
	}{
		{"canonical", `"5b7f4515-0c8d-4c1a-9d3e-0123456789ab"`, "5b7f4515-0c8d-4c1a-9d3e-0123456789ab", true, false},
		{"upper case", `"5B7F4515-0C8D-4C1A-9D3E-0123456789AB"`, "5b7f4515-0c8d-4c1a-9d3e-0123456789ab", true, false},
		{"no hyphens", `"5b7f45150c8d4c1a9d3e0123456789ab"`, "5b7f4515-0c8d-4c1a-9d3e-0123456789ab", true, false},
		{"null", `null`, "", false, false},
		{"too short", `"5b7f4515-0c8d-4c1a-9d3e-0123456789a"`, "", false, true},
		{"too long", `"5b7f4515-0c8d-4c1a-9d3e-0123456789abc"`, "", false, true},
		{"hyphens misplaced", `"5b7f451-50c8d-4c1a-9d3e-0123456789ab"`, "", false, true},
		{"not hex", `"zb7f4515-0c8d-4c1a-9d3e-0123456789ab"`, "", false, true},
		{"not hex at the end", `"5b7f4515-0c8d-4c1a-9d3e-0123456789ag"`, "", false, true},
		{"a hyphen for a digit", `"5b7f4515-0c8d-4c1a-9d3e-0123456789-b"`, "", false, true},
		{"mixed case", `"5b7F4515-0C8d-4c1A-9d3e-0123456789aB"`, "5b7f4515-0c8d-4c1a-9d3e-0123456789ab", true, false},
		{"braces", `"{5b7f4515-0c8d-4c1a-9d3e-0123456789ab}"`, "", false, true},
		{"number", `12`, "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := GUID(raw(tt.in))
			if (err != nil) != tt.wantErr || ok != tt.wantOK || got != tt.want {
				t.Errorf("GUID(%s): got (%q, %v, %v), want (%q, %v, error %v)", tt.in, got, ok, err, tt.want, tt.wantOK, tt.wantErr)
			}
		})
	}
}

func TestBool(t *testing.T) {
	tests := []struct {
		name, in              string
		want, wantOK, wantErr bool
	}{
		{"true", `true`, true, true, false},
		{"false", `false`, false, true, false},
		{"string true", `"true"`, true, true, false},
		{"string False", `"False"`, false, true, false},
		{"null", `null`, false, false, false},
		{"absent", "<absent>", false, false, false},
		{"number", `1`, false, false, true},
		{"other string", `"yes"`, false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := Bool(raw(tt.in))
			if (err != nil) != tt.wantErr || ok != tt.wantOK || got != tt.want {
				t.Errorf("Bool(%s): got (%v, %v, %v), want (%v, %v, error %v)", tt.in, got, ok, err, tt.want, tt.wantOK, tt.wantErr)
			}
		})
	}
}

func TestInt64(t *testing.T) {
	tests := []struct {
		name, in        string
		want            int64
		wantOK, wantErr bool
	}{
		{"number", `4001`, 4001, true, false},
		{"string (Edm.Int64, §3.8)", `"4001"`, 4001, true, false},
		{"negative", `-12`, -12, true, false},
		{"max", `9223372036854775807`, 9223372036854775807, true, false},
		{"min", `"-9223372036854775808"`, -9223372036854775808, true, false},
		{"overflow", `9223372036854775808`, 0, false, true},
		{"null", `null`, 0, false, false},
		{"fraction", `1.5`, 0, false, true},
		{"empty string", `""`, 0, false, true},
		{"text", `"12a"`, 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := Int64(raw(tt.in))
			if (err != nil) != tt.wantErr || ok != tt.wantOK || got != tt.want {
				t.Errorf("Int64(%s): got (%d, %v, %v), want (%d, %v, error %v)", tt.in, got, ok, err, tt.want, tt.wantOK, tt.wantErr)
			}
		})
	}
}

func TestInt32(t *testing.T) {
	tests := []struct {
		name, in        string
		want            int32
		wantOK, wantErr bool
	}{
		{"number", `101`, 101, true, false},
		{"string", `"101"`, 101, true, false},
		{"too big", `2147483648`, 0, false, true},
		{"null", `null`, 0, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := Int32(raw(tt.in))
			if (err != nil) != tt.wantErr || ok != tt.wantOK || got != tt.want {
				t.Errorf("Int32(%s): got (%d, %v, %v), want (%d, %v, error %v)", tt.in, got, ok, err, tt.want, tt.wantOK, tt.wantErr)
			}
		})
	}
}

func TestDecimal(t *testing.T) {
	tests := []struct {
		name, in, want  string
		wantOK, wantErr bool
	}{
		{"number keeps its digits", `1234.50`, "1234.50", true, false},
		{"string (Edm.Decimal, §3.8)", `"1234.50"`, "1234.50", true, false},
		{"beyond float64 precision", `"12345678901234567890.123456789"`, "12345678901234567890.123456789", true, false},
		{"exponent", `1.5E+3`, "1.5E+3", true, false},
		{"negative", `"-0.01"`, "-0.01", true, false},
		{"null", `null`, "", false, false},
		{"text", `"12,50"`, "", false, true},
		{"bool", `true`, "", false, true},
		{"largest exponent numeric holds", `1e131071`, "1e131071", true, false},
		{"exponent too large for numeric", `1e131072`, "", false, true},
		{"fraction moved up to the limit", `"0.05e131073"`, "0.05e131073", true, false},
		{"fraction moved past the limit", `0.05e131074`, "", false, true},
		{"smallest exponent numeric holds", `1e-16383`, "1e-16383", true, false},
		{"exponent too small for numeric", `1.5e-16383`, "", false, true},
		{"zero with a large exponent", `0e200000`, "0e200000", true, false},
		{"zero with too small an exponent", `0.0e-20000`, "", false, true},
		{"exponent beyond int", `1e99999999999999999999`, "", false, true},
		{"empty string", `""`, "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := Decimal(raw(tt.in))
			if (err != nil) != tt.wantErr || ok != tt.wantOK || got != tt.want {
				t.Errorf("Decimal(%s): got (%q, %v, %v), want (%q, %v, error %v)", tt.in, got, ok, err, tt.want, tt.wantOK, tt.wantErr)
			}
		})
	}
}

func TestDate(t *testing.T) {
	// ms of a wall-clock time written as if it were UTC, as Exact does (§3.8).
	wall := func(y int, mo time.Month, d, h, mi int) string {
		return `"/Date(` + itoa(time.Date(y, mo, d, h, mi, 0, 0, time.UTC).UnixMilli()) + `)/"`
	}
	tests := []struct {
		name, in        string
		want            time.Time
		wantOK, wantErr bool
	}{
		{"winter, CET = UTC+1", wall(2026, 1, 5, 10, 0), time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC), true, false},
		{"summer, CEST = UTC+2", wall(2025, 7, 1, 10, 0), time.Date(2025, 7, 1, 8, 0, 0, 0, time.UTC), true, false},
		{"hour that occurs twice: first occurrence (CEST)", wall(2023, 10, 29, 2, 57), time.Date(2023, 10, 29, 0, 57, 0, 0, time.UTC), true, false},
		{"just after the repeated hour (CET)", wall(2023, 10, 29, 3, 0), time.Date(2023, 10, 29, 2, 0, 0, 0, time.UTC), true, false},
		{"just before summer time (CET)", wall(2025, 3, 30, 1, 59), time.Date(2025, 3, 30, 0, 59, 0, 0, time.UTC), true, false},
		{"skipped hour read as CET", wall(2025, 3, 30, 2, 30), time.Date(2025, 3, 30, 1, 30, 0, 0, time.UTC), true, false},
		{"first hour of summer time (CEST)", wall(2025, 3, 30, 3, 0), time.Date(2025, 3, 30, 1, 0, 0, 0, time.UTC), true, false},
		{"midnight of a winter day", wall(2025, 1, 1, 0, 0), time.Date(2024, 12, 31, 23, 0, 0, 0, time.UTC), true, false},
		{"example page of §3.10", `"/Date(1735737600000)/"`, time.Date(2025, 1, 1, 12, 20, 0, 0, time.UTC), true, false},
		{"milliseconds kept", `"/Date(1735737600123)/"`, time.Date(2025, 1, 1, 12, 20, 0, 123e6, time.UTC), true, false},
		{"escaped slashes", `"\/Date(1735737600000)\/"`, time.Date(2025, 1, 1, 12, 20, 0, 0, time.UTC), true, false},
		{"explicit offset is an instant", `"/Date(1735737600000+0100)/"`, time.Date(2025, 1, 1, 13, 20, 0, 0, time.UTC), true, false},
		{"ISO without zone is Amsterdam", `"2024-01-31T00:00:00"`, time.Date(2024, 1, 30, 23, 0, 0, 0, time.UTC), true, false},
		{"null", `null`, time.Time{}, false, false},
		{"absent", "<absent>", time.Time{}, false, false},
		{"garbage", `"/Date(abc)/"`, time.Time{}, false, true},
		{"offset not digits", `"/Date(1735737600000+01:0)/"`, time.Time{}, false, true},
		{"offset too short", `"/Date(1735737600000-1)/"`, time.Time{}, false, true},
		{"other escapes", `"\u002FDate(1735737600000)\u002F"`, time.Date(2025, 1, 1, 12, 20, 0, 0, time.UTC), true, false},
		{"bad escape", `"\/Date(1735737600000)\x"`, time.Time{}, false, true},
		{"escaped slash alone", `"\/"`, time.Time{}, false, true},
		{"escaped slashes alone", `"\/\/"`, time.Time{}, false, true},
		{"escaped slashes around nothing", `"\/\/\/"`, time.Time{}, false, true},
		{"number", `1735737600000`, time.Time{}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := Date(raw(tt.in))
			if (err != nil) != tt.wantErr || ok != tt.wantOK || !got.Equal(tt.want) {
				t.Errorf("Date(%s): got (%v, %v, %v), want (%v, %v, error %v)", tt.in, got, ok, err, tt.want, tt.wantOK, tt.wantErr)
			}
			if ok && got.Location() != time.UTC {
				t.Errorf("Date(%s): location %v, want UTC", tt.in, got.Location())
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestIsLoopbackHost(t *testing.T) {
	tests := []struct {
		host string
		want bool
	}{
		{"localhost", true},
		{"LOCALHOST", true},
		{"localhost.", true},
		{"sim.localhost", true},
		{"127.0.0.1", true},
		{"127.8.9.10", true},
		{"::1", true},
		{"", false},
		{"example.com", false},
		{"localhost.example.com", false},
		{"127.0.0.1.evil.example", false},
		{"10.0.0.1", false},
		{"::", false},
	}
	for _, tt := range tests {
		if got := IsLoopbackHost(tt.host); got != tt.want {
			t.Errorf("IsLoopbackHost(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}
