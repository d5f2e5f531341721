package exacttest

import (
	"math/big"
	"strconv"
	"strings"
)

// decimalSum adds decimal texts (Edm.Double values as the simulator stores them, §3.8)
// exactly, never through a float64: financial/ReportingBalance's amounts (§3.16) are the exact
// sums of the lines' AmountDC. A value is an integer mantissa and a scale (digits after the
// point). The sum is an int64 at the largest scale seen while it fits, nearly always; past
// that it moves to a big.Int. It is small, as a million groups may each hold three.
type decimalSum struct {
	v     int64
	scale int
	big   *big.Int // when not nil, the sum at scale; v is then unused
}

// maxExponent bounds the exponent of a value added: a Double reaches about 1e308, so a text
// beyond it is no amount Exact could hold and is left out of the sum.
const maxExponent = 400

// pow10s are the powers of ten an int64 holds.
var pow10s = func() (p [19]int64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// mulPow10 returns v·10^n and whether it fits an int64.
func mulPow10(v int64, n int) (int64, bool) {
	if v == 0 {
		return 0, true
	}
	if n >= len(pow10s) {
		return 0, false
	}
	r := v * pow10s[n]
	return r, r/pow10s[n] == v
}

// add adds the decimal text v (the JSON number grammar, §3.8); false when v is not one or lies
// outside a Double's range, and is then not added.
func (d *decimalSum) add(v string) bool {
	neg := strings.HasPrefix(v, "-")
	v = strings.TrimPrefix(v, "-")
	mant, exp, hasExp := strings.Cut(v, "e")
	if !hasExp {
		mant, exp, hasExp = strings.Cut(v, "E")
	}
	whole, frac, point := strings.Cut(mant, ".")
	e := 0
	if hasExp {
		digits := exp
		if len(digits) > 0 && (digits[0] == '+' || digits[0] == '-') {
			digits = digits[1:]
		}
		n, err := strconv.Atoi(exp)
		if digits == "" || !allDigits(digits) || err != nil || n > maxExponent || n < -maxExponent {
			return false
		}
		e = n
	}
	if whole == "" || !allDigits(whole) || !allDigits(frac) || point && frac == "" || len(whole) > 1 && whole[0] == '0' {
		return false // not the JSON number grammar
	}
	digits := strings.TrimLeft(whole+frac, "0")
	if digits == "" {
		return true // zero
	}
	scale := len(frac) - e
	if scale < 0 {
		digits += strings.Repeat("0", -scale)
		scale = 0
	}
	if d.big == nil && len(digits) <= 18 {
		m, _ := strconv.ParseInt(digits, 10, 64)
		if neg {
			m = -m
		}
		if d.addSmall(m, scale) {
			return true
		}
	}
	b, _ := new(big.Int).SetString(digits, 10)
	if neg {
		b.Neg(b)
	}
	d.addBig(b, scale)
	return true
}

// addSmall adds m·10^-scale to the int64 sum; false, with nothing changed, when it would not fit.
func (d *decimalSum) addSmall(m int64, scale int) bool {
	cur, at := d.v, d.scale
	if scale > at {
		var ok bool
		if cur, ok = mulPow10(cur, scale-at); !ok {
			return false
		}
		at = scale
	} else if scale < at {
		var ok bool
		if m, ok = mulPow10(m, at-scale); !ok {
			return false
		}
	}
	sum := cur + m
	if (m > 0 && sum < cur) || (m < 0 && sum > cur) {
		return false
	}
	d.v, d.scale = sum, at
	return true
}

// addBig adds b·10^-scale, moving the sum to a big.Int.
func (d *decimalSum) addBig(b *big.Int, scale int) {
	if d.big == nil {
		d.big = big.NewInt(d.v)
	}
	ten := big.NewInt(10)
	switch {
	case scale > d.scale:
		d.big.Mul(d.big, new(big.Int).Exp(ten, big.NewInt(int64(scale-d.scale)), nil))
		d.scale = scale
	case scale < d.scale:
		b.Mul(b, new(big.Int).Exp(ten, big.NewInt(int64(d.scale-scale)), nil))
	}
	d.big.Add(d.big, b)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// text is the sum as the shortest decimal text, a JSON number: "0", "-12.5", "0.00001".
func (d *decimalSum) text() string {
	if d.big != nil {
		return formatScaled(d.big, d.scale)
	}
	return formatScaled(big.NewInt(d.v), d.scale)
}

// formatScaled writes v·10^-scale as decimal text without trailing fraction zeros.
func formatScaled(v *big.Int, scale int) string {
	neg := v.Sign() < 0
	digits := new(big.Int).Abs(v).String()
	if scale > 0 {
		if len(digits) <= scale {
			digits = strings.Repeat("0", scale-len(digits)+1) + digits
		}
		whole, frac := digits[:len(digits)-scale], strings.TrimRight(digits[len(digits)-scale:], "0")
		digits = whole
		if frac != "" {
			digits += "." + frac
		}
	}
	if digits == "0" {
		return "0"
	}
	if neg {
		return "-" + digits
	}
	return digits
}

// negative reports whether the decimal text v is below zero.
func negative(v string) bool {
	return strings.HasPrefix(v, "-") && !zeroMantissa(v)
}

func zeroMantissa(v string) bool {
	mant, _, _ := strings.Cut(strings.ToLower(v), "e")
	return strings.Trim(mant, "-0.") == ""
}
