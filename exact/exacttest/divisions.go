package exacttest

import (
	"strconv"

	"github.com/exactsync/exactsync/exact/catalogue"
)

// divisionsEntity is system/Divisions (§3.3) with the catalogue's fields. Its rows are not a
// table: they are the divisions the user granted the app, in Options.Divisions order, built
// when served (divisionRecord). Like every regular endpoint it takes $filter (Modified
// included), $orderby, $select and pages of 60.
var divisionsEntity = func() *entity {
	ce, ok := catalogue.Lookup("divisions")
	if !ok {
		panic("exacttest: the catalogue has no divisions")
	}
	e := entityFromCatalogue(ce)
	e.generate = nil
	return e
}()

// divisionSalt tells a division's own row generator from its tables'.
const divisionSalt = 1 << 20

// divisionRecord is the system/Divisions row of division d, as listed by any division: the
// catalogue's fields generated, then what the simulator knows: Code, Description, Current (the
// first division), Status 1 (active), BlockingStatus 0, Country "NL " (space padded, §3.3), Hid
// (an Int64 served as a string, as seen, §3.3), and DivisionMoveDate, null until MoveDivision
// (§3.10). A move also counts as a modification: Modified is then the move date.
func (s *Simulator) divisionRecord(d *divisionData) record {
	e := divisionsEntity
	t := &table{ent: e, div: d, gen: newGenerator(s.opts.Seed, d.code, s.start, divisionSalt), base: 1}
	rec := e.newRecord()
	generateRecord(t, 0, rec, nil)
	set := func(name string, v value) {
		if i, ok := e.index[name]; ok {
			rec[i] = v
		}
	}
	set("Code", value{n: int64(d.code)})
	set("Description", value{s: "Administratie " + strconv.Itoa(d.code) + " – Exacte Simulatie B.V."})
	set("Current", boolVal(d.code == s.opts.Divisions[0]))
	set("Status", value{n: 1})
	set("BlockingStatus", value{n: 0})
	set("Country", value{s: "NL "})
	set("Hid", value{n: int64(d.code)})
	set("DivisionMoveDate", timeVal(d.moved))
	set("ArchiveDate", value{null: true})
	if !d.moved.IsZero() && e.modField >= 0 {
		rec[e.modField] = value{n: d.moved.UnixMilli()}
	}
	return rec
}

// divisionRows returns the rows system/Divisions lists: the granted divisions, in order. The
// caller holds dataMu.
func (s *Simulator) divisionRows() []record {
	s.mu.Lock()
	var divs []int
	for _, d := range s.division {
		if !s.revoked[d] {
			divs = append(divs, d)
		}
	}
	s.mu.Unlock()
	out := make([]record, 0, len(divs))
	for _, code := range divs {
		if d := s.data[code]; d != nil {
			out = append(out, s.divisionRecord(d))
		}
	}
	return out
}
