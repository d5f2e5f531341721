package exacttest

import (
	"encoding/json"
	"testing"
)

func TestAppendJSONStringRoundTrips(t *testing.T) {
	tests := []struct{ name, in string }{
		{"plain", "Bakkerij de Vries B.V."},
		{"non-ASCII", "Café Ørsted – Groß & Zn."},
		{"quotes and backslash", `say "hi" \ bye`},
		{"control characters", "tab\tnew\nline\x01\x1f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := appendJSONString(nil, tt.in)
			var got string
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("invalid JSON %s: %v", b, err)
			}
			if got != tt.in {
				t.Errorf("got %q, want %q", got, tt.in)
			}
		})
	}
}

func TestGeneratedIDsMapBackToRows(t *testing.T) {
	g := newGenerator(7, 101, testOptions(0).Start, 0)
	for _, i := range []int{0, 1, 999, 999_999} {
		if got := g.index(g.guid(i), 1_000_000); got != i {
			t.Errorf("index(guid(%d)): got %d, want %d", i, got, i)
		}
	}
	if got := g.index(g.guid(5), 5); got != -1 {
		t.Errorf("row beyond the base: got %d, want -1", got)
	}
}
