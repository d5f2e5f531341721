package sync

import (
	"fmt"
	"slices"
	"strings"

	"github.com/exactsync/exactsync/sink"
)

// Kind is the Exact data type of a field, which decides how it is converted
// into a column value.
type Kind int

// The kinds of field values (Exact's Edm types, fact sheet §3.8).
const (
	KindString  Kind = iota // Edm.String
	KindCode                // Edm.String, space-padded code: trimmed (§3.8)
	KindGUID                // Edm.Guid
	KindBool                // Edm.Boolean
	KindInt32               // Edm.Int32
	KindInt64               // Edm.Int64, number or string (§3.8)
	KindDecimal             // Edm.Decimal, kept as exact text (never float64)
	KindDate                // Edm.DateTime, /Date(ms)/ in Amsterdam time → UTC (§3.8)
)

// Field maps one Exact field to one typed column.
type Field struct {
	Column string // column in the entity's table
	Source string // Exact field name
	Kind   Kind
}

// Condition keeps a record only when a boolean field has a given value.
type Condition struct {
	Source string
	Equals bool
}

// Entity declares one syncable entity: where it comes from in Exact and
// where it goes in PostgreSQL.
type Entity struct {
	Name        string // CLI name, e.g. "accounts"
	Description string
	Table       string // e.g. "exact.accounts"

	// SyncPath is the sync endpoint below /api/v1/{division}/, paged by the
	// Timestamp cursor (§3.10).
	SyncPath string
	// DeletedType is the sync/Deleted EntityType of this entity's records (§3.12).
	DeletedType int
	// Key is the Exact field that identifies a record (a GUID).
	Key string
	// Fields are the typed columns besides division, id, exact_timestamp and raw.
	Fields []Field
	// Extra are Exact fields fetched only for the raw column.
	Extra []string
	// Keep, when set, limits the entity to matching records; a record that
	// stops matching is removed from the table.
	Keep *Condition
}

// Columns are the table columns written for each record, in row order.
func (e *Entity) Columns() []string {
	cols := make([]string, 0, len(e.Fields)+4)
	cols = append(cols, "division", "id")
	for _, f := range e.Fields {
		cols = append(cols, f.Column)
	}
	return append(cols, "exact_timestamp", "raw")
}

// Target is the entity's table as the sink writes it: keyed by (division,
// id), versioned by Exact's Timestamp.
func (e *Entity) Target() sink.Table {
	return sink.Table{
		Name: e.Table, Columns: e.Columns(),
		Key: []string{"division", "id"}, VersionColumn: "exact_timestamp",
	}
}

// Targets are the tables of every entity of the catalogue.
func Targets() []sink.Table {
	out := make([]sink.Table, len(Catalogue))
	for i := range Catalogue {
		out[i] = Catalogue[i].Target()
	}
	return out
}

// Select is the $select list sent on every sync call (§3.9).
func (e *Entity) Select() string {
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	add(e.Key)
	add("Timestamp")
	for _, f := range e.Fields {
		add(f.Source)
	}
	for _, s := range e.Extra {
		add(s)
	}
	if e.Keep != nil {
		add(e.Keep.Source)
	}
	return strings.Join(out, ",")
}

// accountFields are the typed columns of exact.accounts and exact.suppliers.
var accountFields = []Field{
	{"code", "Code", KindCode},
	{"name", "Name", KindString},
	{"is_supplier", "IsSupplier", KindBool},
	{"is_sales", "IsSales", KindBool},
	{"status", "Status", KindString},
	{"email", "Email", KindString},
	{"city", "City", KindString},
	{"country", "Country", KindString},
	{"vat_number", "VATNumber", KindString},
	{"blocked", "Blocked", KindBool},
	{"created", "Created", KindDate},
	{"modified", "Modified", KindDate},
}

// accountExtra are further account fields kept in raw for downstream apps.
var accountExtra = []string{
	"IsPurchase", "Type", "Phone", "Website", "AddressLine1", "Postcode",
	"ChamberOfCommerce", "Division",
}

// Catalogue lists every entity exactsync can sync.
var Catalogue = []Entity{
	{
		Name:        "accounts",
		Description: "all CRM accounts (customers, suppliers, prospects) from sync/CRM/Accounts",
		Table:       "exact.accounts",
		SyncPath:    "sync/CRM/Accounts",
		DeletedType: 2, // §3.12
		Key:         "ID",
		Fields:      accountFields,
		Extra:       accountExtra,
	},
	{
		// Suppliers are accounts with IsSupplier = true (§5.1). sync/CRM/Accounts
		// only filters on Timestamp (§3.10), so the stream is filtered here, and
		// an account that stops being a supplier leaves the table.
		Name:        "suppliers",
		Description: "accounts with IsSupplier = true, from the sync/CRM/Accounts stream",
		Table:       "exact.suppliers",
		SyncPath:    "sync/CRM/Accounts",
		DeletedType: 2,
		Key:         "ID",
		Fields:      accountFields,
		Extra:       accountExtra,
		Keep:        &Condition{Source: "IsSupplier", Equals: true},
	},
}

// Lookup finds an entity of the catalogue by name.
func Lookup(name string) (*Entity, error) {
	for i := range Catalogue {
		if Catalogue[i].Name == name {
			return &Catalogue[i], nil
		}
	}
	return nil, fmt.Errorf("unknown entity %q: valid entities are %s", name, strings.Join(Names(), ", "))
}

// Names lists the catalogue's entity names, sorted.
func Names() []string {
	names := make([]string, len(Catalogue))
	for i, e := range Catalogue {
		names[i] = e.Name
	}
	slices.Sort(names)
	return names
}
