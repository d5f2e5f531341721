package exacttest

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/exactsync/exactsync/exact/catalogue"
)

// Generated records of the catalogue's entities. Record i of a table is derived from (Seed,
// division, entity, i) when served, field by field from the field's Edm type and name, so a
// table of a million records costs no memory. The values are plausible and deliberately awkward:
//
//   - the key is a GUID that maps back to its row (generator.guid);
//   - a Guid field that names another entity (refTarget) holds the key of one of that entity's
//     generated records in the same division (null one time in sixteen, or when that entity has
//     no records); Creator and Modifier are one of a few users, the connection's user among them;
//   - strings follow the field's name (codes, descriptions with non-ASCII letters, e-mail
//     addresses, currencies, countries), a fifth of the optional ones null;
//   - Byte, Int16 and Int32 values are small, with the type's extremes now and then; Int64 values
//     reach beyond 2^53, where a float64 loses digits;
//   - Edm.Double values are decimal texts with many decimals, negative and tiny values and
//     exponents ("1234.5678901", "-0.015", "1E-05", "2.5e+3"), served as JSON numbers exactly as
//     stored: a client that goes through a float64 does not get the same digits back;
//   - dates are Amsterdam wall-clock /Date(ms)/ (§3.8): midnights of days on both sides of the
//     daylight-saving changes, instants just before and after the spring change, and instants in
//     the autumn hour that happens twice (two instants served with the same /Date(ms)/);
//   - Modified rises with the row, in batches of modifiedBatch rows sharing one Modified to the
//     millisecond, so ties cross page boundaries on the 60-record regular pages (§3.15);
//   - Edm.Binary values are base64 strings; complex values (Division's Class_01…) are null.

// modifiedBatch is how many consecutive generated records share one Modified.
const modifiedBatch = 7

// modifiedSpan is how far before the simulated start the generated Modified values reach: far
// enough to span a spring and an autumn daylight-saving change.
const modifiedSpan = 400 * 24 * time.Hour

// dstInstants are instants around Amsterdam's daylight-saving changes (§3.8): the last
// millisecond before and the first after the spring change (02:00 CET becomes 03:00 CEST), and
// the autumn hour that happens twice (02:00–03:00 first in CEST, then in CET), with the midnights
// of the days around them.
var dstInstants = func() []int64 {
	var out []int64
	for _, y := range []int{2025, 2026} {
		spring := lastSunday(y, time.March)   // 01:00 UTC: 02:00 CET → 03:00 CEST
		autumn := lastSunday(y, time.October) // 01:00 UTC: 03:00 CEST → 02:00 CET
		for _, t := range []time.Time{
			spring.Add(-time.Millisecond), spring, spring.Add(90 * time.Minute),
			autumn.Add(-time.Hour), autumn.Add(-30 * time.Minute), autumn.Add(-time.Millisecond), // 02:00, 02:30, 02:59:59.999 CEST
			autumn, autumn.Add(30 * time.Minute), autumn.Add(time.Hour), // 02:00, 02:30 CET, 03:00 CET
		} {
			out = append(out, t.UnixMilli())
		}
		for _, day := range []time.Time{spring.AddDate(0, 0, -1), spring, spring.AddDate(0, 0, 1), autumn.AddDate(0, 0, -1), autumn, autumn.AddDate(0, 0, 1)} {
			l := day.In(amsterdam)
			out = append(out, time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, amsterdam).UnixMilli())
		}
	}
	return out
}()

// lastSunday returns 01:00 UTC on the last Sunday of month m of year y, when Europe's clocks change.
func lastSunday(y int, m time.Month) time.Time {
	t := time.Date(y, m+1, 1, 1, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
	return t.AddDate(0, 0, -int(t.Weekday()))
}

// decimalSamples are Double texts every table serves now and then, each a trap for a client
// that parses into a float64 or formats without care.
var decimalSamples = []string{"1234.5678901", "-0.015", "1E-05", "2.5e+3", "0.30000000000000004",
	"-1234567.89", "3.14159265358979", "1e0", "9007199254740993", "-2.5E-3", "100", "0"}

// generateRecord fills r with generated record i of t.
func generateRecord(t *table, i int, r record, want []bool) { generateFields(t, i, r, want, 0) }

// generateFields fills the fields of r from position from on.
func generateFields(t *table, i int, r record, want []bool, from int) {
	e := t.ent
	var modified int64
	if e.modField >= 0 {
		modified = t.modifiedAt(i)
	}
	for k := from; k < len(e.fields); k++ {
		if want != nil && !want[k] {
			continue
		}
		f := &e.fields[k]
		h := t.gen.hash(i, uint64(k)+16)
		switch {
		case k == e.idField:
			r[k] = value{s: t.gen.guid(i)}
		case k == e.tsField:
			r[k] = value{} // set by the table
		case k == e.modField:
			r[k] = value{n: modified}
		case f.name == "Division" && f.typ == edmInt32:
			r[k] = value{n: int64(t.div.code)}
		case e.name == "transaction_lines" && f.name == "Status":
			// Only Open (20) and Processed (50) exist (§3.16); most lines are processed.
			r[k] = value{n: [...]int64{20, 50, 50, 50}[h%4]}
		case e.name == "transaction_lines" && f.name == "Type":
			// The TransactionLines Type codes §3.16 names: 20 sales entry (most lines), 10
			// opening balance, 310 and 320–328 closing lines.
			r[k] = value{n: lineTypes[h%uint64(len(lineTypes))]}
		case f.name == "Created" && f.typ == edmDateTime && e.modField >= 0:
			r[k] = value{n: modified - int64(h%uint64(200*24*time.Hour/time.Millisecond))}
		default:
			r[k] = t.generateValue(f, k, i, h)
		}
	}
}

// modifiedAt is the Modified of generated record i: batches of modifiedBatch records share one
// value, rising over modifiedSpan before the start, with milliseconds.
func (t *table) modifiedAt(i int) int64 {
	batch := i / modifiedBatch
	batches := (t.base + modifiedBatch - 1) / modifiedBatch
	span := int64(modifiedSpan / time.Millisecond)
	step := span / int64(max(batches, 1))
	jitter := int64(0)
	if step > 1 {
		jitter = int64(t.gen.hash(batch, 5) % uint64(step))
	}
	return t.gen.start - span + int64(batch)*step + jitter
}

// lineTypes are the generated transaction lines' Type codes, weighted.
var lineTypes = [...]int64{20, 20, 20, 20, 20, 20, 10, 310, 320, 328}

// users are the Creator and Modifier GUIDs: the connection's user and a few colleagues.
func (t *table) user(h uint64) string {
	if h%4 == 0 && t.div.userID != "" {
		return t.div.userID
	}
	return t.gen.guid(1<<45 + int(h%5))
}

var (
	personNames = []string{"Jan de Vries", "Anouk Müller", "Sven Østergaard", "Mehmet Çelik", "Émilie Lefèvre", "Joost Smit"}
	currencies  = []string{"EUR", "EUR", "EUR", "EUR", "USD", "GBP", "CHF"}
	words       = []string{"Levering", "Onderhoud", "Advies", "Huur", "Reiskosten", "Café-omzet", "Büromaterial",
		"Crème brûlée", "Licentie", "Verzekering", "Energie", "Privé", "Ñandú", "Straße", "Øresund"}
)

// generateValue is the value of an ordinary field f (position k) of record i; h is its hash.
func (t *table) generateValue(f *field, k, i int, h uint64) value {
	optional := !f.required
	if optional && f.typ != edmBoolean && h>>59 == 0 { // 1 in 32 for every optional field
		return value{null: true}
	}
	switch f.typ {
	case edmGuid:
		switch {
		case f.name == "Creator" || f.name == "Modifier":
			return value{s: t.user(h)}
		case f.ref != nil:
			target := t.div.tables[f.ref]
			if target == nil || target.base == 0 || h%16 == 0 {
				return value{null: true}
			}
			return value{s: target.gen.guid(int((h >> 8) % uint64(target.base)))}
		case h%4 == 0:
			return value{null: true}
		}
		return value{s: t.gen.guid(1<<46 + int(h>>20))}
	case edmString:
		if optional && h%5 == 0 {
			return value{null: true}
		}
		if code, ok := t.generateCode(f, i, h); ok {
			return value{s: code}
		}
		return value{s: generateString(f, i, h)}
	case edmBoolean:
		return boolVal(h&1 == 1)
	case edmByte:
		if h%64 == 0 {
			return value{n: 255}
		}
		return value{n: int64(h >> 8 % 4)}
	case edmInt16:
		switch {
		case f.name == "FinancialYear" || strings.HasSuffix(f.name, "Year"):
			return value{n: 2024 + int64(h>>8%3)}
		case strings.HasSuffix(f.name, "Period"):
			return value{n: 1 + int64(h>>8%12)}
		case h%64 == 0:
			return value{n: 32767}
		case h%64 == 1:
			return value{n: -32768}
		}
		return value{n: int64(h >> 8 % 1000)}
	case edmInt32:
		switch {
		case h%128 == 0:
			return value{n: 2147483647}
		case h%128 == 1:
			return value{n: -2147483648}
		}
		return value{n: int64(h >> 8 % 100000)}
	case edmInt64:
		switch h % 32 {
		case 0:
			return value{n: 1<<53 + 1}
		case 1:
			return value{n: 9223372036854775807}
		}
		return value{n: int64(h >> 8 % 10000000)}
	case edmDouble, edmDecimal:
		return value{s: decimalText(i, k, h)}
	case edmDateTime:
		return value{n: t.dateValue(f.name, i, k, h)}
	case edmBinary:
		if h%2 == 0 {
			return value{null: true}
		}
		b := make([]byte, 3+h>>8%22)
		for j := range b {
			b[j] = byte(h >> (j % 8 * 8))
		}
		return value{s: base64.StdEncoding.EncodeToString(b)}
	}
	return value{null: true} // complex values: unset
}

// dateValue is a generated date: one in eight (by row and field) a daylight-saving instant or
// midnight (dstInstants), otherwise a local midnight or, for Created/…On/…Time-like fields, an
// instant with milliseconds, within two years before and two months after the start.
func (t *table) dateValue(name string, i, k int, h uint64) int64 {
	if (i+k)%8 == 0 {
		return dstInstants[(i/8+k)%len(dstInstants)]
	}
	const day = int64(24 * time.Hour / time.Millisecond)
	at := t.gen.start - 730*day + int64(h>>8%uint64(790*day))
	if h%3 == 0 || strings.HasSuffix(name, "Created") || strings.HasSuffix(name, "Modified") ||
		strings.HasSuffix(name, "On") || strings.HasSuffix(name, "Time") {
		return at
	}
	l := time.UnixMilli(at).In(amsterdam)
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, amsterdam).UnixMilli()
}

// decimalText is a generated Edm.Double as decimal text, a valid JSON number: one in six of
// decimalSamples (by row and field), otherwise amounts with two to ten decimals, tiny values,
// and exponents in several spellings.
func decimalText(i, k int, h uint64) string {
	if (i+k)%6 == 0 {
		return decimalSamples[(i/6+k)%len(decimalSamples)]
	}
	whole := strconv.FormatUint(h>>8%1000000, 10)
	neg := ""
	if h&1 == 1 && whole != "0" {
		neg = "-"
	}
	switch h >> 4 % 6 {
	case 0:
		return neg + whole
	case 1, 2:
		return neg + whole + "." + pad(h>>28%100, 2)
	case 3:
		places := 3 + int(h>>40%8)
		return neg + whole + "." + trimZeros(pad(h>>24%pow10(places), places))
	case 4:
		return neg + "0.0" + strconv.FormatUint(1+h>>24%999, 10)
	default:
		mant := strconv.FormatUint(1+h>>24%9, 10)
		if h>>30&1 == 1 {
			mant += "." + strconv.FormatUint(1+h>>32%99, 10)
		}
		e := []string{"E-05", "e+3", "E+2", "e-7", "E10", "e-2"}[h>>36%6]
		return neg + mant + e
	}
}

func pow10(n int) uint64 {
	p := uint64(1)
	for range n {
		p *= 10
	}
	return p
}

func pad(v uint64, n int) string {
	s := strconv.FormatUint(v, 10)
	for len(s) < n {
		s = "0" + s
	}
	return s
}

// trimZeros drops trailing zeros of a fraction, keeping one digit.
func trimZeros(frac string) string {
	for len(frac) > 1 && frac[len(frac)-1] == '0' {
		frac = frac[:len(frac)-1]
	}
	return frac
}

// Codes as Exact serves them (§3.5, §3.8): account codes right-aligned in 18 characters
// ("           1265594"), VAT codes left-aligned in 3 ("VB ", "0  "), GL account and journal
// codes plain numeric text ("101000", "90"). The padded ones are the fields the catalogue
// trims (catalogue.FieldData.Trim): a copy stores them without the padding. A field that
// holds another record's code (TransactionLines.AccountCode, .GLAccountCode, .VATCode,
// .JournalCode) holds the code of one of that entity's generated records in the division.
const (
	// strAccountCode is an account's code: the 18-character padded number of an account.
	strAccountCode = iota + 100
	// strVATCode is a VAT code: up to 3 characters, padded to 3 on the right.
	strVATCode
	// strGLCode is a GL account's code, digits only.
	strGLCode
	// strJournalCode is a journal's code, digits only.
	strJournalCode
	// strCostCenterCode and strCostUnitCode are the codes of hrm/Costcenters and
	// hrm/Costunits ("KP0003", "KD0001"), held by the CostCenter and CostUnit fields of
	// transaction lines and other entities, which financial/ReportingBalance groups by (§3.16).
	strCostCenterCode
	strCostUnitCode
)

// vatCodes are the VAT codes generated VAT code rows take in turn, the first the codes of a
// Dutch administration; further rows take their number.
var vatCodes = []string{"0  ", "1  ", "2  ", "3  ", "4  ", "5  ", "VB ", "VH ", "VL ", "VN ", "VV ", "IV ", "EU ", "GB "}

// vatCode is the code of generated VAT code row i.
func vatCode(i int) string {
	if i < len(vatCodes) {
		return vatCodes[i]
	}
	c := strconv.Itoa(i % 1000)
	return c + strings.Repeat(" ", 3-len(c))
}

// glCode is the code of generated GL account row i: 100000, 100010, … (101000 is row 100).
func glCode(i int) string { return strconv.Itoa(100000 + 10*i) }

// journalCode is the code of generated journal row i: 10, 20, … 90.
func journalCode(i int) string { return strconv.Itoa(10 * (i + 1)) }

// codeKindOf is the string kind of field cf of ce: one of the codes above, else by its
// name (stringKindOf).
func codeKindOf(ce catalogue.Entity, cf catalogue.FieldData) uint8 {
	last := ce.Path[strings.LastIndexByte(ce.Path, '/')+1:]
	vat := strings.Contains(strings.ToLower(cf.Name), "vat") || last == "VATCodes" && cf.Name == "Code"
	switch {
	case cf.Trim && vat:
		return strVATCode
	case cf.Trim:
		return strAccountCode
	case cf.Name == "Code" && last == "GLAccounts", strings.HasPrefix(cf.Name, "GL") && strings.HasSuffix(cf.Name, "Code"):
		return strGLCode
	case cf.Name == "Code" && last == "Journals", cf.Name == "JournalCode":
		return strJournalCode
	case cf.Name == "Code" && last == "Costcenters", cf.Name == "CostCenter":
		return strCostCenterCode
	case cf.Name == "Code" && last == "Costunits", cf.Name == "CostUnit":
		return strCostUnitCode
	}
	return stringKindOf(cf.Name)
}

// codeOwners are the entities whose generated records' codes the code kinds name.
var codeOwners = map[uint8]string{strAccountCode: "accounts", strVATCode: "vat_codes", strGLCode: "gl_accounts", strJournalCode: "journals",
	strCostCenterCode: "costcenters", strCostUnitCode: "costunits"}

// generateCode is the value of a code field f of record i of t, and false for other fields:
// the code of record i itself when t is the entity the code belongs to, else the code of one
// of that entity's generated records in the division (or of a record it does not serve).
func (t *table) generateCode(f *field, i int, h uint64) (string, bool) {
	if f.strKind < strAccountCode {
		return "", false // most strings: no map lookup on the hot path
	}
	owner := codeOwners[f.strKind]
	j := int(h >> 8 % 100000)
	if t.ent.name == owner && f.name == "Code" {
		j = i
	} else if target := t.div.tables[f.codeOf]; f.codeOf != nil && target != nil && target.base > 0 {
		j = int(h >> 8 % uint64(target.base))
	}
	switch f.strKind {
	case strAccountCode:
		return padInt(j + 1), true
	case strVATCode:
		return vatCode(j), true
	case strGLCode:
		return glCode(j), true
	case strCostCenterCode:
		return fmt.Sprintf("KP%04d", j+1), true
	case strCostUnitCode:
		return fmt.Sprintf("KD%04d", j+1), true
	}
	return journalCode(j), true
}

// String kinds: how generateString fills a field, worked out once from its name (stringKindOf).
const (
	strWords = iota
	strPerson
	strEmail
	strPhone
	strCurrency
	strCountry
	strCity
	strPostcode
	strAddress
	strURL
	strIBAN
	strCode
	strRemarks
)

// stringKindOf is the kind of a string field, by its name.
func stringKindOf(name string) uint8 {
	switch {
	case strings.HasSuffix(name, "FullName") || name == "Salesperson":
		return strPerson
	case strings.Contains(name, "Email"):
		return strEmail
	case strings.HasSuffix(name, "Phone") || strings.HasSuffix(name, "Fax") || strings.HasSuffix(name, "Mobile"):
		return strPhone
	case strings.HasSuffix(name, "Currency"):
		return strCurrency
	case strings.HasSuffix(name, "Country"):
		return strCountry
	case strings.HasSuffix(name, "City"):
		return strCity
	case strings.HasSuffix(name, "Postcode"):
		return strPostcode
	case strings.HasPrefix(name, "AddressLine") || strings.HasSuffix(name, "Street"):
		return strAddress
	case strings.HasSuffix(name, "Url") || name == "Website":
		return strURL
	case strings.HasSuffix(name, "IBAN"):
		return strIBAN
	case strings.HasSuffix(name, "Code") || strings.HasSuffix(name, "Number") || strings.HasSuffix(name, "Ref") ||
		strings.HasSuffix(name, "Reference"):
		return strCode
	case strings.HasSuffix(name, "Remarks") || strings.HasSuffix(name, "Notes"):
		return strRemarks
	}
	return strWords
}

// wordPairs are the descriptions' first two words, joined once.
var wordPairs = func() []string {
	out := make([]string, 0, len(words)*len(words))
	for _, a := range words {
		for _, b := range words {
			out = append(out, a+" "+b+" ")
		}
	}
	return out
}()

// generateString is a plausible value of a string field f of record i.
func generateString(f *field, i int, h uint64) string {
	pick := func(list []string, shift uint) string { return list[int((h>>shift)%uint64(len(list)))] }
	switch f.strKind {
	case strPerson:
		return pick(personNames, 8)
	case strEmail:
		return "boekhouding" + strconv.Itoa(i+1) + "@relatie.example.nl"
	case strPhone:
		return "+31 20 " + strconv.Itoa(1000000+int(h>>8%9000000))
	case strCurrency:
		return pick(currencies, 8)
	case strCountry:
		return pick(countries, 8)
	case strCity:
		return pick(cities, 8)
	case strPostcode:
		return strconv.Itoa(1000+int(h>>8%9000)) + " " + string(rune('A'+h>>20%26)) + string(rune('A'+h>>25%26))
	case strAddress:
		return pick(streets, 8) + " " + strconv.Itoa(1+int(h>>20%200))
	case strURL:
		return "https://www.relatie" + strconv.Itoa(i+1) + ".example.nl/" + strconv.Itoa(int(h>>8%1000))
	case strIBAN:
		return "NL" + pad(h>>8%100, 2) + "ABNA" + pad(h>>16%10000000000, 10)
	case strCode:
		return f.name[:1] + strconv.Itoa(int(h>>8%100000))
	case strRemarks:
		return pick(words, 8) + " – regel 1\nregel 2 met \"aanhalingstekens\" en een tab\t."
	}
	return pick(wordPairs, 8) + strconv.Itoa(i+1)
}
