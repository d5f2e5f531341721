package sync

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	gosync "sync"
	"time"

	"github.com/exactsync/exactsync/dest"
)

// memStore is an in-memory destination with the semantics of the PostgreSQL one that
// sync's logic depends on (package sink's doc): a row is stored by (division, key) and
// replaced only by a newer or equal version; a removal deletes a row whose stored version
// is not newer; a batch's cursor, rejects and releases go with its rows; a sweep records
// the keys its pages carry and its end removes the division's other rows; a write with a
// stale fence fails with dest.ErrLockLost. It implements Writer, History, Locker,
// RateLimitLoader, DivisionRateLimitLoader and RateLimitSaver, so that the runner is
// tested without PostgreSQL.
type memStore struct {
	mu         gosync.Mutex
	tables     map[string]map[memRow][]any // table → (division, key) → row
	cursors    map[memEntity]dest.Cursor
	sweeps     map[memEntity]map[string]bool // keys seen by a sweep not finished yet
	quarantine map[memEntity]map[string]dest.Reject
	runs       []dest.RunRecord
	limits     map[int]dest.RateLimit
	fence      int64
	held       bool
}

type memRow struct {
	division int
	key      string
}

type memEntity struct {
	conn     int64
	division int
	entity   string
}

func newMemStore() *memStore {
	return &memStore{tables: map[string]map[memRow][]any{}, cursors: map[memEntity]dest.Cursor{},
		sweeps: map[memEntity]map[string]bool{}, quarantine: map[memEntity]map[string]dest.Reject{}, limits: map[int]dest.RateLimit{}}
}

// rows returns the stored rows of table in division, by key.
func (m *memStore) rows(table string, division int) map[string][]any {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string][]any{}
	for k, r := range m.tables[table] {
		if k.division == division {
			out[k.key] = r
		}
	}
	return out
}

func (m *memStore) cursor(conn int64, division int, entity string) dest.Cursor {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cursors[memEntity{conn, division, entity}]
}

func (m *memStore) Cursor(_ context.Context, conn int64, division int, entity string) (dest.Cursor, error) {
	return m.cursor(conn, division, entity), nil
}

func (m *memStore) Cursors(_ context.Context, conn int64, division int) (map[string]dest.Cursor, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]dest.Cursor{}
	for k, c := range m.cursors {
		if k.conn == conn && k.division == division {
			out[k.entity] = c
		}
	}
	return out, nil
}

func (m *memStore) WriteBatch(ctx context.Context, b dest.Batch) (dest.BatchResult, error) {
	res, err := m.WriteBatches(ctx, []dest.Batch{b})
	if err != nil {
		return dest.BatchResult{}, err
	}
	return res[0], nil
}

// WriteBatches applies the batches to a copy of the tables and keeps it only when every
// batch applied: one transaction.
func (m *memStore) WriteBatches(_ context.Context, bs []dest.Batch) ([]dest.BatchResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, b := range bs {
		if b.Fence != 0 && b.Fence != m.fence {
			return nil, fmt.Errorf("division %d (fence %d, now %d): %w", b.Division, b.Fence, m.fence, dest.ErrLockLost)
		}
	}
	tables := maps.Clone(m.tables)
	for name, rows := range tables {
		tables[name] = maps.Clone(rows)
	}
	out := make([]dest.BatchResult, len(bs))
	for i, b := range bs {
		if err := m.apply(tables, b, &out[i]); err != nil {
			return nil, err
		}
	}
	m.tables = tables
	for _, b := range bs {
		e := memEntity{b.ConnectionID, b.Division, b.Entity}
		if b.Cursor.Sweep && b.Table.Name != "" {
			seen := m.sweeps[e]
			if seen == nil {
				seen = map[string]bool{}
				m.sweeps[e] = seen
			}
			k := slices.Index(b.Table.Columns, b.Table.Key[1])
			for _, r := range b.Rows {
				seen[fmt.Sprint(r[k])] = true
			}
		}
		q := m.quarantine[e]
		if q == nil {
			q = map[string]dest.Reject{}
			m.quarantine[e] = q
		}
		released := map[string]int64{}
		for _, r := range b.Released {
			released[r.Ref] = r.Version
			delete(q, r.Ref)
		}
		for _, r := range b.Rejects {
			if v, ok := released[r.Ref()]; !ok || r.Timestamp > v {
				r.Record = bytes.Clone(r.Record) // a view of its page, like the rows
				q[r.Ref()] = r
			}
		}
		if b.Entity != "" && !b.NoCursor {
			m.cursors[e] = b.Cursor
		}
	}
	return out, nil
}

// apply writes b's rows and removals into tables.
func (m *memStore) apply(tables map[string]map[memRow][]any, b dest.Batch, res *dest.BatchResult) error {
	if len(b.Rows) == 0 && len(b.Removals) == 0 {
		return nil
	}
	t := b.Table
	if len(t.Key) != 2 {
		return fmt.Errorf("table %s: a two-column key (division, id), have %v", t.Name, t.Key)
	}
	div, key, ver := slices.Index(t.Columns, t.Key[0]), slices.Index(t.Columns, t.Key[1]), slices.Index(t.Columns, t.VersionColumn)
	if div < 0 || key < 0 || ver < 0 {
		return fmt.Errorf("table %s: columns %v lack the key %v or the version %s", t.Name, t.Columns, t.Key, t.VersionColumn)
	}
	rows := tables[t.Name]
	if rows == nil {
		rows = map[memRow][]any{}
		tables[t.Name] = rows
	}
	for _, r := range b.Rows {
		if len(r) != len(t.Columns) {
			return fmt.Errorf("table %s: a row of %d values for %d columns", t.Name, len(r), len(t.Columns))
		}
		var d int
		switch v := r[div].(type) {
		case int32:
			d = int(v)
		case int:
			d = v
		default:
			return fmt.Errorf("table %s: division %v (%T), want an integer", t.Name, r[div], r[div])
		}
		v, ok := r[ver].(int64)
		if !ok {
			return fmt.Errorf("table %s: version %v (%T), want an int64", t.Name, r[ver], r[ver])
		}
		k := memRow{d, fmt.Sprint(r[key])}
		if old, ok := rows[k]; ok && old[ver].(int64) > v {
			continue // an older version never overwrites a newer one
		}
		rows[k] = keptRow(r)
		res.Upserted++
	}
	for _, rm := range b.Removals {
		k := memRow{rm.Division, rm.ID}
		if old, ok := rows[k]; ok && old[ver].(int64) <= rm.Version {
			delete(rows, k)
			res.Removed++
		}
	}
	return nil
}

func (m *memStore) StartSweep(_ context.Context, t dest.Table, conn int64, division int, entity string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := memEntity{conn, division, entity}
	delete(m.sweeps, e)
	any := len(m.quarantine[e]) > 0
	for k := range m.tables[t.Name] {
		any = any || k.division == division
	}
	return any, nil
}

func (m *memStore) FinishSweep(_ context.Context, t dest.Table, conn int64, division int, entity string, c dest.Cursor, fence int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if fence != 0 && fence != m.fence {
		return 0, fmt.Errorf("division %d: %w", division, dest.ErrLockLost)
	}
	e := memEntity{conn, division, entity}
	seen := m.sweeps[e]
	removed := 0
	for k := range m.tables[t.Name] {
		if k.division == division && !seen[k.key] {
			delete(m.tables[t.Name], k)
			removed++
		}
	}
	for ref, r := range m.quarantine[e] {
		if !seen[r.Key] {
			delete(m.quarantine[e], ref)
		}
	}
	delete(m.sweeps, e)
	c.Sweep = false
	m.cursors[e] = c
	return removed, nil
}

func (m *memStore) Quarantined(_ context.Context, conn int64, division int, entity string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(maps.Keys(m.quarantine[memEntity{conn, division, entity}])), nil
}

// StartRun marks the runs of the same job still running abandoned, as their process
// died: the caller holds the division's lock.
func (m *memStore) StartRun(_ context.Context, r dest.Run) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, o := range m.runs {
		if o.Result.Status == dest.RunRunning && o.ConnectionID == r.ConnectionID && o.Division == r.Division && o.Entity == r.Entity {
			m.runs[i].Result.Status = dest.RunAbandoned
		}
	}
	r.ID = int64(len(m.runs) + 1)
	if r.StartedAt.IsZero() {
		r.StartedAt = time.Now()
	}
	m.runs = append(m.runs, dest.RunRecord{Run: r, Result: dest.RunResult{Status: dest.RunRunning}})
	return r.ID, nil
}

func (m *memStore) FinishRun(_ context.Context, id int64, res dest.RunResult) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id < 1 || int(id) > len(m.runs) {
		return fmt.Errorf("finishing run %d: no such run", id)
	}
	m.runs[id-1].Result, m.runs[id-1].FinishedAt = res, time.Now()
	return nil
}

func (m *memStore) LastSuccess(_ context.Context, conn int64, division int, entity string) (time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var last time.Time
	for _, r := range m.runs {
		if r.ConnectionID == conn && r.Division == division && r.Entity == entity && r.Result.Status == dest.RunOK && r.FinishedAt.After(last) {
			last = r.FinishedAt
		}
	}
	return last, nil
}

func (m *memStore) JobRuns(_ context.Context, jobID int64) ([]dest.RunRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []dest.RunRecord
	for _, r := range m.runs {
		if r.QueueJob == jobID {
			out = append(out, r)
		}
	}
	return out, nil
}

// LockDivision takes the one lock of the store, with a new fence each time.
func (m *memStore) LockDivision(context.Context, int64, int, bool) (*dest.DivisionLock, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.held {
		return nil, false, nil
	}
	m.held = true
	m.fence++
	return dest.NewDivisionLock(m.fence, func() { m.mu.Lock(); m.held = false; m.mu.Unlock() }), true, nil
}

func (m *memStore) RateLimits(context.Context, int64) (map[int]dest.RateLimit, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.limits), nil
}

func (m *memStore) DivisionRateLimit(_ context.Context, _ int64, division int) (dest.RateLimit, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rl, ok := m.limits[division]
	return rl, ok, nil
}

func (m *memStore) SaveRateLimit(_ context.Context, _ int64, division int, rl dest.RateLimit) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.limits[division] = rl
	return nil
}

var (
	_ Writer                  = (*memStore)(nil)
	_ History                 = (*memStore)(nil)
	_ Locker                  = (*memStore)(nil)
	_ RateLimitLoader         = (*memStore)(nil)
	_ DivisionRateLimitLoader = (*memStore)(nil)
	_ RateLimitSaver          = (*memStore)(nil)
)

// memTokens is an in-memory TokenRows of one process: one row per connection, updated
// under a lock as the PostgreSQL store does.
type memTokens struct {
	mu     gosync.Mutex
	tokens map[int64]dest.Token
	marks  []string // reasons of MarkReauthRequired
	causes []dest.ReauthCause
}

func (m *memTokens) LoadToken(_ context.Context, conn int64) (dest.Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tokens[conn], nil
}

func (m *memTokens) UpdateToken(ctx context.Context, conn int64, fn func(ctx context.Context, cur dest.Token) (dest.Token, bool, error)) (dest.Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := m.tokens[conn]
	next, store, err := fn(ctx, cur)
	if err != nil {
		return cur, err
	}
	if store {
		if next.RefreshToken != cur.RefreshToken {
			// A new pair ends the announcement of the old token's refresh.
			next.Pending = dest.PendingRefresh{}
		}
		next.ReauthReason = ""
		m.tokens[conn] = next
		return next, nil
	}
	return cur, nil
}

func (m *memTokens) MarkReauthRequired(_ context.Context, conn int64, reason string, cause dest.ReauthCause) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.tokens[conn]
	t.ReauthReason = reason
	m.tokens[conn] = t
	m.marks, m.causes = append(m.marks, reason), append(m.causes, cause)
	return nil
}

var _ TokenRows = (*memTokens)(nil)

// keptRow copies r's text and bytes, which are views of a page the Runner releases once
// WriteBatches returns (see Writer), as a store that keeps them must.
func keptRow(r []any) []any {
	out := make([]any, len(r))
	for i, v := range r {
		switch v := v.(type) {
		case string:
			out[i] = strings.Clone(v)
		case []byte:
			out[i] = bytes.Clone(v)
		default:
			out[i] = v
		}
	}
	return out
}
