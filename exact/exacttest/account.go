package exacttest

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Account is one crm/Accounts record. JSON names are Exact's field names; nil pointers are
// JSON null, as Exact serves empty fields (§3.8).
type Account struct {
	ID                string    `json:"ID"`
	Code              string    `json:"Code"` // padded to 18 characters, as Exact serves it (§3.8)
	Name              string    `json:"Name"`
	IsSupplier        bool      `json:"IsSupplier"`
	IsSales           bool      `json:"IsSales"`
	IsPurchase        bool      `json:"IsPurchase"`
	Blocked           bool      `json:"Blocked"`
	Status            string    `json:"Status"`
	Type              string    `json:"Type"`
	Email             *string   `json:"Email"`
	Phone             *string   `json:"Phone"`
	Website           *string   `json:"Website"`
	AddressLine1      *string   `json:"AddressLine1"`
	Postcode          *string   `json:"Postcode"`
	City              *string   `json:"City"`
	Country           *string   `json:"Country"`
	VATNumber         *string   `json:"VATNumber"`
	ChamberOfCommerce *string   `json:"ChamberOfCommerce"`
	Created           time.Time `json:"Created"`  // instant (UTC); served as /Date(ms)/ in Amsterdam wall-clock time
	Modified          time.Time `json:"Modified"` // instant (UTC)
	Division          int       `json:"Division"`
	Timestamp         int64     `json:"Timestamp"` // set by the simulator
}

// Field positions in accountsEntity.fields.
const (
	accID = iota
	accCode
	accName
	accIsSupplier
	accIsSales
	accIsPurchase
	accBlocked
	accStatus
	accType
	accEmail
	accPhone
	accWebsite
	accAddressLine1
	accPostcode
	accCity
	accCountry
	accVATNumber
	accChamberOfCommerce
	accCreated
	accModified
	accDivision
	accTimestamp
)

// PadCode right-aligns an account code in 18 characters, as Exact stores it (§3.8).
func PadCode(code string) string {
	code = strings.TrimSpace(code)
	if len(code) >= 18 {
		return code
	}
	return strings.Repeat(" ", 18-len(code)) + code
}

func str(v value) *string {
	if v.null {
		return nil
	}
	s := v.s
	return &s
}

func strVal(p *string) value {
	if p == nil {
		return value{null: true}
	}
	return value{s: *p}
}

func boolVal(b bool) value {
	if b {
		return value{n: 1}
	}
	return value{}
}

func timeVal(t time.Time) value {
	if t.IsZero() {
		return value{null: true}
	}
	return value{n: t.UnixMilli()}
}

func valTime(v value) time.Time {
	if v.null {
		return time.Time{}
	}
	return time.UnixMilli(v.n).UTC()
}

func accountFromRecord(r record) Account {
	return Account{
		ID: r[accID].s, Code: r[accCode].s, Name: r[accName].s,
		IsSupplier: r[accIsSupplier].n != 0, IsSales: r[accIsSales].n != 0,
		IsPurchase: r[accIsPurchase].n != 0, Blocked: r[accBlocked].n != 0,
		Status: r[accStatus].s, Type: r[accType].s,
		Email: str(r[accEmail]), Phone: str(r[accPhone]), Website: str(r[accWebsite]),
		AddressLine1: str(r[accAddressLine1]), Postcode: str(r[accPostcode]), City: str(r[accCity]),
		Country: str(r[accCountry]), VATNumber: str(r[accVATNumber]),
		ChamberOfCommerce: str(r[accChamberOfCommerce]),
		Created:           valTime(r[accCreated]), Modified: valTime(r[accModified]),
		Division: int(r[accDivision].n), Timestamp: r[accTimestamp].n,
	}
}

// recordFromAccount is the record of a; the fields Account does not carry are null.
func recordFromAccount(a Account) record {
	r := accountsEntity.newRecord()
	for i := accountFields; i < len(r); i++ {
		r[i] = value{null: true}
	}
	r[accID] = value{s: a.ID}
	r[accCode] = value{s: PadCode(a.Code)}
	r[accName] = value{s: a.Name}
	r[accIsSupplier] = boolVal(a.IsSupplier)
	r[accIsSales] = boolVal(a.IsSales)
	r[accIsPurchase] = boolVal(a.IsPurchase)
	r[accBlocked] = boolVal(a.Blocked)
	r[accStatus] = value{s: a.Status}
	r[accType] = value{s: a.Type}
	r[accEmail] = strVal(a.Email)
	r[accPhone] = strVal(a.Phone)
	r[accWebsite] = strVal(a.Website)
	r[accAddressLine1] = strVal(a.AddressLine1)
	r[accPostcode] = strVal(a.Postcode)
	r[accCity] = strVal(a.City)
	r[accCountry] = strVal(a.Country)
	r[accVATNumber] = strVal(a.VATNumber)
	r[accChamberOfCommerce] = strVal(a.ChamberOfCommerce)
	r[accCreated] = timeVal(a.Created)
	r[accModified] = timeVal(a.Modified)
	r[accDivision] = value{n: int64(a.Division)}
	r[accTimestamp] = value{n: a.Timestamp}
	return r
}

// Word lists for generated accounts; names carry non-ASCII letters on purpose.
var (
	namePrefixes = []string{"Bakkerij", "Café", "Hoveniersbedrijf", "Garage", "Drukkerij", "Installatiebedrijf",
		"Brasserie", "Atelier", "Boulangerie", "Transportbedrijf", "Bloemisterij", "Adviesbureau"}
	nameSurnames = []string{"Müller", "de Vries", "Jansen", "Bakker", "Østergaard", "Çelik", "van den Berg",
		"Lefèvre", "Smit", "Dijkstra", "Žukauskas", "Nuñez", "Visser", "Ångström", "Meijer", "Groß", "Şahin", "Dvořák"}
	nameSuffixes = []string{" B.V.", " V.O.F.", "", " & Zn.", " Holding B.V.", " GmbH", " S.à r.l.", " N.V."}
	streets      = []string{"Keizersgracht", "Hoofdstraat", "Kerkstraat", "Stationsweg", "Dorpsstraat",
		"Molenweg", "Rue de la Gare", "Königsallee", "Meir", "Coolsingel"}
	cities    = []string{"Amsterdam", "Den Haag", "Rotterdam", "Utrecht", "Delft", "Zwolle", "'s-Hertogenbosch", "Düsseldorf", "Liège", "Antwerpen"}
	countries = []string{"NL", "NL", "NL", "NL", "NL", "NL", "NL", "DE", "BE", "BE"}
)

// generateAccount fills r with generated account i of t's division. ~30% are suppliers. The
// fields after the ones of §5.2 it always served are generated as for every entity (generate.go).
func generateAccount(t *table, i int, r record, want []bool) {
	generateFields(t, i, r, want, accountFields)
	g := t.gen
	h := g.hash(i, 1)
	h2 := g.hash(i, 2)
	pick := func(list []string, shift uint) string { return list[int((h>>shift)%uint64(len(list)))] }
	supplier := h%100 < 30
	r[accID] = value{s: g.guid(i)}
	r[accCode] = value{s: padInt(i + 1)}
	r[accName] = value{s: pick(namePrefixes, 8) + " " + pick(nameSurnames, 16) + pick(nameSuffixes, 24)}
	r[accIsSupplier] = boolVal(supplier)
	r[accIsSales] = boolVal(!supplier || (h>>32)%5 == 0)
	r[accIsPurchase] = boolVal(supplier) // obsolete but still returned (§5.2)
	r[accBlocked] = boolVal((h>>36)%50 == 0)
	switch s := (h >> 40) % 20; {
	case s < 10:
		r[accStatus] = value{s: "C"}
	case s < 12:
		r[accStatus] = value{s: "P"}
	case s < 13:
		r[accStatus] = value{s: "S"}
	default:
		r[accStatus] = value{s: "A"}
	}
	r[accType] = value{s: "A"}
	num := strconv.Itoa(i + 1)
	r[accEmail] = nullUnless(h2%10 < 8, "info@relatie"+num+".example.nl")
	r[accPhone] = nullUnless(h2>>4%10 < 7, "+31 20 "+strconv.Itoa(1000000+int(h2>>8%9000000)))
	r[accWebsite] = nullUnless(h2>>12%2 == 0, "https://www.relatie"+num+".example.nl")
	r[accAddressLine1] = nullUnless(h2>>16%20 != 0, pick(streets, 44)+" "+strconv.Itoa(1+int(h2>>20%200)))
	r[accPostcode] = nullUnless(h2>>28%20 != 0, strconv.Itoa(1000+int(h2>>32%9000))+" "+string(rune('A'+h2>>40%26))+string(rune('A'+h2>>45%26)))
	ci := int((h >> 48) % uint64(len(cities)))
	r[accCity] = value{s: cities[ci]}
	r[accCountry] = value{s: countries[ci]}
	r[accVATNumber] = nullUnless(h2>>50%10 < 6, countries[ci]+strconv.Itoa(100000000+int(h2%900000000))+"B01")
	r[accChamberOfCommerce] = nullUnless(h2>>54%10 < 7, strconv.Itoa(10000000+int(h2>>8%90000000)))
	// Created within five years before the start, Modified between Created and the start.
	created := g.start - int64(h2>>20%(5*365*86400))*1000
	r[accCreated] = value{n: created}
	r[accModified] = value{n: created + int64(h>>20%uint64(g.start-created+1))}
	r[accDivision] = value{n: int64(g.division)}
	r[accTimestamp] = value{n: int64(i) + 1}
}

func nullUnless(ok bool, s string) value {
	if !ok {
		return value{null: true}
	}
	return value{s: s}
}

func padInt(n int) string {
	var b [18]byte
	for i := range b {
		b[i] = ' '
	}
	i := len(b)
	for n > 0 && i > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[:])
}

// generator derives a division's base rows from (seed, division, index).
type generator struct {
	division int
	key      uint64
	start    int64 // Options.Start in Unix milliseconds
	mul, inv uint64
}

const mask48 = 1<<48 - 1

// newGenerator returns the generator of one table of a division; salt tells the tables apart
// (0 for the accounts, whose IDs predate the other tables).
func newGenerator(seed int64, division int, start time.Time, salt uint64) *generator {
	key := splitmix(uint64(seed)*0x9e3779b97f4a7c15 ^ uint64(division))
	if salt != 0 {
		key = splitmix(key ^ salt*0xa0761d6478bd642f)
	}
	mul := splitmix(key)&mask48 | 1
	inv := mul // Newton iteration for the inverse of an odd number modulo 2^64
	for range 6 {
		inv *= 2 - mul*inv
	}
	return &generator{division: division, key: key, start: start.UnixMilli(), mul: mul, inv: inv & mask48}
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func (g *generator) hash(i int, salt uint64) uint64 {
	return splitmix(g.key ^ uint64(i)*0xd1b54a32d192ed03 ^ salt<<56)
}

// guid returns the ID of base row i: a version-4-shaped GUID whose last group is an
// invertible mix of i, so an ID maps back to its row without an index in memory.
func (g *generator) guid(i int) string {
	hi := g.hash(i, 0)
	lo := (uint64(i)*g.mul + g.key>>16) & mask48
	var b [36]byte
	put := func(at int, v uint64, digits int) {
		for d := digits - 1; d >= 0; d-- {
			b[at+d] = hexDigits[v&0xf]
			v >>= 4
		}
	}
	put(0, hi>>32, 8)
	b[8] = '-'
	put(9, hi>>16, 4)
	b[13] = '-'
	put(14, 0x4000|hi&0x0fff, 4)
	b[18] = '-'
	put(19, 0x8000|(hi>>48)&0x3fff, 4)
	b[23] = '-'
	put(24, lo, 12)
	return string(b[:])
}

// index returns the base row whose ID is id, or -1.
func (g *generator) index(id string, n int) int {
	if len(id) != 36 {
		return -1
	}
	lo, err := strconv.ParseUint(id[24:], 16, 64)
	if err != nil {
		return -1
	}
	i := ((lo - g.key>>16) * g.inv) & mask48
	if i >= uint64(n) || g.guid(int(i)) != id {
		return -1
	}
	return int(i)
}

// canonicalGUID lowercases and validates an 8-4-4-4-12 GUID.
func canonicalGUID(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) != 36 {
		return "", fmt.Errorf("invalid GUID %q", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return "", fmt.Errorf("invalid GUID %q", s)
			}
			continue
		}
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", fmt.Errorf("invalid GUID %q", s)
		}
	}
	return s, nil
}
