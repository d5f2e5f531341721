package exacttest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// shape is what a test reads of an answer: the envelope and the records with every
// member's JSON text.
type shape struct {
	bare  bool // {"d":[…]} rather than {"d":{"results":[…]}}
	rows  []map[string]json.RawMessage
	next  string
	count string
}

func readShape(t *testing.T, b []byte) shape {
	t.Helper()
	var env struct {
		D json.RawMessage `json:"d"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatalf("decoding %.300s: %v", b, err)
	}
	var sh shape
	if strings.HasPrefix(string(env.D), "[") {
		sh.bare = true
		if err := json.Unmarshal(env.D, &sh.rows); err != nil {
			t.Fatalf("decoding the bare array: %v", err)
		}
		return sh
	}
	var obj struct {
		Results []map[string]json.RawMessage `json:"results"`
		Next    string                       `json:"__next"`
		Count   string                       `json:"__count"`
	}
	if err := json.Unmarshal(env.D, &obj); err != nil {
		t.Fatalf("decoding d: %v: %.300s", err, env.D)
	}
	sh.rows, sh.next, sh.count = obj.Results, obj.Next, obj.Count
	return sh
}

// metadata is a record's __metadata.
type metadata struct {
	URI  string `json:"uri"`
	Type string `json:"type"`
}

func metaOf(t *testing.T, r map[string]json.RawMessage) metadata {
	t.Helper()
	var m metadata
	if err := json.Unmarshal(r["__metadata"], &m); err != nil {
		t.Fatalf("__metadata %s: %v", r["__metadata"], err)
	}
	return m
}

func stringOf(t *testing.T, raw json.RawMessage) (string, bool) {
	t.Helper()
	if string(raw) == "null" {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("%s is not a string: %v", raw, err)
	}
	return s, true
}

var (
	accountCode = regexp.MustCompile(`^ *[0-9]+$`)        // right-aligned in 18 characters
	vatCodeText = regexp.MustCompile(`^[0-9A-Z]{1,3} *$`) // left-aligned in 3 characters
	digits      = regexp.MustCompile(`^[0-9]+$`)
)

// TestRecordedExamples replays the requests of the answers recorded from Exact Online in
// 2026 that docs/exact-online.md describes (§3.2, §3.5, §3.6) and checks that the simulator
// answers in their shape: the envelope by $top, $select and $skiptoken; __next as Exact
// writes it; __metadata.type names; navigation members deferred without $select; padded
// and plain codes; Int64 as strings; ServerUtcOffset of the day; GET by key.
func TestRecordedExamples(t *testing.T) {
	june := time.Date(2026, 6, 25, 10, 0, 0, 0, time.UTC) // the recordings' day
	srv := newTestServer(t, Options{Accounts: 150, Seed: 3, Divisions: []int{101, 102}, FreezeClock: true, Start: june,
		NoMandatoryFilter: true, // the recording read crm/Accounts without a $filter (§3.9)
		Records:           map[string]int{"journals": 65, "vat_codes": 12, "transaction_lines": 150}})
	tok := newAccessTokenFor(t, srv)
	get := func(t *testing.T, path string) shape {
		t.Helper()
		resp, b := getJSON(t, srv, tok, path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %.300s", path, resp.StatusCode, b)
		}
		return readShape(t, b)
	}
	wantType := func(t *testing.T, sh shape, typ string) {
		t.Helper()
		for _, r := range sh.rows {
			if got := metaOf(t, r).Type; got != typ {
				t.Fatalf("__metadata.type %q, want %q", got, typ)
			}
		}
	}

	t.Run("journals with $top=1: bare d[], plain numeric codes", func(t *testing.T) {
		sh := get(t, "/api/v1/101/financial/Journals?$top=1")
		if !sh.bare || len(sh.rows) != 1 {
			t.Fatalf("bare %v with %d rows, want a bare d[] of 1", sh.bare, len(sh.rows))
		}
		wantType(t, sh, "Exact.Web.Api.Models.Journal")
		for _, f := range []string{"BankAccountUseSEPA", "BankAccountUseSepaDirectDebit"} {
			if _, ok := sh.rows[0][f]; !ok {
				t.Errorf("journal without %s, a field of the 2026 answers", f)
			}
		}
		if code, _ := stringOf(t, sh.rows[0]["Code"]); !digits.MatchString(code) {
			t.Errorf("journal code %q, want plain numeric text like \"90\"", code)
		}
	})
	t.Run("$select with $top<=60: bare d[] as well", func(t *testing.T) {
		if sh := get(t, "/api/v1/101/financial/Journals?$select=Code,Description&$top=60"); !sh.bare || len(sh.rows) != 60 {
			t.Errorf("bare %v with %d rows, want a bare d[] of 60", sh.bare, len(sh.rows))
		}
		if sh := get(t, "/api/v1/101/salesinvoice/SalesInvoices?$top=60"); !sh.bare {
			t.Errorf("salesinvoice/SalesInvoices?$top=60: d.results, want the rule's bare d[] (one recording differs, §3.5)")
		}
	})
	t.Run("VAT codes without $select: deferred navigation, padded codes", func(t *testing.T) {
		sh := get(t, "/api/v1/101/vat/VATCodes?$top=12")
		if !sh.bare || len(sh.rows) != 12 {
			t.Fatalf("bare %v with %d rows, want a bare d[] of 12", sh.bare, len(sh.rows))
		}
		wantType(t, sh, "Exact.Web.Api.Models.VATCode")
		for _, r := range sh.rows {
			uri := metaOf(t, r).URI
			var nav struct {
				Deferred struct {
					URI string `json:"uri"`
				} `json:"__deferred"`
			}
			if err := json.Unmarshal(r["VATPercentages"], &nav); err != nil || nav.Deferred.URI != uri+"/VATPercentages" {
				t.Errorf("VATPercentages %s, want {\"__deferred\":{\"uri\":\"%s/VATPercentages\"}}", r["VATPercentages"], uri)
			}
			if code, _ := stringOf(t, r["Code"]); len(code) != 3 || !vatCodeText.MatchString(code) {
				t.Errorf("VAT code %q, want 3 characters padded on the right, like \"VB \"", code)
			}
			if code, ok := stringOf(t, r["AccountCode"]); ok && (len(code) != 18 || !accountCode.MatchString(code)) {
				t.Errorf("VAT code's AccountCode %q, want 18 characters padded on the left", code)
			}
			if _, ok := r["Country"]; !ok {
				t.Errorf("VAT code without Country, a field of the 2026 answers")
			}
		}
		if sh := get(t, "/api/v1/101/vat/VATCodes?$select=Code&$top=1"); sh.rows[0]["VATPercentages"] != nil {
			t.Errorf("VATPercentages served although $select does not name it")
		}
	})
	var next string
	t.Run("accounts with $skip=0&$top=100: d.results and __next as Exact writes it", func(t *testing.T) {
		sh := get(t, "/api/v1/101/crm/Accounts?$select=ID,Code,Name&$orderby=Name&$skip=0&$top=100")
		if sh.bare || len(sh.rows) != 60 || sh.next == "" {
			t.Fatalf("bare %v, %d rows, __next %q; want d.results of 60 with a __next", sh.bare, len(sh.rows), sh.next)
		}
		wantType(t, sh, "Exact.Web.Api.Models.Account")
		for _, r := range sh.rows {
			if code, _ := stringOf(t, r["Code"]); len(code) != 18 || !accountCode.MatchString(code) {
				t.Errorf("account code %q, want 18 characters padded on the left", code)
			}
		}
		u, err := url.Parse(sh.next)
		if err != nil || !u.IsAbs() || u.Path != "/api/v1/101/crm/Accounts" {
			t.Fatalf("__next %q, want an absolute URL of the endpoint", sh.next)
		}
		q := u.Query()
		for k, want := range map[string]string{"$select": "ID,Code,Name", "$orderby": "Name", "$top": "40"} {
			if q.Get(k) != want {
				t.Errorf("__next %s=%q, want %q", k, q.Get(k), want)
			}
		}
		if _, ok := q["$skip"]; ok || q.Get("$skiptoken") == "" {
			t.Errorf("__next %q keeps $skip or lacks $skiptoken", sh.next)
		}
		next = sh.next
	})
	t.Run("the continuation page: d.results, the rest of $top", func(t *testing.T) {
		if next == "" {
			t.Skip("no __next")
		}
		sh := get(t, next)
		if sh.bare || len(sh.rows) != 40 || sh.next != "" {
			t.Errorf("bare %v, %d rows, __next %q; want d.results of the 40 left, no __next", sh.bare, len(sh.rows), sh.next)
		}
	})
	t.Run("a datetime skiptoken: ':' escaped, fraction trimmed", func(t *testing.T) {
		sh := get(t, "/api/v1/101/financialtransaction/TransactionLines?$select=ID,Modified,AccountCode,GLAccountCode&$orderby=Modified")
		wantType(t, sh, "Exact.Web.Api.Models.Financial.TransactionLine")
		tok := regexp.MustCompile(`\$skiptoken=datetime'\d{4}-\d\d-\d\dT\d\d%3A\d\d%3A\d\d(\.\d{0,2}[1-9])?',guid'[0-9a-f-]{36}'$`)
		if !tok.MatchString(sh.next) {
			t.Errorf("__next %q, want $skiptoken=datetime'yyyy-mm-ddThh%%3Amm%%3Ass[.fff without trailing zeros]',guid'…'", sh.next)
		}
		for _, r := range sh.rows {
			if code, ok := stringOf(t, r["AccountCode"]); ok && (len(code) != 18 || !accountCode.MatchString(code)) {
				t.Errorf("transaction line's AccountCode %q, want 18 characters padded on the left", code)
			}
			if code, ok := stringOf(t, r["GLAccountCode"]); ok && !digits.MatchString(code) {
				t.Errorf("transaction line's GLAccountCode %q, want plain numeric text", code)
			}
		}
		if sh := get(t, sh.next); len(sh.rows) == 0 {
			t.Errorf("the page after the datetime skiptoken is empty")
		}
	})
	t.Run("GL accounts and items", func(t *testing.T) {
		sh := get(t, "/api/v1/101/financial/GLAccounts?$top=5")
		wantType(t, sh, "Exact.Web.Api.Models.GLAccount")
		for _, r := range sh.rows {
			if code, _ := stringOf(t, r["Code"]); !digits.MatchString(code) {
				t.Errorf("GL account code %q, want plain numeric text like \"101000\"", code)
			}
		}
		wantType(t, get(t, "/api/v1/101/logistics/Items?$filter=ID%20ne%20null&$top=5"), "Exact.Web.Api.Models.Item")
	})
	t.Run("system/Divisions with $top=100: d.results", func(t *testing.T) {
		sh := get(t, "/api/v1/101/system/Divisions?$top=100")
		if sh.bare || len(sh.rows) != 2 {
			t.Fatalf("bare %v with %d rows, want d.results of both divisions", sh.bare, len(sh.rows))
		}
		wantType(t, sh, "Exact.Web.Api.Models.System.Division")
		for _, r := range sh.rows {
			if code, ok := stringOf(t, r["CustomerCode"]); ok && (len(code) != 18 || !accountCode.MatchString(code)) {
				t.Errorf("division's CustomerCode %q, want 18 characters padded on the left", code)
			}
			if hid, ok := stringOf(t, r["Hid"]); !ok || !digits.MatchString(hid) {
				t.Errorf("Hid %s, want an Int64 as a JSON string", r["Hid"])
			}
		}
	})
	t.Run("current/Me in June", func(t *testing.T) {
		sh := get(t, "/api/v1/current/Me")
		if sh.bare || len(sh.rows) != 1 {
			t.Fatalf("bare %v with %d rows, want d.results of one", sh.bare, len(sh.rows))
		}
		wantType(t, sh, "Exact.Web.Api.Models.System.Me")
		if got := string(sh.rows[0]["ServerUtcOffset"]); got != "7200" {
			t.Errorf("ServerUtcOffset %s in June, want 7200 (Amsterdam's summer time)", got)
		}
		if _, ok := stringOf(t, sh.rows[0]["Legislation"]); !ok {
			t.Errorf("Legislation %s, want a string", sh.rows[0]["Legislation"])
		}
	})
	t.Run("GET by key answers {\"d\":{…}}", func(t *testing.T) {
		row := get(t, "/api/v1/101/financial/Journals?$top=1").rows[0]
		uri := metaOf(t, row).URI
		resp, b := getJSON(t, srv, tok, uri)
		var env struct {
			D map[string]json.RawMessage `json:"d"`
		}
		if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &env) != nil || env.D == nil {
			t.Fatalf("GET %s: %d %.300s, want {\"d\":{…}}", uri, resp.StatusCode, b)
		}
		if got := metaOf(t, env.D).URI; got != uri {
			t.Errorf("__metadata.uri %q, want the URL asked, %q", got, uri)
		}
		for k, v := range row {
			if string(env.D[k]) != string(v) {
				t.Errorf("%s: by key %s, in the collection %s", k, env.D[k], v)
			}
		}
	})
}

// TestQueryOptions checks $skip, $count and the refusals of options Exact does not take:
// $skip pages regular endpoints and is refused on bulk and sync endpoints (§3.6, §3.7);
// /$count answers plain text (§3.16); an unknown $-option is a 400 with WCF's text (§3.16);
// a malformed key is a 400, an unknown one a 404, and a path that is no endpoint a 404, all
// in the JSON error envelope (§4.1).
func TestQueryOptions(t *testing.T) {
	srv := newTestServer(t, Options{Accounts: 10, Seed: 5, Divisions: []int{101}, FreezeClock: true,
		Records: map[string]int{"*": 3, "journals": 65}})
	tok := newAccessTokenFor(t, srv)
	ids := func(path string) []string {
		t.Helper()
		resp, b := getJSON(t, srv, tok, path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		var out []string
		for _, r := range readShape(t, b).rows {
			out = append(out, string(r["ID"]))
		}
		return out
	}
	all := append(ids("/api/v1/101/financial/Journals?$select=ID"), ids("/api/v1/101/financial/Journals?$select=ID&$skip=60")...)
	if len(all) != 65 {
		t.Fatalf("two pages by $skip: %d journals, want 65", len(all))
	}
	if got := ids("/api/v1/101/financial/Journals?$select=ID&$skip=3&$top=2"); strings.Join(got, ",") != strings.Join(all[3:5], ",") {
		t.Errorf("$skip=3&$top=2 gave %v, want the 4th and 5th: %v", got, all[3:5])
	}
	sorted := ids("/api/v1/101/financial/Journals?$select=ID&$orderby=Code%20desc&$top=10")
	if got := ids("/api/v1/101/financial/Journals?$select=ID&$orderby=Code%20desc&$skip=4&$top=3"); strings.Join(got, ",") != strings.Join(sorted[4:7], ",") {
		t.Errorf("sorted $skip=4&$top=3 gave %v, want %v", got, sorted[4:7])
	}

	for _, tt := range []struct {
		name, path string
		status     int
		message    string // the error's message, or the plain body
	}{
		{"$skip on a sync endpoint", "/api/v1/101/sync/Financial/TransactionLines?$select=ID&$filter=Timestamp%20gt%200L&$skip=1", 400, msgSkipRefused},
		{"$skip on a bulk endpoint", "/api/v1/101/bulk/CRM/Accounts?$select=ID&$filter=IsSupplier%20eq%20true&$skip=1", 400, msgSkipRefused},
		{"negative $skip", "/api/v1/101/financial/Journals?$skip=-1", 400, "Bad Request - Error in query syntax."},
		{"$count=true", "/api/v1/101/financial/Journals?$count=true", 400, "The query parameter '$count' begins with a system-reserved '$' character but is not recognized."},
		{"/$count", "/api/v1/101/financial/Journals/$count", 200, "65"},
		{"/$count with a $filter", "/api/v1/101/financial/Journals/$count?$filter=Code%20eq%20'10'", 200, "1"},
		{"/$count under mandatory filtering", "/api/v1/101/crm/Accounts/$count", 400, msgMandatory + accountsEntity.filterFields() + "."},
		{"malformed key", "/api/v1/101/financial/Journals(guid'nope')", 400, "Bad Request - Error in query syntax."},
		{"unknown key", "/api/v1/101/financial/Journals(guid'00000000-0000-4000-8000-000000000000')", 404, "Resource not found for the segment 'Journals'."},
		{"unknown sync key", "/api/v1/101/sync/Financial/TransactionLines(999999L)", 404, "Resource not found for the segment 'TransactionLines'."},
		{"unknown endpoint", "/api/v1/101/nope/Things", 404, "Resource not found for the segment 'Things'."},
		{"no division", "/api/v1/crm/Accounts", 404, "Resource not found for the segment 'Accounts'."},
		{"not the API", "/api/v2/101/crm/Accounts", 404, "Resource not found for the segment 'Accounts'."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := getJSON(t, srv, tok, tt.path)
			if resp.StatusCode != tt.status {
				t.Fatalf("got %d %s, want %d", resp.StatusCode, b, tt.status)
			}
			got := string(b)
			if tt.status >= 400 {
				if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
					t.Errorf("Content-Type %q, want JSON", ct)
				}
				got = errorMessage(t, b)
			}
			if got != tt.message {
				t.Errorf("got %q, want %q", got, tt.message)
			}
		})
	}

	// GET by key of every kind of endpoint: the record's __metadata.uri gives it back.
	for _, path := range []string{
		"/api/v1/101/sync/Financial/TransactionLines?$select=ID,AmountDC,Timestamp&$filter=Timestamp%20gt%200L",
		"/api/v1/101/sync/Deleted?$select=ID,EntityKey,Timestamp&$filter=Timestamp%20gt%200L",
		"/api/v1/101/bulk/CRM/Accounts?$select=ID,Code&$filter=IsSupplier%20eq%20true",
		"/api/v1/101/system/Divisions?$select=Code,Description",
		"/api/v1/101/financialtransaction/TransactionLines?$select=ID,AmountDC",
	} {
		resp, b := getJSON(t, srv, tok, path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		rows := readShape(t, b).rows
		if len(rows) == 0 {
			t.Fatalf("GET %s: no rows", path)
		}
		u, _ := url.Parse(path)
		uri := metaOf(t, rows[0]).URI + "?$select=" + url.QueryEscape(u.Query().Get("$select"))
		resp, b = getJSON(t, srv, tok, uri)
		var env struct {
			D map[string]json.RawMessage `json:"d"`
		}
		if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &env) != nil {
			t.Fatalf("GET %s: %d %.200s", uri, resp.StatusCode, b)
		}
		for k, v := range rows[0] {
			if string(env.D[k]) != string(v) {
				t.Errorf("GET %s: %s is %s, the collection served %s", uri, k, env.D[k], v)
			}
		}
	}
	// By key in XML: an Atom entry that declares its namespaces.
	resp, b := get(t, srv, tok, "/api/v1/101/system/Divisions(101)", "application/atom+xml")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `<entry xmlns="http://www.w3.org/2005/Atom"`) {
		t.Errorf("Divisions(101) as XML: %d %.300s, want an Atom entry", resp.StatusCode, b)
	}
}

// TestServerUtcOffsetFollowsTheDay: current/Me's ServerUtcOffset is Amsterdam's offset on the
// simulated day (§3.5): 3600 in winter, 7200 in summer, changing with the clocks.
func TestServerUtcOffsetFollowsTheDay(t *testing.T) {
	for _, tt := range []struct {
		at   time.Time
		want string
	}{
		{time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC), "3600"},
		{time.Date(2026, 3, 29, 0, 59, 59, 0, time.UTC), "3600"}, // a second before the spring change
		{time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC), "7200"},
		{time.Date(2026, 10, 25, 1, 0, 0, 0, time.UTC), "3600"}, // the autumn change
	} {
		srv := newTestServer(t, Options{Start: tt.at, FreezeClock: true})
		resp, b := getJSON(t, srv, newAccessTokenFor(t, srv), "/api/v1/current/Me")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", tt.at, resp.StatusCode, b)
		}
		if got := string(readShape(t, b).rows[0]["ServerUtcOffset"]); got != tt.want {
			t.Errorf("at %s: ServerUtcOffset %s, want %s", tt.at, got, tt.want)
		}
	}
}
