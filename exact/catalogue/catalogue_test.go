package catalogue

import (
	"strings"
	"testing"
)

func TestSnake(t *testing.T) {
	for in, want := range map[string]string{
		"AmountDC": "amount_dc", "GLAccount": "gl_account", "VATCode": "vat_code", "EntryID": "entry_id",
		"ID": "id", "TransactionLines": "transaction_lines", "GLAccounts": "gl_accounts",
		"SalesInvoices": "sales_invoices", "VATCodes": "vat_codes", "AddressLine1": "address_line1",
		"AccountManagerHID": "account_manager_hid", "Class_01": "class_01", "IsSupplier": "is_supplier",
		"VATNumber": "vat_number", "BSN": "bsn", "Costcenters": "costcenters",
	} {
		if got := Snake(in); got != want {
			t.Errorf("Snake(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCatalogueLoads(t *testing.T) {
	all := All()
	if len(all) < 74 {
		t.Fatalf("%d entities, want the 59 sync endpoints, suppliers and 14 reference entities", len(all))
	}
	tables := map[string]string{}
	for _, e := range all {
		tables[e.Path+"|"+e.Name] = e.Table
	}
	for _, tt := range []struct{ path, name, table, key string }{
		{"sync/Financial/TransactionLines", "transaction_lines", "exact.transaction_lines", "id"},
		{"sync/Financial/GLAccounts", "gl_accounts", "exact.gl_accounts", "id"},
		{"sync/SalesInvoice/SalesInvoices", "sales_invoices", "exact.sales_invoices", "id"},
		{"sync/Logistics/Items", "items", "exact.items", "id"},
		{"financial/Journals", "journals", "exact.journals", "id"},
		{"vat/VATCodes", "vat_codes", "exact.vat_codes", "id"},
		{"sync/SalesOrder/GoodsDeliveries", "goods_deliveries", "exact.goods_deliveries", "entry_id"},
		{"sync/Subscription/Subscriptions", "subscriptions", "exact.subscriptions", "entry_id"},
		{"sync/CRM/Accounts", "accounts", "exact.accounts", "id"},
		{"sync/CRM/Accounts", "suppliers", "exact.suppliers", "id"},
	} {
		e, ok := Lookup(tt.name)
		if !ok || e.Path != tt.path || e.Table != tt.table || e.KeyColumn != tt.key {
			t.Errorf("Lookup(%q) = %s %s key %s, %t; want %s %s key %s", tt.name, e.Path, e.Table, e.KeyColumn, ok, tt.path, tt.table, tt.key)
		}
	}
	tl, _ := Lookup("transaction_lines")
	cols := map[string]Column{}
	for _, c := range tl.Columns {
		cols[c.Name] = c
	}
	for name, sql := range map[string]string{"amount_dc": "numeric", "gl_account": "uuid", "vat_code": "text", "date": "timestamptz", "id": "uuid"} {
		if cols[name].SQL != sql {
			t.Errorf("transaction_lines.%s: %+v, want type %s", name, cols[name], sql)
		}
	}
	for _, no := range []string{"division", "timestamp", "exact_timestamp", "raw", "synced_at"} {
		if _, ok := cols[no]; ok {
			t.Errorf("transaction_lines has a field column %s, which the table defines itself", no)
		}
	}
	s, _ := Lookup("suppliers")
	if s.Keep == nil || s.Keep.Field != "IsSupplier" || !s.Keep.Equals {
		t.Errorf("suppliers keep %+v, want IsSupplier = true", s.Keep)
	}
}

func TestParseRefusesBadData(t *testing.T) {
	for name, data := range map[string]string{
		"unknown type":      `[{"name":"x","table":"exact.x","path":"sync/A/X","read":"sync","key":"ID","deleted_type":1,"fields":[{"name":"ID","type":"Edm.Guid"},{"name":"Timestamp","type":"Edm.Int64"},{"name":"A","type":"Edm.Float"}]}]`,
		"key not a field":   `[{"name":"x","table":"exact.x","path":"sync/A/X","read":"sync","key":"ID","deleted_type":1,"fields":[{"name":"Timestamp","type":"Edm.Int64"}]}]`,
		"two fields as one": `[{"name":"x","table":"exact.x","path":"a/X","read":"full","key":"ID","fields":[{"name":"ID","type":"Edm.Guid"},{"name":"VATCode","type":"Edm.String"},{"name":"VatCode","type":"Edm.String"}]}]`,
		"sync without type": `[{"name":"x","table":"exact.x","path":"sync/A/X","read":"sync","key":"ID","fields":[{"name":"ID","type":"Edm.Guid"},{"name":"Timestamp","type":"Edm.Int64"}]}]`,
		"wrong table":       `[{"name":"x","table":"public.x","path":"a/X","read":"full","key":"ID","fields":[{"name":"ID","type":"Edm.Guid"}]}]`,
	} {
		if _, err := Parse([]byte(data)); err == nil || !strings.Contains(err.Error(), `entity "x"`) {
			t.Errorf("%s: Parse error = %v, want one naming the entity", name, err)
		}
	}
}

// TestWebhookTopics pins the topic of the entities named in the list of
// docs/exact-online.md §3.14 and checks that every topic of the catalogue names sync entities only.
func TestWebhookTopics(t *testing.T) {
	for topic, want := range map[string][]string{
		"Accounts":              {"accounts", "suppliers"},
		"FinancialTransactions": {"transaction_lines"},
		"SalesInvoices":         {"sales_invoices"},
		"Items":                 {"items"},
		"Contacts":              {"contacts"},
		"salesinvoices":         {"sales_invoices"},
		"TimeTransactions":      {"time_cost_transactions"},
		"NoSuchTopic":           nil,
	} {
		var got []string
		for _, e := range ForTopic(topic) {
			got = append(got, e.Name)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("ForTopic(%q) = %v, want %v", topic, got, want)
		}
	}
	for _, e := range All() {
		if len(e.WebhookTopics) > 0 && e.Read != ReadSync {
			t.Errorf("%s is read by %s but has webhook topics", e.Name, e.Read)
		}
	}
	bad := `[{"name":"x","table":"exact.x","path":"a/X","read":"full","key":"ID","webhook_topics":["X"],"fields":[{"name":"ID","type":"Edm.Guid"}]}]`
	if _, err := Parse([]byte(bad)); err == nil {
		t.Errorf("Parse accepted webhook topics on an entity read in full")
	}
}

// TestRegularEndpoints pins the regular endpoints docs/exact-online.md names for sync entities
// (§3.5, §5.3) and the rules Parse applies to them.
func TestRegularEndpoints(t *testing.T) {
	for name, want := range map[string]string{
		"accounts": "crm/Accounts", "suppliers": "crm/Accounts", "contacts": "crm/Contacts", "addresses": "crm/Addresses",
		"gl_accounts": "financial/GLAccounts", "transaction_lines": "financialtransaction/TransactionLines",
		"items": "logistics/Items", "sales_invoices": "salesinvoice/SalesInvoices", "payment_terms": "cashflow/Receivables",
		"journals": "", "sales_order_headers": "",
	} {
		if e, ok := Lookup(name); !ok || e.Regular != want {
			t.Errorf("Lookup(%q).Regular = %q, want %q", name, e.Regular, want)
		}
	}
	for _, e := range All() {
		if e.Regular != "" && e.Read != ReadSync {
			t.Errorf("%s is read by %s and has a regular endpoint %s besides its path", e.Name, e.Read, e.Regular)
		}
	}
	const x = `{"name":"x","table":"exact.x","path":"sync/A/X","read":"sync","key":"ID","deleted_type":1,"fields":[{"name":"ID","type":"Edm.Guid"},{"name":"Timestamp","type":"Edm.Int64"}]`
	for name, data := range map[string]string{
		"regular on a reference entity": `[{"name":"x","table":"exact.x","path":"a/X","regular":"b/X","read":"full","key":"ID","fields":[{"name":"ID","type":"Edm.Guid"}]}]`,
		"regular under sync/":           `[` + x + `,"regular":"sync/A/Y"}]`,
		"regular without a service":     `[` + x + `,"regular":"X"}]`,
		"regular of another entity": `[{"name":"y","table":"exact.y","path":"a/X","read":"full","key":"ID","fields":[{"name":"ID","type":"Edm.Guid"}]},` +
			x + `,"regular":"A/x"}]`,
	} {
		if _, err := Parse([]byte(data)); err == nil || !strings.Contains(err.Error(), `entity "x"`) {
			t.Errorf("%s: Parse error = %v, want one naming entity x", name, err)
		}
	}
}
