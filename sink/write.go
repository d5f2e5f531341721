package sink

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/exactsync/exactsync/dest"
)

// WriteBatch writes one page in one transaction:
//
//  1. COPY the rows into a temporary staging table (one per target table and column list,
//     created once per database session, emptied at commit, no indexes);
//  2. INSERT … SELECT DISTINCT ON (key) … ON CONFLICT (key) DO UPDATE, keeping, among
//     duplicate keys within the page, the row with the highest version, and updating a
//     stored row only when the incoming version is newer, or equal with different values;
//  3. delete the removals whose stored version is <= the removal's version;
//  4. store the cursor.
//
// So a page's rows, removals and cursor commit together or not at all, a replayed page
// changes nothing, and an older version never overwrites a newer one.
func (s *Store) WriteBatch(ctx context.Context, b dest.Batch) (dest.BatchResult, error) {
	res, err := s.WriteBatches(ctx, []dest.Batch{b})
	if err != nil {
		return dest.BatchResult{}, err
	}
	return res[0], nil
}

// WriteBatches writes several batches, of one table each (of several tables, or with
// several cursors), in one transaction, each as WriteBatch would: all of them commit or
// none. A batch with no rows, removals or sweep needs no Table: it writes its rejects,
// releases and cursor only. The fence is checked once per connection and division. The
// transaction announces each entity it wrote on NotifyChannel (see Notification).
// PostgreSQL refusing a value of the batches is returned as a *dest.DataError.
func (s *Store) WriteBatches(ctx context.Context, bs []dest.Batch) ([]dest.BatchResult, error) {
	plans := make([]*tablePlan, len(bs))
	for i, b := range bs {
		if b.Table.Name == "" && len(b.Rows) == 0 && len(b.Removals) == 0 && !b.Cursor.Sweep {
			continue // rejects and cursor only
		}
		p, err := s.plan(b.Table)
		if err != nil {
			return nil, fmt.Errorf("writing a page of %s: %w", b.Table.Name, err)
		}
		if (len(b.Removals) > 0 || b.Cursor.Sweep) && len(b.Table.Key) != 2 {
			return nil, fmt.Errorf("writing a page of %s: removals and sweeps need a two-column key (division, id), have %v", b.Table.Name, b.Table.Key)
		}
		for i, r := range b.Rows {
			if len(r) != len(b.Table.Columns) {
				return nil, fmt.Errorf("writing a page of %s: row %d has %d values for %d columns", b.Table.Name, i, len(r), len(b.Table.Columns))
			}
		}
		plans[i] = p
	}
	res, err := s.writeBatches(ctx, plans, bs)
	if err != nil {
		names := make([]string, 0, len(bs))
		for _, b := range bs {
			if b.Table.Name != "" && !slices.Contains(names, b.Table.Name) {
				names = append(names, b.Table.Name)
			}
		}
		what := strings.Join(names, ", ")
		if what == "" {
			what = "the " + bs[0].Entity + " cursor"
		}
		return nil, dataError(fmt.Errorf("writing a page of %s for division %d: %w", what, bs[0].Division, err))
	}
	return res, nil
}

func (s *Store) writeBatches(ctx context.Context, plans []*tablePlan, bs []dest.Batch) ([]dest.BatchResult, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// The page's rows, removals and cursor are one transaction, so an asynchronous commit
	// loses, on a server crash, only whole recent pages together with their cursor, which
	// the next run fetches again; it saves waiting for the WAL flush on every page.
	if _, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = off"); err != nil {
		return nil, fmt.Errorf("setting synchronous_commit: %w", err)
	}
	type fenced struct {
		conn     int64
		division int
	}
	checked := map[fenced]bool{}
	for _, b := range bs {
		if k := (fenced{b.ConnectionID, b.Division}); b.Fence != 0 && !checked[k] {
			if err := checkFence(ctx, tx, b.ConnectionID, b.Division, b.Fence); err != nil {
				return nil, err
			}
			checked[k] = true
		}
	}
	// The staging tables live as long as the session; the session remembers that it has
	// made one once a transaction that created it has committed.
	session := tx.Conn().PgConn().CustomData()
	var created []string
	out := make([]dest.BatchResult, len(bs))
	for i, b := range bs {
		res, made, err := s.writeInTx(ctx, tx, plans[i], b, session)
		if err != nil {
			return nil, err
		}
		if made != "" {
			created = append(created, made)
		}
		out[i] = res
	}
	if ns, known := notifications(bs, out); len(ns) > 0 {
		if err := notify(ctx, tx, ns, known); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("committing: %w", err)
	}
	for _, k := range created {
		session[k] = true
	}
	return out, nil
}

// writeInTx writes one batch in tx; p is nil for a batch without a table. It returns the
// session key of a staging table it created.
func (s *Store) writeInTx(ctx context.Context, tx pgx.Tx, p *tablePlan, b dest.Batch, session map[string]any) (dest.BatchResult, string, error) {
	var res dest.BatchResult
	created := ""
	if len(b.Rows) > 0 {
		stagingKey := "exactsync:" + p.staging.Sanitize()
		dup := hasDuplicateKeys(b.Rows, p.keyIndexes)
		direct := false
		var err error
		if !dup {
			if direct, err = s.copyNew(ctx, tx, p, b); err != nil {
				return res, "", err
			}
		}
		if direct {
			res.Upserted = len(b.Rows)
		} else {
			if session[stagingKey] == nil {
				if _, err := tx.Exec(ctx, p.createStaging); err != nil {
					return res, "", fmt.Errorf("creating the staging table: %w", err)
				}
				created = stagingKey
			}
			if err := s.copy(ctx, tx, p, p.staging, b.Table, b.Rows); err != nil {
				return res, "", fmt.Errorf("copying %d rows: %w", len(b.Rows), err)
			}
			upsert := p.upsert
			if dup {
				upsert = p.upsertDistinct
			}
			if p.logTable != "" {
				err = tx.QueryRow(ctx, upsert).Scan(&res.Upserted)
			} else {
				var tag pgconn.CommandTag
				tag, err = tx.Exec(ctx, upsert)
				res.Upserted = int(tag.RowsAffected())
			}
			if err != nil {
				return res, "", fmt.Errorf("upserting %d rows: %w", len(b.Rows), err)
			}
		}
	}
	if len(b.Removals) > 0 {
		n, err := s.remove(ctx, tx, p, b)
		if err != nil {
			return res, "", err
		}
		res.Removed = n
	}
	if len(b.Rejects) > 0 || len(b.Released) > 0 {
		if err := writeRejects(ctx, tx, b); err != nil {
			return res, "", err
		}
	}
	if b.Entity != "" && !b.NoCursor {
		c := b.Cursor
		if c.Sweep && (len(b.Rows) > 0 || len(b.Rejects) > 0) {
			if err := recordPassKeys(ctx, tx, p, b); err != nil {
				return res, "", err
			}
		}
		if _, err := tx.Exec(ctx, upsertCursorSQL, cursorArgs(b.ConnectionID, b.Division, b.Entity, c)...); err != nil {
			return res, "", fmt.Errorf("storing the %s cursor: %w", b.Entity, err)
		}
	}
	return res, created, nil
}

// copyNew copies the page straight into the target table when none of its keys is stored
// yet, as on the first sync of a division, and reports whether it did. Such a page would
// only insert, so the result is the upsert's, at about the cost of a plain COPY instead of
// a COPY into staging plus an INSERT … SELECT (each about half of a page's write time).
//
// The COPY runs under a savepoint: a stored key makes it fail with a unique violation,
// which is rolled back, and the caller takes the staging path. Once two pages in a row
// have gone straight in, the next is copied without asking first; otherwise a probe of
// the page's keys (about a sixth of a new page's write time) decides. So a stream of new
// pages skips the probe, pages alternating between new and stored keys never waste a
// COPY, and a full pass over stored rows wastes at most one.
func (s *Store) copyNew(ctx context.Context, tx pgx.Tx, p *tablePlan, b dest.Batch) (bool, error) {
	if p.copied.Load() < 2 {
		stored, err := s.anyStored(ctx, tx, p, b)
		if err != nil || stored {
			p.copied.Store(0)
			return false, err
		}
	}
	if _, err := tx.Exec(ctx, "SAVEPOINT exactsync_copy"); err != nil {
		return false, err
	}
	err := s.copy(ctx, tx, p, p.targetIdent, b.Table, b.Rows)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" { // unique_violation
		p.copied.Store(0)
		if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT exactsync_copy"); err != nil {
			return false, err
		}
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("copying %d new rows: %w", len(b.Rows), err)
	}
	if err := logCopied(ctx, tx, p, b.Rows); err != nil {
		return false, err
	}
	p.copied.Add(1)
	return true, nil
}

// anyStored reports whether any of the page's keys is stored.
func (s *Store) anyStored(ctx context.Context, tx pgx.Tx, p *tablePlan, b dest.Batch) (bool, error) {
	cat, err := s.catalog(ctx, tx, p, b.Table)
	if err != nil {
		return false, fmt.Errorf("preparing the key probe: %w", err)
	}
	keys := make([]any, len(p.keyIndexes))
	for k, i := range p.keyIndexes {
		col := make([]any, len(b.Rows))
		for j, r := range b.Rows {
			col[j] = r[i]
		}
		keys[k] = col
	}
	var stored bool
	if err := tx.QueryRow(ctx, cat.probe, keys...).Scan(&stored); err != nil {
		return false, fmt.Errorf("looking up %d keys: %w", len(b.Rows), err)
	}
	return stored, nil
}

// hasDuplicateKeys reports whether two rows share a key. Only then does the upsert need
// DISTINCT ON, whose sort costs about a tenth of a page's write time.
func hasDuplicateKeys(rows [][]any, keyIndexes []int) bool {
	if dup, ok := hasDuplicateStringKeys(rows, keyIndexes); ok {
		return dup
	}
	seen := make(map[string]struct{}, len(rows))
	var sb strings.Builder
	for _, r := range rows {
		sb.Reset()
		for _, i := range keyIndexes {
			switch v := r[i].(type) {
			case string:
				sb.WriteString(v)
			case []byte:
				sb.Write(v)
			case int32:
				sb.WriteString(strconv.FormatInt(int64(v), 10))
			case int:
				sb.WriteString(strconv.Itoa(v))
			case int64:
				sb.WriteString(strconv.FormatInt(v, 10))
			default:
				fmt.Fprint(&sb, v)
			}
			sb.WriteByte(0)
		}
		k := sb.String()
		if _, ok := seen[k]; ok {
			return true
		}
		seen[k] = struct{}{}
	}
	return false
}

// hasDuplicateStringKeys is hasDuplicateKeys for the usual (division int32, id string)
// key, without building a string per row. ok is false for other keys.
func hasDuplicateStringKeys(rows [][]any, keyIndexes []int) (dup, ok bool) {
	if len(keyIndexes) != 2 {
		return false, false
	}
	type key struct {
		division int32
		id       string
	}
	seen := make(map[key]struct{}, len(rows))
	for _, r := range rows {
		d, ok1 := r[keyIndexes[0]].(int32)
		id, ok2 := r[keyIndexes[1]].(string)
		if !ok1 || !ok2 {
			return false, false
		}
		k := key{d, id}
		if _, ok := seen[k]; ok {
			return true, true
		}
		seen[k] = struct{}{}
	}
	return false, true
}

// tablePlan is the SQL of one Table, built once per Store.
type tablePlan struct {
	target         string         // quoted target table
	staging        pgx.Identifier // temporary staging table
	columns        []string
	keyIndexes     []int // positions of the key columns in columns
	createStaging  string
	upsert         string        // for pages without duplicate keys
	upsertDistinct string        // keeps the highest version of each key
	cat            *tableCatalog // built on first use; guarded by Store.plansMu
	targetIdent    pgx.Identifier
	copied         atomic.Int64 // pages in a row that went straight into the target (see copyNew)
	logTable       string       // the table's name in the change log; "" when it is not an entity's table
}

type planKey struct{ name, columns, key, version string }

// plan returns the cached SQL for t, building it on first use.
func (s *Store) plan(t dest.Table) (*tablePlan, error) {
	k := planKey{t.Name, strings.Join(t.Columns, "\x00"), strings.Join(t.Key, "\x00"), t.VersionColumn}
	s.plansMu.Lock()
	defer s.plansMu.Unlock()
	if p, ok := s.plans[k]; ok {
		return p, nil
	}
	p, err := buildPlan(t)
	if err != nil {
		return nil, err
	}
	if s.plans == nil {
		s.plans = make(map[planKey]*tablePlan)
	}
	s.plans[k] = p
	return p, nil
}

func buildPlan(t dest.Table) (*tablePlan, error) {
	parts := strings.Split(t.Name, ".")
	if t.Name == "" || len(parts) > 2 || slices.Contains(parts, "") {
		return nil, fmt.Errorf("invalid table name %q: want schema.table", t.Name)
	}
	if len(t.Columns) == 0 || len(t.Key) == 0 || t.VersionColumn == "" {
		return nil, errors.New("table needs columns, a key and a version column")
	}
	for _, c := range append(slices.Clone(t.Key), t.VersionColumn) {
		if !slices.Contains(t.Columns, c) {
			return nil, fmt.Errorf("column %q of the key or version is not among the columns", c)
		}
	}
	if slices.Contains(t.Columns, "synced_at") {
		return nil, errors.New("synced_at is set by the sink and must not be listed")
	}

	q := func(names ...string) []string {
		out := make([]string, len(names))
		for i, n := range names {
			out[i] = pgx.Identifier{n}.Sanitize()
		}
		return out
	}
	cols, key, version := q(t.Columns...), q(t.Key...), pgx.Identifier{t.VersionColumn}.Sanitize()
	target := pgx.Identifier(parts).Sanitize()

	h := fnv.New64a()
	h.Write([]byte(t.Name + "\x00" + strings.Join(t.Columns, "\x00")))
	staging := pgx.Identifier{"pg_temp", fmt.Sprintf("exactsync_staging_%x", h.Sum64())}

	var set []string
	for _, c := range t.Columns {
		if !slices.Contains(t.Key, c) {
			qc := pgx.Identifier{c}.Sanitize()
			set = append(set, qc+" = EXCLUDED."+qc)
		}
	}
	set = append(set, "synced_at = EXCLUDED.synced_at")
	colList := strings.Join(cols, ", ")
	keyList := strings.Join(key, ", ")

	var keyIndexes []int
	for _, k := range t.Key {
		keyIndexes = append(keyIndexes, slices.Index(t.Columns, k))
	}
	p := &tablePlan{
		target:      target,
		targetIdent: pgx.Identifier(parts),
		keyIndexes:  keyIndexes,
		staging:     staging,
		columns:     t.Columns,
		// Same column types as the target, no constraints or indexes; rows vanish at commit
		// so the table is reused by every page written on this session.
		createStaging: fmt.Sprintf(`CREATE TEMP TABLE IF NOT EXISTS %s ON COMMIT DELETE ROWS AS SELECT %s FROM %s WITH NO DATA`,
			staging.Sanitize(), colList, target),
		// The equal-version clause makes a replay write nothing while still letting a
		// same-version page repair a row whose stored values differ.
		upsertDistinct: fmt.Sprintf(`INSERT INTO %[1]s AS t (%[2]s, synced_at)
SELECT DISTINCT ON (%[3]s) %[2]s, now() FROM %[4]s ORDER BY %[3]s, %[5]s DESC NULLS LAST
ON CONFLICT (%[3]s) DO UPDATE SET %[6]s
WHERE t.%[5]s < EXCLUDED.%[5]s OR (t.%[5]s = EXCLUDED.%[5]s AND (%[7]s) IS DISTINCT FROM (%[8]s))`,
			target, colList, keyList, staging.Sanitize(), version, strings.Join(set, ", "),
			qualified("t", cols), qualified("EXCLUDED", cols)),
	}
	// Without duplicate keys in the page, the same statement minus the DISTINCT ON sort.
	p.upsert = strings.Replace(p.upsertDistinct,
		fmt.Sprintf("SELECT DISTINCT ON (%[1]s) %[2]s, now() FROM %[3]s ORDER BY %[1]s, %[4]s DESC NULLS LAST", keyList, colList, staging.Sanitize(), version),
		fmt.Sprintf("SELECT %s, now() FROM %s", colList, staging.Sanitize()), 1)
	if parts[0] == "exact" && len(parts) == 2 && len(t.Key) == 2 {
		// An entity's table: its writes go to the change log (migration 00021). The
		// upsert returns what it inserted (xmax 0: no earlier version) and changed, and
		// logs the keys of each, per division, in the same statement.
		p.logTable = parts[1]
		div, id := pgx.Identifier{t.Key[0]}.Sanitize(), pgx.Identifier{t.Key[1]}.Sanitize()
		for _, q := range []*string{&p.upsert, &p.upsertDistinct} {
			*q = `WITH up AS (` + *q + `
RETURNING t.` + div + ` AS division, t.` + id + `::text AS key, t.xmax = 0 AS inserted),
logged AS (INSERT INTO exact_sync.changes (table_name, division, keys)
SELECT ` + literal(p.logTable) + `, division, array_agg(key) FROM up GROUP BY division, inserted)
SELECT count(*) FROM up`
		}
	}
	return p, nil
}

// qualified is the list of the (quoted) columns cols of the relation alias, as in
// "t.a, t.b".
func qualified(alias string, cols []string) string {
	var b strings.Builder
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(alias + "." + c)
	}
	return b.String()
}

// logCopied adds to the change log the keys of rows, which a COPY has just inserted
// into the plan's table, one entry per division.
func logCopied(ctx context.Context, tx pgx.Tx, p *tablePlan, rows [][]any) error {
	if p.logTable == "" || len(rows) == 0 {
		return nil
	}
	di, ki := p.keyIndexes[0], p.keyIndexes[1]
	var divisions []any
	keys := map[any][]any{}
	for _, r := range rows {
		d := r[di]
		if _, ok := keys[d]; !ok {
			divisions = append(divisions, d)
			keys[d] = make([]any, 0, len(rows))
		}
		keys[d] = append(keys[d], keyText(r[ki]))
	}
	for _, d := range divisions {
		if _, err := tx.Exec(ctx, `INSERT INTO exact_sync.changes (table_name, division, keys) VALUES ($1, $2, $3::text[])`,
			p.logTable, d, keys[d]); err != nil {
			return fmt.Errorf("logging %d new rows: %w", len(keys[d]), err)
		}
	}
	return nil
}

// copy copies rows into ident, the plan's target or staging table (same column types).
func (s *Store) copy(ctx context.Context, tx pgx.Tx, p *tablePlan, ident pgx.Identifier, t dest.Table, rows [][]any) error {
	cat, err := s.catalog(ctx, tx, p, t)
	if err != nil {
		return err
	}
	c := Copier{table: ident, columns: p.columns, oids: cat.oids, encodable: cat.encodable}
	_, err = c.Copy(ctx, tx, rows)
	return err
}

// tableCatalog is what a plan needs of the catalogue: the written columns' types and the
// statements that cast to them.
type tableCatalog struct {
	oids      []uint32 // type OIDs of the written columns, in order
	encodable bool     // copyRows can encode every one of them (see lookupColumns)
	probe     string   // whether any of a page's keys is stored
	remove    string   // DELETE of removals (two-column keys only)
}

// catalog returns the plan's tableCatalog, looking it up on first use.
func (s *Store) catalog(ctx context.Context, tx pgx.Tx, p *tablePlan, t dest.Table) (*tableCatalog, error) {
	s.plansMu.Lock()
	cat := p.cat
	s.plansMu.Unlock()
	if cat != nil {
		return cat, nil
	}
	cols, err := lookupColumns(ctx, tx, p.target, p.columns)
	if err != nil {
		return nil, fmt.Errorf("looking up the columns of %s: %w", t.Name, err)
	}
	cat = &tableCatalog{oids: cols.oids, encodable: cols.encodable}

	var args, conds, names []string
	for i, k := range t.Key {
		args = append(args, fmt.Sprintf("$%d::%s[]", i+1, cols.types[k]))
		conds = append(conds, fmt.Sprintf("t.%s = k.k%d", pgx.Identifier{k}.Sanitize(), i))
		names = append(names, fmt.Sprintf("k%d", i))
	}
	cat.probe = fmt.Sprintf(`SELECT EXISTS (SELECT 1 FROM unnest(%s) AS k(%s) JOIN %s AS t ON %s)`,
		strings.Join(args, ", "), strings.Join(names, ", "), p.target, strings.Join(conds, " AND "))
	if len(t.Key) == 2 {
		// The IDs come as text and are cast to the type of the second key column. The
		// deleted rows go to the deletions trail in the same statement.
		k0, k1 := pgx.Identifier{t.Key[0]}.Sanitize(), pgx.Identifier{t.Key[1]}.Sanitize()
		cat.remove = fmt.Sprintf(`WITH gone AS (
	DELETE FROM %s AS t USING unnest($1::bigint[], $2::text[], $3::bigint[], $4::timestamptz[], $5::uuid[]) AS r(k0, k1, version, deleted_at, deleted_by)
	WHERE t.%s = r.k0 AND t.%s = r.k1::%s AND t.%s <= r.version
	RETURNING t.%s AS division, t.%s::text AS key, to_jsonb(t) AS record, r.deleted_at, r.deleted_by)
%s`,
			p.target, k0, k1, cols.types[t.Key[1]], pgx.Identifier{t.VersionColumn}.Sanitize(), k0, k1, trailInsert("$6", "$7", "$8"))
	}

	s.plansMu.Lock()
	p.cat = cat
	s.plansMu.Unlock()
	return cat, nil
}
