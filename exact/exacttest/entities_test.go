package exacttest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/exactsync/exactsync/exact/catalogue"
	"github.com/google/go-cmp/cmp"
)

// entityOptions are deterministic options for tests of the catalogue's entities: every entity
// generated, one division, no limits, a frozen clock.
func entityOptions(records map[string]int) Options {
	return Options{Accounts: 30, Seed: 1, Divisions: []int{101}, FreezeClock: true, Records: records}
}

// decodeRaw decodes a page keeping every value's JSON text.
func decodeRaw(t testing.TB, b []byte) ([]map[string]json.RawMessage, string) {
	t.Helper()
	var bare struct {
		D []map[string]json.RawMessage `json:"d"`
	}
	if err := json.Unmarshal(b, &bare); err == nil && bare.D != nil {
		return bare.D, "" // the bare envelope of §3.5: a page of at most $top ≤ 60 rows
	}
	var p struct {
		D struct {
			Results []map[string]json.RawMessage `json:"results"`
			Next    string                       `json:"__next"`
		} `json:"d"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("decoding page: %v: %.300s", err, b)
	}
	return p.D.Results, p.D.Next
}

// pageRaw follows __next from path and returns every record served.
func pageRaw(t testing.TB, srv *Server, tok, path string) [][]map[string]json.RawMessage {
	t.Helper()
	var pages [][]map[string]json.RawMessage
	for next := path; next != ""; {
		resp, b := getJSON(t, srv, tok, next)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: got %d %s", next, resp.StatusCode, b)
		}
		var recs []map[string]json.RawMessage
		recs, next = decodeRaw(t, b)
		pages = append(pages, recs)
		if len(pages) > 10000 {
			t.Fatal("more than 10,000 pages")
		}
	}
	return pages
}

// truth returns srv.Records decoded, by key.
func truth(t testing.TB, srv *Server, entity string, division int) map[string]map[string]json.RawMessage {
	t.Helper()
	recs, err := srv.Records(entity, division)
	if err != nil {
		t.Fatalf("Records(%s): %v", entity, err)
	}
	e := entitiesByName[entity]
	out := map[string]map[string]json.RawMessage{}
	for _, raw := range recs {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("Records(%s): %v: %s", entity, err, raw)
		}
		out[string(m[e.fields[e.idField].name])] = m
	}
	return out
}

// scalarNames lists an entity's scalar fields the endpoint serves.
func scalarNames(e *entity, kind endpointKind) string {
	var names []string
	for _, i := range must(parseSelect(e, "", kind)) {
		if e.fields[i].typ.scalar() {
			names = append(names, e.fields[i].name)
		}
	}
	return strings.Join(names, ",")
}

func must(sel []int, msg string) []int {
	if msg != "" {
		panic(msg)
	}
	return sel
}

// endpointOf is the path serving e's records, with the query every record needs.
func endpointOf(e *entity) (string, endpointKind) {
	if e.sync != "" {
		return "/api/v1/101/" + e.sync + "?$filter=Timestamp%20gt%200L&$select=" + scalarNames(e, kindSync), kindSync
	}
	return "/api/v1/101/" + e.regular + "?$select=" + scalarNames(e, kindRegular), kindRegular
}

func TestEveryCatalogueEntityIsServed(t *testing.T) {
	srv := newTestServer(t, entityOptions(map[string]int{"transaction_lines": 1100, "journals": 65}))
	tok := newAccessTokenFor(t, srv)
	served := map[string]bool{}
	for _, ce := range catalogue.All() {
		if ce.Name == "suppliers" {
			continue
		}
		served[ce.Name] = true
		t.Run(ce.Name, func(t *testing.T) {
			e := entitiesByName[ce.Name]
			if e == nil {
				t.Fatalf("not served")
			}
			if got, want := cmpPath(e), ce.Path; got != want {
				t.Errorf("path %s, want the catalogue's %s", got, want)
			}
			path, kind := endpointOf(e)
			want := truth(t, srv, ce.Name, 101)
			wantN := map[string]int{"accounts": 30, "transaction_lines": 1100, "journals": 65, "divisions": 1}[ce.Name]
			if wantN == 0 {
				wantN = defaultRecords
			}
			if len(want) != wantN {
				t.Errorf("Records: got %d, want %d", len(want), wantN)
			}
			got := map[string]map[string]json.RawMessage{}
			pages := pageRaw(t, srv, tok, path)
			for _, page := range pages {
				for _, r := range page {
					delete(r, "__metadata")
					key := string(r[e.fields[e.idField].name])
					if got[key] != nil {
						t.Errorf("record %s served twice", key)
					}
					got[key] = r
				}
			}
			if max := map[endpointKind]int{kindSync: bulkPageSize, kindRegular: regularPageSize}[kind]; len(pages[0]) > max ||
				len(want) > max && len(pages) < 2 {
				t.Errorf("%d pages, the first of %d records; want pages of at most %d", len(pages), len(pages[0]), max)
			}
			for key, w := range want {
				if kind != kindSync {
					delete(w, "Timestamp")
				}
				if diff := cmp.Diff(w, got[key], cmp.Comparer(func(a, b json.RawMessage) bool { return bytes.Equal(a, b) })); diff != "" {
					t.Fatalf("record %s (-truth +served):\n%s", key, diff)
				}
			}
			if len(got) != len(want) {
				t.Errorf("served %d records, truth has %d", len(got), len(want))
			}
		})
	}
	if diff := cmp.Diff(slices.Sorted(func(yield func(string) bool) {
		for n := range served {
			if !yield(n) {
				return
			}
		}
	}), Entities()); diff != "" {
		t.Errorf("Entities() (-catalogue +Entities):\n%s", diff)
	}
}

func TestForeignKeyRule(t *testing.T) {
	for _, tt := range []struct{ field, want string }{
		{"GLAccount", "gl_accounts"}, {"Account", "accounts"}, {"Item", "items"}, {"Project", "projects"},
		{"CostCenter", "costcenters"}, {"WarehouseID", "warehouses"}, {"Employee", "employees"},
		{"ShopOrder", "shop_orders"}, {"InvoiceAccount", ""}, {"MainContact", ""}, {"GLAR", ""},
	} {
		got := ""
		if e := refTarget(tt.field, dataEntities); e != nil {
			got = e.name
		}
		if got != tt.want {
			t.Errorf("refTarget(%s) = %q, want %q", tt.field, got, tt.want)
		}
	}
}

// TestForeignKeysPointAtExistingRecords checks every generated reference of every entity: it
// names a record of the entity the rule points at (transaction lines' GL accounts, accounts,
// items and projects among them), and the references spread over those records.
func TestForeignKeysPointAtExistingRecords(t *testing.T) {
	srv := newTestServer(t, entityOptions(map[string]int{"transaction_lines": 500, "gl_accounts": 40}))
	truths := map[string]map[string]map[string]json.RawMessage{}
	get := func(name string) map[string]map[string]json.RawMessage {
		if truths[name] == nil {
			truths[name] = truth(t, srv, name, 101)
		}
		return truths[name]
	}
	checked := map[string]int{}
	for _, e := range dataEntities {
		for _, f := range e.fields {
			if f.ref == nil {
				continue
			}
			targets := get(f.ref.name)
			distinct := map[string]bool{}
			for key, r := range get(e.name) {
				ref := string(r[f.name])
				if ref == "null" {
					continue
				}
				if targets[ref] == nil {
					t.Fatalf("%s %s: %s %s names no record of %s", e.name, key, f.name, ref, f.ref.name)
				}
				distinct[ref] = true
				checked[e.name+"."+f.name]++
			}
			if len(get(e.name)) >= 20 && len(targets) >= 5 && len(distinct) < 3 {
				t.Errorf("%s.%s: %d distinct references, want them spread over %s", e.name, f.name, len(distinct), f.ref.name)
			}
		}
	}
	for _, f := range []string{"transaction_lines.GLAccount", "transaction_lines.Account", "transaction_lines.Item", "transaction_lines.Project"} {
		if checked[f] < 400 {
			t.Errorf("%s: %d references checked, want most of the 500 lines", f, checked[f])
		}
	}
}

// wallDate is the /Date(ms)/ Exact serves for an Amsterdam wall-clock time.
func wallDate(y int, m time.Month, d, hh, mm, ss, ms int) string {
	return "/Date(" + strconv.FormatInt(time.Date(y, m, d, hh, mm, ss, ms*1e6, time.UTC).UnixMilli(), 10) + ")/"
}

func TestDatesAroundDaylightSaving(t *testing.T) {
	// Two instants an hour apart share one wall-clock time in the autumn hour.
	autumn := lastSunday(2025, time.October)
	if a, b := wallMillis(autumn.Add(-30*time.Minute).UnixMilli()), wallMillis(autumn.Add(30*time.Minute).UnixMilli()); a != b {
		t.Errorf("02:30 CEST and 02:30 CET: wall-clock ms %d and %d, want equal", a, b)
	}
	srv := newTestServer(t, entityOptions(map[string]int{"transaction_lines": 200}))
	served := map[string]bool{}
	for _, r := range truth(t, srv, "transaction_lines", 101) {
		for _, v := range r {
			var s string
			if json.Unmarshal(v, &s) == nil && strings.HasPrefix(s, "/Date(") {
				served[s] = true
			}
		}
	}
	for _, tt := range []struct{ name, date string }{
		{"spring: last millisecond of CET", wallDate(2025, 3, 30, 1, 59, 59, 999)},
		{"spring: first instant of CEST", wallDate(2025, 3, 30, 3, 0, 0, 0)},
		{"spring: midnight before (CET)", wallDate(2025, 3, 29, 0, 0, 0, 0)},
		{"spring: midnight after (CEST)", wallDate(2025, 3, 31, 0, 0, 0, 0)},
		{"autumn: 02:30 (CEST, then CET)", wallDate(2025, 10, 26, 2, 30, 0, 0)},
		{"autumn: 02:00 twice", wallDate(2025, 10, 26, 2, 0, 0, 0)},
		{"autumn: midnight after (CET)", wallDate(2025, 10, 27, 0, 0, 0, 0)},
		{"spring 2026", wallDate(2026, 3, 29, 3, 0, 0, 0)},
	} {
		if !served[tt.date] {
			t.Errorf("%s: %s not served", tt.name, tt.date)
		}
	}
}

var jsonNumberText = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

func TestDoublesAreExactDecimalText(t *testing.T) {
	srv := newTestServer(t, entityOptions(map[string]int{"transaction_lines": 200}))
	tok := newAccessTokenFor(t, srv)
	seen := map[string]bool{}
	exponents := 0
	for _, page := range pageRaw(t, srv, tok, "/api/v1/101/sync/Financial/TransactionLines?$filter=Timestamp%20gt%200L&$select=ID,AmountDC,AmountFC,Quantity,VATPercentage") {
		for _, r := range page {
			for _, f := range []string{"AmountDC", "AmountFC", "Quantity", "VATPercentage"} {
				v := string(r[f])
				if v == "null" {
					continue
				}
				if !jsonNumberText.MatchString(v) {
					t.Fatalf("%s %s: not a JSON number", f, v)
				}
				seen[v] = true
				if strings.ContainsAny(v, "eE") {
					exponents++
				}
			}
		}
	}
	for _, want := range decimalSamples {
		if !seen[want] {
			t.Errorf("%s never served verbatim", want)
		}
	}
	if exponents < 20 {
		t.Errorf("%d amounts with an exponent, want many", exponents)
	}
	// Through the control API the text is kept exactly, from JSON and from Go.
	keys, err := srv.UpsertRecords("transaction_lines", 101,
		map[string]any{"AmountDC": json.RawMessage(`1E-05`), "AmountFC": json.Number("2.5e+3"), "Quantity": "-0.015"})
	if err != nil {
		t.Fatal(err)
	}
	got := truth(t, srv, "transaction_lines", 101)[`"`+keys[0]+`"`]
	for f, want := range map[string]string{"AmountDC": "1E-05", "AmountFC": "2.5e+3", "Quantity": "-0.015"} {
		if string(got[f]) != want {
			t.Errorf("%s: got %s, want %s", f, got[f], want)
		}
	}
}

func TestModifiedPagingWithTies(t *testing.T) {
	srv := newTestServer(t, entityOptions(map[string]int{"journals": 200}))
	tok := newAccessTokenFor(t, srv)
	q := "/api/v1/101/financial/Journals?$filter=" + url.PathEscape("Modified ge datetime'2000-01-01T00:00:00'") +
		"&$orderby=" + url.PathEscape("Modified asc") + "&$select=ID,Modified"
	pages := pageRaw(t, srv, tok, q)
	var all []map[string]json.RawMessage
	straddles := 0
	for k, page := range pages {
		if k < len(pages)-1 && len(page) != regularPageSize {
			t.Errorf("page %d: %d records, want %d", k, len(page), regularPageSize)
		}
		if k > 0 && bytes.Equal(page[0]["Modified"], pages[k-1][len(pages[k-1])-1]["Modified"]) {
			straddles++
		}
		all = append(all, page...)
	}
	if len(all) != 200 {
		t.Fatalf("got %d journals, want 200", len(all))
	}
	if straddles == 0 {
		t.Errorf("no Modified shared across a page boundary; want ties there")
	}
	ids := map[string]bool{}
	for i, r := range all {
		ids[string(r["ID"])] = true
		if i == 0 {
			continue
		}
		prev, cur := dateMillis(t, all[i-1]["Modified"]), dateMillis(t, r["Modified"])
		if cur < prev || cur == prev && string(r["ID"]) <= string(all[i-1]["ID"]) {
			t.Fatalf("record %d: Modified %d ID %s after %d %s; want ordered by Modified, then ID", i, cur, r["ID"], prev, all[i-1]["ID"])
		}
	}
	if len(ids) != 200 {
		t.Errorf("%d distinct IDs, want 200", len(ids))
	}

	// Ties made through the control API, after the start (10:00 in Amsterdam).
	tie := json.RawMessage(`"` + wallDate(2026, 1, 5, 10, 30, 0, 250) + `"`)
	if _, err := srv.UpsertRecords("journals", 101,
		map[string]any{"Code": "T1", "Modified": tie}, map[string]any{"Code": "T2", "Modified": tie}, map[string]any{"Code": "T3", "Modified": tie}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, filter string
		top          string
		want         int
	}{
		{"gt the start", "Modified gt datetime'2026-01-05T10:00:00'", "", 3},
		{"ge the tie", "Modified ge datetime'2026-01-05T10:30:00.250'", "", 3},
		{"gt the tie", "Modified gt datetime'2026-01-05T10:30:00.250'", "", 0},
		{"gt the tie truncated to seconds", "Modified gt datetime'2026-01-05T10:30:00'", "", 3},
		{"ties over pages of 2", "Modified gt datetime'2026-01-05T10:00:00'", "&$top=2", 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := "/api/v1/101/financial/Journals?$filter=" + url.PathEscape(tt.filter) + "&$orderby=Modified,ID&$select=ID,Code" + tt.top
			n := 0
			for _, page := range pageRaw(t, srv, tok, path) {
				n += len(page)
			}
			if n != tt.want {
				t.Errorf("got %d journals, want %d", n, tt.want)
			}
		})
	}
	// $top=2 with $skiptoken continues inside the tie.
	path := "/api/v1/101/financial/Journals?$filter=" + url.PathEscape("Modified gt datetime'2026-01-05T10:00:00'") + "&$orderby=Modified&$select=Code"
	_, b := getJSON(t, srv, tok, path+"&$top=2")
	first, _ := decodeRaw(t, b)
	resp, b := getJSON(t, srv, tok, path)
	if resp.StatusCode != 200 || len(first) != 2 {
		t.Fatalf("got %d %s", resp.StatusCode, b)
	}
	regular, _ := decodeRaw(t, b)
	_, b = getJSON(t, srv, tok, path+"&$skiptoken="+url.QueryEscape(skipTokenOf(t, srv, regular[1])))
	rest, _ := decodeRaw(t, b)
	if len(rest) != 1 || !bytes.Equal(rest[0]["Code"], regular[2]["Code"]) {
		t.Errorf("after the second tied record: got %v, want the third", rest)
	}
	for _, bad := range []string{"$orderby=Nope", "$orderby=Modified%20sideways", "$skiptoken=garbage&$orderby=Modified"} {
		if resp, _ := getJSON(t, srv, tok, "/api/v1/101/financial/Journals?"+bad); resp.StatusCode != 400 {
			t.Errorf("%s: got %d, want 400", bad, resp.StatusCode)
		}
	}
}

// skipTokenOf builds the skiptoken after a journal served with Code: its Modified and ID.
func skipTokenOf(t *testing.T, srv *Server, r map[string]json.RawMessage) string {
	t.Helper()
	for _, rec := range truth(t, srv, "journals", 101) {
		if bytes.Equal(rec["Code"], r["Code"]) {
			ms := dateMillis(t, rec["Modified"])
			var id string
			_ = json.Unmarshal(rec["ID"], &id)
			return "datetime'" + time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000") + "',guid'" + id + "'"
		}
	}
	t.Fatalf("no journal %s", r["Code"])
	return ""
}

func dateMillis(t testing.TB, raw json.RawMessage) int64 {
	t.Helper()
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || !strings.HasPrefix(s, "/Date(") {
		t.Fatalf("not a date: %s", raw)
	}
	n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(s, "/Date("), ")/"), 10, 64)
	if err != nil {
		t.Fatalf("not a date: %s", raw)
	}
	return n
}

func TestDeletedCarriesEveryEntityType(t *testing.T) {
	srv := newTestServer(t, entityOptions(nil))
	tok := newAccessTokenFor(t, srv)
	deleted := func() []map[string]json.RawMessage {
		var out []map[string]json.RawMessage
		for _, p := range pageRaw(t, srv, tok, "/api/v1/101/sync/Deleted?$filter=Timestamp%20gt%200L&$select=EntityKey,EntityType,Timestamp") {
			out = append(out, p...)
		}
		return out
	}
	types := map[string]bool{}
	for _, d := range deleted() {
		types[string(d["EntityType"])] = true
	}
	for _, e := range dataEntities {
		if e.sync != "" && e != accountsEntity && !types[strconv.Itoa(e.deletedType)] {
			t.Errorf("%s: no deletion with EntityType %d", e.name, e.deletedType)
		}
	}
	// A deletion through the API takes the next Timestamp of the shared sequence, after an upsert.
	lines := truth(t, srv, "transaction_lines", 101)
	var key string
	for k := range lines {
		key = k
		break
	}
	var id string
	_ = json.Unmarshal([]byte(key), &id)
	if _, err := srv.UpsertRecords("items", 101, map[string]any{"Description": "Nieuw artikel"}); err != nil {
		t.Fatal(err)
	}
	if err := srv.DeleteRecords("transaction_lines", 101, id); err != nil {
		t.Fatal(err)
	}
	all := deleted()
	last := all[len(all)-1]
	items := truth(t, srv, "items", 101)
	var itemTS int64
	for _, r := range items {
		n, _ := strconv.ParseInt(string(r["Timestamp"]), 10, 64)
		itemTS = max(itemTS, n)
	}
	if string(last["EntityKey"]) != key || string(last["EntityType"]) != "1" || string(last["Timestamp"]) != strconv.FormatInt(itemTS+1, 10) {
		t.Errorf("last deletion %v, want %s EntityType 1 at Timestamp %d", last, key, itemTS+1)
	}
	if _, ok := truth(t, srv, "transaction_lines", 101)[key]; ok {
		t.Errorf("deleted line still in the truth")
	}
	if err := srv.DeleteRecords("transaction_lines", 101, id); err == nil {
		t.Errorf("deleting it again: no error")
	}
}

func TestRecordsSizing(t *testing.T) {
	srv := New(Options{Divisions: []int{7}, Accounts: 4, Records: map[string]int{"items": 3, "*": 1}})
	for name, want := range map[string]int{"accounts": 4, "items": 3, "transaction_lines": 1, "journals": 1, "divisions": 1} {
		if recs, err := srv.Records(name, 7); err != nil || len(recs) != want {
			t.Errorf("%s: got %d records, %v; want %d", name, len(recs), err, want)
		}
	}
	for _, bad := range []map[string]int{{"nope": 1}, {"suppliers": 1}, {"accounts": 1}, {"items": -1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Records %v: no panic", bad)
				}
			}()
			New(Options{Records: bad})
		}()
	}
}

func TestControlRecords(t *testing.T) {
	srv := newTestServer(t, entityOptions(nil))
	tok := newAccessTokenFor(t, srv)
	before := truth(t, srv, "transaction_lines", 101)
	var oldID string
	for k := range before {
		_ = json.Unmarshal([]byte(k), &oldID)
		break
	}
	body := `{"entity":"transaction_lines","division":101,"upsert":[
		{"ID":"` + strings.ToUpper(oldID) + `","Description":"Gewijzigd","AmountDC":1E-05},
		{"ID":"11111111-2222-4333-8444-555555555555","Description":"Nieuw","AmountDC":2.5e+3,"Date":"/Date(1761445800000)/","FinancialYear":2026}
	]}`
	status, b := post(t, srv, "/_sim/records", body)
	if status != 200 || !strings.Contains(string(b), `"keys":["`+oldID+`","11111111-2222-4333-8444-555555555555"]`) {
		t.Fatalf("POST /_sim/records: got %d %s", status, b)
	}
	resp, err := httpGet(srv.URL + "/_sim/records?entity=transaction_lines&division=101")
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]json.RawMessage
	if err := json.Unmarshal(resp, &got); err != nil || len(got) != defaultRecords+1 {
		t.Fatalf("GET /_sim/records: %v, %d records: %.300s", err, len(got), resp)
	}
	byID := map[string]map[string]json.RawMessage{}
	for _, r := range got {
		byID[string(r["ID"])] = r
	}
	changed, created := byID[`"`+oldID+`"`], byID[`"11111111-2222-4333-8444-555555555555"`]
	old := before[`"`+oldID+`"`]
	for _, tt := range []struct{ name, got, want string }{
		{"merged Description", string(changed["Description"]), `"Gewijzigd"`},
		{"merged amount text", string(changed["AmountDC"]), `1E-05`},
		{"merge keeps the rest", string(changed["GLAccount"]), string(old["GLAccount"])},
		{"merge touches Modified", string(changed["Modified"]), `"` + wallDate(2026, 1, 5, 10, 0, 0, 0) + `"`},
		{"created amount text", string(created["AmountDC"]), `2.5e+3`},
		{"created date as given", string(created["Date"]), `"/Date(1761445800000)/"`},
		{"created Division", string(created["Division"]), `101`},
		{"created null elsewhere", string(created["GLAccount"]), `null`},
	} {
		if tt.got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, tt.got, tt.want)
		}
	}
	if ts, _ := strconv.Atoi(string(created["Timestamp"])); ts <= 0 || string(changed["Timestamp"]) != strconv.Itoa(ts-1) {
		t.Errorf("Timestamps %s and %s: want the division's next two", changed["Timestamp"], created["Timestamp"])
	}
	// The sync endpoint serves the change after the cursor it had reached.
	_, b = getJSON(t, srv, tok, "/api/v1/101/sync/Financial/TransactionLines?$filter=Timestamp%20gt%20"+string(changed["Timestamp"])+"L&$select=ID,AmountDC")
	if recs, _ := decodeRaw(t, b); len(recs) != 1 || string(recs[0]["AmountDC"]) != "2.5e+3" {
		t.Errorf("sync after the change: got %s", b)
	}
	if status, b := post(t, srv, "/_sim/records", `{"entity":"transaction_lines","division":101,"delete":["11111111-2222-4333-8444-555555555555"]}`); status != 200 {
		t.Errorf("delete: got %d %s", status, b)
	}
	for _, tt := range []struct{ name, body, want string }{
		{"unknown entity", `{"entity":"nope","division":101,"upsert":[{}]}`, "transaction_lines"},
		{"suppliers", `{"entity":"suppliers","division":101,"upsert":[{}]}`, "use accounts"},
		{"unknown field", `{"entity":"items","division":101,"upsert":[{"Nope":1}]}`, "unknown field"},
		{"bad decimal", `{"entity":"transaction_lines","division":101,"upsert":[{"AmountDC":"1,5"}]}`, "not a decimal number"},
		{"Int16 out of range", `{"entity":"transaction_lines","division":101,"upsert":[{"FinancialYear":70000}]}`, "out of the range"},
		{"collection", `{"entity":"accounts","division":101,"upsert":[{"BankAccounts":[]}]}`, "cannot be set"},
		{"divisions", `{"entity":"divisions","division":101,"upsert":[{"Code":5}]}`, "connection's divisions"},
		{"unknown division", `{"entity":"items","division":9,"upsert":[{}]}`, "unknown division 9"},
		{"delete unknown", `{"entity":"items","division":101,"delete":["11111111-2222-4333-8444-000000000000"]}`, "no such record"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if status, b := post(t, srv, "/_sim/records", tt.body); status != 400 || !strings.Contains(string(b), tt.want) {
				t.Errorf("got %d %s, want 400 mentioning %q", status, b, tt.want)
			}
		})
	}
	for q, want := range map[string]int{"entity=nope&division=101": 400, "entity=items&division=9": 404, "entity=items": 400, "entity=divisions&division=101": 200} {
		resp, err := http.Get(srv.URL + "/_sim/records?" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET /_sim/records?%s: got %d, want %d", q, resp.StatusCode, want)
		}
	}
}

func httpGet(u string) ([]byte, error) {
	resp, err := http.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// TestIgnoreOrderByServesByID: with IgnoreOrderBy, $orderby is accepted and dropped (§3.7):
// the pages come in ID order, page with the last ID, and hold every record once.
func TestIgnoreOrderByServesByID(t *testing.T) {
	opts := entityOptions(map[string]int{"journals": 200})
	opts.IgnoreOrderBy = true
	srv := newTestServer(t, opts)
	tok := newAccessTokenFor(t, srv)
	q := "/api/v1/101/financial/Journals?$filter=" + url.PathEscape("Modified ge datetime'2000-01-01T00:00:00'") +
		"&$orderby=" + url.PathEscape("Modified asc") + "&$select=ID,Modified"
	var all []map[string]json.RawMessage
	for _, page := range pageRaw(t, srv, tok, q) {
		all = append(all, page...)
	}
	if len(all) != 200 {
		t.Fatalf("got %d journals, want 200", len(all))
	}
	byModified := true
	for i := 1; i < len(all); i++ {
		if string(all[i]["ID"]) <= string(all[i-1]["ID"]) {
			t.Fatalf("record %d: ID %s after %s; want ID order", i, all[i]["ID"], all[i-1]["ID"])
		}
		if dateMillis(t, all[i]["Modified"]) < dateMillis(t, all[i-1]["Modified"]) {
			byModified = false
		}
	}
	if byModified {
		t.Errorf("the records came in Modified order after all; the test needs data whose ID order differs")
	}
}
