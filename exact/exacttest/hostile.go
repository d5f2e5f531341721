package exacttest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// A hostile account is a crm/Accounts record injected as raw bytes (UpsertRawAccounts): a
// record Exact could in practice serve broken, which the typed store cannot hold. It lives in
// the accounts table like any changed row, as a record one slot longer than the entity's
// fields: the fields the simulator could read (for $filter and the XML feed), then the raw
// bytes and how to serve them (hostileFlags). JSON pages serve the bytes verbatim.

// HostileAccount is one hostile account of a division, as HostileAccounts lists it.
type HostileAccount struct {
	// ID is the record's ID as a canonical GUID, or "" when the record has no readable GUID ID
	// (such a record can be neither replaced nor deleted).
	ID string `json:"id"`
	// Timestamp is the record's position in the division's sync order, whatever Timestamp
	// member (if any) the record itself carries.
	Timestamp int64 `json:"timestamp"`
	// Record is the record as injected.
	Record string `json:"record"`
}

// hostileFlags say how a hostile record is served; they are kept in the raw slot's n.
const (
	hostileAddTS   = 1 << iota // the record has no Timestamp member: add its position
	hostileAddMeta             // the record has no __metadata member: add the usual one
	hostileGUIDKey             // the record's ID is a GUID: it is keyed, replaced and deleted by it
)

// hostileKeyPrefix starts the internal key of a hostile record without a GUID ID; no GUID
// starts so, so such a record never collides with another row.
const hostileKeyPrefix = "hostile:"

// UpsertRawAccounts injects accounts as raw JSON objects, served byte for byte by the
// account endpoints in JSON: a NUL or a lone surrogate in a string, an ID that is not a GUID,
// "Timestamp":null, "IsSupplier":"yes", "Created":"/Date(garbage)/", even invalid JSON inside
// the object ("Name":[1 2 x]). Each record only has to start with '{' and end with '}'.
//
// Each takes the division's next Timestamp, its position in the sync order. A record without a
// Timestamp member is served with one holding that position; a record with one (even null or
// garbage) is served as given. A record without __metadata gets the usual one. A record whose
// ID is a GUID replaces the row with that ID, and a later UpsertAccounts or DeleteAccounts of
// that ID replaces or deletes it (the deletion appears in sync/Deleted); a record without a
// GUID ID is a row of its own. sync/CRM/Accounts serves every hostile record, whatever its
// $select; crm/Accounts and bulk/CRM/Accounts, which page by ID, serve only those with a GUID
// ID. Accounts and Account never return hostile records; HostileAccounts lists them.
func (s *Simulator) UpsertRawAccounts(division int, records ...json.RawMessage) error {
	recs := make([]record, len(records))
	for i, raw := range records {
		rec, err := hostileRecord(raw)
		if err != nil {
			return fmt.Errorf("upserting raw account %d in division %d: %w", i, division, err)
		}
		recs[i] = rec
	}
	s.dataMu.Lock()
	defer s.dataMu.Unlock()
	div := s.data[division]
	if div == nil {
		return fmt.Errorf("upserting raw accounts: unknown division %d", division)
	}
	t := div.tables[accountsEntity]
	for _, rec := range recs {
		if rec[accID].s == "" {
			rec[accID] = value{s: hostileKeyPrefix + strconv.FormatInt(div.nextTS, 10)}
		}
		div.upsert(t, rec)
	}
	return nil
}

// HostileAccounts lists the hostile accounts of a division in sync order; nil for an unknown
// division.
func (s *Simulator) HostileAccounts(division int) []HostileAccount {
	s.dataMu.RLock()
	defer s.dataMu.RUnlock()
	div := s.data[division]
	if div == nil {
		return nil
	}
	out := []HostileAccount{}
	div.tables[accountsEntity].scan(0, accountsEntity.newRecord(), func(ts int64, r record) bool {
		if raw, flags, ok := hostileOf(accountsEntity, r); ok {
			h := HostileAccount{Timestamp: ts, Record: raw}
			if flags&hostileGUIDKey != 0 {
				h.ID = r[accID].s
			}
			out = append(out, h)
		}
		return true
	})
	return out
}

// hostileRecord builds the stored record of a raw account: the fields that can be read, the
// raw bytes and their flags. The ID is left empty when the record has no GUID ID.
func hostileRecord(raw json.RawMessage) (record, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '{' || raw[len(raw)-1] != '}' {
		return nil, errors.New("a raw record must be a JSON object: start with '{' and end with '}'")
	}
	e := accountsEntity
	rec := make(record, len(e.fields)+1)
	for i := range e.fields {
		rec[i] = value{null: true}
	}
	// Fields that decode give $filter and the XML feed something to work with.
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) == nil {
		for name, v := range fields {
			if i, ok := e.index[name]; ok {
				if val, err := decodeValue(e.fields[i].typ, v); err == nil {
					rec[i] = val
				}
			}
		}
	}
	flags := 0
	rec[accID] = value{}
	if v, ok := rawMember(raw, "ID"); ok {
		var id string
		if json.Unmarshal(v, &id) == nil {
			if g, err := canonicalGUID(id); err == nil {
				rec[accID] = value{s: g}
				flags |= hostileGUIDKey
			}
		}
	}
	if _, ok := rawMember(raw, "Timestamp"); !ok {
		flags |= hostileAddTS
	}
	if _, ok := rawMember(raw, "__metadata"); !ok {
		flags |= hostileAddMeta
	}
	rec[len(e.fields)] = value{s: string(raw), n: int64(flags)}
	return rec, nil
}

// hostileOf returns the raw bytes and flags of r when it is a hostile record of e.
func hostileOf(e *entity, r record) (string, int, bool) {
	if len(r) <= len(e.fields) {
		return "", 0, false
	}
	v := r[len(e.fields)]
	return v.s, int(v.n), true
}

// appendHostile appends a hostile record to a JSON page: its bytes verbatim, with the usual
// __metadata (meta is `{"uri":…,"type":…}`) and its Timestamp added when it has none.
func appendHostile(dst []byte, raw string, flags int, meta []byte, ts int64) []byte {
	inner := raw[1 : len(raw)-1]
	blank := len(bytes.TrimSpace([]byte(inner))) == 0
	dst = append(dst, '{')
	if flags&hostileAddMeta != 0 {
		dst = append(dst, `"__metadata":`...)
		dst = append(dst, meta...)
		if !blank {
			dst = append(dst, ',')
		}
	}
	dst = append(dst, inner...)
	if flags&hostileAddTS != 0 {
		if !blank || flags&hostileAddMeta != 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `"Timestamp":`...)
		dst = strconv.AppendInt(dst, ts, 10)
	}
	return append(dst, '}')
}

// rawMember returns the value of the top-level member name of the JSON object obj, reading
// leniently: the object may be invalid JSON elsewhere, even inside that value. Strings are
// skipped with their escapes, brackets nest; the value ends at the next ',' or closing bracket
// of the object.
func rawMember(obj []byte, name string) ([]byte, bool) {
	depth := 0
	for i := 0; i < len(obj); i++ {
		switch obj[i] {
		case '"':
			end := skipString(obj, i)
			if depth == 1 {
				j := skipSpace(obj, end)
				if j < len(obj) && obj[j] == ':' {
					if string(obj[i+1:end-1]) == name {
						start := skipSpace(obj, j+1)
						return bytes.TrimSpace(obj[start:valueEnd(obj, start)]), true
					}
					i = j
					continue
				}
			}
			i = end - 1
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		}
	}
	return nil, false
}

// skipString returns the index after the string starting at obj[i] == '"'.
func skipString(obj []byte, i int) int {
	for j := i + 1; j < len(obj); j++ {
		switch obj[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(obj)
}

func skipSpace(obj []byte, i int) int {
	for i < len(obj) && (obj[i] == ' ' || obj[i] == '\t' || obj[i] == '\n' || obj[i] == '\r') {
		i++
	}
	return i
}

// valueEnd returns where the value starting at obj[i] ends: the next ',' or unmatched
// closing bracket outside strings.
func valueEnd(obj []byte, i int) int {
	depth := 0
	for ; i < len(obj); i++ {
		switch obj[i] {
		case '"':
			i = skipString(obj, i) - 1
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i
			}
			depth--
		case ',':
			if depth == 0 {
				return i
			}
		}
	}
	return len(obj)
}
