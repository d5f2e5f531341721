package exacttest

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// serveByKey serves one record by its key, Entity(guid'…') (§3.1): {"d":{…}} with the record's
// __metadata (§3.5), or an Atom entry. The key is the entity's key field on regular and bulk
// endpoints (an integer for system/Divisions(101)) and, on sync endpoints, the Timestamp their
// records' __metadata.uri names (sync/CRM/Accounts(4001L); Exact's reference gives Timestamp
// as the key of the sync resources, §3.10). $select applies; other options are ignored. An
// unknown key is a 404, a malformed one a 400 (§4.4).
func (s *Simulator) serveByKey(w http.ResponseWriter, r *http.Request, division int, rt route, key string) {
	e := rt.ent
	for k := range r.URL.Query() {
		if strings.HasPrefix(k, "$") && !queryOptions[k] {
			writeError(w, r, http.StatusBadRequest, "The query parameter '"+k+"' begins with a system-reserved '$' character but is not recognized.")
			return
		}
	}
	sel, msg := parseSelect(e, r.URL.Query().Get("$select"), rt.kind)
	if msg != "" {
		writeError(w, r, http.StatusBadRequest, msg)
		return
	}
	now := s.Now()
	base := baseURL(r) + "/api/v1/" + strconv.Itoa(division) + "/" + rt.path
	pw := s.newPageWriter(r, e, sel, base+"(", rt.kind == kindSync, rt.metaType())
	s.dataMu.RLock()
	rec, ts, found, ok := s.lookupKey(division, rt, key, now)
	if !ok {
		s.dataMu.RUnlock()
		writeError(w, r, http.StatusBadRequest, errQuerySyntax.Error())
		return
	}
	if !found {
		s.dataMu.RUnlock()
		writeNotFound(w, r, rt.path)
		return
	}
	if rt.kind != kindSync {
		pw.key = keyLiteral(e, rec[e.idField])
	}
	body := pw.single(ts, rec)
	s.dataMu.RUnlock()
	s.writeBody(w, r, body, false)
}

// lookupKey finds the record a key literal names; ok is false for a literal that is not a
// key of the route. The caller holds dataMu for reading, and must not keep rec past it.
func (s *Simulator) lookupKey(division int, rt route, key string, now time.Time) (rec record, ts int64, found, ok bool) {
	e := rt.ent
	div := s.data[division]
	if rt.kind == kindSync {
		n, err := strconv.ParseInt(strings.TrimSuffix(key, "L"), 10, 64)
		if err != nil || n <= 0 {
			return nil, 0, false, false
		}
		first := func(got int64, r record) bool {
			if got == n && (e == deletedEntity || !div.tables[e].hidden[r[e.idField].s]) {
				rec, ts, found = r, got, true
			}
			return false // the first row after n-1 is n, or n is no row
		}
		if e == deletedEntity {
			div.scanDeleted(n-1, now, first)
		} else {
			div.tables[e].scan(n-1, e.newRecord(), first)
		}
		return rec, ts, found, true
	}
	if e == divisionsEntity {
		code, err := strconv.Atoi(key)
		if err != nil {
			return nil, 0, false, false
		}
		for i, r := range s.divisionRows() {
			if r[e.idField].n == int64(code) {
				return r, int64(i + 1), true, true
			}
		}
		return nil, 0, false, true
	}
	g, ok1 := strings.CutPrefix(key, "guid'")
	g, ok2 := strings.CutSuffix(g, "'")
	id, err := canonicalGUID(g)
	if !ok1 || !ok2 || err != nil {
		return nil, 0, false, false
	}
	rec, ts, found = div.tables[e].row(id, e.newRecord())
	if _, flags, hostile := hostileOf(e, rec); found && hostile && flags&hostileGUIDKey == 0 {
		found = false
	}
	return rec, ts, found, true
}

// serveCount serves Entity/$count (§3.5, §3.16): the number of records its $filter selects, as
// plain text without an envelope, under the same rules as the collection (mandatory
// filtering included, UNCONFIRMED there). Served on regular endpoints; Exact's behaviour on
// bulk and sync endpoints is UNCONFIRMED (§3.16): they answer 404.
func (s *Simulator) serveCount(w http.ResponseWriter, r *http.Request, division int, rt route) {
	if rt.kind != kindRegular {
		writeNotFound(w, r, "$count")
		return
	}
	now := s.Now()
	s.dataMu.RLock()
	div := s.data[division]
	eq, msg := s.parseEntityQuery(r, rt, div)
	if msg != "" {
		s.dataMu.RUnlock()
		writeError(w, r, http.StatusBadRequest, msg)
		return
	}
	n := 0
	count := func(_ int64, rec record) bool {
		if _, flags, hostile := hostileOf(rt.ent, rec); hostile && flags&hostileGUIDKey == 0 {
			return true
		}
		if eq.pred == nil || eq.pred.eval(rec) {
			n++
		}
		return true
	}
	switch rt.ent {
	case divisionsEntity:
		for i, rec := range s.divisionRows() {
			count(int64(i+1), rec)
		}
	case deletedEntity:
		div.scanDeleted(0, now, count)
	default:
		div.tables[rt.ent].scanFields(0, rt.ent.newRecord(), eq.want, count)
	}
	s.dataMu.RUnlock()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("DataServiceVersion", "2.0")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(strconv.Itoa(n)))
}
