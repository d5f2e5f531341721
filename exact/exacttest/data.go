package exacttest

import (
	"cmp"
	"sort"
	gosync "sync"
	"time"
)

// deletedRetention is how long sync/Deleted keeps a deletion (§3.12), unless
// Options.DeletedRetention says otherwise.
const deletedRetention = 2 * 30 * 24 * time.Hour

// divisionData is one division's data: a table per entity and the deletion log. Generated rows
// are never materialized: base row i of a table is derived from (seed, division, i) when served,
// and only mutations (upserts and deletions) are held in memory. Timestamps form one increasing
// sequence per division, shared by all tables and sync/Deleted (§3.10, §3.12): base rows first,
// then each mutation takes the next value.
type divisionData struct {
	code    int
	userID  string // the connection's user: DeletedBy, and one of the generated Creators
	nextTS  int64
	tables  map[*entity]*table
	deleted []deletedEntry // in Timestamp order
	firstTS int64          // the first Timestamp of the current numbering: 1, plus one per move
	moved   time.Time      // DivisionMoveDate (§3.3, §3.10); zero until the first move
	// retention is how long sync/Deleted keeps a deletion (§3.12).
	retention time.Duration
	// version counts the changes to the rows, for caches of what is computed from them.
	version int64
	balance balanceCache // financial/ReportingBalance (reconcile.go)
}

type deletedEntry struct {
	ts  int64
	at  time.Time
	rec record // a deletedEntity row
}

// table holds one entity's rows in a division.
type table struct {
	ent    *entity
	div    *divisionData // for foreign keys: the tables they point into
	gen    *generator
	base   int    // generated rows
	baseTS int64  // Timestamp of base row 0; row i has baseTS+i
	gone   []bool // base row i was changed or deleted (then served from cur)
	cur    map[string]*entry
	// log lists mutations in Timestamp order; an entry is stale when cur[id].ts differs. After
	// a division move its first entries may lie below baseTS (see divisionData.move).
	log []logEntry
	// hidden are the IDs of rows the sync endpoint does not serve, though every other
	// endpoint does (PlantDrift's Hidden, drift.go), until they change again.
	hidden map[string]bool
	// silent holds generated rows changed without a new Timestamp (PlantDrift's
	// SilentChanges), by row index; a row changed or deleted since is gone[i] and ignores it.
	silent map[int]record

	// ends holds, for each ID a page ended on ($skiptoken=guid'…'), the Timestamp the row had
	// when the page was served: a skiptoken is a position (§3.6), so the next page continues
	// from there even if the row has changed or gone since. Pages are served under a read
	// lock, hence a mutex of its own.
	endsMu gosync.Mutex
	ends   map[string]int64
}

// pageEnded records that a page ended on the row id, which had Timestamp ts.
func (t *table) pageEnded(id string, ts int64) {
	t.endsMu.Lock()
	defer t.endsMu.Unlock()
	if t.ends == nil {
		t.ends = map[string]int64{}
	}
	t.ends[id] = ts
}

type entry struct {
	ts      int64
	rec     record
	deleted bool
}

type logEntry struct {
	ts int64
	id string
}

// defaultRecords is the number of generated records per division of every entity but the
// accounts, when Options.Records names neither the entity nor "*".
const defaultRecords = 20

// recordsOf returns how many records of e a division generates.
func (o *Options) recordsOf(e *entity) int {
	if e == accountsEntity {
		return o.Accounts
	}
	if n, ok := o.Records[e.name]; ok {
		return n
	}
	if n, ok := o.Records["*"]; ok {
		return n
	}
	return defaultRecords
}

func newDivisionData(code int, opts *Options, start time.Time, userID string) *divisionData {
	d := &divisionData{code: code, userID: userID, nextTS: 1, firstTS: 1, tables: map[*entity]*table{},
		retention: cmp.Or(opts.DeletedRetention, deletedRetention)}
	for k, e := range dataEntities {
		n := 0
		if e.generate != nil {
			n = opts.recordsOf(e)
		}
		salt := uint64(0) // the accounts keep the IDs they always had
		if e != accountsEntity {
			salt = uint64(k) + 1
		}
		d.tables[e] = &table{
			ent: e, div: d, gen: newGenerator(opts.Seed, code, start, salt), base: n, baseTS: d.nextTS,
			cur: map[string]*entry{},
		}
		d.nextTS += int64(n)
	}
	d.generateDeletions(start)
	return d
}

// generateDeletions fills the deletion log with a few deletions of every sync entity but the
// accounts (one per ten generated records, at most three): records deleted before the simulator
// started, which no page serves, so that sync/Deleted carries every entity's EntityType
// (§3.12) from the start. They take the Timestamps after the generated rows.
func (d *divisionData) generateDeletions(start time.Time) {
	for _, e := range dataEntities {
		t := d.tables[e]
		if e == accountsEntity || e.deletedType == 0 || t.base == 0 {
			continue
		}
		for j := range min(3, (t.base+9)/10) {
			at := start.Add(-time.Duration(1+int(t.gen.hash(j, 3)%(24*30))) * time.Hour)
			d.logDeletion(t, t.gen.guid(t.base+j), at, d.userID)
		}
	}
}

// row returns the current row with the given (canonical) ID, its Timestamp and whether it exists.
// r is a scratch record used for generated rows.
func (t *table) row(id string, r record) (record, int64, bool) {
	if e, ok := t.cur[id]; ok {
		return e.rec, e.ts, !e.deleted
	}
	if i := t.gen.index(id, t.base); i >= 0 {
		if rec, ok := t.silent[i]; ok {
			copy(r, rec)
		} else {
			t.ent.generate(t, i, r, nil)
		}
		if t.ent.tsField >= 0 {
			r[t.ent.tsField] = value{n: t.baseTS + int64(i)}
		}
		return r, t.baseTS + int64(i), true
	}
	return nil, 0, false
}

// position returns the Timestamp to continue after when a page ended at id ($skiptoken=guid'…'):
// where that page ended when the simulator served it, else where the row is now (a skiptoken
// made by hand). Mutated rows are looked up before generated ones, so paging moves forward.
func (t *table) position(id string) (int64, bool) {
	t.endsMu.Lock()
	ts, ok := t.ends[id]
	t.endsMu.Unlock()
	if ok {
		return ts, true
	}
	if e, ok := t.cur[id]; ok {
		return e.ts, true
	}
	if i := t.gen.index(id, t.base); i >= 0 {
		return t.baseTS + int64(i), true
	}
	return 0, false
}

// scan calls fn for each current row with Timestamp > after, in Timestamp order, until fn
// returns false. Generated rows are built in scratch, which fn must not retain.
func (t *table) scan(after int64, scratch record, fn func(ts int64, r record) bool) {
	t.scanFields(after, scratch, nil, fn)
}

// scanFields is scan where generated rows need only the fields want names (nil: all).
func (t *table) scanFields(after int64, scratch record, want []bool, fn func(ts int64, r record) bool) {
	k := sort.Search(len(t.log), func(k int) bool { return t.log[k].ts > after })
	// Changed rows renumbered below the generated ones by a division move come first.
	for ; k < len(t.log) && t.log[k].ts < t.baseTS; k++ {
		if !t.visitLog(k, fn) {
			return
		}
	}
	start := max(after-t.baseTS+1, 0)
	for i := int(start); i < t.base; i++ {
		if t.gone != nil && t.gone[i] {
			continue
		}
		if rec, ok := t.silent[i]; ok {
			copy(scratch, rec)
		} else {
			t.ent.generate(t, i, scratch, want)
		}
		ts := t.baseTS + int64(i)
		if t.ent.tsField >= 0 {
			scratch[t.ent.tsField] = value{n: ts}
		}
		if !fn(ts, scratch) {
			return
		}
	}
	for ; k < len(t.log); k++ {
		if !t.visitLog(k, fn) {
			return
		}
	}
}

// visitLog calls fn for log entry k when it is the live version of its row; false when fn stopped.
func (t *table) visitLog(k int, fn func(ts int64, r record) bool) bool {
	le := t.log[k]
	e := t.cur[le.id]
	if e.ts != le.ts || e.deleted {
		return true
	}
	return fn(le.ts, e.rec)
}

func (t *table) markGone(id string) {
	if i := t.gen.index(id, t.base); i >= 0 {
		if t.gone == nil {
			t.gone = make([]bool, t.base)
		}
		t.gone[i] = true
	}
}

// upsert stores r as the new version of its row and returns its Timestamp.
func (d *divisionData) upsert(t *table, r record) int64 {
	id := r[t.ent.idField].s
	ts := d.nextTS
	d.nextTS++
	d.version++
	delete(t.hidden, id)
	if t.ent.tsField >= 0 {
		r[t.ent.tsField] = value{n: ts}
	}
	t.markGone(id)
	t.cur[id] = &entry{ts: ts, rec: r}
	t.log = append(t.log, logEntry{ts: ts, id: id})
	return ts
}

// remove deletes a row and logs it for sync/Deleted; false when the row does not exist.
func (d *divisionData) remove(t *table, id string, now time.Time, deletedBy string) bool {
	if _, _, ok := t.row(id, t.ent.newRecord()); !ok {
		return false
	}
	ts := d.logDeletion(t, id, now, deletedBy)
	d.version++
	delete(t.hidden, id)
	t.markGone(id)
	t.cur[id] = &entry{ts: ts, deleted: true}
	t.log = append(t.log, logEntry{ts: ts, id: id})
	return true
}

// logDeletion appends the deletion of t's record id to sync/Deleted at the division's next
// Timestamp, with the entity's EntityType (§3.12), and returns that Timestamp.
func (d *divisionData) logDeletion(t *table, id string, at time.Time, deletedBy string) int64 {
	ts := d.nextTS
	d.nextTS++
	r := deletedEntity.newRecord()
	set := func(name string, v value) { r[deletedEntity.index[name]] = v }
	set("Timestamp", value{n: ts})
	set("DeletedBy", value{s: deletedBy})
	set("DeletedDate", value{n: at.UnixMilli()})
	set("Division", value{n: int64(d.code)})
	set("EntityKey", value{s: id})
	set("EntityType", value{n: int64(t.ent.deletedType)})
	set("ID", value{s: t.gen.guid(int(ts) + 1<<40)}) // a GUID outside the base rows' range
	d.deleted = append(d.deleted, deletedEntry{ts: ts, at: at, rec: r})
	return ts
}

// scanDeleted is scan for sync/Deleted; entries older than the retention are gone (§3.12).
func (d *divisionData) scanDeleted(after int64, now time.Time, fn func(ts int64, r record) bool) {
	k := sort.Search(len(d.deleted), func(k int) bool { return d.deleted[k].ts > after })
	for ; k < len(d.deleted); k++ {
		de := d.deleted[k]
		if now.Sub(de.at) > d.retention {
			continue
		}
		if !fn(de.ts, de.rec) {
			return
		}
	}
}

// move regenerates every Timestamp of the division, as when Exact moves it to another database
// (§3.10), and sets DivisionMoveDate. Exact's new values come from the other database's row
// versions and are unrelated to the old ones. The simulator renumbers in a new order, starting
// one above where the previous numbering started (2 after the first move): first the live
// changed rows and the deletion log (in their old order), then the generated rows. Old cursors
// are then meaningless and mostly too high: a client that keeps its cursor instead of
// resyncing misses rows (the failure §3.10's DivisionMoveDate check prevents), and every
// generated row's Timestamp changes. A full resync (Timestamp gt 0) still returns every live
// row exactly once, in Timestamp order, and later changes continue the new sequence.
func (d *divisionData) move(now time.Time) {
	type event struct {
		old int64
		t   *table        // a live changed row of t, or
		del *deletedEntry // a deletion-log entry
	}
	var events []event
	for _, e := range dataEntities {
		t := d.tables[e]
		for _, le := range t.log {
			if cur := t.cur[le.id]; cur.ts == le.ts && !cur.deleted {
				events = append(events, event{old: le.ts, t: t})
			}
		}
	}
	for i := range d.deleted {
		events = append(events, event{old: d.deleted[i].ts, del: &d.deleted[i]})
	}
	sort.Slice(events, func(i, j int) bool { return events[i].old < events[j].old })
	renumbered := make(map[int64]int64, len(events)) // old → new, for deleted rows' entries
	for _, e := range dataEntities {
		t := d.tables[e]
		t.log = t.log[:0]
		t.endsMu.Lock()
		t.ends = nil // positions on the old numbering; a page after the move goes by the row
		t.endsMu.Unlock()
	}
	d.firstTS++
	ts := d.firstTS
	for _, ev := range events {
		renumbered[ev.old] = ts
		if ev.del != nil {
			ev.del.ts = ts
			ev.del.rec[deletedEntity.tsField] = value{n: ts}
		} else {
			// Rebuilt in Timestamp order; a live row has exactly one current log entry.
			ev.t.log = append(ev.t.log, logEntry{ts: ts})
		}
		ts++
	}
	for _, e := range dataEntities {
		t := d.tables[e]
		for id, cur := range t.cur {
			// A deleted row's entry keeps its deletion's Timestamp (every deletion is in the log).
			cur.ts = renumbered[cur.ts]
			if cur.deleted {
				continue
			}
			if e.tsField >= 0 {
				cur.rec[e.tsField] = value{n: cur.ts}
			}
			k := sort.Search(len(t.log), func(k int) bool { return t.log[k].ts >= cur.ts })
			t.log[k].id = id
		}
	}
	for _, e := range dataEntities {
		t := d.tables[e]
		t.baseTS = ts
		ts += int64(t.base)
	}
	d.nextTS = ts
	d.moved = now
	d.version++
}
