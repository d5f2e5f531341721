package sync

import (
	"errors"
	"fmt"

	"github.com/exactsync/exactsync/exact"
)

// row converts one record into the entity's column values, in
// [Entity.Columns] order, written into vals (len(Columns) long, so that a page
// shares one backing array instead of allocating a slice per record). It also
// returns the record's key and version. When the record cannot be converted,
// the error says why, and the key and version are still returned when they
// could be read (id "" and hasVersion false otherwise), for the quarantine.
func (e *Entity) row(division int, rec exact.Record, vals []any) (id string, version int64, hasVersion bool, err error) {
	id, ok, err := exact.GUID(rec.Field(e.Key))
	if err != nil || !ok {
		id = ""
		if err == nil {
			err = errMissing
		}
		err = fmt.Errorf("field %s: %w", e.Key, err)
	}
	version, hasVersion, verr := exact.Int64(rec.Field("Timestamp"))
	if (verr != nil || !hasVersion) && err == nil {
		if verr == nil {
			verr = errMissing
		}
		err = fmt.Errorf("field Timestamp: %w", verr)
	}
	if verr != nil {
		version, hasVersion = 0, false
	}
	if err != nil {
		return id, version, hasVersion, err
	}
	vals[0], vals[1] = int32(division), id
	for i, f := range e.Fields {
		v, err := convert(f.Kind, rec.Field(f.Source))
		if err != nil {
			return id, version, hasVersion, fmt.Errorf("field %s: %w", f.Source, err)
		}
		vals[2+i] = v
	}
	vals[2+len(e.Fields)], vals[3+len(e.Fields)] = version, rec.Raw()
	return id, version, hasVersion, nil
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

// convert turns a raw JSON value into a value pgx can encode; JSON null
// and absent fields become SQL NULL.
func convert(k Kind, raw []byte) (any, error) {
	var (
		v   any
		ok  bool
		err error
	)
	switch k {
	case KindString:
		v, ok, err = exact.String(raw)
	case KindCode:
		v, ok, err = exact.Code(raw)
	case KindGUID:
		v, ok, err = exact.GUID(raw)
	case KindBool:
		v, ok, err = exact.Bool(raw)
	case KindInt32:
		v, ok, err = exact.Int32(raw)
	case KindInt64:
		v, ok, err = exact.Int64(raw)
	case KindDecimal:
		v, ok, err = exact.Decimal(raw)
	case KindDate:
		v, ok, err = exact.Date(raw)
	default:
		return nil, fmt.Errorf("unknown kind %d", k)
	}
	if err != nil || !ok {
		return nil, err
	}
	return v, nil
}

func errOrNull(err error) error {
	if err != nil {
		return err
	}
	return errMissing
}
