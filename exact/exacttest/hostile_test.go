package exacttest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// hostileKinds are the broken records the simulator must serve verbatim: each kind once.
var hostileKinds = []struct {
	name, record string
	hasTS        bool
	guid         bool
}{
	{"nul", `{"ID":"a0000000-0000-4000-8000-000000000001","Name":"has\u0000nul","IsSupplier":true}`, false, true},
	{"lone surrogate", `{"ID":"a0000000-0000-4000-8000-000000000002","Name":"\ud800"}`, false, true},
	{"ID not a GUID", `{"ID":"not-a-guid","Name":"Geen GUID"}`, false, false},
	{"null Timestamp", `{"ID":"a0000000-0000-4000-8000-000000000004","Name":"x","Timestamp":null}`, true, true},
	{"IsSupplier yes", `{"ID":"a0000000-0000-4000-8000-000000000005","IsSupplier":"yes"}`, false, true},
	{"garbage date", `{"ID":"a0000000-0000-4000-8000-000000000006","Created":"/Date(garbage)/"}`, false, true},
	{"invalid array", `{"ID":"a0000000-0000-4000-8000-000000000007","Name":[1 2 x]}`, false, true},
	{"invalid escape", `{"ID":"a0000000-0000-4000-8000-000000000008","Name":"\x"}`, false, true},
}

// served is how a hostile record must appear in a sync page at Timestamp ts.
func served(srv *Server, record string, ts int64, hasTS bool) string {
	meta := `{"__metadata":{"uri":"` + srv.URL + `/api/v1/101/sync/CRM/Accounts(` + strconv.FormatInt(ts, 10) +
		`L)","type":"Exact.Web.Api.Models.Account"},`
	out := meta + record[1:]
	if !hasTS {
		out = strings.TrimSuffix(out, "}") + `,"Timestamp":` + strconv.FormatInt(ts, 10) + "}"
	}
	return out
}

func TestHostileRecordsServedVerbatimInSyncOrder(t *testing.T) {
	srv := newTestServer(t, testOptions(5))
	tok := newAccessTokenFor(t, srv)
	var raws []json.RawMessage
	for _, k := range hostileKinds {
		raws = append(raws, json.RawMessage(k.record))
	}
	if err := srv.UpsertRawAccounts(101, raws...); err != nil {
		t.Fatal(err)
	}
	// A good record after them: the stream goes on.
	if err := srv.UpsertAccounts(101, Account{ID: "b0000000-0000-4000-8000-000000000001", Name: "Goed"}); err != nil {
		t.Fatal(err)
	}
	_, b := getJSON(t, srv, tok, "/api/v1/101/sync/CRM/Accounts?$filter=Timestamp%20gt%200L&$select=ID,Name")
	body := string(b)
	last := 0
	for i, k := range hostileKinds {
		ts := int64(6 + i) // after the 5 generated rows
		want := served(srv, k.record, ts, k.hasTS)
		at := strings.Index(body, want)
		if at < 0 {
			t.Errorf("%s: page does not contain %s", k.name, want)
			continue
		}
		if at < last {
			t.Errorf("%s: served out of Timestamp order", k.name)
		}
		last = at
	}
	if good := strings.Index(body, `"ID":"b0000000-0000-4000-8000-000000000001"`); good < last {
		t.Errorf("the good record after the hostile ones is missing or out of order")
	}

	// Paging from a cursor inside the hostile records resumes after it.
	_, b = getJSON(t, srv, tok, "/api/v1/101/sync/CRM/Accounts?$filter=Timestamp%20gt%2012L&$select=ID")
	if got := string(b); strings.Contains(got, "not-a-guid") || !strings.Contains(got, `"Name":"\x"`) {
		t.Errorf("page after Timestamp 12: got %s, want only the records from 13 on", got)
	}
}

func TestHostileRecordsThroughControlEndpoint(t *testing.T) {
	srv := newTestServer(t, testOptions(2))
	body := `{"division":101,"raw_upsert":[
		{"ID":"a0000000-0000-4000-8000-000000000001", "Name":"has\u0000nul"},
		"{\"ID\":\"a0000000-0000-4000-8000-000000000002\",\"Name\":[1 2 x]}",
		"{\"ID\":\"not-a-guid\",\"Name\":\"\\x\"}"
	]}`
	status, b := post(t, srv, "/_sim/accounts", body)
	if status != 200 || !strings.Contains(string(b), `"raw_upserted":3`) {
		t.Fatalf("POST /_sim/accounts: got %d %s", status, b)
	}
	resp, err := http.Get(srv.URL + "/_sim/accounts?division=101&hostile=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got []HostileAccount
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	want := []HostileAccount{
		{ID: "a0000000-0000-4000-8000-000000000001", Timestamp: 3, Record: `{"ID":"a0000000-0000-4000-8000-000000000001", "Name":"has\u0000nul"}`},
		{ID: "a0000000-0000-4000-8000-000000000002", Timestamp: 4, Record: `{"ID":"a0000000-0000-4000-8000-000000000002","Name":[1 2 x]}`},
		{Timestamp: 5, Record: `{"ID":"not-a-guid","Name":"\x"}`},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GET ?hostile=1 (-want +got):\n%s", diff)
	}
	if n := len(srv.Accounts(101)); n != 2 {
		t.Errorf("Accounts lists %d, want the 2 well-formed ones", n)
	}
	bad := []struct{ name, body string }{
		{"not an object", `{"division":101,"raw_upsert":["[1,2]"]}`},
		{"unterminated", `{"division":101,"raw_upsert":["{\"ID\":1"]}`},
		{"unknown division", `{"division":9,"raw_upsert":[{}]}`},
	}
	for _, tt := range bad {
		if status, _ := post(t, srv, "/_sim/accounts", tt.body); status != 400 {
			t.Errorf("%s: got %d, want 400", tt.name, status)
		}
	}
}

func TestHostileRecordReplacedAndDeleted(t *testing.T) {
	srv := newTestServer(t, testOptions(2))
	tok := newAccessTokenFor(t, srv)
	const id = "a0000000-0000-4000-8000-00000000000a"
	// A hostile version replaces a good one, which leaves the truth.
	if err := srv.UpsertAccounts(101, Account{ID: id, Name: "Eerst goed"}); err != nil {
		t.Fatal(err)
	}
	if err := srv.UpsertRawAccounts(101, json.RawMessage(`{"ID":"`+strings.ToUpper(id)+`","IsSupplier":"yes"}`)); err != nil {
		t.Fatal(err)
	}
	if _, ok := srv.Account(101, id); ok {
		t.Errorf("Account returns the hostile record")
	}
	if h := srv.HostileAccounts(101); len(h) != 1 || h[0].ID != id || h[0].Timestamp != 4 {
		t.Errorf("HostileAccounts = %+v, want the one record keyed %s at 4", h, id)
	}
	// An ordinary upsert replaces it, without merging the fields the simulator could read.
	status, b := post(t, srv, "/_sim/accounts", `{"division":101,"upsert":[{"ID":"`+id+`","Name":"Weer goed"}]}`)
	if status != 200 {
		t.Fatalf("upsert: %d %s", status, b)
	}
	a, ok := srv.Account(101, id)
	if !ok || a.Name != "Weer goed" || a.IsSupplier || a.Timestamp != 5 {
		t.Errorf("after the ordinary upsert: %+v (found %v), want Weer goed at 5, no supplier", a, ok)
	}
	if h := srv.HostileAccounts(101); len(h) != 0 {
		t.Errorf("HostileAccounts after the replacement = %+v, want none", h)
	}
	_, b = getJSON(t, srv, tok, "/api/v1/101/sync/CRM/Accounts?$filter=Timestamp%20gt%200L&$select=ID,Name")
	if p := decodePage(t, b); len(p.D.Results) != 3 {
		t.Errorf("sync serves %d records, want the 2 generated and the replacement", len(p.D.Results))
	}

	// A hostile record is deleted by its ID, and the deletion is in sync/Deleted.
	if err := srv.UpsertRawAccounts(101, json.RawMessage(`{"ID":"`+id+`","Name":"\ud800"}`)); err != nil {
		t.Fatal(err)
	}
	if err := srv.DeleteAccounts(101, id); err != nil {
		t.Fatal(err)
	}
	if h := srv.HostileAccounts(101); len(h) != 0 {
		t.Errorf("HostileAccounts after the deletion = %+v, want none", h)
	}
	_, b = getJSON(t, srv, tok, "/api/v1/101/sync/Deleted?$filter=Timestamp%20gt%200L&$select=EntityKey,EntityType,Timestamp")
	p := decodePage(t, b)
	if len(p.D.Results) != 1 || p.D.Results[0]["EntityKey"] != id || p.D.Results[0]["Timestamp"] != float64(7) {
		t.Errorf("sync/Deleted = %v, want the deletion of %s at 7", p.D.Results, id)
	}
	// A record without a GUID ID cannot be deleted.
	if err := srv.UpsertRawAccounts(101, json.RawMessage(`{"ID":"not-a-guid"}`)); err != nil {
		t.Fatal(err)
	}
	if err := srv.DeleteAccounts(101, "not-a-guid"); err == nil {
		t.Errorf("deleting by a non-GUID ID succeeded")
	}
}

func TestHostileRecordsOnRegularAndBulkEndpoints(t *testing.T) {
	srv := newTestServer(t, testOptions(59))
	tok := newAccessTokenFor(t, srv)
	// Timestamps 60 and 61: the regular page of 60 ends on the GUID-keyed hostile record,
	// the one without a GUID is not served by ID-paged endpoints.
	if err := srv.UpsertRawAccounts(101,
		json.RawMessage(`{"ID":"a0000000-0000-4000-8000-000000000001","Name":"has\u0000nul","IsSupplier":true}`),
		json.RawMessage(`{"ID":17,"Name":"nummer"}`),
		json.RawMessage(`{"ID":"a0000000-0000-4000-8000-000000000003","Name":[1 2 x]}`),
	); err != nil {
		t.Fatal(err)
	}
	_, b := getJSON(t, srv, tok, "/api/v1/101/crm/Accounts?$filter=IsSupplier%20eq%20true&$select=ID,Name")
	if !strings.Contains(string(b), `"Name":"has\u0000nul"`) {
		t.Errorf("crm/Accounts with IsSupplier eq true does not serve the hostile supplier verbatim")
	}
	var all string
	next := "/api/v1/101/crm/Accounts?$filter=Name%20ne%20'x'&$select=ID"
	for pages := 0; next != "" && pages < 5; pages++ {
		_, b = getJSON(t, srv, tok, next)
		all += string(b)
		next = ""
		if i := strings.Index(string(b), `"__next":"`); i >= 0 {
			next, _, _ = strings.Cut(string(b[i+len(`"__next":"`):]), `"`)
		}
	}
	if strings.Contains(all, "nummer") || !strings.Contains(all, `"Name":[1 2 x]`) || !strings.Contains(all, "000000000001") {
		t.Errorf("regular paging: want both GUID-keyed hostile records and not the other")
	}
	_, b = getJSON(t, srv, tok, "/api/v1/101/bulk/CRM/Accounts?$filter=Name%20ne%20'x'&$select=ID")
	if strings.Contains(string(b), "nummer") || !strings.Contains(string(b), `"Name":[1 2 x]`) {
		t.Errorf("bulk page: want the GUID-keyed hostile records only")
	}
}

func TestRawMember(t *testing.T) {
	tests := []struct {
		name, obj, member, want string
		ok                      bool
	}{
		{"plain", `{"ID":"x","Timestamp":5}`, "Timestamp", "5", true},
		{"null", `{"Timestamp" : null }`, "Timestamp", "null", true},
		{"absent", `{"ID":"x"}`, "Timestamp", "", false},
		{"nested is not top level", `{"a":{"Timestamp":1}}`, "Timestamp", "", false},
		{"name inside a string value", `{"Name":"Timestamp","b":1}`, "Timestamp", "", false},
		{"after invalid JSON", `{"Name":[1 2 x],"Timestamp":7}`, "Timestamp", "7", true},
		{"after a bad escape", `{"Name":"\x","ID":"g"}`, "ID", `"g"`, true},
		{"escaped quote", `{"Name":"a\"b","ID":1}`, "ID", "1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := rawMember([]byte(tt.obj), tt.member)
			if string(got) != tt.want || ok != tt.ok {
				t.Errorf("rawMember(%s, %s) = %q, %v; want %q, %v", tt.obj, tt.member, got, ok, tt.want, tt.ok)
			}
		})
	}
}
