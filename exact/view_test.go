package exact

import (
	"testing"
	"unsafe"
)

// TestViewsReadAsCopies checks that each view returns what its copying form returns,
// and that it copies nothing for the values Exact sends.
func TestViewsReadAsCopies(t *testing.T) {
	for _, tc := range []struct {
		name   string
		v      string
		noCopy bool // the view shares v's bytes
	}{
		{"plain string", `"Amsterdam"`, true},
		{"UTF-8", `"Çelik & Zn. – 10 €"`, true},
		{"UTF-8, then an escape", `"Çelik \u0026 Zn."`, false},
		{"empty string", `""`, false},
		{"escapes", `"a \"b\" \u00e9\/"`, false},
		{"unstorable", `"\u0000"`, false},
		{"not UTF-8", "\"\xff\"", false},
		{"null", `null`, false},
		{"absent", ``, false},
		{"number", `128`, true},
		{"padded code", `"               101"`, true},
		{"canonical GUID", `"5b7f4515-0c8d-4c1a-9d3e-0123456789ab"`, true},
		{"upper-case GUID", `"5B7F4515-0C8D-4C1A-9D3E-0123456789AB"`, false},
		{"GUID without hyphens", `"5b7f45150c8d4c1a9d3e0123456789ab"`, false},
		{"GUID with a NUL", "\"5b7f4515-0c8d-4c1a-9d3e-0123456789a\x00\"", false},
		{"decimal", `1234.50`, true},
		{"decimal string", `" 1234.50 "`, true},
		{"exponent", `1.5E+3`, true},
		{"too large", `1e131072`, false},
		{"boolean", `true`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v []byte
			if tc.v != "" {
				v = []byte(tc.v)
			}
			for _, f := range []struct {
				name       string
				copy, view func([]byte) (string, bool, error)
			}{
				{"String", String, StringView},
				{"Code", Code, CodeView},
				{"GUID", GUID, GUIDView},
				{"Decimal", Decimal, DecimalView},
				{"Numeric", Numeric, NumericView},
			} {
				want, wantOK, wantErr := f.copy(v)
				got, gotOK, gotErr := f.view(v)
				if got != want || gotOK != wantOK || (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
					t.Errorf("%sView(%s) = %q, %v, %v; %s gives %q, %v, %v", f.name, tc.v, got, gotOK, gotErr, f.name, want, wantOK, wantErr)
				}
				if tc.noCopy && gotOK && got != "" && !shares(got, v) {
					t.Errorf("%sView(%s) = %q: a copy, want v's bytes", f.name, tc.v, got)
				}
			}
		})
	}
}

// TestViewsDoNotAllocate checks the point of the views: the values Exact sends are read
// without an allocation.
func TestViewsDoNotAllocate(t *testing.T) {
	str, guid, num := []byte(`"  Çelik & Zn."`), []byte(`"5b7f4515-0c8d-4c1a-9d3e-0123456789ab"`), []byte(`-1234.50`)
	if n := testing.AllocsPerRun(100, func() {
		StringView(str)
		CodeView(str)
		GUIDView(guid)
		DecimalView(num)
	}); n != 0 {
		t.Errorf("got %v allocations a run, want 0", n)
	}
}

// shares reports whether s lies within b's bytes.
func shares(s string, b []byte) bool {
	if len(b) == 0 {
		return false
	}
	p, lo := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return p >= lo && p+uintptr(len(s)) <= lo+uintptr(len(b))
}
