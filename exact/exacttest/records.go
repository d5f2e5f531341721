package exacttest

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Records of every entity, by the catalogue's name: the Go API and POST/GET /_sim/records.

// UpsertRecords creates or changes records of an entity (the catalogue's name, see Entities)
// in a division and returns their keys, in order. A record maps Exact field names to values:
// nil (null), strings, booleans, integers, float64, json.Number (for a Double, its text is kept
// exactly: json.Number("1E-05") is served as 1E-05), time.Time (an instant, served in Amsterdam
// wall-clock time), or json.RawMessage holding the JSON the HTTP API takes: a date as
// "/Date(ms)/" in Amsterdam wall-clock time (§3.8) or an RFC 3339 string, a Double as a JSON
// number (or a string holding one), an Int64 as a number or a string, a Binary as base64.
//
// A record whose key (ID, or the entity's key field) names an existing record is merged over it:
// the fields given replace, the others stay. A record without a key, or with a key that names no
// record, is created, with null in the fields not given (accounts get the defaults of
// UpsertAccounts). Each takes the division's next Timestamp, so it appears again on the sync
// endpoint; Modified becomes the simulated now unless given (give the same Modified to several
// records to make ties); Created becomes now when empty; Division is the division; Timestamp and
// navigation collections cannot be set. The records before a failing one are stored.
func (s *Simulator) UpsertRecords(entity string, division int, recs ...map[string]any) ([]string, error) {
	e, err := lookupEntity(entity)
	if err != nil {
		return nil, fmt.Errorf("upserting records: %w", err)
	}
	if e == divisionsEntity {
		return nil, errors.New("upserting records: divisions are the connection's divisions (Options.Divisions, RevokeDivision, MoveDivision)")
	}
	raws := make([]map[string]json.RawMessage, len(recs))
	for i, rec := range recs {
		raws[i] = make(map[string]json.RawMessage, len(rec))
		for name, v := range rec {
			raw, err := rawOf(v)
			if err != nil {
				return nil, fmt.Errorf("upserting %s record %d in division %d: field %s: %w", entity, i, division, name, err)
			}
			raws[i][name] = raw
		}
	}
	now := s.Now()
	s.dataMu.Lock()
	defer s.dataMu.Unlock()
	div := s.data[division]
	if div == nil {
		return nil, fmt.Errorf("upserting %s records: unknown division %d", entity, division)
	}
	keys := make([]string, 0, len(raws))
	var created []string
	defer func() {
		s.changed(entity, division, "Update", slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return slices.Contains(created, k) }))
		s.changed(entity, division, "Create", created)
	}()
	keyName := e.fields[e.idField].name
	for i, fields := range raws {
		key, err := s.mergeRecord(div, div.tables[e], fields, now)
		if err != nil {
			return keys, fmt.Errorf("upserting %s record %d in division %d: %w", entity, i, division, err)
		}
		keys = append(keys, key)
		if raw, ok := fields[keyName]; !ok || string(raw) == "null" {
			created = append(created, key)
		}
	}
	return keys, nil
}

// rawOf turns a Go value of UpsertRecords into the JSON the HTTP API takes.
func rawOf(v any) (json.RawMessage, error) {
	switch v := v.(type) {
	case json.RawMessage:
		return v, nil
	case time.Time:
		if v.IsZero() {
			return json.RawMessage("null"), nil
		}
		return json.Marshal(v.Format(time.RFC3339Nano))
	case *time.Time:
		if v == nil {
			return json.RawMessage("null"), nil
		}
		return rawOf(*v)
	}
	return json.Marshal(v)
}

// DeleteRecords deletes records of an entity by key; each deletion takes the division's next
// Timestamp and appears in sync/Deleted with the entity's EntityType (§3.12). Unknown keys are
// an error; the others are still deleted.
func (s *Simulator) DeleteRecords(entity string, division int, keys ...string) error {
	e, err := lookupEntity(entity)
	if err != nil {
		return fmt.Errorf("deleting records: %w", err)
	}
	if e == divisionsEntity {
		return errors.New("deleting records: divisions are the connection's divisions (RevokeDivision)")
	}
	now := s.Now()
	s.dataMu.Lock()
	defer s.dataMu.Unlock()
	div := s.data[division]
	if div == nil {
		return fmt.Errorf("deleting %s records: unknown division %d", entity, division)
	}
	var missing, deleted []string
	defer func() { s.changed(entity, division, "Delete", deleted) }()
	for _, key := range keys {
		id, err := canonicalGUID(key)
		if err != nil || !div.remove(div.tables[e], id, now, s.userID) {
			missing = append(missing, key)
			continue
		}
		deleted = append(deleted, id)
	}
	if len(missing) > 0 {
		return fmt.Errorf("deleting %s records in division %d: no such record: %s", entity, division, strings.Join(missing, ", "))
	}
	return nil
}

// Records returns the current records of an entity in a division, the simulator's truth to
// compare a copy with: one JSON object per record, ordered by key, with every field as the
// endpoint serves it (Exact's field names; dates as "/Date(ms)/" in Amsterdam wall-clock time;
// Doubles as JSON numbers with their exact text; Int64 values other than Timestamp as strings;
// Timestamp on sync entities), without __metadata and navigation collections. Hostile accounts
// (UpsertRawAccounts) are left out. For "divisions" they are the divisions system/Divisions lists.
func (s *Simulator) Records(entity string, division int) ([]json.RawMessage, error) {
	e, err := lookupEntity(entity)
	if err != nil {
		return nil, fmt.Errorf("reading records: %w", err)
	}
	s.dataMu.RLock()
	defer s.dataMu.RUnlock()
	div := s.data[division]
	if div == nil {
		return nil, fmt.Errorf("reading %s records: unknown division %d", entity, division)
	}
	type keyed struct {
		key value
		raw json.RawMessage
	}
	var out []keyed
	add := func(rec record) {
		if _, _, hostile := hostileOf(e, rec); !hostile {
			out = append(out, keyed{rec[e.idField], recordJSON(e, rec)})
		}
	}
	if e == divisionsEntity {
		for _, rec := range s.divisionRows() {
			add(rec)
		}
	} else {
		t := div.tables[e]
		t.scan(0, e.newRecord(), func(_ int64, r record) bool { add(r); return true })
	}
	slices.SortFunc(out, func(a, b keyed) int { return compareValues(e.fields[e.idField].typ, a.key, b.key, false) })
	raws := make([]json.RawMessage, len(out))
	for i, k := range out {
		raws[i] = k.raw
	}
	return raws, nil
}

// recordJSON is a record as Records returns it.
func recordJSON(e *entity, rec record) json.RawMessage {
	b := []byte{'{'}
	for i := range e.fields {
		f := &e.fields[i]
		if !f.typ.scalar() {
			continue
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = appendJSONString(b, f.name)
		b = append(b, ':')
		b = appendJSONValue(b, f, rec[i])
	}
	return append(b, '}')
}

// mergeRecord applies Exact-field JSON over a record of t (new or existing), stores it at the
// division's next Timestamp and returns its key.
func (s *Simulator) mergeRecord(div *divisionData, t *table, fields map[string]json.RawMessage, now time.Time) (string, error) {
	rec, err := s.mergedRecord(div, t, fields, now, false)
	if err != nil {
		return "", err
	}
	div.upsert(t, rec)
	return rec[t.ent.idField].s, nil
}

// mergedRecord is the record mergeRecord stores, not yet stored. keepModified keeps the
// current Modified unless fields give one (a change without a new Timestamp, drift.go).
func (s *Simulator) mergedRecord(div *divisionData, t *table, fields map[string]json.RawMessage, now time.Time, keepModified bool) (record, error) {
	e := t.ent
	rec := e.newRecord()
	for i := range rec {
		rec[i] = value{null: true}
	}
	if e == accountsEntity {
		for _, i := range []int{accCode, accName, accStatus, accType, accIsSupplier, accIsSales, accIsPurchase, accBlocked} {
			rec[i] = value{}
		}
	}
	keyName := e.fields[e.idField].name
	if raw, ok := fields[keyName]; ok && string(raw) != "null" {
		v, err := decodeValue(edmGuid, raw)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", keyName, err)
		}
		if old, _, ok := t.row(v.s, e.newRecord()); ok {
			if _, _, hostile := hostileOf(e, old); !hostile {
				copy(rec, old) // a hostile record is replaced, not merged
			}
		}
		rec[e.idField] = v
	}
	_, touched := fields["Modified"]
	for name, raw := range fields {
		i, ok := e.index[name]
		switch {
		case !ok:
			return nil, fmt.Errorf("unknown field %q", name)
		case i == e.idField || i == e.tsField || name == "Division":
			continue // the key, or set by the simulator
		case !e.fields[i].typ.scalar() || e.fields[i].typ == edmComplex:
			return nil, fmt.Errorf("field %s: a %s cannot be set", name, e.fields[i].typ)
		}
		v, err := decodeValue(e.fields[i].typ, raw)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", name, err)
		}
		rec[i] = v
	}
	touch := !touched && !keepModified
	if e == accountsEntity {
		s.completeAccount(div, t, rec, now, touch)
	} else {
		completeRecord(div, t, rec, now, touch)
	}
	return rec, nil
}

// completeRecord fills what the simulator owns: a new key, the division, Created and Modified.
func completeRecord(div *divisionData, t *table, rec record, now time.Time, touch bool) {
	e := t.ent
	if rec[e.idField].null || rec[e.idField].s == "" {
		rec[e.idField] = value{s: t.gen.guid(int(div.nextTS) + 1<<41)}
	}
	if i, ok := e.index["Division"]; ok && e.fields[i].typ == edmInt32 {
		rec[i] = value{n: int64(div.code)}
	}
	if i, ok := e.index["Created"]; ok && e.fields[i].typ == edmDateTime && rec[i].null {
		rec[i] = value{n: now.UnixMilli()}
	}
	if e.modField >= 0 && (touch || rec[e.modField].null) {
		rec[e.modField] = value{n: now.UnixMilli()}
	}
}

// intRanges are the ranges of the integer Edm types narrower than Int64.
var intRanges = map[edmType][2]int64{edmByte: {0, 255}, edmInt16: {-32768, 32767}, edmInt32: {-2147483648, 2147483647}}

// jsonNumber is the JSON number grammar: a Double's text is stored only when it is one.
var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// decodeValue reads a JSON value of Edm type t; DateTime takes "/Date(ms)/" (Amsterdam
// wall-clock, as Exact serves it, §3.8) or an RFC 3339 string; Double and Decimal a JSON number
// (or a string holding one), kept as text; Int64 a number or a string (§3.8).
func decodeValue(t edmType, raw json.RawMessage) (value, error) {
	text := strings.TrimSpace(string(raw))
	if text == "null" {
		return value{null: true}, nil
	}
	str := func() (string, error) {
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	}
	switch t {
	case edmGuid:
		s, err := str()
		if err != nil {
			return value{}, err
		}
		g, err := canonicalGUID(s)
		return value{s: g}, err
	case edmString:
		s, err := str()
		return value{s: s}, err
	case edmBinary:
		s, err := str()
		if err == nil {
			_, err = base64.StdEncoding.DecodeString(s)
		}
		return value{s: s}, err
	case edmBoolean:
		var b bool
		err := json.Unmarshal(raw, &b)
		return boolVal(b), err
	case edmByte, edmInt16, edmInt32, edmInt64:
		if s, err := str(); err == nil && t == edmInt64 {
			text = s
		}
		n, err := strconv.ParseInt(text, 10, 64)
		if r, ok := intRanges[t]; err == nil && ok && (n < r[0] || n > r[1]) {
			err = fmt.Errorf("%d is out of the range of %s", n, t)
		}
		return value{n: n}, err
	case edmDouble, edmDecimal:
		if s, err := str(); err == nil {
			text = s
		}
		if !jsonNumber.MatchString(text) {
			return value{}, fmt.Errorf("%s is not a decimal number", raw)
		}
		return value{s: text}, nil
	case edmDateTime:
		s, err := str()
		if err != nil {
			return value{}, err
		}
		if ms, ok := strings.CutPrefix(s, "/Date("); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(ms, ")/"), 10, 64)
			if err != nil {
				return value{}, err
			}
			w := time.UnixMilli(n).UTC()
			local := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), amsterdam)
			return value{n: local.UnixMilli()}, nil
		}
		tm, err := time.Parse(time.RFC3339, s)
		return value{n: tm.UnixMilli()}, err
	}
	return value{}, fmt.Errorf("a %s cannot be set", t)
}
