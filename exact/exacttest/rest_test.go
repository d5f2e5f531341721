package exacttest

import (
	"encoding/xml"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const accountsSel = "$select=ID,Code,Name,IsSupplier,Status,Email,Created,Modified"

func TestRESTAuth(t *testing.T) {
	srv := newTestServer(t, testOptions(5))
	valid := newAccessTokenFor(t, srv)
	srv.RevokeDivision(102)
	tests := []struct {
		name       string
		token      string
		path       string
		advance    time.Duration
		wantStatus int
		wantReason string
		wantWWW    string
	}{
		{name: "missing token", path: "/api/v1/101/system/Divisions", wantStatus: 401, wantWWW: "access token"},
		{name: "unknown token", token: "nope", path: "/api/v1/101/system/Divisions", wantStatus: 401, wantWWW: "access token"},
		{name: "missing token on Me", path: "/api/v1/current/Me", wantStatus: 401, wantWWW: "access token"},
		{name: "valid", token: valid, path: "/api/v1/101/system/Divisions", wantStatus: 200},
		{name: "revoked division", token: valid, path: "/api/v1/102/system/Divisions", wantStatus: 403, wantReason: "NoDivisionAccess"},
		{name: "never granted division", token: valid, path: "/api/v1/999/system/Divisions", wantStatus: 403, wantReason: "NoDivisionAccess"},
		{name: "expired after 600 s", token: valid, path: "/api/v1/101/system/Divisions", advance: 600 * time.Second, wantStatus: 401, wantWWW: "access token expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.Advance(tt.advance)
			resp, b := getJSON(t, srv, tt.token, tt.path)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("got status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if got := resp.Header.Get("Reason"); got != tt.wantReason {
				t.Errorf("got Reason %q, want %q", got, tt.wantReason)
			}
			if got := resp.Header.Get("WWW-Authenticate"); !strings.Contains(got, tt.wantWWW) || (tt.wantWWW == "") != (got == "") {
				t.Errorf("got WWW-Authenticate %q, want it to contain %q", got, tt.wantWWW)
			}
			if tt.wantStatus == 403 {
				if got, want := errorMessage(t, b), "Forbidden - User division is not within division scope"; got != want {
					t.Errorf("got message %q, want %q", got, want)
				}
			}
		})
	}
	if got := srv.Stats().Unauthorized; got != 4 {
		t.Errorf("got %d unauthorized, want 4", got)
	}
}

func TestMeAndDivisions(t *testing.T) {
	srv := newTestServer(t, Options{Divisions: []int{205, 101, 102}, FreezeClock: true, MinutelyLimit: 1, DailyLimit: 1})
	tok := newAccessTokenFor(t, srv)
	for i := range 3 { // current/Me is not rate-limited (§2.1)
		resp, b := getJSON(t, srv, tok, "/api/v1/current/Me")
		if resp.StatusCode != 200 {
			t.Fatalf("Me call %d: got status %d, want 200", i, resp.StatusCode)
		}
		if h := resp.Header.Get("X-RateLimit-Minutely-Remaining"); h != "" {
			t.Errorf("Me: got X-RateLimit-Minutely-Remaining %q, want none", h)
		}
		p := decodePage(t, b)
		if got := p.D.Results[0]["CurrentDivision"]; got != float64(205) {
			t.Errorf("got CurrentDivision %v, want 205 (the first division)", got)
		}
	}
	srv.RevokeDivision(102)
	resp, b := getJSON(t, srv, tok, "/api/v1/205/system/Divisions?$select=Code,Current")
	if resp.StatusCode != 200 {
		t.Fatalf("Divisions: got %d %s", resp.StatusCode, b)
	}
	var codes []float64
	for _, r := range decodePage(t, b).D.Results {
		codes = append(codes, r["Code"].(float64))
	}
	if diff := cmp.Diff([]float64{205, 101}, codes); diff != "" {
		t.Errorf("granted divisions (-want +got):\n%s", diff)
	}
	st := srv.Stats()
	if st.Calls(0, "current/Me") != 3 || st.Calls(205, "system/Divisions") != 1 {
		t.Errorf("got api calls %v, want 3 current/Me and 1 205 system/Divisions", st.APICalls)
	}
}

func TestAccountsQueries(t *testing.T) {
	srv := newTestServer(t, testOptions(400))
	tok := newAccessTokenFor(t, srv)
	all := srv.Accounts(101)
	suppliers := 0
	for _, a := range all {
		if a.IsSupplier {
			suppliers++
		}
	}
	tests := []struct {
		name        string
		path        string
		wantStatus  int
		wantMessage string
		wantRows    int
		wantNext    string // regexp the __next must match ("" = no __next)
		wantCount   string
	}{
		{name: "mandatory filter", path: "/api/v1/101/crm/Accounts?" + accountsSel, wantStatus: 400,
			wantMessage: "This endpoint has mandatory filtering applied. A GET request for this endpoint must have a $filter parameter with one of the following fields in the url:ID,Code,Name,IsSupplier,IsSales,Blocked,Status,Type,Email,Phone,AddressLine1,Postcode,City,Country,VATNumber,ChamberOfCommerce,Created,Modified."},
		{name: "mandatory filter on bulk", path: "/api/v1/101/bulk/CRM/Accounts?" + accountsSel, wantStatus: 400,
			wantMessage: "This endpoint has mandatory filtering applied. A GET request for this endpoint must have a $filter parameter with one of the following fields in the url:ID,Code,Name,IsSupplier,IsSales,Blocked,Status,Type,Email,Phone,AddressLine1,Postcode,City,Country,VATNumber,ChamberOfCommerce,Created,Modified."},
		{name: "suppliers first page of 60", path: "/api/v1/101/crm/Accounts?$filter=IsSupplier%20eq%20true&" + accountsSel,
			wantStatus: 200, wantRows: 60, wantNext: `^http://127\.0\.0\.1:\d+/api/v1/101/crm/Accounts\?\$filter=IsSupplier%20eq%20true&\$select=ID,Code,Name,IsSupplier,Status,Email,Created,Modified&\$skiptoken=guid'[0-9a-f-]{36}'$`},
		{name: "top above 60 keeps 60", path: "/api/v1/101/crm/Accounts?$filter=IsSupplier%20eq%20false&$top=100&" + accountsSel,
			wantStatus: 200, wantRows: 60, wantNext: `\$top=40&\$skiptoken=guid'`},
		{name: "top below page", path: "/api/v1/101/crm/Accounts?$filter=IsSupplier%20eq%20false&$top=7&$select=ID",
			wantStatus: 200, wantRows: 7},
		{name: "inlinecount", path: "/api/v1/101/crm/Accounts?$filter=IsSupplier%20eq%20true&$inlinecount=allpages&$top=1&$select=ID",
			wantStatus: 200, wantRows: 1, wantCount: strconv.Itoa(suppliers)},
		{name: "by ID", path: "/api/v1/101/crm/Accounts?$filter=ID%20eq%20guid'" + all[5].ID + "'&$select=ID,Name",
			wantStatus: 200, wantRows: 1},
		{name: "trimmed code", path: "/api/v1/101/crm/Accounts?$filter=trim(Code)%20eq%20'17'&$select=ID", wantStatus: 200, wantRows: 1},
		{name: "no mandatory filter without $filter on sync", path: "/api/v1/101/sync/CRM/Accounts?$select=ID", wantStatus: 200, wantRows: 400},
		{name: "unsupported filter field", path: "/api/v1/101/crm/Accounts?$filter=IsPurchase%20eq%20true&$select=ID", wantStatus: 400,
			wantMessage: "Filtering on these fields is not supported: IsPurchase"},
		{name: "empty filter", path: "/api/v1/101/crm/Accounts?$filter=&$select=ID", wantStatus: 400,
			wantMessage: "This $filter parameter is not supported for this resource"},
		{name: "syntax error", path: "/api/v1/101/crm/Accounts?$filter=Name%20eq&$select=ID", wantStatus: 400,
			wantMessage: "Bad Request - Error in query syntax."},
		{name: "unknown select field", path: "/api/v1/101/crm/Accounts?$filter=IsSupplier%20eq%20true&$select=Nope", wantStatus: 400,
			wantMessage: "No property 'Nope' exists in type 'Exact.Web.Api.Models.Account'."},
		{name: "bulk requires select", path: "/api/v1/101/bulk/CRM/Accounts?$filter=IsSupplier%20eq%20true", wantStatus: 400,
			wantMessage: "Please add a $select or a $top=1 statement to the query string."},
		{name: "bulk top=1 without select", path: "/api/v1/101/bulk/CRM/Accounts?$filter=IsSupplier%20eq%20true&$top=1", wantStatus: 200, wantRows: 1},
		{name: "bulk page of 1000", path: "/api/v1/101/bulk/CRM/Accounts?$filter=Type%20eq%20'A'&$select=ID", wantStatus: 200, wantRows: 400},
		{name: "sync requires select", path: "/api/v1/101/sync/CRM/Accounts?$filter=Timestamp%20gt%200L", wantStatus: 400,
			wantMessage: "Please add a $select or a $top=1 statement to the query string."},
		{name: "sync filters only on Timestamp", path: "/api/v1/101/sync/CRM/Accounts?$filter=IsSupplier%20eq%20true&$select=ID", wantStatus: 400,
			wantMessage: "This $filter parameter is not supported for this resource"},
		{name: "sync Timestamp gt", path: "/api/v1/101/sync/CRM/Accounts?$filter=Timestamp%20gt%20150L&$select=ID,Timestamp", wantStatus: 200, wantRows: 250},
		{name: "service segment is case-insensitive", path: "/api/v1/101/CRM/accounts?$filter=IsSupplier%20eq%20true&$select=ID&$top=2", wantStatus: 200, wantRows: 2},
		{name: "unknown endpoint", path: "/api/v1/101/crm/Nope", wantStatus: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := getJSON(t, srv, tok, tt.path)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("got status %d body %.300s, want %d", resp.StatusCode, b, tt.wantStatus)
			}
			if tt.wantMessage != "" {
				if got := errorMessage(t, b); got != tt.wantMessage {
					t.Errorf("got message %q, want %q", got, tt.wantMessage)
				}
			}
			if tt.wantStatus != 200 {
				return
			}
			p := decodePage(t, b)
			if len(p.D.Results) != tt.wantRows {
				t.Errorf("got %d rows, want %d", len(p.D.Results), tt.wantRows)
			}
			if tt.wantNext == "" && p.D.Next != "" || tt.wantNext != "" && !regexp.MustCompile(tt.wantNext).MatchString(p.D.Next) {
				t.Errorf("got __next %q, want match of %q", p.D.Next, tt.wantNext)
			}
			if p.D.Count != tt.wantCount {
				t.Errorf("got __count %q, want %q", p.D.Count, tt.wantCount)
			}
		})
	}
}

// pageAll follows __next from path and returns every row.
func pageAll(t *testing.T, srv *Server, tok, path string) (rows []map[string]any, pages int) {
	t.Helper()
	next := path
	for next != "" {
		resp, b := getJSON(t, srv, tok, next)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: got %d %.300s", next, resp.StatusCode, b)
		}
		p := decodePage(t, b)
		rows = append(rows, p.D.Results...)
		next = p.D.Next
		pages++
	}
	return rows, pages
}

func TestPagingCoversEveryRowOnce(t *testing.T) {
	tests := []struct {
		name      string
		path      string
		wantPages int
		want      func(Account) bool
	}{
		{"crm/Accounts suppliers", "/api/v1/101/crm/Accounts?$filter=IsSupplier%20eq%20true&$select=ID", 0, func(a Account) bool { return a.IsSupplier }},
		{"bulk/CRM/Accounts", "/api/v1/101/bulk/CRM/Accounts?$filter=Type%20eq%20'A'&$select=ID", 3, func(Account) bool { return true }},
		{"sync/CRM/Accounts", "/api/v1/101/sync/CRM/Accounts?$filter=Timestamp%20gt%201L&$select=ID", 3, func(a Account) bool { return a.Timestamp > 1 }},
	}
	srv := newTestServer(t, testOptions(2500))
	tok := newAccessTokenFor(t, srv)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, pages := pageAll(t, srv, tok, tt.path)
			var got, want []string
			for _, r := range rows {
				got = append(got, r["ID"].(string))
			}
			for _, a := range srv.Accounts(101) {
				if tt.want(a) {
					want = append(want, a.ID)
				}
			}
			if diff := cmp.Diff(want, got, cmpSorted); diff != "" {
				t.Errorf("IDs (-want +got):\n%s", diff)
			}
			if tt.wantPages > 0 && pages != tt.wantPages {
				t.Errorf("got %d pages, want %d", pages, tt.wantPages)
			}
		})
	}
}

var cmpSorted = cmp.Transformer("sort", func(in []string) []string {
	out := append([]string(nil), in...)
	sortStrings(out)
	return out
})

func TestSyncStreamAndDeleted(t *testing.T) {
	srv := newTestServer(t, testOptions(1500))
	tok := newAccessTokenFor(t, srv)
	all := srv.Accounts(101)
	changed, gone := all[10], all[20]
	changed.Name = "Veranderd Ééns B.V."
	if err := srv.UpsertAccounts(101, changed, Account{Name: "Nieuw"}); err != nil {
		t.Fatal(err)
	}
	if err := srv.DeleteAccounts(101, gone.ID); err != nil {
		t.Fatal(err)
	}
	// First sync page: base rows 1..1000 minus the changed and deleted ones, with a __next.
	resp, b := getJSON(t, srv, tok, "/api/v1/101/sync/CRM/Accounts?$filter=Timestamp%20gt%200L&$select=ID,Name,Timestamp")
	if resp.StatusCode != 200 {
		t.Fatalf("got %d %s", resp.StatusCode, b)
	}
	p := decodePage(t, b)
	if len(p.D.Results) != 1000 {
		t.Fatalf("got %d rows, want 1000", len(p.D.Results))
	}
	last := p.D.Results[999]["Timestamp"].(float64)
	if !strings.HasSuffix(p.D.Next, "&$skiptoken="+strconv.Itoa(int(last))+"L") {
		t.Errorf("got __next %q, want $skiptoken=%dL", p.D.Next, int(last))
	}
	rows, _ := pageAll(t, srv, tok, p.D.Next)
	var tail []string
	prev := last
	for _, r := range rows {
		ts := r["Timestamp"].(float64)
		if ts <= prev {
			t.Errorf("Timestamp %v after %v: want increasing", ts, prev)
		}
		prev = ts
		tail = append(tail, r["Name"].(string))
	}
	if got, want := tail[len(tail)-2:], []string{"Veranderd Ééns B.V.", "Nieuw"}; !cmp.Equal(got, want) {
		t.Errorf("got last rows %q, want the changed then the new account", got)
	}
	if got, want := len(p.D.Results)+len(rows), 1500-2+2; got != want {
		t.Errorf("got %d rows in the stream, want %d", got, want)
	}
	// The deletion shares the Timestamp sequence: after 1500 base rows and two upserts it is 1503.
	resp, b = getJSON(t, srv, tok, "/api/v1/101/sync/Deleted?$filter=Timestamp%20gt%200L%20and%20EntityType%20eq%202&$select=Timestamp,EntityKey,EntityType,Division,DeletedDate")
	if resp.StatusCode != 200 {
		t.Fatalf("sync/Deleted: got %d %s", resp.StatusCode, b)
	}
	d := decodePage(t, b).D.Results
	want := []map[string]any{{"Timestamp": float64(1503), "EntityKey": gone.ID, "EntityType": float64(2), "Division": float64(101),
		"DeletedDate": "/Date(" + strconv.FormatInt(wallMillis(srv.Now().UnixMilli()), 10) + ")/"}}
	if diff := cmp.Diff(want, d, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == `["__metadata"]` }, cmp.Ignore())); diff != "" {
		t.Errorf("sync/Deleted (-want +got):\n%s", diff)
	}
	// Retention: 63 days later the deletion is gone (§3.12).
	for range 3 { // refresh within the 30-day idle expiry
		srv.Advance(21 * 24 * time.Hour)
		tok = newAccessTokenFor(t, srv)
	}
	_, b = getJSON(t, srv, tok, "/api/v1/101/sync/Deleted?$filter=Timestamp%20gt%200L&$select=EntityKey")
	if n := len(decodePage(t, b).D.Results); n != 0 {
		t.Errorf("after 61 days: got %d deletions, want 0", n)
	}
}

func TestDataRealism(t *testing.T) {
	srv := newTestServer(t, testOptions(1000))
	tok := newAccessTokenFor(t, srv)
	_, b := getJSON(t, srv, tok, "/api/v1/101/sync/CRM/Accounts?$filter=Timestamp%20gt%200L&$select=ID,Code,Name,IsSupplier,Email,Phone,VATNumber,Created,Modified,Timestamp")
	rows := decodePage(t, b).D.Results
	guid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	date := regexp.MustCompile(`^/Date\(\d{13}\)/$`)
	var suppliers, nonASCII, nulls int
	ids := map[string]bool{}
	for _, r := range rows {
		id := r["ID"].(string)
		if !guid.MatchString(id) || ids[id] {
			t.Fatalf("ID %q: want a unique lowercase GUID", id)
		}
		ids[id] = true
		if code := r["Code"].(string); len(code) != 18 || code[0] != ' ' {
			t.Fatalf("Code %q: want 18 characters, space-padded", code)
		}
		if !date.MatchString(r["Created"].(string)) {
			t.Fatalf("Created %q: want /Date(ms)/", r["Created"])
		}
		if _, ok := r["__metadata"].(map[string]any)["uri"]; !ok {
			t.Fatal("row without __metadata.uri")
		}
		if r["IsSupplier"].(bool) {
			suppliers++
		}
		if strings.ContainsFunc(r["Name"].(string), func(c rune) bool { return c > 127 }) {
			nonASCII++
		}
		for _, f := range []string{"Email", "Phone", "VATNumber"} {
			if r[f] == nil {
				nulls++
			}
		}
	}
	if suppliers < 250 || suppliers > 350 {
		t.Errorf("got %d suppliers in 1000, want ~30%%", suppliers)
	}
	if nonASCII < 100 {
		t.Errorf("got %d names with non-ASCII letters, want many", nonASCII)
	}
	if nulls < 100 {
		t.Errorf("got %d nulls, want nulls where Exact has them", nulls)
	}
	// Dates are Amsterdam wall-clock milliseconds (§3.8): winter is UTC+1.
	winter := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	if got, want := wallMillis(winter.UnixMilli()), winter.Add(time.Hour).UnixMilli(); got != want {
		t.Errorf("got wall-clock ms %d, want %d", got, want)
	}
	summer := time.Date(2025, 7, 1, 9, 0, 0, 0, time.UTC)
	if got, want := wallMillis(summer.UnixMilli()), summer.Add(2*time.Hour).UnixMilli(); got != want {
		t.Errorf("got summer wall-clock ms %d, want %d", got, want)
	}
	// Deterministic from the seed.
	again := New(testOptions(1000))
	if diff := cmp.Diff(srv.Accounts(101), again.Accounts(101)); diff != "" {
		t.Errorf("same seed, different accounts (-first +second):\n%s", diff)
	}
}

func TestXMLUnlessJSONAccepted(t *testing.T) {
	srv := newTestServer(t, testOptions(3))
	tok := newAccessTokenFor(t, srv)
	tests := []struct {
		name, accept, path string
		wantType           string
	}{
		{"no Accept", "", "/api/v1/101/crm/Accounts?$filter=IsSupplier%20eq%20false&$select=ID,Name,Created", "application/atom+xml"},
		{"Accept xml", "application/xml", "/api/v1/current/Me", "application/atom+xml"},
		{"Accept json", "application/json", "/api/v1/current/Me", "application/json"},
		{"error as xml", "", "/api/v1/101/crm/Accounts", "application/xml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := get(t, srv, tok, tt.path, tt.accept)
			if got := resp.Header.Get("Content-Type"); !strings.HasPrefix(got, tt.wantType) {
				t.Errorf("got Content-Type %q, want %q", got, tt.wantType)
			}
			if strings.Contains(tt.wantType, "xml") {
				d := xml.NewDecoder(strings.NewReader(string(b)))
				for {
					_, err := d.Token()
					if err != nil {
						if err.Error() != "EOF" {
							t.Errorf("invalid XML: %v: %s", err, b)
						}
						break
					}
				}
			}
		})
	}
}

func TestMethodNotAllowed(t *testing.T) {
	srv := newTestServer(t, testOptions(3))
	tok := newAccessTokenFor(t, srv)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/101/crm/Accounts", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("got %d, want 405", resp.StatusCode)
	}
}

// TestPagingSurvivesAChangeOfThePageEnd: the record a regular or bulk page ended on is
// changed, or deleted, before the next page is asked for; the next page still continues
// where the first ended (§3.6: the $skiptoken is a position), so a full read sees every
// other record once.
func TestPagingSurvivesAChangeOfThePageEnd(t *testing.T) {
	for _, change := range []string{"update", "delete"} {
		for _, path := range []string{
			"/api/v1/101/crm/Accounts?$filter=Blocked%20eq%20false&$select=ID",
			"/api/v1/101/bulk/CRM/Accounts?$filter=Type%20eq%20'A'&$select=ID",
		} {
			t.Run(change+" "+strings.SplitN(path, "?", 2)[0], func(t *testing.T) {
				srv := newTestServer(t, testOptions(2500))
				tok := newAccessTokenFor(t, srv)
				resp, b := getJSON(t, srv, tok, path)
				if resp.StatusCode != 200 {
					t.Fatalf("first page: %d %.300s", resp.StatusCode, b)
				}
				first := decodePage(t, b)
				end := first.D.Results[len(first.D.Results)-1]["ID"].(string)
				if change == "update" {
					a, _ := srv.Account(101, end)
					a.Name += " (renamed)"
					if err := srv.UpsertAccounts(101, a); err != nil {
						t.Fatal(err)
					}
				} else if err := srv.DeleteAccounts(101, end); err != nil {
					t.Fatal(err)
				}
				rest, _ := pageAll(t, srv, tok, first.D.Next)
				seen := map[string]int{}
				for _, r := range append(first.D.Results, rest...) {
					seen[r["ID"].(string)]++
				}
				for _, a := range srv.Accounts(101) {
					if a.ID != end && !a.Blocked && seen[a.ID] != 1 {
						t.Errorf("account %s served %d times, want once", a.ID, seen[a.ID])
					}
				}
			})
		}
	}
}
