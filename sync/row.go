package sync

import (
	"fmt"

	"github.com/exactsync/exactsync/exact"
)

// row converts one record into the entity's column values, in
// [Entity.Columns] order. It also returns the record's key and version.
func (e *Entity) row(division int, rec exact.Record) (vals []any, id string, version int64, err error) {
	id, ok, err := exact.GUID(rec.Field(e.Key))
	if err != nil || !ok {
		return nil, "", 0, fmt.Errorf("record without a valid %s: %v", e.Key, errOrNull(err))
	}
	version, ok, err = exact.Int64(rec.Field("Timestamp"))
	if err != nil || !ok {
		return nil, "", 0, fmt.Errorf("record %s without a valid Timestamp: %v", id, errOrNull(err))
	}
	vals = make([]any, 0, len(e.Fields)+4)
	vals = append(vals, int32(division), id)
	for _, f := range e.Fields {
		v, err := convert(f.Kind, rec.Field(f.Source))
		if err != nil {
			return nil, "", 0, fmt.Errorf("record %s field %s: %w", id, f.Source, err)
		}
		vals = append(vals, v)
	}
	vals = append(vals, version, rec.Raw())
	return vals, id, version, nil
}

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
	return fmt.Errorf("missing or null")
}
