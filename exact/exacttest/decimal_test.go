package exacttest

import (
	"math/big"
	"testing"
)

// TestDecimalSum: the exact sums of ReportingBalance's amounts (§3.16) equal big.Rat's, through
// int64 overflow, exponents, scales past the int64 fast path and negative zeros.
func TestDecimalSum(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   string
	}{
		{"nothing", nil, "0"},
		{"cents", []string{"0.1", "0.2"}, "0.3"},
		{"float64 trap", []string{"0.1", "0.2", "-0.30000000000000004"}, "-0.00000000000000004"},
		{"exponents", []string{"1E-05", "2.5e+3", "-2.5E-3", "1e0", "9.99E10"}, "99900002500.99751"},
		{"beyond 2^53", []string{"9007199254740993", "1"}, "9007199254740994"},
		{"int64 overflow", []string{"999999999999999999", "999999999999999999", "999999999999999999", "-1"}, "2999999999999999996"},
		{"negative overflow", []string{"-999999999999999999", "-999999999999999999"}, "-1999999999999999998"},
		{"long mantissa", []string{"123456789012345678901234567890.5", "0.5"}, "123456789012345678901234567891"},
		{"scale past the fast path", []string{"1E-25", "1E-25", "0.1"}, "0.1000000000000000000000002"},
		{"negative zero", []string{"-0", "-0.0", "0E5"}, "0"},
		{"whole result", []string{"1.25", "-0.25"}, "1"},
		{"not a number left out", []string{"1", "x", "1E999"}, "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d decimalSum
			want := new(big.Rat)
			for _, v := range tt.values {
				if d.add(v) { // the literal want above checks what is left out
					r, _ := new(big.Rat).SetString(v)
					want.Add(want, r)
				}
			}
			got := d.text()
			if got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			if r, _ := new(big.Rat).SetString(got); r.Cmp(want) != 0 {
				t.Errorf("got %s, big.Rat sums to %s", got, want.FloatString(30))
			}
		})
	}
	for _, v := range []struct {
		text string
		neg  bool
	}{{"-0", false}, {"-0.00", false}, {"-0E3", false}, {"-0.01", true}, {"-1E-05", true}, {"0", false}, {"3", false}} {
		if got := negative(v.text); got != v.neg {
			t.Errorf("negative(%q): got %v, want %v", v.text, got, v.neg)
		}
	}
}

// FuzzDecimalSum: for any two Double texts the simulator stores (the JSON number grammar),
// the exact sum equals big.Rat's; other texts are refused.
func FuzzDecimalSum(f *testing.F) {
	for _, s := range decimalSamples {
		f.Add(s, "0.1")
	}
	f.Add("999999999999999999", "999999999999999999")
	f.Add("1E-25", "-12.5e3")
	f.Fuzz(func(t *testing.T, a, b string) {
		var d decimalSum
		want := new(big.Rat)
		for _, v := range []string{a, b} {
			ok := d.add(v)
			if valid := jsonNumber.MatchString(v); !valid {
				if ok {
					t.Fatalf("add(%q): accepted a text that is no JSON number", v)
				}
				continue
			}
			if !ok {
				continue // an exponent past a Double's range
			}
			r, _ := new(big.Rat).SetString(v)
			want.Add(want, r)
		}
		got, _ := new(big.Rat).SetString(d.text())
		if got == nil || got.Cmp(want) != 0 || !jsonNumber.MatchString(d.text()) {
			t.Fatalf("%q + %q: got %q, want %s", a, b, d.text(), want.RatString())
		}
	})
}
