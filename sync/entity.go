package sync

import (
	"fmt"
	"slices"
	"strings"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact/catalogue"
)

// How an entity is read (docs/exact-online.md §3.10, §3.15), as the catalogue states it.
const (
	// ReadSync pages a sync endpoint by its Timestamp cursor, 1,000 records a page;
	// its deletions come from the division's sync/Deleted stream (see DeletionsJob).
	ReadSync = catalogue.ReadSync
	// ReadModified pages a regular endpoint, 60 records a page, by a Modified cursor
	// with an overlap (see ModifiedOverlap).
	ReadModified = catalogue.ReadModified
	// ReadFull reads a regular endpoint in full on every run and replaces the
	// division's rows with what it read.
	ReadFull = catalogue.ReadFull
)

// Field maps one Exact field to one typed column.
type Field struct {
	Column string // column in the entity's table
	Source string // Exact field name
	Type   string // Edm type (catalogue.EdmString, …), which decides the conversion
	SQL    string // PostgreSQL type of the column
	// Trim removes Exact's space padding (codes are right-aligned in 18 characters, §3.8).
	Trim bool
}

// Condition keeps a record only when a boolean field has a given value.
type Condition struct {
	Source string
	Equals bool
}

// Entity is one syncable entity: where it comes from in Exact and where it goes in
// PostgreSQL. Entities come from the catalogue (package exact/catalogue); values
// returned by [Lookup] and [Catalogue] are copies.
type Entity struct {
	Name        string // CLI name and table without its schema, e.g. "accounts"
	Description string
	Table       string // e.g. "exact.accounts"

	// Path is the endpoint below /api/v1/{division}/. Entities sharing a Path are read
	// once per run for all of them.
	Path string
	// Read is ReadSync, ReadModified or ReadFull.
	Read string
	// DeletedType is the sync/Deleted EntityType of the entity's records (§3.12); 0 for
	// entities not read from a sync endpoint.
	DeletedType int
	// Key is the Exact field that identifies a record, KeyColumn its column.
	Key       string
	KeyColumn string
	// Deprecated entities are still known but not synced by default, and have no table.
	Deprecated bool
	// Fields are the typed columns besides division, exact_timestamp and raw, in the
	// catalogue's order; the key is one of them.
	Fields []Field
	// Extra are scalar Exact fields fetched only for the raw column.
	Extra []string
	// Keep, when set, limits the entity to matching records; a record that stops
	// matching is removed from the table.
	Keep *Condition
}

// entities is the catalogue as sync sees it, built once.
var entities = func() []Entity {
	all := catalogue.All()
	out := make([]Entity, len(all))
	for i, c := range all {
		e := Entity{
			Name: c.Name, Description: c.Description, Table: c.Table, Path: c.Path, Read: c.Read,
			DeletedType: c.DeletedType, Key: c.Key, KeyColumn: c.KeyColumn, Deprecated: c.Deprecated,
		}
		if c.Keep != nil {
			e.Keep = &Condition{Source: c.Keep.Field, Equals: c.Keep.Equals}
		}
		for _, col := range c.Columns {
			e.Fields = append(e.Fields, Field{Column: col.Name, Source: col.Field, Type: col.Type, SQL: col.SQL, Trim: col.Trim})
		}
		// Exact's own Division field is a scalar the table holds as its division
		// column; it is fetched for raw, like before.
		for _, f := range c.Fields {
			if f.Name == "Division" {
				e.Extra = append(e.Extra, f.Name)
			}
		}
		out[i] = e
	}
	return out
}()

// clone returns a copy of e that shares nothing with it.
func (e Entity) clone() Entity {
	e.Fields = slices.Clone(e.Fields)
	e.Extra = slices.Clone(e.Extra)
	if e.Keep != nil {
		k := *e.Keep
		e.Keep = &k
	}
	return e
}

// Catalogue returns every entity exactsync knows, deprecated ones included, in the
// catalogue's order. The entities are copies: changing them changes nothing else.
func Catalogue() []Entity {
	out := make([]Entity, len(entities))
	for i, e := range entities {
		out[i] = e.clone()
	}
	return out
}

// Lookup returns a copy of the entity named name, deprecated or not.
func Lookup(name string) (Entity, error) {
	e, ok := lookup(name)
	if !ok {
		return Entity{}, fmt.Errorf("unknown entity %q: use a table name without its schema, such as accounts or transaction_lines; `exactsync entities` lists all %d", name, len(Names()))
	}
	return e.clone(), nil
}

// lookup returns the shared entity named name; callers must not modify it.
func lookup(name string) (*Entity, bool) {
	for i := range entities {
		if entities[i].Name == name {
			return &entities[i], true
		}
	}
	return nil, false
}

// Names lists the entities synced by default (every entity but the deprecated ones),
// sorted.
func Names() []string {
	var names []string
	for _, e := range entities {
		if !e.Deprecated {
			names = append(names, e.Name)
		}
	}
	slices.Sort(names)
	return names
}

// Targets are the tables of every entity that has one (the non-deprecated ones).
func Targets() []dest.Table {
	var out []dest.Table
	for i := range entities {
		if !entities[i].Deprecated {
			out = append(out, entities[i].Target())
		}
	}
	return out
}

// Columns are the table columns written for each record, in row order: division, the
// fields' columns, exact_timestamp and raw.
func (e *Entity) Columns() []string {
	cols := make([]string, 0, len(e.Fields)+3)
	cols = append(cols, "division")
	for _, f := range e.Fields {
		cols = append(cols, f.Column)
	}
	return append(cols, "exact_timestamp", "raw")
}

// keyIndex is the position of the key column in a row.
func (e *Entity) keyIndex() int {
	for i, f := range e.Fields {
		if f.Column == e.KeyColumn {
			return 1 + i
		}
	}
	panic("sync: entity " + e.Name + " has no key column") // the catalogue checks it
}

// Target is the entity's table as the sink writes it: keyed by (division, key),
// versioned by exact_timestamp. exact_timestamp is Exact's Timestamp for sync
// entities, and for entities read from a regular endpoint the record's Modified
// time in milliseconds since 1970 UTC (0 when it has none): a version that only
// grows, so that an older read never overwrites a newer one.
func (e *Entity) Target() dest.Table {
	return dest.Table{
		Name: e.Table, Columns: e.Columns(),
		Key: []string{"division", e.KeyColumn}, VersionColumn: "exact_timestamp",
	}
}

// Select is the $select list sent on every call (§3.9): every scalar field of the
// catalogue.
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
	if e.Read == ReadSync {
		add("Timestamp")
	}
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
