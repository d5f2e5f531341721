package exacttest

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// Sorted pages: a regular or bulk request with $orderby (§3.7), and system/Divisions. Exact
// supports $orderby, "slow and may be dropped" (§3.7); clients reading by Modified send
// "$filter=Modified ge datetime'…'&$orderby=Modified asc" (§3.15). The simulator sorts the rows
// that pass the filter by the $orderby fields, then by the key, so that the order is total and
// rows sharing a Modified keep a stable order across pages; __next carries a $skiptoken of the
// last row's sort values followed by its key, in literal form, the way WCF Data Services pages
// ordered results: $skiptoken=datetime'2026-01-05T10%3A00%3A00.25',guid'…'. Nulls sort first, as
// in SQL Server. Dates sort by their Amsterdam wall-clock time, as Exact stores them (§3.8).
// Without $orderby, pages come in Timestamp order (odata.go).

// orderKey is one $orderby term.
type orderKey struct {
	field int
	desc  bool
}

// parseOrderBy reads "Modified asc,ID desc"; it returns a §4.4-style message on error.
func parseOrderBy(e *entity, s string, kind endpointKind) ([]orderKey, string) {
	var out []orderKey
	for term := range strings.SplitSeq(s, ",") {
		words := strings.Fields(term)
		if len(words) == 0 || len(words) > 2 {
			return nil, errQuerySyntax.Error()
		}
		i, ok := e.index[words[0]]
		if !ok || !e.fields[i].typ.scalar() || e.fields[i].typ == edmComplex || e.fields[i].syncOnly && kind != kindSync {
			return nil, "No property '" + words[0] + "' exists in type '" + e.typeName(kind) + "'."
		}
		k := orderKey{field: i}
		if len(words) == 2 {
			switch strings.ToLower(words[1]) {
			case "asc":
			case "desc":
				k.desc = true
			default:
				return nil, errQuerySyntax.Error()
			}
		}
		out = append(out, k)
	}
	return out, ""
}

// sortRow is a row of a sorted page: its Timestamp, its sort values (the $orderby fields' values
// and the key's) and, when it is not generated, the record itself.
type sortRow struct {
	ts   int64
	vals []value
	rec  record // nil: a generated row, rebuilt from its key when served
}

// sortKeys are the positions a sorted page compares: the $orderby fields, then the key.
func (eq *entityQuery) sortKeys(e *entity) []orderKey {
	return append(slices.Clone(eq.order), orderKey{field: e.idField})
}

// compareSort orders two rows by keys; nulls first.
func compareSort(e *entity, keys []orderKey, a, b []value) int {
	for j, k := range keys {
		va, vb := a[j], b[j]
		var c int
		switch {
		case va.null && vb.null:
		case va.null:
			c = -1
		case vb.null:
			c = 1
		default:
			c = compareValues(e.fields[k.field].typ, va, vb, false)
		}
		if k.desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

// sortedRows returns the rows of rows that come after the skiptoken, in order; rows are
// sorted in place. With no $orderby the rows keep their Timestamp order and the skiptoken
// is the last row's key alone. msg is a §4.4-style message for a bad skiptoken.
func sortedRows(e *entity, eq *entityQuery, rows []sortRow) ([]sortRow, string) {
	keys := eq.sortKeys(e)
	if len(eq.order) > 0 || eq.byKey {
		slices.SortStableFunc(rows, func(a, b sortRow) int { return compareSort(e, keys, a.vals, b.vals) })
	}
	if eq.skip == "" {
		return rows, ""
	}
	toks, err := lexFilter(eq.skip)
	var lits []token
	for k, t := range toks {
		if k%2 == 1 {
			if t.kind != tokPunct || t.text != "," {
				err = errQuerySyntax
			}
			continue
		}
		lits = append(lits, t)
	}
	if err != nil || len(lits) != len(keys) {
		return nil, errQuerySyntax.Error()
	}
	after := make([]value, len(keys))
	for j, k := range keys {
		if after[j], err = literal(e.fields[k.field].typ, lits[j]); err != nil {
			return nil, errQuerySyntax.Error()
		}
	}
	if len(eq.order) == 0 && !eq.byKey {
		// Timestamp order: continue after the row with that key, or from the start.
		for j, r := range rows {
			if compareSort(e, keys, r.vals, after) == 0 {
				return rows[j+1:], ""
			}
		}
		return rows, ""
	}
	j, _ := slices.BinarySearchFunc(rows, after, func(r sortRow, t []value) int { return compareSort(e, keys, r.vals, t) })
	for j < len(rows) && compareSort(e, keys, rows[j].vals, after) <= 0 {
		j++
	}
	return rows[j:], ""
}

// skipToken is the $skiptoken continuing after a row: its sort values as literals.
func skipToken(e *entity, keys []orderKey, vals []value) string {
	var b strings.Builder
	for j, k := range keys {
		if j > 0 {
			b.WriteByte(',')
		}
		b.WriteString(formatLiteral(e.fields[k.field].typ, vals[j]))
	}
	return b.String()
}

// formatLiteral writes v as a $filter literal of type t (§3.8): guid'…', datetime'…' in
// Amsterdam wall-clock time with the milliseconds' trailing zeros trimmed, as Exact writes
// them in a skiptoken (2018-09-21T04:18:55.617, 2026-01-05T10:00:00; §3.5), quoted
// strings, Int64 with the L suffix.
func formatLiteral(t edmType, v value) string {
	if v.null {
		return "null"
	}
	switch t {
	case edmGuid:
		return "guid'" + v.s + "'"
	case edmString, edmBinary:
		return "'" + strings.ReplaceAll(v.s, "'", "''") + "'"
	case edmBoolean:
		return strconv.FormatBool(v.n != 0)
	case edmInt64:
		return strconv.FormatInt(v.n, 10) + "L"
	case edmDouble, edmDecimal:
		return v.s
	case edmDateTime:
		return "datetime'" + time.UnixMilli(wallMillis(v.n)).UTC().Format("2006-01-02T15:04:05.999") + "'"
	}
	return strconv.FormatInt(v.n, 10)
}

// keyLiteral is the key of a record in __metadata URIs: guid'…' or an integer (§3.1).
func keyLiteral(e *entity, v value) string {
	if e.guidKey() {
		return "guid'" + v.s + "'"
	}
	return strconv.FormatInt(v.n, 10)
}

// servePageSorted adds a sorted page of at most size rows to pw. It returns the skiptoken of
// the page's last row when more rows follow ("" otherwise), or a §4.4-style message; count
// receives $inlinecount's count. scan is the entity's row scan (serveEntity), scratch its
// scratch record. The caller holds dataMu.
func (s *Simulator) servePageSorted(div *divisionData, rt route, eq *entityQuery, size int,
	scan func(int64, func(int64, record) bool), scratch record, pw *pageWriter, count *int) (string, string) {
	e := rt.ent
	keys := eq.sortKeys(e)
	var rows []sortRow
	add := func(ts int64, rec record, own bool) {
		if eq.pred != nil && !eq.pred.eval(rec) {
			return
		}
		if _, flags, ok := hostileOf(e, rec); ok && flags&hostileGUIDKey == 0 {
			return // sorted pages end on a key: a record without one is not served there
		}
		vals := make([]value, len(keys))
		for j, k := range keys {
			vals[j] = rec[k.field]
		}
		sr := sortRow{ts: ts, vals: vals}
		if own {
			sr.rec = rec
		}
		rows = append(rows, sr)
	}
	if e == divisionsEntity {
		for i, rec := range s.divisionRows() {
			add(int64(i+1), rec, true)
		}
	} else {
		scan(0, func(ts int64, rec record) bool {
			add(ts, rec, len(rec) > 0 && &rec[0] != &scratch[0]) // a generated row is rebuilt when served
			return true
		})
	}
	if eq.inlineCount {
		*count = len(rows)
	}
	rows, msg := sortedRows(e, eq, rows)
	rows = rows[min(eq.skipRows, len(rows)):] // $skip counts from the skiptoken's position
	if msg != "" || size == 0 {
		return "", msg
	}
	t := div.tables[e]
	for j, sr := range rows {
		if j == size {
			return skipToken(e, keys, rows[j-1].vals), ""
		}
		rec := sr.rec
		if rec == nil {
			rec, _, _ = t.row(sr.vals[len(keys)-1].s, scratch)
		}
		pw.key = keyLiteral(e, rec[e.idField])
		pw.add(sr.ts, rec)
	}
	return "", ""
}
