package exact

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // Europe/Amsterdam on machines without zoneinfo
)

// Value conversions for Exact's data types (§3.8). Each takes a raw JSON value as returned
// by Record.Field and reports ok=false, without error, for JSON null and for an absent member
// (nil input). A value of the wrong JSON type is an error naming what was expected.

// amsterdam is the zone in which Exact writes its /Date(ms)/ values (§3.8).
var amsterdam = mustLoadLocation("Europe/Amsterdam")

func mustLoadLocation(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(fmt.Sprintf("exact: loading time zone %s: %v", name, err)) // embedded by time/tzdata
	}
	return loc
}

func isNull(v []byte) bool { return v == nil || string(v) == "null" }

// String returns a JSON string as a Go string. Numbers are accepted and returned as their text.
func String(v []byte) (string, bool, error) {
	if isNull(v) {
		return "", false, nil
	}
	if len(v) > 0 && v[0] == '"' {
		s, err := unquote(v)
		return s, err == nil, err
	}
	if validNumber(v) {
		return string(v), true, nil
	}
	return "", false, typeError("a string", v)
}

// Code returns a string with Exact's space padding trimmed: account codes are served
// right-aligned in 18 characters (§3.8).
func Code(v []byte) (string, bool, error) {
	if isNull(v) {
		return "", false, nil
	}
	if len(v) > 0 && v[0] == '"' {
		b, err := unquoteBytes(v)
		if err != nil {
			return "", false, err
		}
		return string(bytes.TrimSpace(b)), true, nil // trimmed before copying
	}
	s, ok, err := String(v)
	return strings.TrimSpace(s), ok, err
}

// GUID returns an Edm.Guid in canonical lowercase 8-4-4-4-12 form. It accepts upper case and
// the 32-digit form without hyphens.
func GUID(v []byte) (string, bool, error) {
	if isNull(v) {
		return "", false, nil
	}
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false, typeError("a GUID string", v)
	}
	if s, ok := guidFast(v); ok {
		return s, true, nil
	}
	in := v[1 : len(v)-1]
	var out [36]byte
	j := 0
	for i := 0; i < len(in); i++ {
		c := in[i]
		if c == '-' {
			continue
		}
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		case c >= 'A' && c <= 'F':
			c += 'a' - 'A'
		default:
			return "", false, typeError("a GUID", v)
		}
		if j == 8 || j == 13 || j == 18 || j == 23 {
			out[j] = '-'
			j++
		}
		if j >= len(out) {
			return "", false, typeError("a GUID", v)
		}
		out[j] = c
		j++
	}
	if j != len(out) || !validGUIDHyphens(in) {
		return "", false, typeError("a GUID", v)
	}
	return string(out[:]), true, nil
}

// guidFast is GUID's fast path for the form Exact sends, "8-4-4-4-12" in quotes,
// lowercased through a table: a tenth of the process's CPU went to GUIDs in a full sync
// of transaction lines, which have thirteen (BENCHMARKS.md). ok is false for any other
// form, which the general path then reads or rejects.
func guidFast(v []byte) (string, bool) {
	if len(v) != 38 || v[9] != '-' || v[14] != '-' || v[19] != '-' || v[24] != '-' {
		return "", false
	}
	var out [36]byte
	for i, c := range v[1:37] {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			out[i] = '-'
			continue
		}
		l := hexLower[c]
		if l == 0 {
			return "", false
		}
		out[i] = l
	}
	return string(out[:]), true
}

// hexLower maps the hex digits to their lowercase form, and every other byte to 0.
var hexLower = func() (t [256]byte) {
	for _, c := range "0123456789abcdef" {
		t[c] = byte(c)
	}
	for c := 'A'; c <= 'F'; c++ {
		t[c] = byte(c - 'A' + 'a')
	}
	return t
}()

// validGUIDHyphens accepts no hyphens or hyphens exactly at the canonical positions.
func validGUIDHyphens(in []byte) bool {
	if bytes.IndexByte(in, '-') < 0 {
		return len(in) == 32
	}
	if len(in) != 36 {
		return false
	}
	for i, c := range in {
		if (i == 8 || i == 13 || i == 18 || i == 23) != (c == '-') {
			return false
		}
	}
	return true
}

// Bool returns an Edm.Boolean; the strings "true" and "false" are accepted too (§3.8).
func Bool(v []byte) (bool, bool, error) {
	if isNull(v) {
		return false, false, nil
	}
	s := v
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		s = v[1 : len(v)-1]
	}
	switch {
	case bytes.EqualFold(s, []byte("true")):
		return true, true, nil
	case bytes.EqualFold(s, []byte("false")):
		return false, true, nil
	}
	return false, false, typeError("a boolean", v)
}

// Int64 returns an Edm.Int64 served as a JSON number or a string (§3.8).
func Int64(v []byte) (int64, bool, error) {
	if isNull(v) {
		return 0, false, nil
	}
	s := v
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		s = v[1 : len(v)-1]
	}
	n, ok := parseInt(s)
	if !ok {
		return 0, false, typeError("an integer", v)
	}
	return n, true, nil
}

// Int32 returns an Edm.Int32 served as a JSON number or a string.
func Int32(v []byte) (int32, bool, error) {
	n, ok, err := Int64(v)
	if err != nil || !ok {
		return 0, ok, err
	}
	if n < -1<<31 || n > 1<<31-1 {
		return 0, false, typeError("a 32-bit integer", v)
	}
	return int32(n), true, nil
}

// parseInt parses an optionally signed decimal integer without allocating.
func parseInt(s []byte) (int64, bool) {
	neg := false
	if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if len(s) == 0 || len(s) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if neg {
		if n > 1<<63 {
			return 0, false
		}
		return -int64(n), true
	}
	if n > 1<<63-1 {
		return 0, false
	}
	return int64(n), true
}

// Decimal returns an Edm.Decimal served as a JSON number or a string, as its exact decimal
// text (never through float64), e.g. "1234.50". The text is a valid JSON number, which
// PostgreSQL's numeric accepts.
func Decimal(v []byte) (string, bool, error) {
	if isNull(v) {
		return "", false, nil
	}
	s := v
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		s = bytes.TrimSpace(v[1 : len(v)-1])
	}
	if !validNumber(s) {
		return "", false, typeError("a decimal number", v)
	}
	if !numericFits(s) {
		return "", false, typeError("a decimal number PostgreSQL's numeric can hold", v)
	}
	return string(s), true, nil
}

// PostgreSQL's numeric holds up to 131072 digits before the decimal point and 16383
// after it.
const (
	numericMaxIntDigits  = 131072
	numericMaxFracDigits = 16383
)

// numericFits reports whether the JSON number b fits PostgreSQL's numeric, which refuses
// larger exponents ("1e200000") than a JSON number can carry.
func numericFits(b []byte) bool {
	if !hasExponent(b) && len(b) <= numericMaxFracDigits {
		return true // the usual case: too short to overflow
	}
	mant, exp := b, 0
	if i := bytes.IndexAny(b, "eE"); i >= 0 {
		mant = b[:i]
		e := b[i+1:]
		neg := len(e) > 0 && e[0] == '-'
		if len(e) > 0 && (e[0] == '-' || e[0] == '+') {
			e = e[1:]
		}
		for _, c := range e {
			exp = exp*10 + int(c-'0')
			if exp > 1<<30 {
				return false
			}
		}
		if neg {
			exp = -exp
		}
	}
	mant = bytes.TrimPrefix(mant, []byte("-"))
	intPart, frac, _ := bytes.Cut(mant, []byte("."))
	if len(frac)-exp > numericMaxFracDigits {
		return false
	}
	if intPart = bytes.TrimLeft(intPart, "0"); len(intPart) > 0 {
		return len(intPart)+exp <= numericMaxIntDigits
	}
	// Below 1: the digits before the point are what the exponent moves there.
	lead := len(frac) - len(bytes.TrimLeft(frac, "0"))
	return lead == len(frac) || exp-lead <= numericMaxIntDigits
}

// hasExponent reports whether the number b has an exponent, 'e' or 'E'.
func hasExponent(b []byte) bool {
	for _, c := range b {
		if c|0x20 == 'e' {
			return true
		}
	}
	return false
}

// Date returns an Edm.DateTime as a UTC instant. Exact serves "/Date(ms)/" where ms counts
// milliseconds of the Dutch wall-clock time (CET/CEST), not of UTC (§3.8), so the value is
// read as a Europe/Amsterdam local time. A form with an explicit offset, "/Date(ms+0100)/",
// is an instant already. ISO strings without a zone ("2024-01-31T00:00:00") are read as
// Amsterdam local time too.
func Date(v []byte) (time.Time, bool, error) {
	if isNull(v) {
		return time.Time{}, false, nil
	}
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return time.Time{}, false, typeError("a date string", v)
	}
	s := v[1 : len(v)-1]
	if bytes.IndexByte(s, '\\') >= 0 {
		// JSON allows "\/Date(…)\/", the classic WCF escaping, and any other escape.
		u, err := unquoteBytes(v) // a copy: the page is not written
		if err != nil {
			return time.Time{}, false, typeError("a date string", v)
		}
		s = u
	}
	if bytes.HasPrefix(s, []byte("/Date(")) && bytes.HasSuffix(s, []byte(")/")) {
		inner := s[len("/Date(") : len(s)-len(")/")]
		// Split an optional +hhmm / -hhmm offset after the (possibly negative) number.
		offAt := -1
		for i := 1; i < len(inner); i++ {
			if inner[i] == '+' || inner[i] == '-' {
				offAt = i
				break
			}
		}
		msText := inner
		if offAt > 0 {
			msText = inner[:offAt]
		}
		ms, ok := parseInt(msText)
		if offAt > 0 && !validOffset(inner[offAt:]) {
			ok = false
		}
		if !ok {
			return time.Time{}, false, typeError("a /Date(ms)/ value", v)
		}
		if offAt > 0 {
			return time.UnixMilli(ms).UTC(), true, nil
		}
		return amsterdamWallClock(time.UnixMilli(ms).UTC()), true, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, string(s), amsterdam); err == nil {
			return t.UTC(), true, nil
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, string(s)); err == nil {
		return t.UTC(), true, nil
	}
	return time.Time{}, false, typeError("a /Date(ms)/ value", v)
}

// validOffset accepts the +hhmm or -hhmm of a "/Date(ms+hhmm)/" value.
func validOffset(b []byte) bool {
	if len(b) != 5 || (b[0] != '+' && b[0] != '-') {
		return false
	}
	for _, c := range b[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// amsterdamWallClock reads the fields of u (a UTC time) as Amsterdam local time. In the hour
// that occurs twice when summer time ends, the first occurrence (CEST) is chosen; a time in
// the hour skipped when it starts is read with the offset before the change.
func amsterdamWallClock(u time.Time) time.Time {
	// Offsets change at most twice a year: the ones a day before and after cover every case.
	_, before := u.Add(-24 * time.Hour).In(amsterdam).Zone()
	_, after := u.Add(24 * time.Hour).In(amsterdam).Zone()
	first := u.Add(-time.Duration(before) * time.Second)
	if before == after {
		return first
	}
	second := u.Add(-time.Duration(after) * time.Second)
	if second.Before(first) {
		first, second = second, first
	}
	for _, t := range [2]time.Time{first, second} {
		if _, off := t.In(amsterdam).Zone(); t.Add(time.Duration(off) * time.Second).Equal(u) {
			return t
		}
	}
	return u.Add(-time.Duration(before) * time.Second)
}

var errType = errors.New("unexpected JSON value")

func typeError(want string, v []byte) error {
	return fmt.Errorf("%w: want %s, got %s", errType, want, show(v))
}
