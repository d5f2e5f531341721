package exacttest

import (
	"fmt"
	"slices"
	"strings"

	"github.com/exactsync/exactsync/exact/catalogue"
)

// The simulator serves every entity of the catalogue package, built from its data: adding an
// entity to entities.json makes the simulator serve it, with generated records, without new
// code. Exceptions: "suppliers" is a view of the accounts (the same sync/CRM/Accounts stream,
// §5.1) and is not served twice; "accounts" keeps its hand-tuned generator (account.go) for the
// fields it always had and gets the catalogue's other fields generated; "divisions" is
// system/Divisions, whose rows are the connection's divisions (§3.3).

// accountsEntity is crm/Accounts with the catalogue's fields of sync/CRM/Accounts: first the key
// fields of §5.2 the simulator always served (account.go's positions), then the catalogue's others.
// Deleted accounts are EntityType 2 (§3.12).
var accountsEntity = func() *entity {
	e := &entity{
		name:            "accounts",
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
	}
	ce, ok := catalogue.Lookup("accounts")
	if !ok {
		panic("exacttest: the catalogue has no accounts")
	}
	have := map[string]bool{}
	for _, f := range e.fields {
		have[f.name] = true
	}
	for _, f := range catalogueFields(ce) {
		if !have[f.name] {
			f.filter = false // the mandatory-filter fields stay those of §5.2 listed above
			e.fields = append(e.fields, f)
		}
	}
	e.generate = generateAccount
	return e.init()
}()

// accountFields is the number of fields generateAccount fills by hand; the others are generic.
const accountFields = accTimestamp + 1

// dataEntities lists the entities with data tables, in the catalogue's order, which is the order
// their generated rows take Timestamps in a division: accounts first.
var dataEntities = func() []*entity {
	var out []*entity
	for _, ce := range catalogue.All() {
		switch ce.Name {
		case "suppliers", "divisions":
			continue // a view of the accounts; the connection's divisions (divisions.go)
		case "accounts":
			out = append(out, accountsEntity)
		default:
			out = append(out, entityFromCatalogue(ce))
		}
	}
	byName := map[string]*entity{}
	for _, e := range out {
		byName[e.name] = e
	}
	for _, e := range out {
		for i := range e.fields {
			if f := &e.fields[i]; f.typ == edmGuid && i != e.idField && f.name != "Creator" && f.name != "Modifier" {
				f.ref = refTarget(f.name, out)
			} else if owner, ok := codeOwners[f.strKind]; ok {
				f.codeOf = byName[owner]
			}
		}
	}
	return out
}()

// entitiesByName maps the catalogue's names to the entities served, divisions included.
var entitiesByName = func() map[string]*entity {
	m := map[string]*entity{divisionsEntity.name: divisionsEntity}
	for _, e := range dataEntities {
		m[e.name] = e
	}
	return m
}()

// Entities returns the names of the entities the simulator serves, sorted: the catalogue's
// names (package catalogue) without "suppliers", which is the accounts' stream.
func Entities() []string {
	names := make([]string, 0, len(entitiesByName))
	for n := range entitiesByName {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// SyncEntities returns the names of the entities the simulator serves a sync endpoint for,
// sorted (Options.HiddenFromSync takes them).
func SyncEntities() []string {
	var names []string
	for _, e := range dataEntities {
		if e.sync != "" {
			names = append(names, e.name)
		}
	}
	slices.Sort(names)
	return names
}

// lookupEntity returns the entity named name, or an error naming the valid ones.
func lookupEntity(name string) (*entity, error) {
	if e, ok := entitiesByName[name]; ok {
		return e, nil
	}
	hint := ""
	if name == "suppliers" {
		hint = " (suppliers are the accounts with IsSupplier true: use accounts)"
	}
	return nil, fmt.Errorf("unknown entity %q%s; the simulator serves %s", name, hint, strings.Join(Entities(), ", "))
}

// mandatoryFiltered are the regular endpoints on which Exact enforces mandatory filtering
// since October 2022 (§2.7, §3.9): a GET without a $filter is refused. Which fields of
// logistics/Items count is UNCONFIRMED: the simulator accepts a $filter on any.
var mandatoryFiltered = map[string]bool{"crm/Accounts": true, "logistics/Items": true}

// bulkPaths are the bulk endpoints of §3.13 (1,000 a page, $select required): a sync
// entity of the catalogue whose sync path is one of them with sync/ for bulk/ has it too
// (bulk/CRM/Accounts is the accounts' own, account.go).
var bulkPaths = []string{"bulk/CRM/Addresses", "bulk/CRM/Contacts", "bulk/CRM/Quotations", "bulk/CRM/QuotationLines",
	"bulk/Documents/Documents", "bulk/Documents/DocumentAttachments", "bulk/Financial/GLAccounts",
	"bulk/Financial/GLClassifications", "bulk/Financial/TransactionLines", "bulk/Logistics/Items",
	"bulk/Logistics/SalesItemPrices", "bulk/SalesInvoice/SalesInvoices", "bulk/SalesOrder/SalesOrders",
	"bulk/SalesOrder/SalesOrderLines", "bulk/SalesOrder/GoodsDeliveries", "bulk/SalesOrder/GoodsDeliveryLines"}

// entityFromCatalogue builds the simulator's entity of a catalogue entity: for read "sync" a
// sync endpoint (1,000 a page by Timestamp) and, where the catalogue names one, the regular
// endpoint of the same records (60 a page, §3.5); a regular endpoint for the others. Every
// scalar field may be used in $filter on a regular endpoint (the sync-only Timestamp
// excepted); mandatory filtering applies where Exact enforces it (mandatoryFiltered).
func entityFromCatalogue(ce catalogue.Entity) *entity {
	e := &entity{name: ce.Name, deletedType: ce.DeletedType, keyName: ce.Key, fields: catalogueFields(ce)}
	if ce.Read == catalogue.ReadSync {
		e.sync, e.regular = ce.Path, ce.Regular
		if slices.Contains(bulkPaths, "bulk/"+strings.TrimPrefix(ce.Path, "sync/")) {
			e.bulk = "bulk/" + strings.TrimPrefix(ce.Path, "sync/")
		}
	} else {
		e.regular = ce.Path
	}
	e.mandatoryFilter = mandatoryFiltered[e.regular]
	e.generate = generateRecord
	return e.init()
}

// catalogueFields converts a catalogue entity's fields: its Edm types, complex values as
// edmComplex; Timestamp is a number, every other Int64 a string (§3.8).
func catalogueFields(ce catalogue.Entity) []field {
	out := make([]field, 0, len(ce.Fields))
	for _, cf := range ce.Fields {
		t, ok := edmTypes[cf.Type]
		if !ok {
			t = edmComplex
		}
		f := field{name: cf.Name, typ: t, filter: t.scalar() && t != edmComplex,
			required: cf.Name == "Date" || cf.Name == "Code" || cf.Name == "Description", strKind: codeKindOf(ce, cf)}
		switch {
		case cf.Name == "Timestamp":
			f.syncOnly = true
		case t == edmInt64 || t == edmDecimal:
			f.quoted = true
		}
		out = append(out, f)
	}
	return out
}

// refTarget is the foreign-key rule: a Guid field (not the key, not Creator or Modifier) names
// a record of the entity whose endpoint's last path segment is the field's name, without a
// trailing "ID", plus "s" or "es", compared without regard to case: TransactionLines.GLAccount
// → GLAccounts, .Account → Accounts, .Item → Items, .Project → Projects, .CostCenter →
// Costcenters, SalesOrderHeaders.WarehouseID → Warehouses, Addresses.Account → Accounts.
// Names that fit no entity (InvoiceAccount, MainContact, GLAR) get GUIDs of records the
// simulator does not serve, as references to entities outside the catalogue would be.
func refTarget(name string, entities []*entity) *entity {
	base := strings.ToLower(name)
	if trimmed, ok := strings.CutSuffix(base, "id"); ok && trimmed != "" {
		base = trimmed
	}
	for _, e := range entities {
		p := cmpPath(e)
		last := strings.ToLower(p[strings.LastIndexByte(p, '/')+1:])
		if last == base+"s" || last == base+"es" {
			return e
		}
	}
	return nil
}

func cmpPath(e *entity) string {
	switch {
	case e.sync != "":
		return e.sync
	case e.regular != "":
		return e.regular
	}
	return e.bulk
}
