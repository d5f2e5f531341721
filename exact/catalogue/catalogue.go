// Package catalogue holds the facts of every Exact Online entity exactsync syncs: its
// endpoint, key, sync/Deleted entity type and fields with their Edm types, and the table
// and columns that hold it in PostgreSQL. The facts live in a data file, entities.json,
// embedded in the package: adding an entity or a field is an edit of that file plus a
// migration for the table, not new code. The sync package turns entities into runs, the
// simulator (exact/exacttest) serves them, and tests check that the migrations create
// exactly the tables and columns the catalogue names.
//
// Names follow fixed rules that downstream applications rely on: the table is exact.
// followed by the snake_case of the endpoint's last path segment (TransactionLines →
// exact.transaction_lines), a column is the snake_case of its field (AmountDC → amount_dc,
// GLAccount → gl_account, ID → id), Timestamp is exact_timestamp and Exact's own Division
// field is the division column every table starts with.
//
// A citation such as §3.10 in its comments names a section of docs/exact-online.md, the
// project's reference of Exact Online.
package catalogue

//go:generate go run ./internal/ddl -migrations ../../migrations -docs ../../docs/entities.md

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// How an entity is read (docs/exact-online.md §3.10, §3.15).
const (
	// ReadSync pages a sync endpoint by its Timestamp cursor; deletions come from
	// sync/Deleted by the entity's DeletedType.
	ReadSync = "sync"
	// ReadModified pages a regular endpoint by its Modified field, with an overlap.
	ReadModified = "modified"
	// ReadFull reads a regular endpoint in full and replaces the division's rows.
	ReadFull = "full"
)

// Edm types of fields (docs/exact-online.md §3.8), and the two kinds of members that are no
// columns.
const (
	EdmString   = "Edm.String"
	EdmGUID     = "Edm.Guid"
	EdmBoolean  = "Edm.Boolean"
	EdmByte     = "Edm.Byte"
	EdmInt16    = "Edm.Int16"
	EdmInt32    = "Edm.Int32"
	EdmInt64    = "Edm.Int64"
	EdmDouble   = "Edm.Double"
	EdmDecimal  = "Edm.Decimal"
	EdmDateTime = "Edm.DateTime"
	EdmBinary   = "Edm.Binary"
	// Collection is a navigation collection (e.g. an account's BankAccounts): not a column.
	Collection = "Collection"
)

// SQLType is the PostgreSQL type of a column holding an Edm type, "" for a member that
// is no column. Doubles and decimals are numeric holding exactly the digits Exact sent,
// never a float; dates are instants (Exact's Amsterdam wall-clock time converted, §3.8).
func SQLType(edm string) string {
	switch edm {
	case EdmString:
		return "text"
	case EdmGUID:
		return "uuid"
	case EdmBoolean:
		return "boolean"
	case EdmByte, EdmInt16, EdmInt32:
		return "integer"
	case EdmInt64:
		return "bigint"
	case EdmDouble, EdmDecimal:
		return "numeric"
	case EdmDateTime:
		return "timestamptz"
	case EdmBinary:
		return "bytea"
	}
	return ""
}

// Data is one entity as the data file states it.
type Data struct {
	Name        string `json:"name"`  // command-line name, the table without its schema
	Table       string `json:"table"` // schema-qualified
	Path        string `json:"path"`  // endpoint below /api/v1/{division}/
	Read        string `json:"read"`  // ReadSync, ReadModified or ReadFull
	Key         string `json:"key"`   // the field identifying a record
	DeletedType int    `json:"deleted_type,omitempty"`
	Deprecated  bool   `json:"deprecated,omitempty"`
	Keep        *Keep  `json:"keep,omitempty"`
	// Regular is, for an entity read from a sync endpoint, the regular (CRUD) endpoint
	// at which Exact serves the same records 60 a page and by key (docs/exact-online.md §3.5,
	// §3.6, §5.3; beyond those the sheet names, the URL of the entity's model in
	// picqer/exact-php-client, the sheet's [PQ-ENT]), "" when the facts name none.
	// exactsync reads Path; the simulator serves both. For the other entities Path is
	// the regular endpoint.
	Regular string `json:"regular,omitempty"`
	// WebhookTopics are the Exact webhook topics whose deliveries say that records of
	// this entity changed (docs/exact-online.md §3.14); none when no topic covers it.
	WebhookTopics []string `json:"webhook_topics,omitempty"`
	Description   string   `json:"description"`

	Fields []FieldData `json:"fields"`
}

// Keep limits an entity to the records whose boolean field has a value; a record that
// stops matching leaves the table.
type Keep struct {
	Field  string `json:"field"`
	Equals bool   `json:"equals"`
}

// FieldData is one field as the data file states it.
type FieldData struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// Trim removes Exact's space padding (account codes are right-aligned in 18
	// characters, §3.8).
	Trim bool `json:"trim,omitempty"`
	// Description says what the field means, for the column's comment and
	// docs/entities.md; optional.
	Description string `json:"description,omitempty"`
}

// Entity is one entity of the catalogue with its columns worked out.
type Entity struct {
	Data
	// Columns are the typed columns, one per scalar field, in the data file's order,
	// without the division column and without exact_timestamp (see Column).
	Columns []Column
	// KeyColumn is the key field's column.
	KeyColumn string
}

// Column is a field and the column that holds it.
type Column struct {
	Name        string // column name
	Field       string // Exact field
	Type        string // Edm type
	SQL         string // PostgreSQL type
	Trim        bool
	Description string // what the field means; "" when the data file does not say
}

//go:embed entities.json
var data []byte

var (
	loadOnce sync.Once
	loaded   []Entity
	loadErr  error
)

// All returns every entity of the catalogue, deprecated ones included, in the data file's
// order. The slice is the caller's; the entities are shared and must not be modified.
func All() []Entity {
	loadOnce.Do(func() { loaded, loadErr = Parse(data) })
	if loadErr != nil {
		panic("catalogue: entities.json: " + loadErr.Error()) // a test loads it on every build
	}
	return slices.Clone(loaded)
}

// Lookup returns the entity named name.
func Lookup(name string) (Entity, bool) {
	for _, e := range All() {
		if e.Name == name {
			return e, true
		}
	}
	return Entity{}, false
}

// ForTopic returns the entities a webhook topic covers (docs/exact-online.md §3.14),
// deprecated ones left out, in the data file's order; none for a topic no entity names.
// Topics compare without regard to case.
func ForTopic(topic string) []Entity {
	var out []Entity
	for _, e := range All() {
		if !e.Deprecated && slices.ContainsFunc(e.WebhookTopics, func(t string) bool { return strings.EqualFold(t, topic) }) {
			out = append(out, e)
		}
	}
	return out
}

// Parse reads a data file and checks it: unique names and tables, known read modes and
// Edm types, a key among the fields, sync entities with a deleted type, no two fields
// with the same column, and no endpoint serving two entities (entities of one sync
// endpoint, accounts and suppliers, share its regular endpoint too).
func Parse(b []byte) ([]Entity, error) {
	var ds []Data
	if err := json.Unmarshal(b, &ds); err != nil {
		return nil, err
	}
	var errs []error
	names := map[string]bool{}
	served := map[string]string{} // endpoint, lowercased (§3.1) → the Path whose records it serves
	out := make([]Entity, 0, len(ds))
	for _, d := range ds {
		e, err := entity(d)
		if err != nil {
			errs = append(errs, fmt.Errorf("entity %q: %w", d.Name, err))
			continue
		}
		if names[d.Name] {
			errs = append(errs, fmt.Errorf("entity %q: named twice", d.Name))
		}
		names[d.Name] = true
		for _, p := range []string{d.Path, d.Regular} {
			if p == "" {
				continue
			}
			if other, ok := served[strings.ToLower(p)]; ok && other != d.Path {
				errs = append(errs, fmt.Errorf("entity %q: endpoint %s serves %s already", d.Name, p, other))
			}
			served[strings.ToLower(p)] = d.Path
		}
		out = append(out, e)
	}
	return out, errors.Join(errs...)
}

var (
	identifier = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)
	topicName  = regexp.MustCompile(`^[A-Z][A-Za-z]{1,62}$`)
)

func entity(d Data) (Entity, error) {
	e := Entity{Data: d}
	switch {
	case !identifier.MatchString(d.Name):
		return e, fmt.Errorf("name is not a lower-case identifier")
	case d.Table != "exact."+d.Name:
		return e, fmt.Errorf("table %q, want exact.%s", d.Table, d.Name)
	case d.Read != ReadSync && d.Read != ReadModified && d.Read != ReadFull:
		return e, fmt.Errorf("read %q, want %s, %s or %s", d.Read, ReadSync, ReadModified, ReadFull)
	case d.Read == ReadSync && d.DeletedType <= 0:
		return e, fmt.Errorf("a sync entity needs its sync/Deleted entity type")
	case d.Path == "" || strings.HasPrefix(d.Path, "/"):
		return e, fmt.Errorf("path %q, want one below /api/v1/{division}/", d.Path)
	case len(d.WebhookTopics) > 0 && d.Read != ReadSync:
		return e, fmt.Errorf("webhook topics on an entity read by %s: a delivery triggers an incremental sync run", d.Read)
	case d.Regular != "" && d.Read != ReadSync:
		return e, fmt.Errorf("regular endpoint %q on an entity read by %s, whose path is its regular endpoint", d.Regular, d.Read)
	case d.Regular != "" && (strings.HasPrefix(d.Regular, "/") || strings.Count(d.Regular, "/") != 1 ||
		strings.HasPrefix(strings.ToLower(d.Regular), "sync/") || strings.HasPrefix(strings.ToLower(d.Regular), "bulk/")):
		return e, fmt.Errorf("regular endpoint %q, want service/Entity below /api/v1/{division}/, like crm/Contacts", d.Regular)
	}
	for _, t := range d.WebhookTopics {
		if !topicName.MatchString(t) {
			return e, fmt.Errorf("webhook topic %q is not a topic name such as Accounts", t)
		}
	}
	seen := map[string]string{"division": "Division", "raw": "", "synced_at": ""}
	haveKey, haveTimestamp, haveModified := false, false, false
	for _, f := range d.Fields {
		sql := SQLType(f.Type)
		switch {
		case f.Name == "Division":
			continue // the division column
		case f.Name == "Timestamp":
			haveTimestamp = true
			continue // exact_timestamp
		case f.Type == Collection || (sql == "" && strings.Contains(f.Type, ".Models.")):
			continue // navigation collections and complex values live in raw only
		case sql == "":
			return e, fmt.Errorf("field %s: unknown type %q", f.Name, f.Type)
		}
		col := Snake(f.Name)
		if !identifier.MatchString(col) {
			return e, fmt.Errorf("field %s: column %q is not a PostgreSQL identifier", f.Name, col)
		}
		if other, dup := seen[col]; dup {
			return e, fmt.Errorf("fields %s and %s both make column %s", other, f.Name, col)
		}
		seen[col] = f.Name
		e.Columns = append(e.Columns, Column{Name: col, Field: f.Name, Type: f.Type, SQL: sql, Trim: f.Trim, Description: f.Description})
		if f.Name == d.Key {
			haveKey, e.KeyColumn = true, col
		}
		if f.Name == "Modified" && f.Type == EdmDateTime {
			haveModified = true
		}
	}
	switch {
	case !haveKey:
		return e, fmt.Errorf("key %s is not one of its scalar fields", d.Key)
	case d.Read == ReadSync && !haveTimestamp:
		return e, fmt.Errorf("a sync entity needs its Timestamp field")
	case d.Read == ReadModified && !haveModified:
		return e, fmt.Errorf("read by Modified without a Modified date field")
	case d.Keep != nil && !slices.ContainsFunc(e.Columns, func(c Column) bool { return c.Field == d.Keep.Field && c.Type == EdmBoolean }):
		return e, fmt.Errorf("keep on %s, which is not a boolean field", d.Keep.Field)
	}
	return e, nil
}

// Snake turns an Exact name into snake_case: AmountDC → amount_dc, GLAccount →
// gl_account, VATCode → vat_code, EntryID → entry_id, AddressLine1 → address_line1,
// Class_01 → class_01.
func Snake(name string) string {
	var b strings.Builder
	rs := []rune(name)
	for i, r := range rs {
		upper := r >= 'A' && r <= 'Z'
		if upper && i > 0 {
			prev := rs[i-1]
			nextLower := i+1 < len(rs) && rs[i+1] >= 'a' && rs[i+1] <= 'z'
			prevUpper := prev >= 'A' && prev <= 'Z'
			prevSep := prev == '_'
			if !prevSep && (!prevUpper || nextLower) {
				b.WriteByte('_')
			}
		}
		if upper {
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}
