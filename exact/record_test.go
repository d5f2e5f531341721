package exact

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecodePage(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantRaw   []string
		wantNext  string
		wantCount int64
	}{
		{
			name:      "d.results with __next",
			body:      `{"d":{"results":[{"__metadata":{"uri":"u1","type":"T"},"ID":"a","N":1},{"__metadata":{"uri":"u2"},"ID":"b","N":2}],"__next":"https://start.exactonline.nl/api/v1/1/sync/CRM/Accounts?$select=ID,N&$skiptoken=4001L"}}`,
			wantRaw:   []string{`{"ID":"a","N":1}`, `{"ID":"b","N":2}`},
			wantNext:  "https://start.exactonline.nl/api/v1/1/sync/CRM/Accounts?$select=ID,N&$skiptoken=4001L",
			wantCount: -1,
		},
		{
			name:      "__next before results, escaped slashes and quote",
			body:      `{"d":{"__next":"https:\/\/h\/api\/v1\/1\/crm\/Accounts?$skiptoken=guid\u0027x\u0027","results":[]}}`,
			wantRaw:   []string{},
			wantNext:  "https://h/api/v1/1/crm/Accounts?$skiptoken=guid'x'",
			wantCount: -1,
		},
		{
			name:      "bare d array",
			body:      `{"d":[{"ID":"a"},{"__metadata":{},"ID":"b"}]}`,
			wantRaw:   []string{`{"ID":"a"}`, `{"ID":"b"}`},
			wantCount: -1,
		},
		{
			name:      "last page without __next, with __count",
			body:      `{"d":{"results":[{"ID":"a"}],"__count":"17"}}`,
			wantRaw:   []string{`{"ID":"a"}`},
			wantCount: 17,
		},
		{
			name:      "null __next",
			body:      `{"d":{"results":[],"__next":null}}`,
			wantRaw:   []string{},
			wantCount: -1,
		},
		{
			name:      "metadata in the middle",
			body:      `{"d":{"results":[{"A":1,"__metadata":{"uri":"x"},"B":[1,{"c":"}"}]}]}}`,
			wantRaw:   []string{`{"A":1,"B":[1,{"c":"}"}]}`},
			wantCount: -1,
		},
		{
			name:      "metadata last",
			body:      `{"d":{"results":[{"A":"x,y","B":null,"__metadata":{"uri":"x"}}]}}`,
			wantRaw:   []string{`{"A":"x,y","B":null}`},
			wantCount: -1,
		},
		{
			name:      "metadata only",
			body:      `{"d":{"results":[{"__metadata":{"uri":"x"}}]}}`,
			wantRaw:   []string{`{}`},
			wantCount: -1,
		},
		{
			name:      "whitespace everywhere",
			body:      "{ \"d\" : { \"results\" : [ { \"__metadata\" : { } ,\n \"A\" : 1 } , { \"A\" : 2 , \"__metadata\" : {} } ] } }\n",
			wantRaw:   []string{`{ "A" : 1 }`, `{ "A" : 2 }`},
			wantCount: -1,
		},
		{
			name:      "single entity in d",
			body:      `{"d":{"__metadata":{"uri":"x"},"UserID":"u","CurrentDivision":101}}`,
			wantRaw:   []string{`{"UserID":"u","CurrentDivision":101}`},
			wantCount: -1,
		},
		{
			name:      "other top-level members ignored",
			body:      `{"x":{"d":[1]},"d":[{"A":1}],"y":[true,false,null,-1.5e3]}`,
			wantRaw:   []string{`{"A":1}`},
			wantCount: -1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pb, err := decodePage([]byte(tt.body))
			if err != nil {
				t.Fatalf("decodePage: %v", err)
			}
			got := []string{}
			for _, r := range pb.records {
				got = append(got, string(r.Raw()))
				if !json.Valid(r.Raw()) {
					t.Errorf("Raw is not valid JSON: %s", r.Raw())
				}
				if r.Field("__metadata") != nil {
					t.Errorf("Field(__metadata) is not nil")
				}
			}
			if diff := cmp.Diff(tt.wantRaw, got); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
			if pb.next != tt.wantNext {
				t.Errorf("next: got %q, want %q", pb.next, tt.wantNext)
			}
			if pb.count != tt.wantCount {
				t.Errorf("count: got %d, want %d", pb.count, tt.wantCount)
			}
		})
	}
}

func TestRecordField(t *testing.T) {
	body := `{"d":{"results":[{"__metadata":{"uri":"x"},"ID":"0c8d", "Code":"               101","Name":"A \"quoted\" name","Amount":12.50,"Blocked":false,"Email":null,"Nested":{"ID":"inner"}}]}}`
	pb, err := decodePage([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	r := pb.records[0]
	tests := []struct {
		name, field string
		want        []byte
	}{
		{"string", "ID", []byte(`"0c8d"`)},
		{"padded code", "Code", []byte(`"               101"`)},
		{"escaped string", "Name", []byte(`"A \"quoted\" name"`)},
		{"number", "Amount", []byte(`12.50`)},
		{"false", "Blocked", []byte(`false`)},
		{"null", "Email", []byte(`null`)},
		{"object", "Nested", []byte(`{"ID":"inner"}`)},
		{"absent", "Missing", nil},
		{"case matters", "id", nil},
		{"metadata hidden", "__metadata", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, r.Field(tt.field)); diff != "" {
				t.Errorf("Field(%q) (-want +got):\n%s", tt.field, diff)
			}
		})
	}
	if got, want := r.Len(), 7; got != want {
		t.Errorf("Len: got %d, want %d", got, want)
	}
}

func TestDecodePageMalformed(t *testing.T) {
	tests := []struct{ name, body string }{
		{"empty", ``},
		{"not JSON", `<html>Object moved</html>`},
		{"no d", `{"error":{"code":"","message":{"value":"x"}}}`},
		{"d is a string", `{"d":"x"}`},
		{"results not an array", `{"d":{"results":{}}}`},
		{"record not an object", `{"d":{"results":[1]}}`},
		{"missing comma", `{"d":[{"A":1 "B":2}]}`},
		{"bad literal", `{"d":[{"A":tru}]}`},
		{"bad number", `{"d":[{"A":01}]}`},
		{"unbalanced nesting", `{"d":[{"A":[1}]}`},
		{"trailing garbage", `{"d":[]} x`},
		{"control character", "{\"d\":[{\"A\":\"a\nb\"}]}"},
		{"__next not a string", `{"d":{"results":[],"__next":5}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := decodePage([]byte(tt.body)); err == nil {
				t.Errorf("got no error, want one")
			}
		})
	}
}

// Every truncation of a valid page must be reported, wherever the body was cut.
func TestDecodePageTruncated(t *testing.T) {
	body := string(samplePage(3))
	for n := range len(body) {
		_, err := decodePage([]byte(body[:n]))
		if err == nil {
			t.Fatalf("truncated at %d of %d: got no error (…%s)", n, len(body), body[max(0, n-30):n])
		}
	}
	if _, err := decodePage([]byte(body)); err != nil {
		t.Fatalf("full body: %v", err)
	}
}

func TestDecodePageEOFError(t *testing.T) {
	_, err := decodePage([]byte(`{"d":{"results":[{"ID":"a"},{"ID":`))
	if !errors.Is(err, errEOF) {
		t.Errorf("got %v, want unexpected end of JSON input", err)
	}
}

// Raw must be the record as received minus __metadata, for a realistic page.
func TestDecodePageRawMatchesEncodingJSON(t *testing.T) {
	body := samplePage(50)
	var env struct {
		D struct {
			Results []map[string]json.RawMessage `json:"results"`
		} `json:"d"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	pb, err := decodePage(append([]byte(nil), body...))
	if err != nil {
		t.Fatal(err)
	}
	if len(pb.records) != len(env.D.Results) {
		t.Fatalf("records: got %d, want %d", len(pb.records), len(env.D.Results))
	}
	for i, r := range pb.records {
		want := env.D.Results[i]
		delete(want, "__metadata")
		var got map[string]json.RawMessage
		if err := json.Unmarshal(r.Raw(), &got); err != nil {
			t.Fatalf("record %d: Raw is not JSON: %v", i, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("record %d (-want +got):\n%s", i, diff)
		}
		for name, v := range want {
			if diff := cmp.Diff([]byte(v), r.Field(name)); diff != "" {
				t.Fatalf("record %d Field(%q) (-want +got):\n%s", i, name, diff)
			}
		}
	}
}

// samplePage builds a sync/CRM/Accounts page shaped like Exact's (§3.10).
func samplePage(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"d":{"results":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		email := fmt.Sprintf(`"info%d@example.nl"`, i)
		if i%3 == 0 {
			email = "null"
		}
		fmt.Fprintf(&b, `{"__metadata":{"uri":"https://start.exactonline.nl/api/v1/101/sync/CRM/Accounts(%dL)","type":"Exact.Web.Api.Models.Sync.CRM.Account"},`+
			`"ID":"5b7f4515-%04x-4c1a-9d3e-0123456789ab","Code":"%18d","Name":"Account \"%d\" B.V.","IsSupplier":%t,"IsSales":true,"IsPurchase":false,"Blocked":false,`+
			`"Status":"C","Type":"A","Email":%s,"Phone":"+31 20 123 45 67","Website":null,"AddressLine1":"Keizersgracht %d","Postcode":"1015 CJ","City":"Amsterdam","Country":"NL",`+
			`"VATNumber":"NL%09dB01","ChamberOfCommerce":"%08d","Created":"/Date(1735737600000)/","Modified":"/Date(1751328000000)/","Division":101,"Timestamp":%d,"CreditLinePurchase":"1234.50"}`,
			4000+i, i, i, i, i%4 == 0, email, i, i, i, 4000+i)
	}
	b.WriteString(`],"__next":"https://start.exactonline.nl/api/v1/101/sync/CRM/Accounts?$filter=Timestamp%20gt%204000L&$select=ID,Code&$skiptoken=5000L"}}`)
	return []byte(b.String())
}

// BenchmarkDecodePage decodes a page of 1,000 accounts (the sync endpoints' page size, §3.6).
func BenchmarkDecodePage(b *testing.B) {
	page := samplePage(1000)
	body := make([]byte, len(page))
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		copy(body, page) // decoding rewrites the body in place
		pb, err := decodePage(body)
		if err != nil || len(pb.records) != 1000 {
			b.Fatalf("decodePage: %v, %d records", err, len(pb.records))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/record")
}

// BenchmarkDecodePageAndConvert adds what a sync of accounts does with each record: convert
// the typed columns and take Raw.
func BenchmarkDecodePageAndConvert(b *testing.B) {
	page := samplePage(1000)
	body := make([]byte, len(page))
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		copy(body, page)
		pb, err := decodePage(body)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range pb.records {
			_, _, e1 := GUID(r.Field("ID"))
			_, _, e2 := Code(r.Field("Code"))
			_, _, e3 := String(r.Field("Name"))
			_, _, e4 := Bool(r.Field("IsSupplier"))
			_, _, e5 := Bool(r.Field("IsSales"))
			_, _, e6 := String(r.Field("Status"))
			_, _, e7 := String(r.Field("Email"))
			_, _, e8 := String(r.Field("City"))
			_, _, e9 := String(r.Field("Country"))
			_, _, e10 := String(r.Field("VATNumber"))
			_, _, e11 := Bool(r.Field("Blocked"))
			_, _, e12 := Date(r.Field("Created"))
			_, _, e13 := Date(r.Field("Modified"))
			_, _, e14 := Int64(r.Field("Timestamp"))
			if err := errors.Join(e1, e2, e3, e4, e5, e6, e7, e8, e9, e10, e11, e12, e13, e14); err != nil {
				b.Fatal(err)
			}
			_ = r.Raw()
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/record")
}
