package exact

import (
	"encoding/base64"
	"time"
)

// Conversions of Edm types the catalogue's entities use besides the ones in types.go
// (§3.8). Like those, each reports ok=false, without error, for JSON null and for an
// absent member.

// Numeric returns an Edm.Double or Edm.Decimal as the exact decimal text Exact sent
// (a JSON number, or a string holding one: §3.8), never through float64, so that "0.1"
// and "1E-05" are stored as exactly those values. A value PostgreSQL's numeric cannot
// hold is an error (see Decimal), so that the record is refused before it reaches the
// database.
func Numeric(v []byte) (string, bool, error) { return Decimal(v) }

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
