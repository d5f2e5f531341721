package sync

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/exact/catalogue"
)

// row converts one record into the entity's column values, in [Entity.Columns]
// order, written into vals (len(Columns) long, so that a page shares one backing
// array instead of allocating a slice per record). It also returns the record's key
// (as text) and version. When the record cannot be converted, the error says why,
// and the key and version are still returned when they could be read (key "" and
// hasVersion false otherwise), for the quarantine.
//
// The version is Exact's Timestamp for sync entities (§3.10), and the Modified time in
// milliseconds since 1970 UTC for entities read from a regular endpoint (0 without a
// Modified field or value), see [Entity.Target].
//
// sh, when not nil, is the shape of rec (see shape.fits); fields are then found by
// position instead of by name.
func (e *Entity) row(division int, rec exact.Record, sh *shape, vals []any) (key string, version int64, hasVersion bool, err error) {
	key, err = e.key(rec)
	if err != nil {
		key = ""
	}
	if e.Read == ReadSync {
		var verr error
		version, hasVersion, verr = exact.Int64(rec.Field("Timestamp"))
		if (verr != nil || !hasVersion) && err == nil {
			err = fmt.Errorf("field Timestamp: %w", errOrNull(verr))
		}
		if verr != nil {
			version, hasVersion = 0, false
		}
	} else {
		hasVersion = true
	}
	if err != nil {
		return key, version, hasVersion, err
	}
	vals[0] = int32(division)
	var bx *boxes
	if sh != nil {
		bx = &sh.boxes
	}
	for i := range e.Fields {
		f := &e.Fields[i]
		var raw []byte
		if sh == nil {
			raw = rec.Field(f.Source)
		} else if at := sh.at[i]; at >= 0 {
			_, raw = rec.Member(at)
		}
		v, err := convert(f, raw, bx)
		if err != nil {
			return key, version, hasVersion, fmt.Errorf("field %s: %w", f.Source, err)
		}
		vals[1+i] = v
		if e.Read != ReadSync && f.Source == "Modified" {
			if t, ok := v.(time.Time); ok {
				version = t.UnixMilli()
			}
		}
	}
	vals[1+len(e.Fields)], vals[2+len(e.Fields)] = bx.boxInt64(version), bx.boxBytes(rec.Raw())
	return key, version, hasVersion, nil
}

// shape is where records hold the fields of an entity, learnt from one record and valid
// for every record with the same member names in the same order, as the records of a
// page come. Finding a field by position instead of by name spares a scan of the
// record's members per field: for a record of 70 fields, a tenth of the process's CPU in
// a full sync of transaction lines (BENCHMARKS.md).
type shape struct {
	names [][]byte // the record's member names, in order
	at    []int    // per field of the entity, the position of its member; -1 if none
	boxes boxes    // the values of the records read with it, one page's (see boxes)
}

// newShape returns the shape of rec for e's fields.
func (e *Entity) newShape(rec exact.Record) *shape {
	sh := &shape{names: make([][]byte, rec.Len()), at: make([]int, len(e.Fields))}
	for i := range sh.names {
		sh.names[i], _ = rec.Member(i)
	}
	for i := range e.Fields {
		sh.at[i] = -1
		for j, name := range sh.names {
			if string(name) == e.Fields[i].Source {
				sh.at[i] = j
				break
			}
		}
	}
	return sh
}

// fits reports whether rec has the shape's member names in the same order, so that
// its fields are where the shape says.
func (sh *shape) fits(rec exact.Record) bool {
	if rec.Len() != len(sh.names) {
		return false
	}
	for i, want := range sh.names {
		if name, _ := rec.Member(i); string(name) != string(want) {
			return false
		}
	}
	return true
}

// omittedRaw is the raw column's value with [Config.OmitRaw]. Rows share it; nothing
// writes to it.
var omittedRaw = []byte("{}")

// rowRecord is a row without its raw column as a JSON object of its typed columns, what
// is kept of a record PostgreSQL refuses when raw is omitted.
func rowRecord(columns []string, row []any) []byte {
	m := make(map[string]any, len(columns))
	for i, c := range columns {
		if c != "raw" {
			m[c] = row[i]
		}
	}
	b, err := json.Marshal(m)
	if err != nil { // not for the values convert makes
		b, _ = json.Marshal(fmt.Sprint(row[:len(row)-1]...))
	}
	return b
}

// key reads the record's key as text: a canonical GUID, or the decimal text of an
// integer key (system/Divisions' Code).
func (e *Entity) key(rec exact.Record) (string, error) {
	raw := rec.Field(e.Key)
	var (
		s   string
		ok  bool
		err error
	)
	switch e.Fields[e.keyIndex()-1].Type {
	case catalogue.EdmGUID:
		s, ok, err = exact.GUID(raw)
	case catalogue.EdmByte, catalogue.EdmInt16, catalogue.EdmInt32, catalogue.EdmInt64:
		var n int64
		n, ok, err = exact.Int64(raw)
		s = fmt.Sprint(n)
	default:
		s, ok, err = exact.String(raw)
	}
	if err != nil || !ok {
		return "", fmt.Errorf("field %s: %w", e.Key, errOrNull(err))
	}
	return s, nil
}

// errMissing is the reason of a required field that is absent or null.
var errMissing = errors.New("missing or null")

// keep reports whether the record belongs to the entity.
func (e *Entity) keep(rec exact.Record) (bool, error) {
	if e.Keep == nil {
		return true, nil
	}
	v, ok, err := exact.Bool(rec.Field(e.Keep.Source))
	if err != nil {
		return false, fmt.Errorf("field %s: %w", e.Keep.Source, err)
	}
	return ok && v == e.Keep.Equals, nil
}

// convert turns a raw JSON value into a value the sink can encode, by the field's
// Edm type (§3.8); JSON null and absent fields become SQL NULL. Doubles and decimals
// stay the exact text Exact sent (a string the sink writes as numeric), never a
// float64.
func convert(f *Field, raw []byte, bx *boxes) (any, error) {
	// Text shares the page's bytes (exact.StringView): a row lives no longer than its
	// page's records, which a write holds anyway, and a copy per value was a fifth of the
	// process's allocations in a full sync of transaction lines (BENCHMARKS.md). The
	// values are boxed from bx's arrays (see boxes).
	switch f.Type {
	case catalogue.EdmString, catalogue.EdmGUID, catalogue.EdmDouble, catalogue.EdmDecimal:
		var (
			s   string
			ok  bool
			err error
		)
		switch {
		case f.Type == catalogue.EdmGUID:
			s, ok, err = exact.GUIDView(raw)
		case f.Type != catalogue.EdmString:
			s, ok, err = exact.NumericView(raw)
		case f.Trim:
			s, ok, err = exact.CodeView(raw)
		default:
			s, ok, err = exact.StringView(raw)
		}
		if err != nil || !ok {
			return nil, err
		}
		return bx.boxString(s), nil
	case catalogue.EdmBoolean:
		v, ok, err := exact.Bool(raw)
		if err != nil || !ok {
			return nil, err
		}
		return v, nil // no allocation: the language boxes booleans from a static table
	case catalogue.EdmByte, catalogue.EdmInt16, catalogue.EdmInt32:
		v, ok, err := exact.Int32(raw)
		if err != nil || !ok {
			return nil, err
		}
		return bx.boxInt32(v), nil
	case catalogue.EdmInt64:
		v, ok, err := exact.Int64(raw)
		if err != nil || !ok {
			return nil, err
		}
		return bx.boxInt64(v), nil
	case catalogue.EdmDateTime:
		v, ok, err := exact.Date(raw)
		if err != nil || !ok {
			return nil, err
		}
		return bx.boxTime(v), nil
	case catalogue.EdmBinary:
		v, ok, err := exact.Binary(raw)
		if err != nil || !ok {
			return nil, err
		}
		return v, nil
	default:
		return nil, fmt.Errorf("no conversion for type %s", f.Type)
	}
}

func errOrNull(err error) error {
	if err != nil {
		return err
	}
	return errMissing
}
