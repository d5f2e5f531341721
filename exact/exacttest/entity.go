package exacttest

import (
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // Europe/Amsterdam must load on machines without zoneinfo
)

// edmType is the OData (Edm) type of a field.
type edmType int

const (
	edmGuid edmType = iota
	edmString
	edmBoolean
	edmInt32
	edmInt64
	edmDateTime
	edmDouble
)

func (t edmType) String() string {
	switch t {
	case edmGuid:
		return "Edm.Guid"
	case edmString:
		return "Edm.String"
	case edmBoolean:
		return "Edm.Boolean"
	case edmInt32:
		return "Edm.Int32"
	case edmInt64:
		return "Edm.Int64"
	case edmDateTime:
		return "Edm.DateTime"
	default:
		return "Edm.Double"
	}
}

// field is one property of an entity.
type field struct {
	name     string
	typ      edmType
	filter   bool // allowed in $filter on the regular and bulk endpoints ("MF" in §5.2)
	syncOnly bool // served only by the sync endpoint (Timestamp, §5.2)
}

// value holds one field value; which member is used depends on the field's type.
type value struct {
	null bool
	s    string  // Guid (lowercase 8-4-4-4-12), String
	n    int64   // Boolean (0/1), Int32, Int64, DateTime (Unix milliseconds, UTC instant)
	f    float64 // Double
}

// record is one row; values are indexed like entity.fields.
type record []value

// entity describes one Exact Online resource: its fields and its endpoints. Adding an entity to
// the simulator is adding a catalogue entry (plus a generator when it has generated rows).
type entity struct {
	name        string // "Accounts"
	metaType    string // __metadata.type
	regular     string // "crm/Accounts"; "" when absent
	bulk        string // "bulk/CRM/Accounts"; "" when absent
	sync        string // "sync/CRM/Accounts"; "" when absent
	deletedType int    // EntityType in sync/Deleted (§3.12); 0 when not tracked
	// mandatoryFilter: a GET on the regular and bulk endpoints must carry a $filter on one of
	// the filter fields (§3.9), unless Options.NoMandatoryFilter is set.
	mandatoryFilter bool
	fields          []field
	// generate fills r with generated base row i of a division (deterministic, §"Data realism").
	generate func(g *generator, i int, r record)

	index   map[string]int // field name → position
	idField int
	tsField int
}

func (e *entity) init() *entity {
	e.index = make(map[string]int, len(e.fields))
	e.idField, e.tsField = -1, -1
	for i, f := range e.fields {
		e.index[f.name] = i
		switch f.name {
		case "ID":
			e.idField = i
		case "Timestamp":
			e.tsField = i
		}
	}
	return e
}

// filterFields lists the fields allowed in $filter, for the mandatory-filter message (§4.4).
func (e *entity) filterFields() string {
	var names []string
	for _, f := range e.fields {
		if f.filter {
			names = append(names, f.name)
		}
	}
	return strings.Join(names, ",")
}

func (e *entity) newRecord() record { return make(record, len(e.fields)) }

// accountsEntity is crm/Accounts with the key fields of §5.2. Deleted accounts are EntityType 2 (§3.12).
var accountsEntity = (&entity{
	name:            "Accounts",
	metaType:        "Exact.Web.Api.Models.Account",
	regular:         "crm/Accounts",
	bulk:            "bulk/CRM/Accounts",
	sync:            "sync/CRM/Accounts",
	deletedType:     2,
	mandatoryFilter: true,
	fields: []field{
		{name: "ID", typ: edmGuid, filter: true},
		{name: "Code", typ: edmString, filter: true},
		{name: "Name", typ: edmString, filter: true},
		{name: "IsSupplier", typ: edmBoolean, filter: true},
		{name: "IsSales", typ: edmBoolean, filter: true},
		{name: "IsPurchase", typ: edmBoolean},
		{name: "Blocked", typ: edmBoolean, filter: true},
		{name: "Status", typ: edmString, filter: true},
		{name: "Type", typ: edmString, filter: true},
		{name: "Email", typ: edmString, filter: true},
		{name: "Phone", typ: edmString, filter: true},
		{name: "Website", typ: edmString},
		{name: "AddressLine1", typ: edmString, filter: true},
		{name: "Postcode", typ: edmString, filter: true},
		{name: "City", typ: edmString, filter: true},
		{name: "Country", typ: edmString, filter: true},
		{name: "VATNumber", typ: edmString, filter: true},
		{name: "ChamberOfCommerce", typ: edmString, filter: true},
		{name: "Created", typ: edmDateTime, filter: true},
		{name: "Modified", typ: edmDateTime, filter: true},
		{name: "Division", typ: edmInt32},
		{name: "Timestamp", typ: edmInt64, syncOnly: true},
	},
	generate: generateAccount,
}).init()

// deletedEntity is sync/Deleted (§3.12): one row per deletion, sharing the division's
// Timestamp sequence.
var deletedEntity = (&entity{
	name:     "Deleted",
	metaType: "Exact.Web.Api.Models.Sync.Deleted",
	sync:     "sync/Deleted",
	fields: []field{
		{name: "Timestamp", typ: edmInt64},
		{name: "DeletedBy", typ: edmGuid},
		{name: "DeletedDate", typ: edmDateTime},
		{name: "Division", typ: edmInt32},
		{name: "EntityKey", typ: edmGuid},
		{name: "EntityType", typ: edmInt32},
		{name: "ID", typ: edmGuid},
	},
}).init()

// catalogue lists the entities with data tables, in the order their generated rows take
// Timestamps in a division.
var catalogue = []*entity{accountsEntity}

// endpointKind says which flavour of an entity's endpoints a request hit.
type endpointKind int

const (
	kindRegular endpointKind = iota
	kindBulk
	kindSync
)

type route struct {
	ent  *entity
	kind endpointKind
	path string // canonical spelling, used in stats keys and URLs
}

// routes maps the lowercased endpoint path to its entity; the service segment is
// case-insensitive (§3.1).
var routes = func() map[string]route {
	m := map[string]route{}
	for _, e := range append([]*entity{deletedEntity}, catalogue...) {
		for kind, p := range []string{e.regular, e.bulk, e.sync} {
			if p != "" {
				m[strings.ToLower(p)] = route{ent: e, kind: endpointKind(kind), path: p}
			}
		}
	}
	return m
}()

var amsterdam = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		panic(err) // embedded tzdata makes this unreachable
	}
	return loc
}()

// wallMillis converts an instant to Exact's /Date(ms)/ number: milliseconds of the
// Amsterdam wall-clock time, not UTC (§3.8).
func wallMillis(ms int64) int64 {
	_, off := time.UnixMilli(ms).In(amsterdam).Zone()
	return ms + int64(off)*1000
}

// appendJSONValue appends v as JSON for a field of type t.
func appendJSONValue(dst []byte, t edmType, v value) []byte {
	if v.null {
		return append(dst, "null"...)
	}
	switch t {
	case edmGuid, edmString:
		return appendJSONString(dst, v.s)
	case edmBoolean:
		if v.n != 0 {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	case edmInt32, edmInt64:
		// Timestamp (Edm.Int64) is served as a JSON number: its JSON type is UNCONFIRMED
		// (§3.8); the sheet's illustrative page (§3.10) shows a number.
		return strconv.AppendInt(dst, v.n, 10)
	case edmDateTime:
		dst = append(dst, `"/Date(`...)
		dst = strconv.AppendInt(dst, wallMillis(v.n), 10)
		return append(dst, `)/"`...)
	default:
		return strconv.AppendFloat(dst, v.f, 'f', -1, 64)
	}
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Unlike strconv.AppendQuote it produces only
// escapes JSON knows; non-ASCII letters are copied as UTF-8.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendJSONChars(dst, s)
	return append(dst, '"')
}

// appendJSONChars appends the escaped characters of s, without quotes.
func appendJSONChars(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"':
			dst = append(dst, `\"`...)
		case '\\':
			dst = append(dst, `\\`...)
		case '\n':
			dst = append(dst, `\n`...)
		case '\r':
			dst = append(dst, `\r`...)
		case '\t':
			dst = append(dst, `\t`...)
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	return append(dst, s[start:]...)
}

// appendXMLValue appends v as the text of an Atom d:Field element.
func appendXMLValue(dst []byte, t edmType, v value) []byte {
	switch t {
	case edmGuid, edmString:
		return appendXMLText(dst, v.s)
	case edmBoolean:
		return strconv.AppendBool(dst, v.n != 0)
	case edmInt32, edmInt64:
		return strconv.AppendInt(dst, v.n, 10)
	case edmDateTime:
		return time.UnixMilli(v.n).In(amsterdam).AppendFormat(dst, "2006-01-02T15:04:05.000")
	default:
		return strconv.AppendFloat(dst, v.f, 'f', -1, 64)
	}
}

func appendXMLText(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '<':
			dst = append(dst, "&lt;"...)
		case '>':
			dst = append(dst, "&gt;"...)
		case '&':
			dst = append(dst, "&amp;"...)
		case '"':
			dst = append(dst, "&quot;"...)
		case '\'':
			dst = append(dst, "&apos;"...)
		default:
			if c < 0x20 && c != '\n' && c != '\r' && c != '\t' {
				continue // not representable in XML 1.0
			}
			dst = append(dst, c)
		}
	}
	return dst
}
