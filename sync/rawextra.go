package sync

import (
	"encoding/base64"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/exact/catalogue"
)

// extraMember is the member of raw that marks a row written with [Config.RawExtra]: it
// lists the catalogue's fields the record did not have. The function exact.received(t)
// of each table (migrations, written by the catalogue's generator) keys on it.
const extraMember = "__extra"

// amsterdam is the zone of Exact's /Date(ms)/ values (§3.8).
var amsterdam = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Amsterdam") // embedded by exact's time/tzdata
	if err != nil {
		panic("sync: loading time zone Europe/Amsterdam: " + err.Error())
	}
	return loc
}()

// rawExtra is the raw column's value with [Config.RawExtra]: the record's members that
// the typed columns (vals, as row wrote them) do not give back as received, verbatim, and
// "__extra", the list of the entity's fields the record lacked. exact.received(t) rebuilds
// the record from it: each field's column in Exact's form (exactForm in the catalogue's
// generator), without the fields listed in "__extra", overlaid with the members kept here.
// So a member is left out only when its column gives back a value JSON-equal to it
// (jsonb's equality): members without a column, navigation members, fields Exact added
// after the catalogue, and values whose form the column does not keep (a padded code, a
// GUID in upper case, a date with an offset, a number sent as a string) stay.
//
// sh is rec's shape (see shape.fits), or nil to learn it.
func (e *Entity) rawExtra(rec exact.Record, sh *shape, vals []any) []byte {
	if sh == nil {
		sh = e.newShape(rec)
	}
	n := rec.Len()
	var stack [256]int
	fieldOf := stack[:0]
	if n > len(stack) {
		fieldOf = make([]int, 0, n)
	}
	for range n {
		fieldOf = append(fieldOf, -1)
	}
	for i, at := range sh.at {
		if at >= 0 {
			fieldOf[at] = i
		}
	}
	out := make([]byte, 0, 256)
	out = append(out, '{')
	for j := range n {
		name, value := rec.Member(j)
		if i := fieldOf[j]; i >= 0 && givesBack(&e.Fields[i], value, vals[1+i]) {
			continue
		}
		out = appendJSONString(out, name)
		out = append(out, ':')
		out = append(out, value...)
		out = append(out, ',')
	}
	out = appendJSONString(out, []byte(extraMember))
	out = append(out, ":["...)
	first := true
	for i, at := range sh.at {
		if at >= 0 {
			continue
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = appendJSONString(out, []byte(e.Fields[i].Source))
	}
	return append(out, "]}"...)
}

// givesBack reports whether exact.received(t) gives back raw, a field's value as
// received, from v, the value of its column: JSON-equal, in the form Exact sends it.
func givesBack(f *Field, raw []byte, v any) bool {
	if len(raw) == 0 {
		return false
	}
	if string(raw) == "null" {
		return v == nil
	}
	if v == nil {
		return false
	}
	quoted := raw[0] == '"' && len(raw) >= 2
	switch f.Type {
	case catalogue.EdmString:
		if !quoted {
			return false
		}
		if !f.Trim || len(raw) == 2 {
			return true
		}
		// Trimmed: given back only when there was nothing to trim. A conservative test,
		// without decoding: a printable ASCII byte, not an escape, at either end.
		first, last := raw[1], raw[len(raw)-2]
		return first > ' ' && first < utf8.RuneSelf && first != '\\' && last > ' ' && last < utf8.RuneSelf && last != '\\'
	case catalogue.EdmGUID:
		s, ok := v.(string)
		return ok && quoted && string(raw[1:len(raw)-1]) == s
	case catalogue.EdmBoolean:
		return string(raw) == "true" || string(raw) == "false"
	case catalogue.EdmByte, catalogue.EdmInt16, catalogue.EdmInt32, catalogue.EdmInt64, catalogue.EdmDouble, catalogue.EdmDecimal:
		return !quoted // a JSON number: jsonb compares numbers by value
	case catalogue.EdmDateTime:
		t, ok := v.(time.Time)
		if !ok || !quoted {
			return false
		}
		w := t.In(amsterdam)
		ms := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), time.UTC).UnixMilli()
		var buf [40]byte
		want := append(buf[:0], `"/Date(`...)
		want = strconv.AppendInt(want, ms, 10)
		want = append(want, `)/"`...)
		return string(raw) == string(want)
	case catalogue.EdmBinary:
		b, ok := v.([]byte)
		return ok && quoted && string(raw[1:len(raw)-1]) == base64.StdEncoding.EncodeToString(b)
	}
	return false
}

// appendJSONString appends s as a JSON string.
func appendJSONString(out, s []byte) []byte {
	out = append(out, '"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			out = append(out, '\\', c)
		case c < ' ':
			out = append(out, `\u00`...)
			out = append(out, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
		default:
			out = append(out, c)
		}
	}
	return append(out, '"')
}
