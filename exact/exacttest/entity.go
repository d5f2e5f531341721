package exacttest

import (
	"cmp"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // Europe/Amsterdam must load on machines without zoneinfo

	"github.com/exactsync/exactsync/exact/catalogue"
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
	edmByte
	edmInt16
	edmDecimal
	edmBinary
	// edmComplex is a complex value (Exact.Web.Api.Models.…): served as null, an unset value.
	edmComplex
	// edmCollection is a navigation collection (an account's BankAccounts): no member of a
	// record; served as {"__deferred":{"uri":…}} only when $select names it (§3.5).
	edmCollection
)

// edmTypes maps the catalogue's Edm type names to the simulator's.
var edmTypes = map[string]edmType{
	catalogue.EdmGUID: edmGuid, catalogue.EdmString: edmString, catalogue.EdmBoolean: edmBoolean,
	catalogue.EdmByte: edmByte, catalogue.EdmInt16: edmInt16, catalogue.EdmInt32: edmInt32,
	catalogue.EdmInt64: edmInt64, catalogue.EdmDouble: edmDouble, catalogue.EdmDecimal: edmDecimal,
	catalogue.EdmDateTime: edmDateTime, catalogue.EdmBinary: edmBinary, catalogue.Collection: edmCollection,
}

func (t edmType) String() string {
	switch t {
	case edmGuid:
		return catalogue.EdmGUID
	case edmString:
		return catalogue.EdmString
	case edmBoolean:
		return catalogue.EdmBoolean
	case edmInt32:
		return catalogue.EdmInt32
	case edmInt64:
		return catalogue.EdmInt64
	case edmDateTime:
		return catalogue.EdmDateTime
	case edmByte:
		return catalogue.EdmByte
	case edmInt16:
		return catalogue.EdmInt16
	case edmDecimal:
		return catalogue.EdmDecimal
	case edmBinary:
		return catalogue.EdmBinary
	case edmCollection:
		return catalogue.Collection
	case edmComplex:
		return "Edm.ComplexType"
	default:
		return catalogue.EdmDouble
	}
}

// scalar reports whether values of t are record members (everything but collections).
func (t edmType) scalar() bool { return t != edmCollection }

// field is one property of an entity.
type field struct {
	name     string
	typ      edmType
	filter   bool    // allowed in $filter on the regular and bulk endpoints ("MF" in §5.2)
	syncOnly bool    // served only by the sync endpoint (Timestamp, §5.2)
	ref      *entity // a Guid foreign key: the entity whose records it names (see refTarget)
	codeOf   *entity // a code field: the entity whose records' codes it holds (codeOwners)
	// quoted serves an Edm.Int64 or Edm.Decimal as a JSON string, the OData V2 verbose
	// convention (§3.8); every Int64 but Timestamp is served so.
	quoted bool
	// Generation (generate.go), worked out from the name once: required fields are never
	// null; strKind says what a string holds.
	required bool
	strKind  uint8
}

// value holds one field value; which member is used depends on the field's type.
type value struct {
	null bool
	// s: Guid (lowercase 8-4-4-4-12), String, Binary (base64), and Double and Decimal as their
	// decimal text, served verbatim so that it round-trips exactly ("1E-05" stays "1E-05").
	s string
	n int64 // Boolean (0/1), Byte, Int16, Int32, Int64, DateTime (Unix milliseconds, UTC instant)
}

// record is one row; values are indexed like entity.fields.
type record []value

// entity describes one Exact Online resource: its fields and its endpoints. Every entity of
// the catalogue package is one (catalogue.go); the Accounts entity adds hand-tuned generation.
type entity struct {
	name        string // the catalogue's name ("transaction_lines"); "Deleted", "Me" for the others
	metaType    string // __metadata.type of the records of the regular endpoint, else of the other one
	regular     string // "crm/Accounts"; "" when absent
	bulk        string // "bulk/CRM/Accounts"; "" when absent
	sync        string // "sync/CRM/Accounts"; "" when absent
	deletedType int    // EntityType in sync/Deleted (§3.12); 0 when not tracked
	// mandatoryFilter: a GET on the regular and bulk endpoints must carry a $filter on one of
	// the filter fields (§3.9), unless Options.NoMandatoryFilter is set.
	mandatoryFilter bool
	fields          []field
	keyName         string // the field identifying a record; "ID" when empty
	// generate fills r with generated base row i of t (deterministic, see Data in the package
	// doc). want, when not nil, names the fields that must be filled; the others may be left as
	// they are.
	generate func(t *table, i int, r record, want []bool)

	index    map[string]int // field name → position
	idField  int            // the key field
	tsField  int
	modField int // Modified (Edm.DateTime), -1 when absent
	// types are the __metadata.type of the records of each endpoint (modelType), by kind.
	types [3]string
}

func (e *entity) init() *entity {
	for kind, p := range e.paths() {
		if p != "" {
			e.types[kind] = modelType(p)
		}
	}
	if e.metaType == "" {
		e.metaType = cmp.Or(e.types[kindRegular], e.types[kindSync], e.types[kindBulk])
	}
	e.index = make(map[string]int, len(e.fields))
	e.idField, e.tsField, e.modField = -1, -1, -1
	key := e.keyName
	if key == "" {
		key = "ID"
	}
	for i, f := range e.fields {
		e.index[f.name] = i
		switch {
		case f.name == key:
			e.idField = i
		case f.name == "Timestamp":
			e.tsField = i
		case f.name == "Modified" && f.typ == edmDateTime:
			e.modField = i
		}
	}
	return e
}

// paths are the entity's endpoints by kind: regular, bulk, sync; "" where it has none.
func (e *entity) paths() [3]string { return [3]string{e.regular, e.bulk, e.sync} }

// typeName is the __metadata.type of the records served at the endpoint of kind.
func (e *entity) typeName(kind endpointKind) string { return cmp.Or(e.types[kind], e.metaType) }

// modelType is the __metadata.type Exact gives the records of an endpoint (§3.5): the
// singular model name under Exact.Web.Api.Models., which the recordings of 2026 show
// without a namespace for most models (Journal, VATCode, Account, Item, GLAccount) and with
// one for some (Financial.TransactionLine, System.Division, System.Me). The namespaces of
// other services, and the types of sync and bulk records, are not known: they get none.
func modelType(path string) string {
	segs := strings.Split(path, "/")
	ns := ""
	switch strings.ToLower(segs[0]) {
	case "financialtransaction":
		ns = "Financial."
	case "system", "current":
		ns = "System."
	}
	return "Exact.Web.Api.Models." + ns + singular(segs[len(segs)-1])
}

// singular is the model name of an endpoint's last segment: TransactionLines →
// TransactionLine, GoodsDeliveries → GoodsDelivery, Addresses → Address; names that end
// otherwise (ProjectWBS, LeaveAbsenceHoursByDay, SupplierItem) stay as they are.
func singular(s string) string {
	switch {
	case strings.HasSuffix(s, "ies"):
		return s[:len(s)-3] + "y"
	case strings.HasSuffix(s, "sses"):
		return s[:len(s)-2]
	case strings.HasSuffix(s, "s") && !strings.HasSuffix(s, "ss"):
		return s[:len(s)-1]
	}
	return s
}

// filterFields lists the fields allowed in $filter on the regular and bulk endpoints, for
// the mandatory-filter message (§4.4).
func (e *entity) filterFields() string {
	var names []string
	for _, f := range e.fields {
		if f.filter && !f.syncOnly {
			names = append(names, f.name)
		}
	}
	return strings.Join(names, ",")
}

func (e *entity) newRecord() record { return make(record, len(e.fields)) }

// guidKey reports whether the entity's records are keyed by a GUID.
func (e *entity) guidKey() bool { return e.idField >= 0 && e.fields[e.idField].typ == edmGuid }

// deletedEntity is sync/Deleted (§3.12): one row per deletion, sharing the division's
// Timestamp sequence.
var deletedEntity = (&entity{
	name: "Deleted",
	sync: "sync/Deleted",
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

// metaType is the __metadata.type of the route's records.
func (rt route) metaType() string { return rt.ent.typeName(rt.kind) }

// routes maps the lowercased endpoint path to its entity; the service segment is
// case-insensitive (§3.1).
var routes = func() map[string]route {
	m := map[string]route{}
	for _, e := range append([]*entity{deletedEntity, divisionsEntity}, dataEntities...) {
		for kind, p := range e.paths() {
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

// appendJSONValue appends v as JSON for field f.
func appendJSONValue(dst []byte, f *field, v value) []byte {
	if v.null {
		return append(dst, "null"...)
	}
	switch f.typ {
	case edmGuid, edmString, edmBinary:
		return appendJSONString(dst, v.s)
	case edmBoolean:
		if v.n != 0 {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	case edmByte, edmInt16, edmInt32, edmInt64:
		// Timestamp (Edm.Int64) is served as a JSON number: its JSON type is UNCONFIRMED
		// (§3.8); the example page of §3.10 shows a number. Other Int64 values are served as
		// strings, the OData V2 verbose convention of §3.8.
		if f.quoted {
			dst = append(dst, '"')
			dst = strconv.AppendInt(dst, v.n, 10)
			return append(dst, '"')
		}
		return strconv.AppendInt(dst, v.n, 10)
	case edmDateTime:
		dst = append(dst, `"/Date(`...)
		dst = strconv.AppendInt(dst, wallMillis(v.n), 10)
		return append(dst, `)/"`...)
	case edmDouble, edmDecimal:
		// The decimal text as stored, a JSON number ("1E-05", "2.5e+3"); Decimal as a string (§3.8).
		if f.quoted {
			return appendJSONString(dst, v.s)
		}
		return append(dst, v.s...)
	default: // complex values are served unset; collections are no members
		return append(dst, "null"...)
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
	case edmGuid, edmString, edmBinary, edmDouble, edmDecimal:
		return appendXMLText(dst, v.s)
	case edmBoolean:
		return strconv.AppendBool(dst, v.n != 0)
	case edmByte, edmInt16, edmInt32, edmInt64:
		return strconv.AppendInt(dst, v.n, 10)
	case edmDateTime:
		return time.UnixMilli(v.n).In(amsterdam).AppendFormat(dst, "2006-01-02T15:04:05.000")
	default:
		return dst
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
