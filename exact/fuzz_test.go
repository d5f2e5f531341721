package exact

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"
)

// Pages shaped like the simulator's and Exact's answers (§3.5), good and bad.
var pageSeeds = []string{
	`{"d":{"results":[{"__metadata":{"uri":"http://127.0.0.1:39193/api/v1/current/Me(guid'f11d1802-b3d0-46c9-b11d-d220a8397b1d')","type":"Exact.Web.Api.System.Me"},"CurrentDivision":101,"UserID":"f11d1802-b3d0-46c9-b11d-d220a8397b1d","UserName":"jan.devries@example.nl","FullName":"Jan de Vries","Email":"jan.devries@example.nl","LanguageCode":"nl-NL","Legislation":"1","DivisionCustomerCode":"           1265594","AccountingDivision":101,"ServerUtcOffset":3600}]}}`,
	`{"d":{"results":[{"__metadata":{"uri":"http://127.0.0.1:39193/api/v1/101/system/Divisions(101)","type":"Exact.Web.Api.Models.HRM.Division"},"Code":101,"Description":"Administratie 101 – Exacte Simulatie B.V.","Status":1,"Current":true,"DivisionMoveDate":null}],"__next":"https:\/\/start.exactonline.nl\/api\/v1\/101\/system\/Divisions?$skiptoken=101"}}`,
	`{"d":{"results":[{"__metadata":{"uri":"u","type":"Exact.Web.Api.Models.Sync.Deleted"},"EntityKey":"5b7f4515-0c8d-4c1a-9d3e-0123456789ab","EntityType":2,"Timestamp":"4001"}],"__count":"1"}}`,
	`{"d":[{"ID":"a","N":1},{"__metadata":{},"ID":"b"}]}`,
	`{"d":{"__metadata":{"uri":"x"},"UserID":"u","CurrentDivision":101}}`,
	`{"d":[{"ID":"a"},{"ID":"b","Name":"has\u0000nul"},{"ID":"c"}]}`,
	`{"d":[{"ID":"b","Name":"\ud800"},{"ID":"c","Name":"\udc00 \ud83d\ude00"}]}`,
	`{"d":[{"ID":"b","A":[1 2 x]},{"ID":"c","A":"\x"},{"ID":"d","A":"\u12"}]}`,
	"{\"d\":[{\"ID\":\"b\",\"Name\":\"a\xffb\"},{\"ID\":\"c\",\"Name\":\"a\nb\"}]}",
	`{"d":{"results":[{"ID":"a"},{"ID":`,
	`{"d":[{"A":[1}]}`,
	` { "d" : [ { "A" : -1.5e3 , "B" : [ true , false , null , { } , [ ] ] } ] } `,
	`{"d":[{"ID":"a","Name":"x"},{"ID":"b","Name":"x","Name":"y"},{"ID":"c","Name":"z"}]}`,
	`{"d":[{"ID":"a","N\u0061me":"x","Code":"1"},{"ID":"b","Name":"y","N\u0061me":"z"},{"__m\u0065tadata":{},"ID":"c"}]}`,
	`{"d":[{"__metadata":{},"ID":"a","__metadata":{}},{"ID":"b","\u00e9":1,"é":2}]}`,
}

// FuzzDecodePage checks the page decoder against encoding/json: it never panics; a record
// without Err is valid JSON whose members are those encoding/json reads; a body that
// encoding/json rejects is never accepted without a flagged record.
func FuzzDecodePage(f *testing.F) {
	for _, s := range pageSeeds {
		f.Add([]byte(s))
	}
	f.Add(samplePage(3))
	f.Fuzz(func(t *testing.T, body []byte) {
		orig := bytes.Clone(body)
		p, err := DecodePage("sync/CRM/Accounts", body)
		if err != nil {
			var derr *DecodeError
			if !errors.As(err, &derr) || derr.Record != -1 || derr.Endpoint != "sync/CRM/Accounts" {
				t.Fatalf("error %v: got %#v, want a page-level *DecodeError", err, derr)
			}
			return
		}
		flagged := false
		for i, r := range p.Records {
			if r.Err() != nil {
				flagged = true
				var derr *DecodeError
				if !errors.As(r.Err(), &derr) || derr.Record != i || derr.Endpoint != "sync/CRM/Accounts" {
					t.Fatalf("record %d: got Err %#v, want a *DecodeError for record %d", i, r.Err(), i)
				}
				if !bytes.Contains(orig, r.Bytes()) {
					t.Fatalf("record %d: Bytes %q are not the bytes received", i, r.Bytes())
				}
				continue
			}
			if !json.Valid(r.Raw()) || !json.Valid(r.Bytes()) {
				t.Fatalf("record %d: no Err, but encoding/json rejects %q", i, r.Raw())
			}
			checkMembers(t, i, r)
		}
		if !json.Valid(orig) && !flagged {
			t.Fatalf("encoding/json rejects the body, yet it decoded without a flagged record: %q", orig)
		}
	})
}

// checkMembers compares the members of a good record with what encoding/json reads from
// Raw, which decodes names and keeps the last of a repeated one, as PostgreSQL's jsonb
// does: a good record has each name once, without __metadata, and Field and Member agree
// with encoding/json on every one.
func checkMembers(t *testing.T, i int, r Record) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(r.Raw(), &m); err != nil {
		t.Fatalf("record %d: Raw is not a JSON object: %v", i, err)
	}
	if _, ok := m[metadataName]; ok {
		t.Fatalf("record %d: Raw keeps a %s member: %q", i, metadataName, r.Raw())
	}
	if len(m) != r.Len() {
		t.Fatalf("record %d: %d members, encoding/json reads %d names: a name occurs twice in %q", i, r.Len(), len(m), r.Raw())
	}
	for k := range r.Len() {
		name, value := r.Member(k)
		if want, ok := m[string(name)]; !ok || !bytes.Equal(value, want) {
			t.Fatalf("record %d: Member(%d) = %q: %q, encoding/json reads %q for that name", i, k, name, value, want)
		}
	}
	for name, want := range m {
		if got := r.Field(name); !bytes.Equal(got, want) {
			t.Fatalf("record %d: Field(%q) = %q, encoding/json reads %q", i, name, got, want)
		}
	}
}

var canonicalGUID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// FuzzValues checks every Edm value parser (§3.8) on any raw value.
func FuzzValues(f *testing.F) {
	for _, s := range []string{
		`"Amsterdam"`, `"a \"b\" \u00e9\/"`, `"\ud83d\ude00"`, `"\ud800"`, `"\u0000"`, "\"\xff\"", `null`, `128`,
		`"               101"`, `"5b7f4515-0c8d-4c1a-9d3e-0123456789ab"`, `"5B7F45150C8D4C1A9D3E0123456789AB"`,
		`true`, `"False"`, `4001`, `"-9223372036854775808"`, `9223372036854775808`, `"+12"`, `1.5`,
		`1234.50`, `"1234.50"`, `1.5E+3`, `1e131072`, `"0.05e131073"`, `-0`,
		`"/Date(1735737600000)/"`, `"\/Date(1735737600000)\/"`, `"/Date(1735737600000+0100)/"`, `"\/"`, `"/Date(-62135596800000)/"`,
		`"2024-01-31T00:00:00"`, `"2024-01-31"`, `"2024-01-31T00:00:00.123+02:00"`, `""`, `"`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		inner := v
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			inner = v[1 : len(v)-1]
		}

		s, ok, err := String(v)
		if ok != (err == nil && !isNull(v)) {
			t.Fatalf("String(%q): ok %v with error %v", v, ok, err)
		}
		if ok {
			if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
				t.Fatalf("String(%q) = %q: not text PostgreSQL can store", v, s)
			}
			var want string
			if v[0] == '"' && (json.Unmarshal(v, &want) != nil || want != s) {
				t.Fatalf("String(%q) = %q, encoding/json reads %q", v, s, want)
			}
			if c, _, err := Code(v); err != nil || c != strings.TrimSpace(s) {
				t.Fatalf("Code(%q) = %q, %v, want %q", v, c, err, strings.TrimSpace(s))
			}
		} else if _, cok, _ := Code(v); cok {
			t.Fatalf("Code(%q) accepts what String refuses", v)
		}

		if g, ok, _ := GUID(v); ok {
			if !canonicalGUID.MatchString(g) {
				t.Fatalf("GUID(%q) = %q: not canonical", v, g)
			}
			if again, _, _ := GUID([]byte(strconv.Quote(g))); again != g {
				t.Fatalf("GUID(%q) = %q, but GUID of that gives %q", v, g, again)
			}
		}

		for _, f := range []struct {
			name       string
			copy, view func([]byte) (string, bool, error)
		}{{"String", String, StringView}, {"Code", Code, CodeView}, {"GUID", GUID, GUIDView}, {"Decimal", Decimal, DecimalView}} {
			want, wantOK, wantErr := f.copy(v)
			if got, gotOK, gotErr := f.view(v); got != want || gotOK != wantOK || (gotErr == nil) != (wantErr == nil) {
				t.Fatalf("%sView(%q) = %q, %v, %v; %s gives %q, %v, %v", f.name, v, got, gotOK, gotErr, f.name, want, wantOK, wantErr)
			}
		}

		if b, ok, _ := Bool(v); ok && !bytes.EqualFold(inner, []byte(strconv.FormatBool(b))) {
			t.Fatalf("Bool(%q) = %v", v, b)
		}

		n, ok, _ := Int64(v)
		if want, err := strconv.ParseInt(string(inner), 10, 64); ok && (err != nil || want != n) {
			t.Fatalf("Int64(%q) = %d, strconv reads %d, %v", v, n, want, err)
		}
		if n32, ok32, _ := Int32(v); ok32 && (!ok || int64(n32) != n) {
			t.Fatalf("Int32(%q) = %d, Int64 %d, %v", v, n32, n, ok)
		}

		if d, ok, _ := Decimal(v); ok {
			if !validNumber([]byte(d)) || !json.Valid([]byte(d)) {
				t.Fatalf("Decimal(%q) = %q: not a JSON number", v, d)
			}
			if _, ok := new(big.Rat).SetString(d); !ok {
				t.Fatalf("Decimal(%q) = %q: big.Rat refuses it", v, d)
			}
		}

		tm, ok, err := Date(v)
		if ok {
			if tm.Location() != time.UTC {
				t.Fatalf("Date(%q) = %v: not UTC", v, tm)
			}
			again, ok2, err2 := Date(v)
			if !ok2 || err2 != nil || !again.Equal(tm) {
				t.Fatalf("Date(%q) = %v, then %v, %v", v, tm, again, err2)
			}
			if y := tm.Year(); y >= 1 && y <= 9999 {
				iso := `"` + tm.Format(time.RFC3339Nano) + `"`
				if back, _, err := Date([]byte(iso)); err != nil || !back.Equal(tm) {
					t.Fatalf("Date(%q) = %v, but Date(%s) = %v, %v", v, tm, iso, back, err)
				}
			}
		} else if err == nil && !isNull(v) {
			t.Fatalf("Date(%q): neither a value nor an error", v)
		}
	})
}

// FuzzCheckPageURL checks that a __next link (§3.6) never sends the access token to another
// host or over another scheme.
func FuzzCheckPageURL(f *testing.F) {
	for _, s := range []string{
		"https://start.exactonline.nl/api/v1/101/sync/CRM/Accounts?$select=ID&$skiptoken=4001L",
		"https:\\/\\/start.exactonline.nl\\/api",
		"/api/v1/101/crm/Accounts?$skiptoken=guid'5b7f4515-0c8d-4c1a-9d3e-0123456789ab'",
		"//evil.example/api/v1", "https://evil.example/api", "http://start.exactonline.nl/api",
		"https://start.exactonline.nl@evil.example/", "https://START.exactonline.nl:443/api", "javascript:alert(1)",
		"https://start.exactonline.nl%2eevil.example/", "https://start.exactonline.nl\\@evil.example/", "",
	} {
		f.Add(s)
	}
	c, err := New(Config{BaseURL: "https://start.exactonline.nl", ClientID: "id", ClientSecret: "secret", Logger: zerolog.Nop()}, &memStore{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, pageURL string) {
		got, endpoint, err := c.checkPageURL(pageURL)
		if err != nil {
			return
		}
		// The request is made from the returned string: parse it as net/http will.
		req, err := http.NewRequest(http.MethodGet, got, nil)
		if err != nil {
			return // refused before anything is sent
		}
		if req.URL.Scheme != "https" || !strings.EqualFold(req.URL.Host, "start.exactonline.nl") || req.URL.User != nil {
			t.Fatalf("checkPageURL(%q) accepted %q, which goes to %s://%s", pageURL, got, req.URL.Scheme, req.URL.Host)
		}
		if again, _, err := c.checkPageURL(got); err != nil || again != got {
			t.Fatalf("checkPageURL(%q) = %q, but checking that gives %q, %v", pageURL, got, again, err)
		}
		if strings.ContainsAny(endpoint, "?#") {
			t.Fatalf("checkPageURL(%q): endpoint %q holds a query", pageURL, endpoint)
		}
		_ = url.PathEscape(endpoint)
	})
}

// FuzzRateLimitHeaders checks the X-RateLimit-* headers (§2.2): a value is taken only when
// it is a count or an epoch in milliseconds, and otherwise leaves what was known alone.
func FuzzRateLimitHeaders(f *testing.F) {
	f.Add("5000", "4766", "1683936000000", "60", "58", "1683879540000")
	f.Add("", "", "", "60", "0", "")
	f.Add("-1", "+5", " 7 ", "1e3", "99999999999999999999", "1683879540")
	f.Fuzz(func(t *testing.T, limit, remaining, reset, mLimit, mRemaining, mReset string) {
		var l limiter
		const div = 101
		known := http.Header{}
		for _, h := range rateHeaders {
			known.Set(h.name, "7")
		}
		l.observe(div, known)
		vals := []string{limit, remaining, reset, mLimit, mRemaining, mReset}
		h := http.Header{}
		for i, rh := range rateHeaders {
			if vals[i] != "" {
				h.Set(rh.name, vals[i])
			}
		}
		l.observe(div, h)
		got := l.snapshot(div)
		fields := []int64{int64(got.DailyLimit), int64(got.DailyRemaining), got.DailyReset.UnixMilli(),
			int64(got.MinutelyLimit), int64(got.MinutelyRemaining), got.MinutelyReset.UnixMilli()}
		for i, v := range vals {
			want := int64(7)
			if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n >= 0 && isDigits(strings.TrimSpace(v)) {
				want = n
			}
			if fields[i] != want {
				t.Fatalf("%s: %q gave %d, want %d", rateHeaders[i].name, v, fields[i], want)
			}
		}
	})
}
