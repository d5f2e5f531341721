package sync

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/exactsync/exactsync/exact"
)

// fuzzEntities are the entities FuzzRecordColumnsMatchRaw converts records for: between
// them every Edm type of the catalogue, a trimmed code, a Keep condition, a GUID and an
// integer key, and the three read modes.
var fuzzEntities = []string{"accounts", "suppliers", "transaction_lines", "journals", "divisions", "units"}

// FuzzRecordColumnsMatchRaw checks that a record's typed columns and its raw column come
// from the same members. raw is stored as jsonb, which decodes member names and keeps the
// last occurrence of a repeated one; encoding/json reads an object the same way, and
// stands in for it here (TestNameTwiceOnPostgreSQL checks the same on a real server). For
// every record the decoder passes and sync converts, each typed column must be what the
// same conversion makes of the member jsonb would hold; and no record whose member names
// repeat, once decoded, may pass the decoder at all.
func FuzzRecordColumnsMatchRaw(f *testing.F) {
	for _, rec := range []string{
		`{"__metadata":{"uri":"u"},"ID":"` + id1 + `","Timestamp":7,"Code":"               101","Name":"Leverancier B.V.","IsSupplier":true,"Blocked":false,"Created":"/Date(1711848600000)/","CreditLineSales":1.50E2}`,
		`{"ID":"` + id1 + `","Timestamp":"8","Name":"first","Name":"second"}`,
		`{"ID":"` + id1 + `","Timestamp":9,"N\u0061me":"escaped","Code":"7"}`,
		`{"ID":"` + id1 + `","Timestamp":9,"Name":"plain","N\u0061me":"escaped"}`,
		`{"ID":"` + id1 + `","Timestamp":10,"IsSupplier":false,"IsSupplier":true}`,
		`{"ID":"` + id1 + `","ID":"` + id2 + `","Timestamp":11}`,
		`{"ID":"` + id1 + `","Timestamp":12,"Timestamp":13}`,
		`{"ID":"` + id1 + `","Timestamp":14,"AmountDC":-12345678901234567890.123456789,"AmountFC":"0.1","FinancialYear":2024,"Date":"/Date(1711855800000)/"}`,
		`{"ID":"` + id1 + `","Code":"70","Modified":"/Date(1751328000000)/","Modified":"/Date(1751328009000)/"}`,
		`{"Code":101,"Description":"Administratie","Hid":"1","Current":true,"DivisionMoveDate":null}`,
		`{"ID":"` + id1 + `","Code":"st","Main":1,"Code":"kg"}`,
		`{"ID":"` + id1 + `","Timestamp":15,"\u004e\u0061\u006d\u0065":"all escaped","Nested":{"Name":"inner","Name":"twice inside"}}`,
	} {
		for i := range fuzzEntities {
			f.Add(uint8(i), []byte(rec))
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, rec []byte) {
		e, ok := lookup(fuzzEntities[int(which)%len(fuzzEntities)])
		if !ok {
			t.Fatal("unknown entity")
		}
		body := append(append([]byte(`{"d":[`), rec...), "]}"...)
		p, err := exact.DecodePage(e.Path, body)
		if err != nil {
			return // not a page: the whole page is fetched again, nothing is stored
		}
		cols := len(e.Columns())
		for i, r := range p.Records {
			repeated, valid := repeatedName(r.Bytes())
			if r.Err() != nil {
				continue // quarantined as received, with the reason
			}
			if !valid {
				t.Fatalf("record %d passed the decoder, but encoding/json rejects it: %q", i, r.Bytes())
			}
			if repeated != "" {
				t.Fatalf("record %d has member %q twice, yet passed the decoder: %q", i, repeated, r.Bytes())
			}
			vals := make([]any, cols)
			key, version, hasVersion, err := e.row(101, r, nil, vals)
			byShape := make([]any, cols)
			k2, v2, h2, err2 := e.row(101, r, e.newShape(r), byShape)
			if key != k2 || version != v2 || hasVersion != h2 || (err == nil) != (err2 == nil) || !cmp.Equal(vals, byShape) {
				t.Fatalf("record %d: by name (%q, %d, %v, %v) %v; by shape (%q, %d, %v, %v) %v", i, key, version, hasVersion, err, vals, k2, v2, h2, err2, byShape)
			}
			if err != nil {
				continue // quarantined: a field did not convert
			}

			var members map[string]json.RawMessage
			if err := json.Unmarshal(r.Raw(), &members); err != nil {
				t.Fatalf("record %d: raw %q is not a JSON object: %v", i, r.Raw(), err)
			}
			for k := range e.Fields {
				fld := &e.Fields[k]
				want, werr := convert(fld, members[fld.Source], nil)
				if werr != nil {
					t.Fatalf("record %d: column %s converted from the record, but not from raw's %s (%q): %v", i, fld.Column, fld.Source, members[fld.Source], werr)
				}
				if got := vals[1+k]; !cmp.Equal(got, want) {
					t.Fatalf("record %d: column %s = %#v, but raw's %s (%q) makes %#v", i, fld.Column, got, fld.Source, members[fld.Source], want)
				}
			}
			if got := vals[cols-1]; !bytes.Equal(got.([]byte), r.Raw()) {
				t.Fatalf("record %d: raw column %q, want the record %q", i, got, r.Raw())
			}
			if e.Keep != nil {
				keep, kerr := e.keep(r)
				v, ok, verr := exact.Bool(members[e.Keep.Source])
				if (kerr == nil) != (verr == nil) || keep != (ok && v == e.Keep.Equals) {
					t.Fatalf("record %d: kept %v (%v), but raw's %s is %q", i, keep, kerr, e.Keep.Source, members[e.Keep.Source])
				}
			}
		}
	})
}

// repeatedName returns a member name that occurs twice at the top level of the JSON
// object b, names compared decoded (as jsonb and encoding/json compare them), or "".
// valid is false when b is not one JSON object.
func repeatedName(b []byte) (name string, valid bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", false
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		k, ok := tok.(string)
		if !ok {
			return "", false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return "", false
		}
		if seen[k] && name == "" {
			name = k
		}
		seen[k] = true
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return "", false
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", false
	}
	return name, true
}
