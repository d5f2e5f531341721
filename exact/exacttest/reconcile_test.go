package exacttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/exactsync/exactsync/exact"
	"github.com/google/go-cmp/cmp"
)

// The reconciliation endpoints of §3.16, read as exactsync's client decodes them (exact.DecodePage).

// reconcileOptions: a frozen clock, and small tables but for the transaction lines.
func reconcileOptions(lines int) Options {
	return Options{Seed: 7, Divisions: []int{101, 102}, FreezeClock: true, Accounts: 150,
		Records: map[string]int{"*": 0, "transaction_lines": lines, "gl_accounts": 25, "costcenters": 6, "costunits": 4}}
}

// fetchPages GETs path and every page its __next leads to, decoding each with exact.DecodePage;
// it checks that no page holds more than pageMax rows and that each __next matches next.
func fetchPages(t *testing.T, srv *Server, tok, path string, pageMax int, next *regexp.Regexp) (recs []exact.Record, count int64, calls int) {
	t.Helper()
	count = -1
	for u := path; u != ""; {
		resp, b := getJSON(t, srv, tok, u)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: got status %d body %.300s, want 200", u, resp.StatusCode, b)
		}
		calls++
		p, err := exact.DecodePage("test", b)
		if err != nil {
			t.Fatalf("decoding %s: %v", u, err)
		}
		for _, r := range p.Records {
			if r.Err() != nil {
				t.Fatalf("record of %s: %v", u, r.Err())
			}
		}
		if len(p.Records) > pageMax {
			t.Errorf("page %d of %s: got %d rows, want at most %d", calls, path, len(p.Records), pageMax)
		}
		if p.Next != "" && !next.MatchString(p.Next) {
			t.Fatalf("got __next %q, want it to match %s", p.Next, next)
		}
		if calls == 1 {
			count = p.Count
		}
		recs = append(recs, p.Records...)
		u = p.Next
		if calls > 10000 {
			t.Fatal("more than 10,000 pages: __next loops")
		}
	}
	return recs, count, calls
}

// simRecords reads GET /_sim/records, numbers kept as their text.
func simRecords(t *testing.T, srv *Server, entity string, division int) []map[string]any {
	t.Helper()
	resp, err := http.Get(srv.URL + "/_sim/records?entity=" + entity + "&division=" + strconv.Itoa(division))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	var out []map[string]any
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("decoding /_sim/records of %s: %v", entity, err)
	}
	return out
}

// balance is one group of §3.16's mapping, as the test computes it or the API serves it.
type balance struct {
	Count                                      int64
	Amount, Debit, Credit                      string // exact decimals, as big.Rat's RatString
	GLCode, GLDescription, BalanceType         string
	CostCenterDescription, CostUnitDescription string
}

// keyPart renders a member for a group key: "null", or the value's text.
func keyPart(v any) string {
	if v == nil {
		return "null"
	}
	return fmt.Sprint(v)
}

func ratOf(t *testing.T, text string) *big.Rat {
	t.Helper()
	r, ok := new(big.Rat).SetString(text)
	if !ok {
		t.Fatalf("not a decimal: %q", text)
	}
	return r
}

// groupLines groups /_sim/records' transaction lines as §3.16 maps them onto
// ReportingBalance, with big.Rat: the simulator's grouping re-done independently.
func groupLines(t *testing.T, srv *Server, division int, keep func(line map[string]any) bool) map[string]balance {
	t.Helper()
	gls := map[string]map[string]any{}
	for _, g := range simRecords(t, srv, "gl_accounts", division) {
		gls[g["ID"].(string)] = g
	}
	descs := func(entity string) map[string]string {
		m := map[string]string{}
		for _, r := range simRecords(t, srv, entity, division) {
			code, ok1 := r["Code"].(string)
			desc, ok2 := r["Description"].(string)
			if _, seen := m[code]; ok1 && ok2 && !seen {
				m[code] = desc
			}
		}
		return m
	}
	cc, cu := descs("costcenters"), descs("costunits")
	type sums struct {
		b                     balance
		amount, debit, credit *big.Rat
	}
	groups := map[string]*sums{}
	for _, l := range simRecords(t, srv, "transaction_lines", division) {
		if keep != nil && !keep(l) {
			continue
		}
		key := strings.Join([]string{keyPart(l["FinancialYear"]), keyPart(l["FinancialPeriod"]), keyPart(l["GLAccount"]),
			keyPart(l["CostCenter"]), keyPart(l["CostUnit"]), keyPart(l["Type"]), keyPart(l["Status"])}, "|")
		g := groups[key]
		if g == nil {
			g = &sums{amount: new(big.Rat), debit: new(big.Rat), credit: new(big.Rat)}
			if id, ok := l["GLAccount"].(string); ok && gls[id] != nil {
				g.b.GLCode, _ = gls[id]["Code"].(string)
				g.b.GLDescription, _ = gls[id]["Description"].(string)
				g.b.BalanceType, _ = gls[id]["BalanceType"].(string)
			}
			if c, ok := l["CostCenter"].(string); ok {
				g.b.CostCenterDescription = cc[c]
			}
			if c, ok := l["CostUnit"].(string); ok {
				g.b.CostUnitDescription = cu[c]
			}
			groups[key] = g
		}
		g.b.Count++
		if n, ok := l["AmountDC"].(json.Number); ok {
			v := ratOf(t, n.String())
			g.amount.Add(g.amount, v)
			if v.Sign() < 0 {
				g.credit.Sub(g.credit, v)
			} else {
				g.debit.Add(g.debit, v)
			}
		}
	}
	out := make(map[string]balance, len(groups))
	for k, g := range groups {
		g.b.Amount, g.b.Debit, g.b.Credit = g.amount.RatString(), g.debit.RatString(), g.credit.RatString()
		out[k] = g.b
	}
	return out
}

// servedBalances decodes ReportingBalance rows into the test's groups, checking each row's
// Division and that no key comes twice.
func servedBalances(t *testing.T, recs []exact.Record, division int) map[string]balance {
	t.Helper()
	out := map[string]balance{}
	ids := map[int64]bool{}
	for _, r := range recs {
		intPart := func(name string) string {
			n, ok, err := exact.Int64(r.Field(name))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if !ok {
				return "null"
			}
			return strconv.FormatInt(n, 10)
		}
		strPart := func(name string) (string, bool) {
			s, ok, err := exact.String(r.Field(name))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return s, ok
		}
		keyStr := func(name string) string {
			if s, ok := strPart(name); ok {
				return s
			}
			return "null"
		}
		dec := func(name string) string {
			s, ok, err := exact.Decimal(r.Field(name))
			if err != nil || !ok {
				t.Fatalf("%s: got %s (%v), want a decimal", name, r.Field(name), err)
			}
			return ratOf(t, s).RatString()
		}
		id, ok, err := exact.Int64(r.Field("ID"))
		if err != nil || !ok || ids[id] {
			t.Fatalf("ID %s: want a unique Int64 (err %v)", r.Field("ID"), err)
		}
		ids[id] = true
		if d := intPart("Division"); d != strconv.Itoa(division) {
			t.Errorf("Division: got %s, want %d", d, division)
		}
		key := strings.Join([]string{intPart("ReportingYear"), intPart("ReportingPeriod"), keyStr("GLAccount"),
			keyStr("CostCenterCode"), keyStr("CostUnitCode"), intPart("Type"), intPart("Status")}, "|")
		if _, dup := out[key]; dup {
			t.Errorf("group %s served twice", key)
		}
		count, _, _ := exact.Int64(r.Field("Count"))
		b := balance{Count: count, Amount: dec("Amount"), Debit: dec("AmountDebit"), Credit: dec("AmountCredit")}
		b.GLCode, _ = strPart("GLAccountCode")
		b.GLDescription, _ = strPart("GLAccountDescription")
		b.BalanceType, _ = strPart("BalanceType")
		b.CostCenterDescription, _ = strPart("CostCenterDescription")
		b.CostUnitDescription, _ = strPart("CostUnitDescription")
		out[key] = b
	}
	return out
}

var balanceNext = regexp.MustCompile(`^http://127\.0\.0\.1:\d+/api/v1/\d+/financial/ReportingBalance\?.*\$skiptoken=\d+L$`)

// TestReportingBalanceEqualsGroupedRecords pages financial/ReportingBalance with exactsync's
// decoder and compares every group with the simulator's truth (/_sim/records) grouped as
// §3.16 maps it, with exact decimals: before and after changes that put several lines, with
// amounts a float64 would round, in one group, a deletion, a change without a new Timestamp
// and a line hidden from the sync endpoint; per year with $filter; and every division.
func TestReportingBalanceEqualsGroupedRecords(t *testing.T) {
	srv := newTestServer(t, reconcileOptions(900))
	tok := newAccessTokenFor(t, srv)
	const sel = "$select=ID,Amount,AmountCredit,AmountDebit,BalanceType,CostCenterCode,CostCenterDescription,CostUnitCode," +
		"CostUnitDescription,Count,Division,GLAccount,GLAccountCode,GLAccountDescription,ReportingPeriod,ReportingYear,Status,Type"
	check := func(t *testing.T, division int, filter string, keep func(map[string]any) bool) int {
		t.Helper()
		path := "/api/v1/" + strconv.Itoa(division) + "/financial/ReportingBalance?" + sel + "&$inlinecount=allpages"
		if filter != "" {
			path += "&$filter=" + url.PathEscape(filter)
		}
		recs, count, _ := fetchPages(t, srv, tok, path, 60, balanceNext)
		got := servedBalances(t, recs, division)
		want := groupLines(t, srv, division, keep)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ReportingBalance of %d %s (-grouped /_sim/records +served):\n%s", division, filter, diff)
		}
		if count != int64(len(want)) {
			t.Errorf("__count: got %d, want %d groups", count, len(want))
		}
		if len(want) < 61 {
			t.Fatalf("only %d groups: the test wants more than one page", len(want))
		}
		return len(want)
	}
	check(t, 101, "", nil)

	// Several lines in one group, amounts whose float64 sum is not exact.
	lines := simRecords(t, srv, "transaction_lines", 101)
	var upserts []map[string]any
	for i, l := range lines[:12] {
		for j, amount := range []string{"0.1", "0.2", "-0.30000000000000004", "1E-05", "9007199254740993", "-2.5e+3", "123456789012345678.91"} {
			if (i+j)%3 == 0 {
				continue
			}
			upserts = append(upserts, map[string]any{"FinancialYear": l["FinancialYear"], "FinancialPeriod": l["FinancialPeriod"],
				"GLAccount": l["GLAccount"], "CostCenter": l["CostCenter"], "CostUnit": l["CostUnit"], "Type": l["Type"],
				"Status": l["Status"], "AmountDC": json.Number(amount)})
		}
	}
	if _, err := srv.UpsertRecords("transaction_lines", 101, upserts...); err != nil {
		t.Fatal(err)
	}
	if err := srv.DeleteRecords("transaction_lines", 101, lines[20]["ID"].(string), lines[21]["ID"].(string)); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.PlantDrift("transaction_lines", 101, Drift{
		SilentChanges:  []map[string]any{{"ID": lines[30]["ID"], "AmountDC": json.Number("-0.07")}},
		Hidden:         []map[string]any{{"FinancialYear": 2025, "FinancialPeriod": 3, "AmountDC": json.Number("42.42"), "Type": 20, "Status": 50}},
		DeleteUnlogged: []string{lines[40]["ID"].(string)},
	}); err != nil {
		t.Fatal(err)
	}
	all := check(t, 101, "", nil)
	year := check(t, 101, "ReportingYear eq 2025", func(l map[string]any) bool { return keyPart(l["FinancialYear"]) == "2025" })
	if year >= all {
		t.Errorf("the year 2025 has %d of %d groups: the filter selected nothing", year, all)
	}
	check(t, 102, "", nil)
}

// TestReportingBalanceQueries pins the query rules of financial/ReportingBalance (§3.16).
func TestReportingBalanceQueries(t *testing.T) {
	srv := newTestServer(t, reconcileOptions(200))
	tok := newAccessTokenFor(t, srv)
	const base = "/api/v1/101/financial/ReportingBalance"
	recs, _, _ := fetchPages(t, srv, tok, base+"?$select=ID", 60, balanceNext)
	ids := make([]int64, len(recs))
	for i, r := range recs {
		ids[i], _, _ = exact.Int64(r.Field("ID"))
		if i > 0 && ids[i] <= ids[i-1] {
			t.Fatalf("IDs not ascending: %d after %d", ids[i], ids[i-1])
		}
	}
	tests := []struct {
		name      string
		path      string
		status    int
		message   string
		rows      int
		bare      bool
		firstID   int64
		wantCount int64
	}{
		{name: "no $select", path: base, status: 400, message: msgSelectRequired},
		{name: "$top=1 without $select", path: base + "?$top=1", status: 200, rows: 1, bare: true, firstID: ids[0], wantCount: -1},
		{name: "a page of 60", path: base + "?$select=ID,Amount", status: 200, rows: 60, firstID: ids[0], wantCount: -1},
		{name: "$top=5 bare", path: base + "?$select=ID&$top=5", status: 200, rows: 5, bare: true, firstID: ids[0], wantCount: -1},
		{name: "$skiptoken continues after the ID", path: base + "?$select=ID&$skiptoken=" + strconv.FormatInt(ids[59], 10) + "L",
			status: 200, rows: min(60, len(ids)-60), firstID: ids[60], wantCount: -1},
		{name: "$top=0 with $inlinecount", path: base + "?$select=ID&$top=0&$inlinecount=allpages", status: 200, rows: 0, wantCount: int64(len(ids))},
		{name: "filter on a member", path: base + "?$select=ID&$filter=ID%20eq%20" + strconv.FormatInt(ids[7], 10) + "L", status: 200, rows: 1, firstID: ids[7], wantCount: -1},
		{name: "bad $skiptoken", path: base + "?$select=ID&$skiptoken=guid'x'", status: 400, message: errQuerySyntax.Error()},
		{name: "$orderby refused", path: base + "?$select=ID&$orderby=Amount", status: 400, message: "The query parameter '$orderby' is not supported on financial/ReportingBalance."},
		{name: "unknown member", path: base + "?$select=Nope", status: 400, message: "No property 'Nope' exists in type 'Exact.Web.Api.Models.ReportingBalance'."},
		{name: "$count=true", path: base + "?$select=ID&$count=true", status: 400, message: "The query parameter '$count' begins with a system-reserved '$' character but is not recognized."},
		{name: "case-insensitive service", path: "/api/v1/101/Financial/reportingbalance?$select=ID&$top=2", status: 200, rows: 2, bare: true, firstID: ids[0], wantCount: -1},
		{name: "no by-key read", path: base + "(12L)", status: 404, message: "Resource not found for the segment 'ReportingBalance'."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := getJSON(t, srv, tok, tt.path)
			if resp.StatusCode != tt.status {
				t.Fatalf("got status %d body %.300s, want %d", resp.StatusCode, b, tt.status)
			}
			if tt.message != "" {
				if got := errorMessage(t, b); got != tt.message {
					t.Errorf("got message %q, want %q", got, tt.message)
				}
				return
			}
			if got := bytes.HasPrefix(b, []byte(`{"d":[`)); got != tt.bare {
				t.Errorf("bare envelope: got %v, want %v: %.80s", got, tt.bare, b)
			}
			p, err := exact.DecodePage("financial/ReportingBalance", b)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Records) != tt.rows {
				t.Fatalf("got %d rows, want %d", len(p.Records), tt.rows)
			}
			if p.Count != tt.wantCount {
				t.Errorf("got __count %d, want %d", p.Count, tt.wantCount)
			}
			if tt.rows > 0 {
				if id, _, _ := exact.Int64(p.Records[0].Field("ID")); id != tt.firstID {
					t.Errorf("got first ID %d, want %d", id, tt.firstID)
				}
				if !bytes.HasPrefix(p.Records[0].Field("ID"), []byte(`"`)) {
					t.Errorf("ID %s: want a JSON string (§3.16)", p.Records[0].Field("ID"))
				}
			}
		})
	}
	// Without Accept: application/json, an Atom feed (§3.4), ID as its text.
	resp, b := get(t, srv, tok, base+"?$select=ID,Amount&$top=1", "")
	if resp.StatusCode != 200 || !bytes.Contains(b, []byte(`<d:ID m:type="Edm.Int64">`+strconv.FormatInt(ids[0], 10)+`</d:ID>`)) {
		t.Errorf("XML: got %d %.400s, want a feed with the first ID", resp.StatusCode, b)
	}
	if st := srv.Stats(); st.Calls(101, "financial/ReportingBalance") == 0 {
		t.Errorf("calls of financial/ReportingBalance not counted under their endpoint: %v", st.APICalls)
	}
}

// TestCountsHonourTheFilter: /$count and $inlinecount=allpages count the population the
// $filter selects (§3.16), on crm/Accounts (IsSupplier eq true, the suppliers' table) and on
// a regular endpoint of the catalogue, read with exactsync's decoder; a record hidden from the
// sync endpoint is counted; sync and bulk endpoints have no /$count (UNCONFIRMED, 404).
func TestCountsHonourTheFilter(t *testing.T) {
	srv := newTestServer(t, reconcileOptions(300))
	tok := newAccessTokenFor(t, srv)
	suppliers := 0
	for _, a := range srv.Accounts(101) {
		if a.IsSupplier {
			suppliers++
		}
	}
	lines := simRecords(t, srv, "transaction_lines", 101)
	in2025 := 0
	for _, l := range lines {
		if keyPart(l["FinancialYear"]) == "2025" {
			in2025++
		}
	}
	if suppliers == 0 || suppliers == 150 || in2025 == 0 || in2025 == len(lines) {
		t.Fatalf("the data cannot tell a filter from none: %d suppliers of 150, %d of %d lines in 2025", suppliers, in2025, len(lines))
	}
	check := func(t *testing.T, path string, want int) {
		t.Helper()
		resp, b := get(t, srv, tok, path, "") // no Accept for /$count (§3.4)
		if resp.StatusCode != 200 || string(b) != strconv.Itoa(want) {
			t.Errorf("GET %s: got %d %q, want 200 %q", path, resp.StatusCode, b, strconv.Itoa(want))
		}
	}
	inline := func(t *testing.T, path string, want int) {
		t.Helper()
		resp, b := getJSON(t, srv, tok, path)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: got %d %.200s", path, resp.StatusCode, b)
		}
		p, err := exact.DecodePage("test", b)
		if err != nil {
			t.Fatal(err)
		}
		if p.Count != int64(want) {
			t.Errorf("GET %s: got __count %d, want %d", path, p.Count, want)
		}
	}
	const tl = "/api/v1/101/financialtransaction/TransactionLines"
	cases := []struct {
		name  string
		path  string
		want  int
		count bool // /$count, else $inlinecount
	}{
		{"suppliers /$count", "/api/v1/101/crm/Accounts/$count?$filter=IsSupplier%20eq%20true", suppliers, true},
		{"accounts /$count", "/api/v1/101/crm/Accounts/$count?$filter=IsSupplier%20eq%20true%20or%20IsSupplier%20eq%20false", 150, true},
		{"suppliers $inlinecount", "/api/v1/101/crm/Accounts?$filter=IsSupplier%20eq%20true&$select=ID&$inlinecount=allpages", suppliers, false},
		{"suppliers $top=0 $inlinecount", "/api/v1/101/crm/Accounts?$filter=IsSupplier%20eq%20true&$top=0&$inlinecount=allpages", suppliers, false},
		{"lines /$count", tl + "/$count", len(lines), true},
		{"lines of a year /$count", tl + "/$count?$filter=FinancialYear%20eq%202025", in2025, true},
		{"lines of a year $inlinecount", tl + "?$filter=FinancialYear%20eq%202025&$select=ID&$inlinecount=allpages", in2025, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.count {
				check(t, c.path, c.want)
			} else {
				inline(t, c.path, c.want)
			}
		})
	}
	// A hidden line counts, though the sync endpoint never serves it.
	if _, err := srv.PlantDrift("transaction_lines", 101, Drift{Hidden: []map[string]any{{"FinancialYear": 2025, "AmountDC": 1}}}); err != nil {
		t.Fatal(err)
	}
	check(t, tl+"/$count?$filter=FinancialYear%20eq%202025", in2025+1)
	syncRecs, _, _ := fetchPages(t, srv, tok, "/api/v1/101/sync/Financial/TransactionLines?$filter=Timestamp%20gt%200L&$select=ID", 1000, regexp.MustCompile(`L$`))
	if len(syncRecs) != len(lines) {
		t.Errorf("sync endpoint: got %d lines, want %d (the hidden one left out)", len(syncRecs), len(lines))
	}
	for _, p := range []string{"/api/v1/101/sync/Financial/TransactionLines/$count", "/api/v1/101/bulk/Financial/TransactionLines/$count"} {
		if resp, b := get(t, srv, tok, p, ""); resp.StatusCode != 404 {
			t.Errorf("GET %s: got %d %s, want 404 (UNCONFIRMED, §3.16)", p, resp.StatusCode, b)
		}
	}
}
