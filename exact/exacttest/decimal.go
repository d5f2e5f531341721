package exacttest

import (
	"math/big"
	"strconv"
	"strings"
)

// decimalSum adds decimal texts (Edm.Double values as the simulator stores them, §3.8)
// exactly, never through a float64: financial/ReportingBalance's amounts (§3.16) are the exact
// sums of the lines' AmountDC. A value is an integer mantissa and a scale (digits after the
// point); values of a scale below smallScales whose mantissa fits an int64, nearly all amounts,
// are added as int64 per scale, the others, and sums that would overflow, as big.Int.
type decimalSum struct {
	small [smallScales]int64
	used  [smallScales]bool
	big   map[int]*big.Int // by scale
}

const (
	smallScales = 20
	// maxExponent bounds the exponent of a value added: a Double reaches about 1e308, so a
	// text beyond it is no amount Exact could hold and is left out of the sum.
	maxExponent = 400
)

// add adds the decimal text v (the JSON number grammar, §3.8); false when v is not one or lies
// outside a Double's range, and is then not added.
func (d *decimalSum) add(v string) bool {
	neg := strings.HasPrefix(v, "-")
	v = strings.TrimPrefix(v, "-")
	mant, exp, _ := strings.Cut(strings.ToLower(v), "e")
	whole, frac, _ := strings.Cut(mant, ".")
	e := 0
	if exp != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(exp, "+"))
		if err != nil || n > maxExponent || n < -maxExponent {
			return false
		}
		e = n
	}
	digits := strings.TrimLeft(whole+frac, "0")
	if !allDigits(whole) || !allDigits(frac) || whole == "" {
		return false
	}
	if digits == "" {
		return true // zero
	}
	scale := len(frac) - e
	if scale < 0 {
		digits += strings.Repeat("0", -scale)
		scale = 0
	}
	if scale < smallScales && len(digits) <= 18 {
		m, _ := strconv.ParseInt(digits, 10, 64)
		if neg {
			m = -m
		}
		cur := d.small[scale]
		if sum := cur + m; (m > 0 && sum < cur) || (m < 0 && sum > cur) {
			d.addBig(scale, big.NewInt(cur)) // overflow: move the sum so far to the big part
			d.small[scale] = m
		} else {
			d.small[scale] = sum
		}
		d.used[scale] = true
		return true
	}
	b, _ := new(big.Int).SetString(digits, 10)
	if neg {
		b.Neg(b)
	}
	d.addBig(scale, b)
	return true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func (d *decimalSum) addBig(scale int, v *big.Int) {
	if d.big == nil {
		d.big = map[int]*big.Int{}
	}
	if cur, ok := d.big[scale]; ok {
		cur.Add(cur, v)
		return
	}
	d.big[scale] = new(big.Int).Set(v)
}

// text is the sum as the shortest decimal text, a JSON number: "0", "-12.5", "0.00001".
func (d *decimalSum) text() string {
	top := 0
	for s := range d.small {
		if d.used[s] {
			top = max(top, s)
		}
	}
	for s := range d.big {
		top = max(top, s)
	}
	total := new(big.Int)
	ten := big.NewInt(10)
	term := new(big.Int)
	addScaled := func(v *big.Int, scale int) {
		term.Exp(ten, big.NewInt(int64(top-scale)), nil)
		term.Mul(term, v)
		total.Add(total, term)
	}
	for s, v := range d.small {
		if d.used[s] && v != 0 {
			addScaled(big.NewInt(v), s)
		}
	}
	for s, v := range d.big {
		addScaled(v, s)
	}
	return formatScaled(total, top)
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
