package sink

import (
	"encoding/binary"
	"fmt"
	"math"
)

// appendNumeric appends the binary form of PostgreSQL's numeric for s, a decimal number in
// JSON's syntax (an optional minus, digits, an optional fraction and an optional exponent,
// e.g. "-12.50", "1E-05"), exactly: no digit goes through a float. The display scale is
// the one PostgreSQL's own input gives the text ("1E-05" has scale 5, "12.50" scale 2), so
// a value reads back as PostgreSQL would have read the text.
//
// The binary form is ndigits, weight, sign and dscale (16 bits each), then ndigits base
// 10,000 digits; the value is the sum of digit[i] × 10000^(weight-i).
func appendNumeric(buf []byte, s string) ([]byte, error) {
	bad := func() ([]byte, error) { return nil, fmt.Errorf("invalid numeric %q", truncateText(s, 40)) }
	i, neg := 0, false
	if i < len(s) && s[i] == '-' {
		neg = true
		i++
	}
	var small [64]byte
	digits := small[:0] // the mantissa's digits without leading zeros
	point := 0          // digits of the mantissa before the decimal point, leading zeros excluded
	intStart := i
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if len(digits) > 0 || s[i] != '0' {
			digits = append(digits, s[i]-'0')
			point++
		}
	}
	if i == intStart {
		return bad()
	}
	frac := 0
	if i < len(s) && s[i] == '.' {
		i++
		fracStart := i
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			frac++
			if len(digits) > 0 || s[i] != '0' {
				digits = append(digits, s[i]-'0')
			} else {
				point-- // a leading zero after the point
			}
		}
		if i == fracStart {
			return bad()
		}
	}
	exp := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		expStart := i
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			if exp = exp*10 + int(s[i]-'0'); exp > maxExponent {
				return nil, fmt.Errorf("numeric %q is out of range", truncateText(s, 40))
			}
		}
		if i == expStart {
			return bad()
		}
		if eneg {
			exp = -exp
		}
	}
	if i != len(s) {
		return bad()
	}
	dscale := max(frac-exp, 0)
	if dscale > 0x3fff {
		return nil, fmt.Errorf("numeric %q has more digits after the point than PostgreSQL holds", truncateText(s, 40))
	}
	for len(digits) > 0 && digits[len(digits)-1] == 0 {
		digits = digits[:len(digits)-1]
	}
	if len(digits) == 0 { // zero
		buf = binary.BigEndian.AppendUint16(buf, 0)
		buf = binary.BigEndian.AppendUint16(buf, 0)
		buf = binary.BigEndian.AppendUint16(buf, 0)
		return binary.BigEndian.AppendUint16(buf, uint16(dscale)), nil
	}
	point += exp
	// Align the groups of four digits on the decimal point.
	pad := (4 - ((point%4)+4)%4) % 4
	weight := (point+pad)/4 - 1
	n := (pad + len(digits) + 3) / 4
	if weight > 0x7fff || weight < -0x8000 || n > 0x7fff {
		return nil, fmt.Errorf("numeric %q is out of range", truncateText(s, 40))
	}
	sign := uint16(0)
	if neg {
		sign = 0x4000
	}
	buf = binary.BigEndian.AppendUint16(buf, uint16(n))
	buf = binary.BigEndian.AppendUint16(buf, uint16(int16(weight)))
	buf = binary.BigEndian.AppendUint16(buf, sign)
	buf = binary.BigEndian.AppendUint16(buf, uint16(dscale))
	for g := 0; g < n; g++ {
		var d uint16
		for k := 0; k < 4; k++ {
			j := g*4 + k - pad
			d *= 10
			if j >= 0 && j < len(digits) {
				d += uint16(digits[j])
			}
		}
		buf = binary.BigEndian.AppendUint16(buf, d)
	}
	return buf, nil
}

// maxExponent is the largest exponent PostgreSQL's numeric input reads (its limit is
// INT_MAX/2, exclusive), whatever the mantissa: "0e1073741822" is zero, "0e1073741823" out
// of range. A smaller exponent can still put a value out of range, which the weight and
// the display scale show.
const maxExponent = math.MaxInt32/2 - 1

// truncateText shortens s for an error message.
func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
