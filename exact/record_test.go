package exact

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
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
			// A regular endpoint with $top of at most 60 answers the bare array, $select or
			// not (§3.5); without $select navigation members come deferred.
			name: "bare d array with $select and a __deferred member",
			body: `{"d":[{"__metadata":{"uri":"https://start.exactonline.fr/api/v1/1/vat/VATCodes(guid'e1')","type":"Exact.Web.Api.Models.VATCode"},` +
				`"Code":"VB ","VATPercentages":{"__deferred":{"uri":"https://start.exactonline.fr/api/v1/1/vat/VATCodes(guid'e1')/VATPercentages"}},"Percentage":0.21},` +
				`{"Code":"0  ","VATPercentages":{"__deferred":{"uri":"u2"}},"Percentage":0,"__metadata":{"uri":"u2"}}]}`,
			wantRaw: []string{
				`{"Code":"VB ","VATPercentages":{"__deferred":{"uri":"https://start.exactonline.fr/api/v1/1/vat/VATCodes(guid'e1')/VATPercentages"}},"Percentage":0.21}`,
				`{"Code":"0  ","VATPercentages":{"__deferred":{"uri":"u2"}},"Percentage":0}`,
			},
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
			pb, err := decodePage("", []byte(tt.body))
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
	pb, err := decodePage("", []byte(body))
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
	var names []string
	for i := range r.Len() {
		name, value := r.Member(i)
		names = append(names, string(name))
		if !bytes.Equal(value, r.Field(string(name))) {
			t.Errorf("Member(%d) = %s, %s; Field(%s) = %s", i, name, value, name, r.Field(string(name)))
		}
	}
	if diff := cmp.Diff([]string{"ID", "Code", "Name", "Amount", "Blocked", "Email", "Nested"}, names); diff != "" {
		t.Errorf("Member names (-want +got):\n%s", diff)
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
		{"unbalanced nesting", `{"d":[{"A":[1}]}`},
		{"unclosed record", `{"d":[{"A":[1]]}`},
		{"trailing garbage", `{"d":[]} x`},
		{"garbage between records", `{"d":[{"A":1} x {"A":2}]}`},
		{"garbage after results", `{"d":{"results":[],"x":[1 2]}}`},
		{"bad escape outside records", `{"d":{"results":[],"__next":"\x"}}`},
		{"__next not a string", `{"d":{"results":[],"__next":5}}`},
		{"__next a lone surrogate", `{"d":{"results":[],"__next":"\ud800"}}`},
		{"other member not JSON", `{"x":[1 2],"d":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodePage("sync/CRM/Accounts", []byte(tt.body))
			var de *DecodeError
			if !errors.As(err, &de) || de.Record != -1 || de.Endpoint != "sync/CRM/Accounts" {
				t.Errorf("got %#v, want a *DecodeError of the whole page (Record -1) naming the endpoint", err)
			}
		})
	}
}

// Every truncation of a valid page must be reported, wherever the body was cut.
func TestDecodePageTruncated(t *testing.T) {
	body := string(samplePage(3))
	for n := range len(body) {
		_, err := decodePage("", []byte(body[:n]))
		if err == nil {
			t.Fatalf("truncated at %d of %d: got no error (…%s)", n, len(body), body[max(0, n-30):n])
		}
	}
	if _, err := decodePage("", []byte(body)); err != nil {
		t.Fatalf("full body: %v", err)
	}
}

func TestDecodePageEOFError(t *testing.T) {
	_, err := decodePage("", []byte(`{"d":{"results":[{"ID":"a"},{"ID":`))
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
	pb, err := decodePage("", append([]byte(nil), body...))
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
		pb, err := decodePage("", body)
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
		pb, err := decodePage("", body)
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

// A record that is bad within clear bounds is flagged; the page and its other records
// survive.
func TestDecodePageBadRecord(t *testing.T) {
	tests := []struct {
		name    string
		record  string // the middle record of three, as received
		wantErr string // in Err().Error()
		text    bool   // valid JSON, but text PostgreSQL cannot store
	}{
		{"NUL escape", `{"ID":"b","Name":"has\u0000nul"}`,
			`member "Name" holds a NUL character (\u0000), which PostgreSQL cannot store`, true},
		{"lone high surrogate", `{"ID":"b","Name":"\ud800"}`,
			`member "Name" holds a lone UTF-16 surrogate (\ud800), which PostgreSQL cannot store`, true},
		{"high surrogate before another escape", `{"ID":"b","Name":"\ud800\n"}`,
			`member "Name" holds a lone UTF-16 surrogate (\ud800)`, true},
		{"lone low surrogate", `{"ID":"b","Name":"x\udc00"}`,
			`member "Name" holds a lone UTF-16 surrogate (\udc00)`, true},
		{"invalid UTF-8", "{\"ID\":\"b\",\"Name\":\"a\xffb\"}",
			`member "Name" holds bytes that are not UTF-8 (0xff), which PostgreSQL cannot store`, true},
		{"UTF-16 surrogate encoded in UTF-8", "{\"ID\":\"b\",\"Name\":\"\xed\xa0\x80\"}",
			`member "Name" holds bytes that are not UTF-8`, true},
		{"NUL in a nested value", `{"ID":"b","Lines":[{"Note":"\u0000"}]}`,
			`member "Lines" holds a NUL character`, true},
		{"NUL in a member name", `{"ID":"b","N\u0000":1}`,
			`a member name holds a NUL character`, true},
		{"array without commas", `{"ID":"b","A":[1 2 x]}`,
			`malformed JSON in record 1 (ID "b"): member "A": expected ',' or ']' in an array at byte 17 of the record`, false},
		{"invalid escape", `{"ID":"b","A":"\x"}`, `member "A": invalid escape "\\x" in a string`, false},
		{"short unicode escape", `{"ID":"b","A":"\u12"}`, `member "A": invalid escape: \u wants 4 hex digits`, false},
		{"raw control character", "{\"ID\":\"b\",\"A\":\"a\nb\"}", `member "A": control character 0x0a in a string`, false},
		{"missing comma between members", `{"ID":"b","A":1 "B":2}`, `member "A": expected ',' or '}' after a member`, false},
		{"bad literal", `{"ID":"b","A":tru}`, `member "A": invalid literal`, false},
		{"bad number", `{"ID":"b","A":01}`, `member "A": invalid number`, false},
		{"bad value in a nested object", `{"ID":"b","A":{"x":}}`, `member "A": expected a value`, false},
		{"error before the ID", `{"A":"\x","ID":"b"}`, `malformed JSON in record 1 (ID "b"): member "A"`, false},
		{"bad metadata", `{"__metadata":{"uri":"\x"},"ID":"b"}`, `member "__metadata": invalid escape`, false},
		{"a name twice", `{"ID":"b","N":2,"N":3}`,
			`record 1 (ID "b"): member "N" occurs twice, at bytes 10 and 16 of the record: which value it has is ambiguous`, false},
		{"a name twice, once with escapes", `{"ID":"b","N":2,"\u004e":3}`, `member "N" occurs twice, at bytes 10 and 16`, false},
		{"the key twice", `{"ID":"b","N":2,"ID":"c"}`, `record 1 (ID "b"): member "ID" occurs twice`, false},
		{"metadata twice", `{"__metadata":{},"ID":"b","__metadata":{}}`, `member "__metadata" occurs twice`, false},
		{"metadata twice, once with escapes", `{"__metadata":{},"ID":"b","__m\u0065tadata":{}}`, `member "__metadata" occurs twice`, false},
		{"names of the first record, and one again", `{"__metadata":{},"ID":"b","N":2,"ID":"c"}`, `member "ID" occurs twice`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"d":{"results":[{"__metadata":{"uri":"u1"},"ID":"a","N":1},` + tt.record +
				`,{"__metadata":{"uri":"u3"},"ID":"c","N":3}],"__next":"https://h/next"}}`
			pb, err := decodePage("", []byte(body))
			if err != nil {
				t.Fatalf("decodePage: got %v, want a page with a bad record", err)
			}
			if got, want := len(pb.records), 3; got != want {
				t.Fatalf("records: got %d, want %d", got, want)
			}
			if got, want := pb.next, "https://h/next"; got != want {
				t.Errorf("next: got %q, want %q", got, want)
			}
			for i, want := range map[int]string{0: `{"ID":"a","N":1}`, 2: `{"ID":"c","N":3}`} {
				r := pb.records[i]
				if r.Err() != nil {
					t.Errorf("record %d: got Err %v, want nil", i, r.Err())
				}
				if got := string(r.Raw()); got != want {
					t.Errorf("record %d: got Raw %s, want %s", i, got, want)
				}
				if got := string(r.Bytes()); got != want {
					t.Errorf("record %d: got Bytes %s, want %s", i, got, want)
				}
			}
			bad := pb.records[1]
			if got := string(bad.Bytes()); got != tt.record {
				t.Errorf("bad record: got Bytes %q, want %q", got, tt.record)
			}
			var derr *DecodeError
			if !errors.As(bad.Err(), &derr) {
				t.Fatalf("bad record: got Err %v, want a *DecodeError", bad.Err())
			}
			if got, want := derr.Record, 1; got != want {
				t.Errorf("DecodeError.Record: got %d, want %d", got, want)
			}
			if !strings.Contains(derr.Error(), tt.wantErr) {
				t.Errorf("Err: got %q, want it to contain %q", derr.Error(), tt.wantErr)
			}
			var se *scanError
			if !errors.As(derr, &se) || se.text != tt.text {
				t.Errorf("Err %q: got text %v, want %v", derr, se != nil && se.text, tt.text)
			}
			if bad.Field("__metadata") != nil {
				t.Errorf("bad record: Field(__metadata) is not nil")
			}
		})
	}
}

// Member names are compared decoded, as jsonb compares them: an escaped name is the
// member it spells, for Field, Member and the __metadata cut, while Raw keeps the bytes as
// received.
func TestDecodePageEscapedNames(t *testing.T) {
	body := `{"d":[{"__m\u0065tadata":{"uri":"x"},"ID":"a","N\u0061me":"x","Code":"1"},{"ID":"b","Name":"y","Code":"2"},{"ID":"c","N\u0061me":"z","Code":"3"}]}`
	pb, err := decodePage("", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	wantRaw := []string{`{"ID":"a","N\u0061me":"x","Code":"1"}`, `{"ID":"b","Name":"y","Code":"2"}`, `{"ID":"c","N\u0061me":"z","Code":"3"}`}
	for i, r := range pb.records {
		if r.Err() != nil {
			t.Fatalf("record %d: got Err %v, want a good record", i, r.Err())
		}
		if got := string(r.Raw()); got != wantRaw[i] {
			t.Errorf("record %d: got Raw %s, want %s", i, got, wantRaw[i])
		}
		if got, want := string(r.Field("Name")), fmt.Sprintf(`"%c"`, "xyz"[i]); got != want {
			t.Errorf("record %d: Field(Name) = %s, want %s", i, got, want)
		}
		if got := r.Field(`N\u0061me`); got != nil {
			t.Errorf("record %d: Field of the name as written = %s, want nil (names compare decoded)", i, got)
		}
		var names []string
		for k := range r.Len() {
			name, _ := r.Member(k)
			names = append(names, string(name))
		}
		if diff := cmp.Diff([]string{"ID", "Name", "Code"}, names); diff != "" {
			t.Errorf("record %d: Member names (-want +got):\n%s", i, diff)
		}
	}
}

// The records of a page usually repeat the names of the one before, which spares the check
// for a name twice; a record that does not is checked in full, wherever it comes.
func TestDecodePageNameTwiceAfterGoodRecords(t *testing.T) {
	body := `{"d":[{"ID":"a","N":1},{"ID":"b","N":2},{"ID":"c","N":3,"N":4},{"ID":"d","N":5},{"N":6,"ID":"e","ID":"f"},{"N":7,"ID":"g"}]}`
	pb, err := decodePage("", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	var got []bool
	for _, r := range pb.records {
		got = append(got, r.Err() != nil)
	}
	if diff := cmp.Diff([]bool{false, false, true, false, true, false}, got); diff != "" {
		t.Errorf("records with Err (-want +got):\n%s", diff)
	}
}

func TestDecodePageBadRecordKey(t *testing.T) {
	body := `{"d":[{"__metadata":{"uri":"x"},"ID":"5b7f4515-0c8d-4c1a-9d3e-0123456789ab","Name":"\ud800"}]}`
	p, err := DecodePage("sync/CRM/Accounts", []byte(body))
	if err != nil {
		t.Fatalf("DecodePage: %v", err)
	}
	var derr *DecodeError
	if !errors.As(p.Records[0].Err(), &derr) {
		t.Fatalf("got Err %v, want a *DecodeError", p.Records[0].Err())
	}
	want := DecodeError{Endpoint: "sync/CRM/Accounts", Record: 0, Key: "5b7f4515-0c8d-4c1a-9d3e-0123456789ab", Err: derr.Err}
	if diff := cmp.Diff(want, *derr, cmp.Comparer(func(a, b error) bool { return a == b })); diff != "" {
		t.Errorf("DecodeError (-want +got):\n%s", diff)
	}
	if got, want := derr.Error(), `record 0 (ID "5b7f4515-0c8d-4c1a-9d3e-0123456789ab") from sync/CRM/Accounts: member "Name" holds a lone UTF-16 surrogate (\ud800), which PostgreSQL cannot store`; got != want {
		t.Errorf("Error:\ngot  %s\nwant %s", got, want)
	}
	if got, want := string(p.Records[0].Field("ID")), `"5b7f4515-0c8d-4c1a-9d3e-0123456789ab"`; got != want {
		t.Errorf("Field(ID) of the bad record: got %s, want %s", got, want)
	}
}

// A page that cannot be split into records fails whole, as a *DecodeError with Record -1,
// also when a bad record comes before the break.
func TestDecodePagePageLevelError(t *testing.T) {
	tests := []struct{ name, body string }{
		{"truncated after a bad record", `{"d":[{"A":"\x"},{"A":`},
		{"truncated inside a bad record", `{"d":[{"A":"\u0000"`},
		{"unbalanced bad record", `{"d":[{"A":[1 2 x}]}`},
		{"unterminated string", `{"d":[{"A":"x}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := DecodePage("sync/CRM/Accounts", []byte(tt.body))
			var derr *DecodeError
			if !errors.As(err, &derr) {
				t.Fatalf("got (%v, %v), want a *DecodeError", p, err)
			}
			if derr.Record != -1 || derr.Endpoint != "sync/CRM/Accounts" {
				t.Errorf("got Record %d, Endpoint %q, want -1, sync/CRM/Accounts", derr.Record, derr.Endpoint)
			}
			if !strings.HasPrefix(err.Error(), "malformed JSON from sync/CRM/Accounts: ") {
				t.Errorf("got %q, want it to start with the endpoint", err)
			}
		})
	}
}

// The GET-by-key shape is one record, which may be bad on its own.
func TestDecodePageBadEntity(t *testing.T) {
	pb, err := decodePage("current/Me", []byte(`{"d":{"__metadata":{},"UserID":"u","FullName":"a\u0000b"}}`))
	if err != nil {
		t.Fatalf("decodePage: %v", err)
	}
	if len(pb.records) != 1 || pb.records[0].Err() == nil {
		t.Fatalf("got %d records, want 1 with Err", len(pb.records))
	}
	if got, want := pb.records[0].Err().Error(), `record 0 from current/Me: member "FullName" holds a NUL character`; !strings.HasPrefix(got, want) {
		t.Errorf("got %q, want it to start with %q", got, want)
	}
}

func TestDecodePageValidValues(t *testing.T) {
	// Everything RFC 8259 allows, including surrogate pairs and escapes of every kind.
	rec := `{"S":"\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00 é 😀","N":[-0,1.5e-3,2E+10,0.0],"L":[true,false,null],"O":{"a":{"b":[[],{}]}},"E":""}`
	pb, err := decodePage("", []byte(`{"d":[`+rec+`]}`))
	if err != nil {
		t.Fatalf("decodePage: %v", err)
	}
	if err := pb.records[0].Err(); err != nil {
		t.Fatalf("Err: got %v, want nil", err)
	}
	if got := string(pb.records[0].Raw()); got != rec {
		t.Errorf("Raw: got %s, want %s", got, rec)
	}
}

// TestBadRecordKeepsTheMembersAfterTheError: a bad value does not hide the members after
// it, so a run can still read a quarantined record's Timestamp and move its cursor past it.
func TestBadRecordKeepsTheMembersAfterTheError(t *testing.T) {
	for _, rec := range []string{
		`{"ID":"a","Name":"a\u0000b","Timestamp":5}`,
		`{"ID":"a","Name":"\ud800","Timestamp":5}`,
		`{"ID":"a","Name":[1 2 x],"Timestamp":5}`,
		`{"ID":"a","Name":"\x","Timestamp":5}`,
		`{"ID":"a","Name":tru,"Timestamp":5}`,
	} {
		p, err := DecodePage("e", []byte(`{"d":[`+rec+`]}`))
		if err != nil {
			t.Fatalf("%s: %v", rec, err)
		}
		r := p.Records[0]
		if r.Err() == nil || string(r.Field("Timestamp")) != "5" || string(r.Field("ID")) != `"a"` || r.Field("Name") != nil {
			t.Errorf("%s: Err %v, Timestamp %q, ID %q, Name %q; want an error, 5, \"a\" and no Name", rec, r.Err(), r.Field("Timestamp"), r.Field("ID"), r.Field("Name"))
		}
	}
}

// TestSpecialIn checks skipString's eight-byte test against stringSpecial, byte by byte:
// every byte value at every position among printable fillers, and random words.
func TestSpecialIn(t *testing.T) {
	bytewise := func(w [8]byte) bool {
		for _, c := range w {
			if stringSpecial[c] {
				return true
			}
		}
		return false
	}
	for _, filler := range []byte{' ', '!', '#', '[', ']', 'a', '~', 0x7f} {
		for pos := range 8 {
			for c := range 256 {
				var w [8]byte
				for i := range w {
					w[i] = filler
				}
				w[pos] = byte(c)
				if got, want := specialIn(binary.LittleEndian.Uint64(w[:])), bytewise(w); got != want {
					t.Fatalf("specialIn(%q) = %v, want %v", w, got, want)
				}
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1_000_000 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], rng.Uint64())
		for i := range w {
			if rng.IntN(2) == 0 {
				w[i] = ' ' + w[i]%95 // mostly printable ASCII, as pages are
			}
		}
		if got, want := specialIn(binary.LittleEndian.Uint64(w[:])), bytewise(w); got != want {
			t.Fatalf("specialIn(%q) = %v, want %v", w, got, want)
		}
	}
}
