package exact

import (
	"bytes"
	"unsafe"
)

// String, Code, GUID and Decimal return copies, so that what they return never holds on
// to the page it was read from. The views below return the same values, but sharing v's
// bytes whenever the value is v's bytes as they stand (a string without escapes, an
// already canonical GUID, a number), which spares an allocation and a copy per value:
// for values that live no longer than their page is held anyway, such as the rows of a
// sync between fetching and writing (BENCHMARKS.md, "A million transaction lines"). v
// must never change afterwards, as the values of a [Record] never do, and a view kept
// holds the whole page in memory.

// StringView is [String], sharing v's bytes.
func StringView(v []byte) (string, bool, error) {
	if isNull(v) {
		return "", false, nil
	}
	if len(v) > 0 && v[0] == '"' {
		b, err := unquoteBytes(v) // without escapes, v's bytes between the quotes
		if err != nil {
			return "", false, err
		}
		return view(b), true, nil
	}
	if validNumber(v) {
		return view(v), true, nil
	}
	return "", false, typeError("a string", v)
}

// CodeView is [Code], sharing v's bytes.
func CodeView(v []byte) (string, bool, error) {
	if len(v) > 0 && v[0] == '"' {
		b, err := unquoteBytes(v)
		if err != nil {
			return "", false, err
		}
		return view(bytes.TrimSpace(b)), true, nil
	}
	return StringView(v) // null, or a number: nothing to trim
}

// GUIDView is [GUID], sharing v's bytes when it holds a GUID in its canonical form,
// lowercase 8-4-4-4-12 in quotes, as Exact sends it.
func GUIDView(v []byte) (string, bool, error) {
	if len(v) == 38 && v[0] == '"' && v[37] == '"' && canonicalLower(v[1:37]) {
		return view(v[1:37]), true, nil
	}
	return GUID(v)
}

// canonicalLower reports whether b is a GUID in lowercase 8-4-4-4-12 form.
func canonicalLower(b []byte) bool {
	for i, c := range b {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
		} else if l := hexLower[c]; l == 0 || l != c {
			return false
		}
	}
	return true
}

// DecimalView is [Decimal], sharing v's bytes.
func DecimalView(v []byte) (string, bool, error) {
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
	return view(s), true, nil
}

// NumericView is [Numeric], sharing v's bytes.
func NumericView(v []byte) (string, bool, error) { return DecimalView(v) }

// view is b as a string, without copying: b must never change afterwards.
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}
