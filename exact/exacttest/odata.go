package exacttest

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	gosync "sync"
	"time"
)

// Page sizes (§3.6): 60 on regular endpoints, 1,000 on bulk and sync endpoints.
const (
	regularPageSize = 60
	bulkPageSize    = 1000
)

// Messages of §4.4.
const (
	msgSelectRequired = "Please add a $select or a $top=1 statement to the query string."
	msgMandatory      = "This endpoint has mandatory filtering applied. A GET request for this endpoint must have a $filter parameter with one of the following fields in the url:"
	msgFilterNotSupp  = "This $filter parameter is not supported for this resource"
	msgFieldsNotSupp  = "Filtering on these fields is not supported: "
	msgNoDivision     = "Forbidden - User division is not within division scope"
	msgRateBlocked    = "API rate limit exceeded"
)

// wantsJSON: Exact answers JSON only when asked with Accept: application/json and XML (Atom)
// otherwise (§3.4). The simulator serves a small but valid Atom feed in that case.
func wantsJSON(r *http.Request) bool {
	return strings.Contains(strings.ToLower(r.Header.Get("Accept")), "application/json")
}

// writeError writes the REST error envelope (§4.1), as JSON or as the OData XML error.
func writeError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	var b []byte
	if wantsJSON(r) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		b = append(b, `{"error":{"code":"","message":{"lang":"","value":`...)
		b = appendJSONString(b, msg)
		b = append(b, `}}}`...)
	} else {
		w.Header().Set("Content-Type", "application/xml; charset=utf-8")
		b = append(b, `<?xml version="1.0" encoding="utf-8"?><error xmlns="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"><code></code><message xml:lang="">`...)
		b = appendXMLText(b, msg)
		b = append(b, `</message></error>`...)
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// serveMe is current/Me (§3.2): authenticated, but without a division, so neither rate-limited
// nor counted against the limits and without rate-limit headers (§2.1, §2.2).
func (s *Simulator) serveMe(w http.ResponseWriter, r *http.Request) {
	s.countCall(0, "current/Me")
	if !s.maintenance(w, r) {
		return
	}
	if expired, ok := s.authenticate(r); !ok {
		s.writeUnauthorized(w, r, expired)
		return
	}
	rec := meEntity.newRecord()
	set := func(name string, v value) { rec[meEntity.index[name]] = v }
	set("CurrentDivision", value{n: int64(s.opts.Divisions[0])})
	set("UserID", value{s: s.userID})
	set("UserName", value{s: "jan.devries@example.nl"})
	set("FullName", value{s: "Jan de Vries"})
	set("Email", value{s: "jan.devries@example.nl"})
	set("LanguageCode", value{s: "nl-NL"})
	set("Legislation", value{s: "1"}) // a string in real responses (§3.8)
	set("DivisionCustomerCode", value{s: padInt(1265594)})
	set("AccountingDivision", value{n: int64(s.opts.Divisions[0])})
	// Amsterdam's offset on the simulated day: 3600 in winter, 7200 in summer (§3.2, §3.5).
	now := s.Now()
	_, off := now.In(amsterdam).Zone()
	set("ServerUtcOffset", value{n: int64(off)})
	set("ServerTime", value{n: now.UnixMilli()}) // /Date(ms)/ of the Amsterdam wall clock, like every date
	pw := s.newPageWriter(r, meEntity, nil, baseURL(r)+"/api/v1/current/Me(guid'", false, meEntity.metaType)
	pw.begin(baseURL(r) + "/api/v1/current/Me")
	pw.key = s.userID + "'"
	pw.add(0, rec)
	s.writeBody(w, r, pw.end("", -1), false)
}

// serveREST serves /api/v1/{division}/{endpoint}: auth (401), division scope (403), error budget,
// rate limits (429), faults, then the endpoint.
func (s *Simulator) serveREST(w http.ResponseWriter, r *http.Request, division int, endpoint string) {
	path, key, count := splitResource(endpoint)
	rt, known := routes[strings.ToLower(path)]
	if known {
		endpoint = rt.path // by key and $count are calls of the entity's endpoint, in stats and budgets
	}
	read, isRead := readEndpoints[strings.ToLower(path)] // reconcile.go
	if isRead {
		endpoint = read
	}
	hookKey, hook := webhookRoute(endpoint)
	if hook {
		endpoint = webhooksPath // one counter, whatever the key
	}
	s.countCall(division, endpoint)
	defer s.enter(division, endpoint)()
	if !s.maintenance(w, r) { // before auth and limits: the service is down
		return
	}
	if s.budgetBlocked(division, endpoint) {
		writeError(w, r, http.StatusTooManyRequests, msgRateBlocked)
		return
	}
	sw := &statusWriter{ResponseWriter: w}
	defer func() { s.recordError(division, endpoint, sw.status) }()
	if expired, ok := s.authenticate(r); !ok {
		s.writeUnauthorized(sw, r, expired)
		return
	}
	s.mu.Lock()
	granted := s.granted(division)
	s.mu.Unlock()
	if !granted {
		sw.Header().Set("Reason", "NoDivisionAccess") // §4.3
		writeError(sw, r, http.StatusForbidden, msgNoDivision)
		return
	}
	if !s.takeCall(sw.Header(), division) {
		sw.WriteHeader(http.StatusTooManyRequests) // empty body (§2.4)
		return
	}
	if !s.injectFault(sw, r) {
		return
	}
	if hook {
		s.serveWebhookSubscriptions(sw, r, division, hookKey)
		return
	}
	if r.Method != http.MethodGet {
		writeError(sw, r, http.StatusMethodNotAllowed, "Method not allowed: the simulator serves GET only")
		return
	}
	switch {
	case isRead && key == nil && !count && read == reportingBalancePath:
		s.serveReportingBalance(sw, r, division)
	case isRead && key == nil && !count:
		s.serveSyncTimestamp(sw, r, division)
	case known && key != nil:
		s.serveByKey(sw, r, division, rt, *key)
	case known && count:
		s.serveCount(sw, r, division, rt)
	case known:
		s.serveEntity(sw, r, division, rt)
	default:
		writeNotFound(sw, r, endpoint)
	}
}

// splitResource splits an endpoint into the entity's path and what follows it: a key
// (Journals(guid'…'), Divisions(101), sync/CRM/Accounts(4001L), §3.1) or /$count (§3.5,
// §3.16). key is nil without one; a path neither form fits is returned whole.
func splitResource(endpoint string) (path string, key *string, count bool) {
	if p, ok := strings.CutSuffix(endpoint, "/$count"); ok {
		return p, nil, true
	}
	last := endpoint[strings.LastIndexByte(endpoint, '/')+1:]
	open := strings.IndexByte(last, '(')
	if open <= 0 || !strings.HasSuffix(last, ")") {
		return endpoint, nil, false
	}
	k := last[open+1 : len(last)-1]
	return endpoint[:len(endpoint)-len(last)+open], &k, false
}

// writeNotFound answers 404 for a resource the simulator does not serve, in Exact's error
// envelope (§4.1; the 404 body is UNCONFIRMED, §4.2): the OData text naming the segment.
func writeNotFound(w http.ResponseWriter, r *http.Request, resource string) {
	seg := strings.Trim(resource, "/")
	seg = seg[strings.LastIndexByte(seg, '/')+1:]
	if i := strings.IndexByte(seg, '('); i > 0 {
		seg = seg[:i]
	}
	writeError(w, r, http.StatusNotFound, "Resource not found for the segment '"+seg+"'.")
}

// injectFault applies Faults.Latency and Faults.ErrorRate; false when it answered the request.
func (s *Simulator) injectFault(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	f := s.faults
	fail := f.ErrorRate > 0 && s.rng.Float64() < f.ErrorRate
	status := http.StatusInternalServerError
	if fail {
		s.stats.FaultsInjected++
		if s.rng.IntN(2) == 0 {
			status = http.StatusServiceUnavailable
		}
	}
	s.mu.Unlock()
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		}
	}
	if fail {
		writeError(w, r, status, "An error has occurred. (injected by the simulator)")
		return false
	}
	return true
}

// writeBody writes a 200 body; with Faults.TruncateRate it may cut it in half (truncatable pages only).
func (s *Simulator) writeBody(w http.ResponseWriter, r *http.Request, body []byte, truncatable bool) {
	if truncatable {
		s.mu.Lock()
		if s.faults.TruncateRate > 0 && s.rng.Float64() < s.faults.TruncateRate {
			s.stats.FaultsInjected++
			body = body[:len(body)/2]
		}
		s.mu.Unlock()
	}
	if wantsJSON(r) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "application/atom+xml; charset=utf-8")
	}
	w.Header().Set("DataServiceVersion", "2.0")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// parseSelect resolves $select into field positions; "" and "*" select every field the
// endpoint serves, navigation collections included: without $select Exact serves them
// unexpanded, as {"__deferred":{"uri":…}} (§3.5). With $select a collection is served only
// when named. It returns a §4.4-style message on error.
func parseSelect(e *entity, sel string, kind endpointKind) ([]int, string) {
	var out []int
	if strings.TrimSpace(sel) == "" || strings.TrimSpace(sel) == "*" {
		for i, f := range e.fields {
			if !f.syncOnly || kind == kindSync {
				out = append(out, i)
			}
		}
		return out, ""
	}
	for name := range strings.SplitSeq(sel, ",") {
		name = strings.TrimSpace(name)
		i, ok := e.index[name]
		if !ok || e.fields[i].syncOnly && kind != kindSync {
			return nil, "No property '" + name + "' exists in type '" + e.typeName(kind) + "'."
		}
		out = append(out, i)
	}
	return out, ""
}

// queryOptions are the system query options the simulator knows (§3.7); any other
// $-option is refused as WCF Data Services refuses one (§3.16).
var queryOptions = map[string]bool{"$select": true, "$filter": true, "$orderby": true, "$top": true, "$skip": true,
	"$skiptoken": true, "$inlinecount": true, "$expand": true, "$format": true}

// msgSkipRefused answers $skip on a bulk or sync endpoint: Exact supports $skip only on
// endpoints released before 1 March 2017, and pages the others by $skiptoken (§3.6, §3.7);
// the bulk and sync endpoints came later (§3.10, §3.13). The text is UNCONFIRMED.
const msgSkipRefused = "The query parameter '$skip' is not supported on this endpoint; page with the $skiptoken of __next."

// entityQuery is a parsed request to an entity endpoint.
type entityQuery struct {
	sel         []int
	pred        expr   // nil: every row
	after       int64  // rows with Timestamp > after
	idEq        string // fast path for "ID eq guid'…'"
	top         int    // -1: none
	skipRows    int    // $skip: rows passed over before the page (regular endpoints only)
	token       bool   // the request carries a $skiptoken
	inlineCount bool
	// order is $orderby (regular and bulk endpoints); with it, or on system/Divisions, the
	// page is served sorted (order.go) and skip holds the raw $skiptoken.
	order  []orderKey
	sorted bool
	skip   string
	// byKey sorts by the key alone: the default order Exact falls back to when it drops
	// $orderby (Options.IgnoreOrderBy).
	byKey bool
	// want names the fields a generated row needs: the selected ones, those the filter and
	// the order read, and the key.
	want []bool
}

// parseEntityQuery validates the query options of §3.6–§3.10 and returns the §4.4 message on error.
func (s *Simulator) parseEntityQuery(r *http.Request, rt route, div *divisionData) (entityQuery, string) {
	q := r.URL.Query()
	eq := entityQuery{top: -1}
	e := rt.ent
	for k := range q {
		if strings.HasPrefix(k, "$") && !queryOptions[k] {
			return eq, "The query parameter '" + k + "' begins with a system-reserved '$' character but is not recognized."
		}
	}
	if v, ok := q["$top"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 0 {
			return eq, errQuerySyntax.Error()
		}
		eq.top = n
	}
	if v, ok := q["$skip"]; ok {
		n, err := strconv.Atoi(v[0])
		switch {
		case err != nil || n < 0:
			return eq, errQuerySyntax.Error()
		case rt.kind != kindRegular:
			return eq, msgSkipRefused
		}
		eq.skipRows = n
	}
	eq.token = q.Get("$skiptoken") != ""
	if q.Get("$select") == "" && rt.kind != kindRegular && eq.top != 1 {
		// Mandatory on bulk (§3.9, §3.13); on sync it is UNCONFIRMED whether omitting it is an
		// error (§3.9): the simulator requires it there too, as Exact's own examples always send it.
		return eq, msgSelectRequired
	}
	var msg string
	if eq.sel, msg = parseSelect(e, q.Get("$select"), rt.kind); msg != "" {
		return eq, msg
	}
	filters, hasFilter := q["$filter"]
	switch {
	case hasFilter && strings.TrimSpace(filters[0]) == "":
		return eq, msgFilterNotSupp // an empty $filter= is rejected (§3.9)
	case hasFilter:
		x, fields, err := parseFilter(e, filters[0])
		var bad []string
		for _, f := range fields {
			i, ok := e.index[f]
			if !ok || rt.kind != kindSync && (!e.fields[i].filter || e.fields[i].syncOnly) {
				bad = append(bad, f)
			}
		}
		if len(bad) > 0 && rt.kind != kindSync {
			return eq, msgFieldsNotSupp + strings.Join(bad, ",")
		}
		if len(bad) > 0 {
			return eq, msgFilterNotSupp
		}
		if err != nil {
			return eq, err.Error()
		}
		if rt.kind == kindSync {
			after, rest, ok := syncBound(e, x)
			if !ok {
				return eq, msgFilterNotSupp // only Timestamp on sync endpoints (§3.10)
			}
			eq.after = after
			if rest {
				eq.pred = x
			}
		} else {
			eq.pred = x
			if c, ok := x.(*cmpExpr); ok && c.field == e.idField && e.guidKey() && c.op == "eq" && !c.lit.null {
				eq.idEq = c.lit.s
			}
		}
	case e.mandatoryFilter && !s.opts.NoMandatoryFilter && rt.kind != kindSync:
		return eq, msgMandatory + e.filterFields() + "."
	}
	if ob := q.Get("$orderby"); ob != "" {
		if rt.kind == kindSync {
			// Sync endpoints serve in Timestamp order (§3.10); Exact's answer to $orderby there
			// is UNCONFIRMED: the simulator refuses it.
			return eq, "$orderby is not supported on sync endpoints, which are ordered by Timestamp"
		}
		if eq.order, msg = parseOrderBy(e, ob, rt.kind); msg != "" {
			return eq, msg
		}
		if s.opts.IgnoreOrderBy && e != divisionsEntity {
			eq.order, eq.byKey = nil, true
		}
	}
	eq.sorted = len(eq.order) > 0 || eq.byKey || e == divisionsEntity
	if tok := q.Get("$skiptoken"); tok != "" && eq.sorted {
		eq.skip = tok
	} else if tok != "" {
		if rt.kind == kindSync {
			// The skiptoken of sync pages is the last Timestamp with the Int64 suffix ("4001L").
			// Its form is UNCONFIRMED (§3.10); "…L" is the documented Int64 skiptoken of §3.6.
			n, err := strconv.ParseInt(strings.TrimSuffix(tok, "L"), 10, 64)
			if err != nil {
				return eq, errQuerySyntax.Error()
			}
			eq.after = max(eq.after, n)
		} else {
			// GUID-keyed endpoints page with $skiptoken=guid'…' (§3.6).
			g, ok := strings.CutPrefix(tok, "guid'")
			g, ok2 := strings.CutSuffix(g, "'")
			id, err := canonicalGUID(g)
			if !ok || !ok2 || err != nil {
				return eq, errQuerySyntax.Error()
			}
			if pos, found := div.tables[e].position(id); found {
				eq.after = pos
			}
		}
	}
	eq.inlineCount = q.Get("$inlinecount") == "allpages"
	eq.want = make([]bool, len(e.fields))
	for _, i := range eq.sel {
		eq.want[i] = true
	}
	for _, k := range eq.order {
		eq.want[k.field] = true
	}
	if e.idField >= 0 {
		eq.want[e.idField] = true
	}
	if f, ok := q["$filter"]; ok {
		_, names, _ := parseFilter(e, f[0])
		for _, name := range names {
			if i, ok := e.index[name]; ok {
				eq.want[i] = true
			}
		}
	}
	return eq, ""
}

var bufPool = gosync.Pool{New: func() any { b := make([]byte, 0, 1<<20); return &b }}

// serveEntity serves one page of a regular, bulk or sync endpoint. Rows come in Timestamp order;
// Exact orders GUID-keyed pages by ID, which only matters for where a page ends (§3.6).
func (s *Simulator) serveEntity(w http.ResponseWriter, r *http.Request, division int, rt route) {
	now := s.Now()
	s.dataMu.RLock()
	div := s.data[division]
	eq, msg := s.parseEntityQuery(r, rt, div)
	if msg != "" {
		s.dataMu.RUnlock()
		writeError(w, r, http.StatusBadRequest, msg)
		return
	}
	size := bulkPageSize
	if rt.kind == kindRegular {
		size = regularPageSize // $top above 60 does not enlarge the page (§3.6)
	}
	if eq.top >= 0 {
		size = min(size, eq.top)
	}
	base := baseURL(r) + "/api/v1/" + strconv.Itoa(division) + "/" + rt.path
	keyTS := rt.kind == kindSync
	pw := s.newPageWriter(r, rt.ent, eq.sel, base+"(", keyTS, rt.metaType())
	// The envelope (§3.5): the recorded answers of 2026 fit "a bare {"d":[…]} when $top is at
	// most 60 and there is no $skiptoken, with or without $select; {"d":{"results":[…]}}
	// for a larger $top, no $top, and the pages __next leads to" (34 of 35 answers). Such a
	// page never needs __next (a page holds 60), and $inlinecount's __count needs the
	// object: the simulator keeps d.results with $inlinecount, as the bare array of OData V1
	// cannot carry it. Options.NoBareEnvelope turns the bare array off.
	pw.bare = !s.opts.NoBareEnvelope && eq.top >= 0 && eq.top <= regularPageSize && !eq.token && !eq.inlineCount
	bp := bufPool.Get().(*[]byte)
	pw.buf = (*bp)[:0]
	pw.begin(base)

	var (
		n       int
		more    bool
		lastTS  int64
		lastID  string
		skip    = eq.skipRows
		scratch = rt.ent.newRecord()
		hidden  map[string]bool // rows the sync endpoint does not serve (PlantDrift)
	)
	if t := div.tables[rt.ent]; t != nil && keyTS {
		hidden = t.hidden
	}
	visit := func(ts int64, rec record) bool {
		if eq.pred != nil && !eq.pred.eval(rec) {
			return true
		}
		if hidden != nil && hidden[rec[rt.ent.idField].s] {
			return true
		}
		if _, flags, ok := hostileOf(rt.ent, rec); ok && !keyTS && flags&hostileGUIDKey == 0 {
			return true // regular and bulk pages end on an ID: a record without one is not served there
		}
		if skip > 0 {
			skip--
			return true
		}
		if n == size {
			more = true
			return false
		}
		n++
		lastTS = ts
		if rt.ent.idField >= 0 {
			lastID = rec[rt.ent.idField].s
		}
		if !keyTS {
			pw.key = "guid'" + rec[rt.ent.idField].s + "'"
		}
		pw.add(ts, rec)
		return true
	}
	scan := func(after int64, fn func(int64, record) bool) {
		switch {
		case rt.ent == deletedEntity:
			div.scanDeleted(after, now, fn)
		case eq.idEq != "":
			t := div.tables[rt.ent]
			if rec, ts, ok := t.row(eq.idEq, scratch); ok && ts > after {
				fn(ts, rec)
			}
		default:
			div.tables[rt.ent].scanFields(after, scratch, eq.want, fn)
		}
	}
	count := -1
	if eq.sorted {
		skip, m := s.servePageSorted(div, rt, &eq, size, scan, scratch, pw, &count)
		if m != "" {
			s.dataMu.RUnlock()
			writeError(w, r, http.StatusBadRequest, m)
			return
		}
		n, more, lastID = pw.rows, skip != "", skip
	} else if size > 0 {
		scan(eq.after, visit)
	} else {
		scan(eq.after, func(int64, record) bool { more = true; return false })
	}
	if eq.inlineCount && count < 0 {
		count = 0
		scan(0, func(_ int64, rec record) bool {
			if eq.pred == nil || eq.pred.eval(rec) {
				count++
			}
			return true
		})
	}
	s.dataMu.RUnlock()

	next := ""
	if more && n > 0 && (eq.top < 0 || eq.top > n) {
		skip := "guid'" + lastID + "'"
		switch {
		case eq.sorted:
			skip = lastID // the sorted page's own skiptoken (order.go)
		case keyTS:
			skip = strconv.FormatInt(lastTS, 10) + "L"
		default:
			if t := div.tables[rt.ent]; t != nil {
				t.pageEnded(lastID, lastTS)
			}
		}
		top := -1
		if eq.top >= 0 {
			top = eq.top - n
		}
		next = s.nextURL(base, r.URL.RawQuery, skip, top)
	}
	body := pw.end(next, count)
	s.writeBody(w, r, body, true)
	*bp = body[:0]
	bufPool.Put(bp)
}

// nextURL builds the absolute __next as Exact writes it (§3.5, §3.6): the request's query
// options in their order, $select, $filter and $orderby kept, $skip dropped (the skiptoken
// carries the position), $top reduced by what was served ($top=100 → $top=40) and the
// $skiptoken added; '$', ',', '\” and '()' stay readable, spaces are %20, and a ':' of the
// skiptoken is %3A (datetime'2018-09-21T04%3A18%3A55.617',guid'…').
func (s *Simulator) nextURL(base, rawQuery, skiptoken string, top int) string {
	var b strings.Builder
	b.WriteString(base)
	sep := byte('?')
	for part := range strings.SplitSeq(rawQuery, "&") {
		k, v, _ := strings.Cut(part, "=")
		key, err := url.QueryUnescape(k)
		if err != nil || key == "" || key == "$skiptoken" || key == "$skip" || key == "$top" && top >= 0 {
			continue
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			continue
		}
		b.WriteByte(sep)
		sep = '&'
		b.WriteString(queryEscape(key))
		b.WriteByte('=')
		b.WriteString(queryEscape(val))
	}
	if top >= 0 {
		b.WriteByte(sep)
		sep = '&'
		b.WriteString("$top=" + strconv.Itoa(top))
	}
	b.WriteByte(sep)
	b.WriteString("$skiptoken=" + strings.ReplaceAll(queryEscape(skiptoken), ":", "%3A"))
	s.mu.Lock()
	malformed := s.faults.MalformedNext > 0
	if malformed {
		s.faults.MalformedNext--
		s.stats.FaultsInjected++
	}
	s.mu.Unlock()
	if malformed {
		u := b.String()
		if i := strings.Index(u, "/api/"); i >= 0 {
			return u[i:] // host cut off: no longer absolute
		}
	}
	return b.String()
}

func queryEscape(s string) string {
	const keep = "$,'()*:;@-_.~"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', strings.IndexByte(keep, c) >= 0:
			b.WriteByte(c)
		case c == ' ':
			b.WriteString("%20")
		default:
			b.WriteByte('%')
			b.WriteByte("0123456789ABCDEF"[c>>4])
			b.WriteByte("0123456789ABCDEF"[c&0xf])
		}
	}
	return b.String()
}

// pageWriter serializes a page by appending bytes: JSON {"d":{"results":[…],"__next":…}}
// (§3.5) or an Atom feed.
type pageWriter struct {
	json       bool
	ent        *entity
	buf        []byte
	names      [][]byte // per selected field: `,"Name":` (JSON) or "Name" (XML)
	sel        []int
	metaPrefix string // __metadata.uri up to the key
	metaType   string // __metadata.type
	metaOpen   []byte // metaPrefix as an open JSON string
	metaClose  []byte // `)"` and the type member
	key        string // key of the next row for __metadata ("guid'…'"); Timestamp when keyTS
	keyTS      bool
	rows       int
	updated    string
	bare       bool // JSON: serve {"d":[…]} when the page has no __count and no __next (§3.5)
}

func (s *Simulator) newPageWriter(r *http.Request, e *entity, sel []int, metaPrefix string, keyTS bool, metaType string) *pageWriter {
	if sel == nil {
		sel, _ = parseSelect(e, "", kindRegular)
	}
	pw := &pageWriter{json: wantsJSON(r), ent: e, sel: sel, metaPrefix: metaPrefix, keyTS: keyTS, metaType: metaType}
	pw.metaOpen = appendJSONString(nil, metaPrefix)
	pw.metaOpen = pw.metaOpen[:len(pw.metaOpen)-1]
	pw.metaClose = []byte(`)","type":"` + metaType + `"}`)
	for _, i := range sel {
		if pw.json {
			pw.names = append(pw.names, []byte(`,"`+e.fields[i].name+`":`))
		} else {
			pw.names = append(pw.names, []byte(e.fields[i].name))
		}
	}
	if !pw.json {
		pw.updated = s.Now().UTC().Format("2006-01-02T15:04:05Z")
	}
	return pw
}

func (p *pageWriter) begin(self string) {
	if p.json {
		p.buf = append(p.buf, `{"d":{"results":[`...)
		return
	}
	p.buf = append(p.buf, `<?xml version="1.0" encoding="utf-8"?>`+
		`<feed xmlns="http://www.w3.org/2005/Atom" xmlns:d="http://schemas.microsoft.com/ado/2007/08/dataservices" xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata">`+
		`<id>`...)
	p.buf = appendXMLText(p.buf, self)
	p.buf = append(p.buf, `</id><title type="text">`+p.ent.name+`</title><updated>`+p.updated+`</updated>`...)
}

func (p *pageWriter) add(ts int64, rec record) {
	if p.json {
		if p.rows > 0 {
			p.buf = append(p.buf, ',')
		}
		if raw, flags, ok := hostileOf(p.ent, rec); ok {
			p.addHostile(ts, raw, flags)
			return
		}
		p.buf = append(p.buf, `{"__metadata":{"uri":`...)
		p.buf = append(p.buf, p.metaOpen...)
		if p.keyTS {
			p.buf = strconv.AppendInt(p.buf, ts, 10)
			p.buf = append(p.buf, 'L')
		} else {
			p.buf = appendJSONChars(p.buf, p.key)
		}
		p.buf = append(p.buf, p.metaClose...)
		for j, i := range p.sel {
			p.buf = append(p.buf, p.names[j]...)
			if f := &p.ent.fields[i]; f.typ == edmCollection {
				p.appendDeferred(ts, f.name)
			} else {
				p.buf = appendJSONValue(p.buf, f, rec[i])
			}
		}
		p.buf = append(p.buf, '}')
	} else {
		key := p.key
		if p.keyTS {
			key = strconv.FormatInt(ts, 10) + "L"
		}
		p.buf = append(p.buf, `<entry><id>`...)
		p.buf = appendXMLText(p.buf, p.metaPrefix+key+")")
		p.buf = append(p.buf, `</id><title type="text"></title><updated>`+p.updated+`</updated><author><name></name></author>`+
			`<category term="`+p.metaType+`" scheme="http://schemas.microsoft.com/ado/2007/08/dataservices/scheme"/>`+
			`<content type="application/xml"><m:properties>`...)
		for j, i := range p.sel {
			f := p.ent.fields[i]
			if !f.typ.scalar() || f.typ == edmComplex {
				continue
			}
			p.buf = append(p.buf, "<d:"...)
			p.buf = append(p.buf, p.names[j]...)
			if f.typ != edmString {
				p.buf = append(p.buf, ` m:type="`+f.typ.String()+`"`...)
			}
			if rec[i].null {
				p.buf = append(p.buf, ` m:null="true"/>`...)
				continue
			}
			p.buf = append(p.buf, '>')
			p.buf = appendXMLValue(p.buf, f.typ, rec[i])
			p.buf = append(p.buf, "</d:"...)
			p.buf = append(p.buf, p.names[j]...)
			p.buf = append(p.buf, '>')
		}
		p.buf = append(p.buf, `</m:properties></content></entry>`...)
	}
	p.rows++
}

// single returns the body of one record served by its key (§3.5): {"d":{…}} in JSON, an Atom
// entry that declares the namespaces a feed would otherwise.
func (p *pageWriter) single(ts int64, rec record) []byte {
	if p.json {
		p.buf = append(p.buf, `{"d":`...)
		p.add(ts, rec)
		return append(p.buf, '}')
	}
	p.buf = append(p.buf, `<?xml version="1.0" encoding="utf-8"?>`...)
	at := len(p.buf)
	p.add(ts, rec)
	entry := string(p.buf[at:])
	p.buf = append(p.buf[:at], `<entry xmlns="http://www.w3.org/2005/Atom" xmlns:d="http://schemas.microsoft.com/ado/2007/08/dataservices" xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata">`...)
	return append(p.buf, strings.TrimPrefix(entry, "<entry>")...)
}

// appendDeferred appends a navigation collection as OData V2 serves one that was not expanded
// (§3.5, §3.7): {"__deferred":{"uri":"<the record's URI>/<Name>"}}.
func (p *pageWriter) appendDeferred(ts int64, name string) {
	p.buf = append(p.buf, `{"__deferred":{"uri":`...)
	p.buf = append(p.buf, p.metaOpen...)
	if p.keyTS {
		p.buf = strconv.AppendInt(p.buf, ts, 10)
		p.buf = append(p.buf, 'L')
	} else {
		p.buf = appendJSONChars(p.buf, p.key)
	}
	p.buf = append(p.buf, ")/"...)
	p.buf = append(p.buf, name...)
	p.buf = append(p.buf, `"}}`...)
}

// addHostile appends a hostile record (hostile.go) verbatim, with the __metadata add would give it.
func (p *pageWriter) addHostile(ts int64, raw string, flags int) {
	meta := append([]byte(`{"uri":`), p.metaOpen...)
	if p.keyTS {
		meta = strconv.AppendInt(meta, ts, 10)
		meta = append(meta, 'L')
	} else {
		meta = appendJSONChars(meta, p.key)
	}
	meta = append(meta, p.metaClose...)
	p.buf = appendHostile(p.buf, raw, flags, meta, ts)
	p.rows++
}

// end closes the page; count >= 0 adds $inlinecount's "__count", a string (§3.5).
func (p *pageWriter) end(next string, count int) []byte {
	if p.json && p.bare && next == "" && count < 0 {
		// Rewrite the opening {"d":{"results":[ in place to {"d":[ (§3.5).
		const open, bareOpen = `{"d":{"results":[`, `{"d":[`
		n := copy(p.buf[len(bareOpen):], p.buf[len(open):])
		copy(p.buf, bareOpen)
		p.buf = p.buf[:len(bareOpen)+n]
		return append(p.buf, `]}`...)
	}
	if p.json {
		p.buf = append(p.buf, ']')
		if count >= 0 {
			p.buf = append(p.buf, `,"__count":"`...)
			p.buf = strconv.AppendInt(p.buf, int64(count), 10)
			p.buf = append(p.buf, '"')
		}
		if next != "" {
			p.buf = append(p.buf, `,"__next":`...)
			p.buf = appendJSONString(p.buf, next)
		}
		return append(p.buf, `}}`...)
	}
	if count >= 0 {
		p.buf = append(p.buf, `<m:count>`...)
		p.buf = strconv.AppendInt(p.buf, int64(count), 10)
		p.buf = append(p.buf, `</m:count>`...)
	}
	if next != "" {
		p.buf = append(p.buf, `<link rel="next" href="`...)
		p.buf = appendXMLText(p.buf, next)
		p.buf = append(p.buf, `"/>`...)
	}
	return append(p.buf, `</feed>`...)
}

// meEntity is current/Me (§3.2).
var meEntity = (&entity{
	name:     "Me",
	metaType: modelType("current/Me"),
	fields: []field{
		{name: "CurrentDivision", typ: edmInt32},
		{name: "UserID", typ: edmGuid},
		{name: "UserName", typ: edmString},
		{name: "FullName", typ: edmString},
		{name: "Email", typ: edmString},
		{name: "LanguageCode", typ: edmString},
		{name: "Legislation", typ: edmString},
		{name: "DivisionCustomerCode", typ: edmString},
		{name: "AccountingDivision", typ: edmInt32},
		{name: "ServerTime", typ: edmDateTime},
		{name: "ServerUtcOffset", typ: edmInt32},
	},
}).init()
