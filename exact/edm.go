package exact

import (
	"encoding/base64"
	"time"
)

// Conversions of Edm types the catalogue's entities use besides the ones in types.go
// (§3.8). Like those, each reports ok=false, without error, for JSON null and for an
// absent member.

// Limits of PostgreSQL's numeric type: at most 131,072 digits before the decimal point
// and 16,383 after it.
const (
	numericMaxIntDigits  = 131072
	numericMaxFracDigits = 16383
)

// Numeric returns an Edm.Double or Edm.Decimal as the exact decimal text Exact sent
// (a JSON number, or a string holding one: §3.8), never through float64, so that
// "0.1" and "1E-05" are stored as exactly those values. A value PostgreSQL's numeric
// cannot hold (an exponent beyond its range) is an error, so that the record is
// refused before it reaches the database.
func Numeric(v []byte) (string, bool, error) {
	s, ok, err := Decimal(v)
	if err != nil || !ok {
		return s, ok, err
	}
	intDigits, fracDigits, exp, zero, ok := numberParts(s)
	if !ok {
		return "", false, typeError("a decimal number", v)
	}
	scale := int64(fracDigits) - exp
	if scale > numericMaxFracDigits || (!zero && int64(intDigits)+exp > numericMaxIntDigits) {
		return "", false, typeError("a decimal number PostgreSQL's numeric can hold", v)
	}
	return s, true, nil
}

// numberParts splits a valid JSON number into the count of its digits before and
// after the decimal point and its exponent; zero reports a mantissa of only zeros.
// ok is false for an exponent too large to be any stored value.
func numberParts(s string) (intDigits, fracDigits int, exp int64, zero, ok bool) {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	zero = true
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		intDigits++
		zero = zero && s[i] == '0'
	}
	if i < len(s) && s[i] == '.' {
		for i++; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			fracDigits++
			zero = zero && s[i] == '0'
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		neg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			neg = s[i] == '-'
			i++
		}
		for ; i < len(s); i++ {
			exp = exp*10 + int64(s[i]-'0')
			if exp > 1<<40 {
				return 0, 0, 0, zero, false
			}
		}
		if neg {
			exp = -exp
		}
	}
	return intDigits, fracDigits, exp, zero, true
}

// Binary returns an Edm.Binary, served as a base64 string (OData V2 JSON), decoded.
func Binary(v []byte) ([]byte, bool, error) {
	if isNull(v) {
		return nil, false, nil
	}
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return nil, false, typeError("a base64 string", v)
	}
	s, err := unquote(v)
	if err != nil {
		return nil, false, err
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, false, typeError("a base64 string", v)
	}
	return b, true, nil
}

// DateTimeLiteral is t as the text of an OData datetime literal, for example
// "2017-05-31T00:00:00": Amsterdam wall-clock time without a zone, which is how Exact
// reads filter dates (§3.8), in whole seconds rounded down.
func DateTimeLiteral(t time.Time) string {
	return t.In(amsterdam).Format("2006-01-02T15:04:05")
}

// AmsterdamOffset is Amsterdam's offset from UTC at t: one hour in winter (CET), two in
// summer (CEST).
func AmsterdamOffset(t time.Time) time.Duration {
	_, off := t.In(amsterdam).Zone()
	return time.Duration(off) * time.Second
}
