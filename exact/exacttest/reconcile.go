package exacttest

import (
	"cmp"
	"hash/fnv"
	"net/http"
	"slices"
	"strconv"
	"strings"
	gosync "sync"
)

// The endpoints a reconciliation reads (§3.16) that are not entities of the catalogue:
// financial/ReportingBalance, an aggregate of the division's transaction lines, and
// read/sync/Sync/SyncTimestamp, which turns a date into a sync cursor (§3.10).
const (
	reportingBalancePath = "financial/ReportingBalance"
	syncTimestampPath    = "read/sync/Sync/SyncTimestamp"
)

// readEndpoints are the endpoints of reconcile.go by lowercased path (§3.1: the service
// segment is case-insensitive).
var readEndpoints = map[string]string{
	strings.ToLower(reportingBalancePath): reportingBalancePath,
	strings.ToLower(syncTimestampPath):    syncTimestampPath,
}

// reportingBalanceEntity is financial/ReportingBalance (§3.16): one row per group of the
// division's transaction lines. Every member may be filtered on (Exact advises the year).
var reportingBalanceEntity = (&entity{
	name:    "ReportingBalance",
	regular: reportingBalancePath,
	fields: []field{
		{name: "ID", typ: edmInt64, filter: true, quoted: true}, // a JSON string, as leapforce models it (§3.16)
		{name: "Amount", typ: edmDouble, filter: true},
		{name: "AmountCredit", typ: edmDouble, filter: true},
		{name: "AmountDebit", typ: edmDouble, filter: true},
		{name: "BalanceType", typ: edmString, filter: true},
		{name: "CostCenterCode", typ: edmString, filter: true},
		{name: "CostCenterDescription", typ: edmString, filter: true},
		{name: "CostUnitCode", typ: edmString, filter: true},
		{name: "CostUnitDescription", typ: edmString, filter: true},
		{name: "Count", typ: edmInt32, filter: true},
		{name: "Division", typ: edmInt32, filter: true},
		{name: "GLAccount", typ: edmGuid, filter: true},
		{name: "GLAccountCode", typ: edmString, filter: true},
		{name: "GLAccountDescription", typ: edmString, filter: true},
		{name: "ReportingPeriod", typ: edmInt32, filter: true},
		{name: "ReportingYear", typ: edmInt32, filter: true},
		{name: "Status", typ: edmInt32, filter: true},
		{name: "Type", typ: edmInt32, filter: true},
	},
}).init()

// Positions of reportingBalanceEntity's members.
const (
	rbID = iota
	rbAmount
	rbAmountCredit
	rbAmountDebit
	rbBalanceType
	rbCostCenterCode
	rbCostCenterDescription
	rbCostUnitCode
	rbCostUnitDescription
	rbCount
	rbDivision
	rbGLAccount
	rbGLAccountCode
	rbGLAccountDescription
	rbReportingPeriod
	rbReportingYear
	rbStatus
	rbType
)

// balanceCache holds a division's ReportingBalance rows, computed once per state of its data
// (divisionData.version): paging a year costs (groups/60) calls, each of which would otherwise
// read every transaction line.
type balanceCache struct {
	mu      gosync.Mutex
	version int64
	valid   bool
	rows    []balanceRow // by ID
}

type balanceRow struct {
	id  int64
	rec record
}

// The transaction lines' members a group reads (§3.16's mapping).
var (
	linesEntity = mustEntity("transaction_lines")
	glEntity    = mustEntity("gl_accounts")
	ccEntity    = mustEntity("costcenters")
	cuEntity    = mustEntity("costunits")
)

func mustEntity(name string) *entity {
	e, err := lookupEntity(name)
	if err != nil {
		panic("exacttest: " + err.Error())
	}
	return e
}

// balanceRows returns the division's ReportingBalance rows, ordered by ID. The caller holds
// s.dataMu (read).
//
// The grouping is §3.16's, as Exact documents it: division, reporting year and period, G/L
// account, cost center, cost unit, type and status; the mapping onto TransactionLines is
// the one §3.16 infers: ReportingYear/ReportingPeriod are FinancialYear/FinancialPeriod,
// CostCenterCode/CostUnitCode the lines' CostCenter/CostUnit (null and "" are groups of their
// own, as the lines hold them), Type and Status the lines', Count the number of lines, Amount
// the exact sum of AmountDC, AmountDebit the sum of the positive amounts and AmountCredit
// that of the negative ones, served as a positive number (its sign is UNCONFIRMED, §3.16).
// GLAccountCode, GLAccountDescription and BalanceType are the G/L account's (null when the
// division has no such account), the descriptions of the cost center and unit those of the
// hrm/Costcenters and hrm/Costunits record with the code. Lines the sync endpoint does not
// serve (PlantDrift's Hidden) are lines of Exact's and count. ID is a hash of the group's key:
// stable while the group exists, whatever else changes (Exact's ID stability is undocumented).
func (d *divisionData) balanceRows() []balanceRow {
	c := &d.balance
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.valid && c.version == d.version {
		return c.rows
	}
	type group struct {
		rec                   record
		amount, debit, credit decimalSum
		count                 int64
	}
	groups := map[string]*group{}
	var key []byte
	le := linesEntity
	idx := func(name string) int { return le.index[name] }
	year, period, gl, cc, cu, typ, status, amount :=
		idx("FinancialYear"), idx("FinancialPeriod"), idx("GLAccount"), idx("CostCenter"), idx("CostUnit"),
		idx("Type"), idx("Status"), idx("AmountDC")
	want := make([]bool, len(le.fields))
	for _, i := range []int{year, period, gl, cc, cu, typ, status, amount} {
		want[i] = true
	}
	descriptions := func(e *entity) map[string]string {
		m := map[string]string{}
		t := d.tables[e]
		code, desc := e.index["Code"], e.index["Description"]
		want := make([]bool, len(e.fields))
		want[code], want[desc] = true, true
		t.scanFields(0, e.newRecord(), want, func(_ int64, r record) bool {
			if !r[code].null && !r[desc].null {
				if _, ok := m[r[code].s]; !ok {
					m[r[code].s] = r[desc].s
				}
			}
			return true
		})
		return m
	}
	ccDesc, cuDesc := descriptions(ccEntity), descriptions(cuEntity)
	glCode, glDesc, glBalance := glEntity.index["Code"], glEntity.index["Description"], glEntity.index["BalanceType"]
	glAccounts := map[string][3]value{} // ID → Code, Description, BalanceType
	d.tables[glEntity].scan(0, glEntity.newRecord(), func(_ int64, r record) bool {
		glAccounts[r[glEntity.idField].s] = [3]value{r[glCode], r[glDesc], r[glBalance]}
		return true
	})
	// A key part: null, or a value after a marker, so that no string equals null; parts
	// are separated by 0xff, a byte no UTF-8 text holds.
	nullable := func(v value, s bool) string {
		switch {
		case v.null:
			return "\x00"
		case s:
			return "\x01" + v.s
		}
		return "\x01" + strconv.FormatInt(v.n, 10)
	}
	d.tables[le].scanFields(0, le.newRecord(), want, func(_ int64, r record) bool {
		if _, _, hostile := hostileOf(le, r); hostile {
			return true
		}
		key = key[:0]
		for _, part := range []string{nullable(r[year], false), nullable(r[period], false), nullable(r[gl], true),
			nullable(r[cc], true), nullable(r[cu], true), nullable(r[typ], false), nullable(r[status], false)} {
			key = append(key, part...)
			key = append(key, 0xff)
		}
		g := groups[string(key)]
		if g == nil {
			rec := reportingBalanceEntity.newRecord()
			for i := range rec {
				rec[i] = value{null: true}
			}
			h := fnv.New64a()
			_, _ = h.Write(key)
			rec[rbID] = value{n: int64(h.Sum64() >> 11)} // 53 bits: exact in any JSON reader
			rec[rbDivision] = value{n: int64(d.code)}
			rec[rbReportingYear], rec[rbReportingPeriod] = r[year], r[period]
			rec[rbType], rec[rbStatus] = r[typ], r[status]
			rec[rbGLAccount] = r[gl]
			if !r[gl].null {
				if acc, ok := glAccounts[r[gl].s]; ok {
					rec[rbGLAccountCode], rec[rbGLAccountDescription], rec[rbBalanceType] = acc[0], acc[1], acc[2]
				}
			}
			rec[rbCostCenterCode], rec[rbCostUnitCode] = r[cc], r[cu]
			if desc, ok := ccDesc[r[cc].s]; ok && !r[cc].null {
				rec[rbCostCenterDescription] = value{s: desc}
			}
			if desc, ok := cuDesc[r[cu].s]; ok && !r[cu].null {
				rec[rbCostUnitDescription] = value{s: desc}
			}
			g = &group{rec: rec}
			groups[string(key)] = g
		}
		g.count++
		if v := r[amount]; !v.null {
			g.amount.add(v.s)
			if negative(v.s) {
				g.credit.add(strings.TrimPrefix(v.s, "-"))
			} else {
				g.debit.add(v.s)
			}
		}
		return true
	})
	rows := make([]balanceRow, 0, len(groups))
	for _, g := range groups {
		g.rec[rbCount] = value{n: g.count}
		g.rec[rbAmount] = value{s: g.amount.text()}
		g.rec[rbAmountDebit] = value{s: g.debit.text()}
		g.rec[rbAmountCredit] = value{s: g.credit.text()}
		rows = append(rows, balanceRow{id: g.rec[rbID].n, rec: g.rec})
	}
	// Groups whose hashes collide (about once in 10^4 divisions of a million groups) are
	// told apart by the next free IDs, so that $skiptoken=<ID>L never skips one; the order
	// of the key text decides which one moves.
	slices.SortFunc(rows, func(a, b balanceRow) int { return cmp.Or(cmp.Compare(a.id, b.id), compareKeys(a.rec, b.rec)) })
	for i := 1; i < len(rows); i++ {
		if rows[i].id <= rows[i-1].id {
			rows[i].id = rows[i-1].id + 1
			rows[i].rec[rbID] = value{n: rows[i].id}
		}
	}
	c.rows, c.version, c.valid = rows, d.version, true
	return rows
}

// compareKeys orders two ReportingBalance rows by their grouping members.
func compareKeys(a, b record) int {
	for _, i := range []int{rbReportingYear, rbReportingPeriod, rbGLAccount, rbCostCenterCode, rbCostUnitCode, rbType, rbStatus} {
		if c := compareValues(reportingBalanceEntity.fields[i].typ, a[i], b[i], false); c != 0 {
			return c
		}
	}
	return 0
}

// serveReportingBalance serves financial/ReportingBalance (§3.16): $select or $top=1 required
// (else the 400 of §3.9), $filter on any member, $top, $inlinecount, 60 rows a page in ID
// order, __next with $skiptoken=<ID>L.
func (s *Simulator) serveReportingBalance(w http.ResponseWriter, r *http.Request, division int) {
	e := reportingBalanceEntity
	q := r.URL.Query()
	for k := range q {
		switch {
		case strings.HasPrefix(k, "$") && !queryOptions[k]:
			writeError(w, r, http.StatusBadRequest, "The query parameter '"+k+"' begins with a system-reserved '$' character but is not recognized.")
			return
		case k == "$skip" || k == "$orderby" || k == "$expand":
			// Exact's answer is UNCONFIRMED: the simulator refuses what it does not serve.
			writeError(w, r, http.StatusBadRequest, "The query parameter '"+k+"' is not supported on "+reportingBalancePath+".")
			return
		}
	}
	top := -1
	if v := q.Get("$top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, r, http.StatusBadRequest, errQuerySyntax.Error())
			return
		}
		top = n
	}
	if q.Get("$select") == "" && top != 1 {
		writeError(w, r, http.StatusBadRequest, msgSelectRequired) // §3.16, §3.9
		return
	}
	sel, msg := parseSelect(e, q.Get("$select"), kindRegular)
	if msg != "" {
		writeError(w, r, http.StatusBadRequest, msg)
		return
	}
	var pred expr
	if f, ok := q["$filter"]; ok {
		if strings.TrimSpace(f[0]) == "" {
			writeError(w, r, http.StatusBadRequest, msgFilterNotSupp)
			return
		}
		x, _, err := parseFilter(e, f[0])
		if err != nil {
			writeError(w, r, http.StatusBadRequest, err.Error())
			return
		}
		pred = x
	}
	after := int64(-1)
	tok := q.Get("$skiptoken")
	if tok != "" {
		n, err := strconv.ParseInt(strings.TrimSuffix(tok, "L"), 10, 64)
		if err != nil || !strings.HasSuffix(tok, "L") {
			writeError(w, r, http.StatusBadRequest, errQuerySyntax.Error())
			return
		}
		after = n
	}
	inline := q.Get("$inlinecount") == "allpages"
	size := regularPageSize
	if top >= 0 {
		size = min(size, top)
	}
	s.dataMu.RLock()
	rows := s.data[division].balanceRows()
	s.dataMu.RUnlock()

	base := baseURL(r) + "/api/v1/" + strconv.Itoa(division) + "/" + reportingBalancePath
	pw := s.newPageWriter(r, e, sel, base+"(", false, e.metaType)
	pw.bare = !s.opts.NoBareEnvelope && top >= 0 && top <= regularPageSize && tok == "" && !inline
	pw.begin(base)
	count, more := 0, false
	var last int64
	for _, row := range rows {
		if pred != nil && !pred.eval(row.rec) {
			continue
		}
		count++
		if row.id <= after {
			continue
		}
		if pw.rows == size {
			more = true
			if !inline {
				break
			}
			continue
		}
		pw.key = strconv.FormatInt(row.id, 10) + "L"
		pw.add(0, row.rec)
		last = row.id
	}
	next := ""
	if more && pw.rows > 0 && (top < 0 || top > pw.rows) {
		rest := -1
		if top >= 0 {
			rest = top - pw.rows
		}
		next = s.nextURL(base, r.URL.RawQuery, strconv.FormatInt(last, 10)+"L", rest)
	}
	if !inline {
		count = -1
	}
	s.writeBody(w, r, pw.end(next, count), true)
}

// syncTimestampEntity is the answer of read/sync/Sync/SyncTimestamp (§3.10, §3.16).
var syncTimestampEntity = (&entity{
	name:     "SyncTimestamp",
	metaType: "Exact.Web.Api.Models.Sync.SyncTimestamp",
	keyName:  "TimeStampAsBigInt",
	fields: []field{
		{name: "API", typ: edmString},
		{name: "Modified", typ: edmDateTime},
		{name: "TimeStampAsBigInt", typ: edmInt64, quoted: true},
	},
}).init()

// defaultSyncTimestampEndpoints are the endpoints §3.10 names as supported by SyncTimestamp;
// Exact's full list is longer and not in the sheet (Options.SyncTimestampEndpoints replaces
// this one). CRM/Accounts is documented as not supported.
var defaultSyncTimestampEndpoints = []string{"TransactionLines", "SalesInvoices", "PurchaseOrders", "Projects", "SalesOrderHeaders"}

// serveSyncTimestamp serves read/sync/Sync/SyncTimestamp?modified=datetime'…'&endPoint='…'
// (§3.10, §3.16): the Timestamp (TimeStampAsBigInt), Modified and endpoint name (API) of the
// first record of the endpoint, in Timestamp order, whose Modified is on or after the date
// (Dutch local time, §3.8); a client re-reads from it with Timestamp gt TimeStampAsBigInt-1.
// Records PlantDrift hides from the sync endpoint are left out. Choices where Exact's
// behaviour is UNCONFIRMED: the answer is {"d":{"results":[…]}} with one record, none when
// no record qualifies; TimeStampAsBigInt is a JSON string like every Int64 but Timestamp
// (§3.8); a missing or malformed parameter, or an endpoint outside the supported list, is a
// 400 with the §4.1 envelope and a text of the simulator's.
func (s *Simulator) serveSyncTimestamp(w http.ResponseWriter, r *http.Request, division int) {
	q := r.URL.Query()
	for k := range q {
		if strings.HasPrefix(k, "$") && k != "$select" && k != "$format" {
			writeError(w, r, http.StatusBadRequest, "The query parameter '"+k+"' begins with a system-reserved '$' character but is not recognized.")
			return
		}
	}
	param := func(name string) (token, bool) {
		toks, err := lexFilter(q.Get(name))
		if err != nil || len(toks) != 1 {
			return token{}, false
		}
		return toks[0], true
	}
	mod, ok := param("modified")
	var since value
	var err error
	if ok {
		since, err = literal(edmDateTime, mod)
	}
	if !ok || err != nil || since.null {
		writeError(w, r, http.StatusBadRequest, "Mandatory parameter 'modified' is missing or not a datetime'…' literal.")
		return
	}
	ep, ok := param("endPoint")
	if !ok || ep.kind != tokString {
		writeError(w, r, http.StatusBadRequest, "Mandatory parameter 'endPoint' is missing or not a quoted endpoint name such as 'TransactionLines'.")
		return
	}
	supported := s.opts.SyncTimestampEndpoints
	if supported == nil {
		supported = defaultSyncTimestampEndpoints
	}
	var e *entity
	if slices.ContainsFunc(supported, func(n string) bool { return strings.EqualFold(n, ep.text) }) {
		for _, de := range dataEntities {
			if de.sync != "" && de.modField >= 0 && strings.EqualFold(de.sync[strings.LastIndexByte(de.sync, '/')+1:], ep.text) {
				e = de
				break
			}
		}
	}
	if e == nil {
		writeError(w, r, http.StatusBadRequest, "The endPoint '"+ep.text+"' is not supported by SyncTimestamp.")
		return
	}
	sel, msg := parseSelect(syncTimestampEntity, q.Get("$select"), kindRegular)
	if msg != "" {
		writeError(w, r, http.StatusBadRequest, msg)
		return
	}
	base := baseURL(r) + "/api/v1/" + strconv.Itoa(division) + "/" + syncTimestampPath
	pw := s.newPageWriter(r, syncTimestampEntity, sel, base+"(", false, syncTimestampEntity.metaType)
	pw.begin(base)
	s.dataMu.RLock()
	t := s.data[division].tables[e]
	want := make([]bool, len(e.fields))
	want[e.modField], want[e.idField] = true, true
	t.scanFields(0, e.newRecord(), want, func(ts int64, rec record) bool {
		if rec[e.modField].null || rec[e.modField].n < since.n || t.hidden[rec[e.idField].s] {
			return true
		}
		out := syncTimestampEntity.newRecord()
		out[0] = value{s: e.sync[strings.LastIndexByte(e.sync, '/')+1:]}
		out[1] = rec[e.modField]
		out[2] = value{n: ts}
		pw.key = strconv.FormatInt(ts, 10) + "L"
		pw.add(0, out)
		return false
	})
	s.dataMu.RUnlock()
	s.writeBody(w, r, pw.end("", -1), false)
}
