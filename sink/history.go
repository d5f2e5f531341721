package sink

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/exactsync/exactsync/dest"
)

// Nothing is forgotten. Every row a write removes from a table of exact (a removal, a
// sweep) goes, in the statement that removes it, to the deletions trail
// exact_history.deletions, with its cause, Exact's date and user of the deletion when
// known, and the row as it last was (to_jsonb).
//
// A table whose history is on (SetHistory) has the view exact_history.<table>: its
// columns, after
//
//   - valid_from: when the version was written (its transaction's time, the row's
//     synced_at), or, for the versions a table's history was started with (seeded), the
//     row's synced_at, or the time the history was last turned off when later;
//   - valid_to: when the next version, or the removal, replaced it; NULL while current;
//   - ended: what ended it: changed, deleted (in Exact), not seen by a full pass, no
//     longer a supplier, …, history turned off;
//   - seeded: the version is a row the table held when its history was turned on.
//
// The view is the table exact_history.<table>_past, the versions that ended, and the
// current rows of exact.<table>, each its own open version: as in SQL:2011's
// system-versioned tables, a row is written once however many versions it has, so a
// first sync writes no history at all and a change one ended version. Statement triggers
// on exact.<table>, with transition tables, write the past: an update keeps the versions
// it replaces (ended = changed), a delete those it removes, with the cause of the
// removal (the transaction's exactsync.history_ended setting, which the removals set).
// So the history is written by the very statement that changes the table, by every
// process and whatever path it takes, and the two never disagree: each current row is
// the open version of its history by construction. A write that changes no row (a
// replayed page, a re-read of the same Timestamp) writes no version.

// HistoryOff is what ends the open versions of a table whose history is turned off:
// from then on the history does not know the rows.
const HistoryOff = "history turned off"

// historyEndedSetting is the transaction setting from which the delete trigger takes
// what ended the versions of the rows it removed (see endedBy).
const historyEndedSetting = "exactsync.history_ended"

// setEndedSQL sets historyEndedSetting for the rest of the transaction.
const setEndedSQL = `SELECT set_config('` + historyEndedSetting + `', $1, true)`

// endedBy is the history's ended of a removal's cause.
func endedBy(cause string) string {
	if cause == "" || cause == dest.CauseDeleted {
		return "deleted"
	}
	return cause
}

// trailInsert is the INSERT of the rows of the CTE gone (division, key, record,
// deleted_at, deleted_by) into the deletions trail, with the connection, entity and cause
// of the parameters named.
func trailInsert(conn, entity, cause string) string {
	return `INSERT INTO exact_history.deletions (connection_id, division, entity, key, deleted_at, deleted_by, cause, record)
SELECT ` + conn + `, division, ` + entity + `, key, deleted_at, deleted_by, ` + cause + `, record FROM gone`
}

// remove deletes the batch's removals, whose rows go to the deletions trail and end their
// history, one statement per cause. It returns the number of rows removed.
func (s *Store) remove(ctx context.Context, tx pgx.Tx, p *tablePlan, b dest.Batch) (int, error) {
	cat, err := s.catalog(ctx, tx, p, b.Table)
	if err != nil {
		return 0, fmt.Errorf("preparing removals: %w", err)
	}
	entity := b.Entity
	if entity == "" {
		entity = p.targetIdent[len(p.targetIdent)-1]
	}
	var causes []string
	for _, r := range b.Removals {
		if c := causeOf(r.Cause); !slices.Contains(causes, c) {
			causes = append(causes, c)
		}
	}
	removed := 0
	for _, cause := range causes {
		var divisions []int64
		var ids []string
		var versions []int64
		var at []*time.Time
		var by []*string
		for _, r := range b.Removals {
			if causeOf(r.Cause) != cause {
				continue
			}
			divisions, ids, versions = append(divisions, int64(r.Division)), append(ids, r.ID), append(versions, r.Version)
			var when *time.Time
			if !r.DeletedAt.IsZero() {
				when = &r.DeletedAt
			}
			var who *string
			if r.DeletedBy != "" {
				who = &r.DeletedBy
			}
			at, by = append(at, when), append(by, who)
		}
		// One round trip: the cause the delete trigger ends the history with, then the
		// removal.
		var batch pgx.Batch
		batch.Queue(setEndedSQL, endedBy(cause))
		batch.Queue(cat.remove, divisions, ids, versions, at, by, b.ConnectionID, entity, cause)
		br := tx.SendBatch(ctx, &batch)
		_, err := br.Exec()
		var tag pgconn.CommandTag
		if err == nil {
			tag, err = br.Exec()
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return removed, fmt.Errorf("removing %d rows: %w", len(ids), err)
		}
		removed += int(tag.RowsAffected())
	}
	return removed, nil
}

// causeOf is a removal's cause, CauseDeleted when unsaid.
func causeOf(c string) string {
	if c == "" {
		return dest.CauseDeleted
	}
	return c
}

// HistoryChange says what SetHistory changed: the tables whose history it turned on (with
// the rows each was seeded with) and off.
type HistoryChange struct {
	On     []string // tables of exact, e.g. "accounts"
	Seeded []int64  // rows each of On started with
	Off    []string
}

// SetHistory makes the history of exactly the tables ts (tables of schema exact) be on:
// for a table whose history is off, it creates exact_history.<table>_past (or adds the
// columns the table gained since), its index, the view exact_history.<table>,
// exact_history.<table>_at(timestamptz) and the triggers, and the table's rows become
// their first versions, marked seeded (nothing is copied: they are the open versions);
// for a table whose history is on and that ts does not name, it drops the triggers and
// keeps the current rows as versions ended HistoryOff, keeping the tables. It runs in one
// transaction under the migration lock, so that processes starting together do it once;
// creating the triggers takes the table's SHARE ROW EXCLUSIVE lock, so that no write
// slips in between. A start with everything in place changes nothing. A history of the
// first layout (exact_history.<table> a table of every version) is converted.
func (s *Store) SetHistory(ctx context.Context, ts []dest.Table) (HistoryChange, error) {
	return s.setHistory(ctx, ts, true)
}

// AddHistory is SetHistory that turns no history off: the history of the tables ts is
// on, and the others' stays as it is.
func (s *Store) AddHistory(ctx context.Context, ts []dest.Table) (HistoryChange, error) {
	return s.setHistory(ctx, ts, false)
}

func (s *Store) setHistory(ctx context.Context, ts []dest.Table, off bool) (HistoryChange, error) {
	var ch HistoryChange
	want := map[string]dest.Table{}
	for _, t := range ts {
		schema, name, ok := strings.Cut(t.Name, ".")
		if !ok || schema != "exact" || name == "" || strings.Contains(name, ".") {
			return ch, fmt.Errorf("turning history on for %s: only tables of schema exact have history", t.Name)
		}
		if len(t.Key) == 0 {
			return ch, fmt.Errorf("turning history on for %s: the table needs a key", t.Name)
		}
		want[name] = t
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		ch = HistoryChange{}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockID); err != nil {
			return fmt.Errorf("taking the migration lock: %w", err)
		}
		// Every history, on and off, in the present layout first.
		rows, err := tx.Query(ctx, `SELECT h.table_name, h.enabled, h.enabled_at,
			coalesce((SELECT c.relkind = 'r' FROM pg_class c WHERE c.oid = to_regclass(format('exact_history.%I', h.table_name))), false)
			FROM exact_sync.history_tables h ORDER BY h.table_name`)
		if err != nil {
			return err
		}
		states := map[string]historyState{}
		var on []string
		for rows.Next() {
			var name string
			var st historyState
			if err := rows.Scan(&name, &st.enabled, &st.enabledAt, &st.legacy); err != nil {
				rows.Close()
				return err
			}
			states[name] = st
			if st.enabled {
				on = append(on, name)
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		created := false
		for name, st := range states {
			if !st.legacy {
				continue
			}
			if err := convertLegacyHistory(ctx, tx, name, st.enabled); err != nil {
				return fmt.Errorf("converting the history of exact.%s: %w", name, err)
			}
			created = true
			if _, ok := want[name]; st.enabled && !ok {
				// Its view and triggers, in the present layout, until it is turned off.
				if _, _, _, err := ensureHistory(ctx, tx, dest.Table{Name: "exact." + name}, st); err != nil {
					return fmt.Errorf("converting the history of exact.%s: %w", name, err)
				}
			}
		}
		names := make([]string, 0, len(want))
		for n := range want {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, name := range names {
			_, seeded, made, err := ensureHistory(ctx, tx, want[name], states[name])
			if err != nil {
				return fmt.Errorf("turning history on for exact.%s: %w", name, err)
			}
			created = created || made
			if seeded >= 0 {
				ch.On, ch.Seeded = append(ch.On, name), append(ch.Seeded, seeded)
			}
		}
		for _, name := range on {
			if _, ok := want[name]; ok || !off {
				continue
			}
			if err := stopHistory(ctx, tx, name, states[name].enabledAt); err != nil {
				return fmt.Errorf("turning history off for exact.%s: %w", name, err)
			}
			ch.Off = append(ch.Off, name)
		}
		if created {
			// The new tables come under the readers' division policy and grants before
			// anything is written to them.
			if _, err := tx.Exec(ctx, `SELECT exact_sync.secure_readers()`); err != nil {
				return fmt.Errorf("securing the readers' access: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return HistoryChange{}, fmt.Errorf("setting the history tables: %w", err)
	}
	return ch, nil
}

// historyColumns are the columns a history has beyond its table's, first in the view (so
// that the columns a table gains later go at its end).
var historyColumns = []struct{ name, def, comment string }{
	{"valid_from", "timestamptz NOT NULL", "When this version became the row: the time of the transaction that wrote it (the row's synced_at), or, for a version the history was started with (seeded), the row's synced_at then, or when the history was last turned off if later."},
	{"valid_to", "timestamptz", "When the next version, or the row's removal, replaced this one; NULL while it is the current row of exact."},
	{"ended", "text", "What ended this version: changed (a newer version follows), deleted (in Exact, through sync/Deleted), not seen by a full pass, no longer a supplier (the record left the entity's condition), history turned off; NULL while current."},
	{"seeded", "boolean NOT NULL DEFAULT false", "The version is a row the table held when its history was turned on, not one seen being written: it was so at valid_from at the latest."},
}

// historyRel names the relations of the history of exact.<name>, quoted.
type historyRel struct {
	name string
	src  string // exact.<name>, the table
	view string // exact_history.<name>, every version: the ended ones and the current rows
	past string // exact_history.<name>_past, the versions that ended
	at   string // exact_history.<name>_at(timestamptz)
}

func historyRelOf(name string) historyRel {
	return historyRel{
		name: name,
		src:  pgx.Identifier{"exact", name}.Sanitize(),
		view: pgx.Identifier{"exact_history", name}.Sanitize(),
		past: pgx.Identifier{"exact_history", name + "_past"}.Sanitize(),
		at:   pgx.Identifier{"exact_history", name + "_at"}.Sanitize(),
	}
}

// historySpan is what the current rows' versions are, from when the history was last
// turned on: a row written since (synced_at >= on) is the version its write made, valid
// from its synced_at; a row the table held then is seeded, valid from its synced_at or,
// when later, from the time the history was last turned off (its version before that
// ended then, HistoryOff).
type historySpan struct {
	on      time.Time
	lastOff *time.Time
}

// validFrom is the SQL of the valid_from of row r's current version.
func (sp historySpan) validFrom(r string) string {
	if sp.lastOff == nil {
		return r + ".synced_at"
	}
	return `CASE WHEN ` + r + `.synced_at >= ` + timeLiteral(sp.on) + ` THEN ` + r + `.synced_at ELSE greatest(` + r + `.synced_at, ` + timeLiteral(*sp.lastOff) + `) END`
}

// seeded is the SQL of whether row r's current version is seeded.
func (sp historySpan) seeded(r string) string {
	return `(` + r + `.synced_at < ` + timeLiteral(sp.on) + `)`
}

// loadLastOff reads into sp when the history r was last turned off: its latest version
// ended HistoryOff.
func (sp *historySpan) loadLastOff(ctx context.Context, tx pgx.Tx, r historyRel) error {
	return tx.QueryRow(ctx, `SELECT max(valid_to) FROM `+r.past+` WHERE ended = $1`, HistoryOff).Scan(&sp.lastOff)
}

// endVersions is the INSERT into r's past of the rows of from (aliased alias), whose
// columns are cols (quoted), as versions ended now by ended (SQL).
func (sp historySpan) endVersions(r historyRel, cols []string, from, alias, ended string) string {
	return `INSERT INTO ` + r.past + ` (` + strings.Join(cols, ", ") + `, valid_from, valid_to, ended, seeded)
SELECT ` + qualified(alias, cols) + `, ` + sp.validFrom(alias) + `, now(), ` + ended + `, ` + sp.seeded(alias) + ` FROM ` + from + ` AS ` + alias
}

// timeLiteral is t as an SQL timestamptz literal, to the microsecond.
func timeLiteral(t time.Time) string {
	return literal(t.UTC().Format("2006-01-02 15:04:05.999999Z07:00")) + `::timestamptz`
}

// historyState is a history as exact_sync.history_tables and the catalog have it.
type historyState struct {
	enabled   bool
	enabledAt time.Time
	legacy    bool // exact_history.<name> is a table of every version (the first layout)
}

// ensureHistory makes the history of t be on (st says how it is). It returns whether it
// changed anything, the rows the history starts with when it turned it on (-1 when it
// was on already) and whether it created a relation.
//
// The history is two relations: exact_history.<table>_past, the versions that ended, one
// row each, written by the triggers on exact.<table> as a row changes or goes; and the
// view exact_history.<table>, those and the table's current rows as the open versions
// (valid_from their synced_at), the way SQL:2011's system-versioned tables keep history.
// A row written to the table is so written once: a first sync writes no history, a change
// one ended version.
func ensureHistory(ctx context.Context, tx pgx.Tx, t dest.Table, st historyState) (changed bool, seeded int64, created bool, err error) {
	seeded = -1
	_, name, _ := strings.Cut(t.Name, ".")
	r := historyRelOf(name)
	var pastExists, tableExists, hasSyncedAt bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL, to_regclass($2) IS NOT NULL,
		EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($2) AND attname = 'synced_at' AND NOT attisdropped)`,
		r.past, r.src).Scan(&pastExists, &tableExists, &hasSyncedAt); err != nil {
		return false, -1, false, err
	}
	if !tableExists {
		return false, -1, false, fmt.Errorf("there is no table %s", r.src)
	}
	if !hasSyncedAt {
		return false, -1, false, fmt.Errorf("%s has no synced_at column, which dates its rows' versions", r.src)
	}
	if !pastExists {
		if err := createPast(ctx, tx, r, t.Key); err != nil {
			return false, -1, false, err
		}
		created = true
	}
	cols, added, err := syncPastColumns(ctx, tx, r, created)
	if err != nil {
		return false, -1, false, err
	}
	if st.enabled && !added && !created && !st.legacy {
		return false, -1, false, nil
	}
	span := historySpan{on: st.enabledAt}
	if !st.enabled {
		// Turning it on: the current rows are their first versions, from now.
		if err := tx.QueryRow(ctx, `SELECT now()`).Scan(&span.on); err != nil {
			return false, -1, false, err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO exact_sync.history_tables (table_name, enabled) VALUES ($1, true)
			ON CONFLICT (table_name) DO UPDATE SET enabled = true, enabled_at = now(), disabled_at = NULL`, name); err != nil {
			return false, -1, false, err
		}
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+r.src).Scan(&seeded); err != nil {
			return false, -1, false, err
		}
	}
	if err := span.loadLastOff(ctx, tx, r); err != nil {
		return false, -1, false, err
	}
	if err := historyView(ctx, tx, r, cols, &span); err != nil {
		return false, -1, false, err
	}
	if err := historyTriggers(ctx, tx, r, cols, span); err != nil {
		return false, -1, false, err
	}
	return true, seeded, created, nil
}

// createPast creates exact_history.<name>_past, for the versions that ended, and its index.
func createPast(ctx context.Context, tx pgx.Tx, r historyRel, key []string) error {
	// INCLUDING COMPRESSION: raw is kept in the table's compression (lz4 where the server
	// has it), not the server's default.
	if _, err := tx.Exec(ctx, `CREATE TABLE `+r.past+` (LIKE `+r.src+` INCLUDING COMPRESSION)`); err != nil {
		return err
	}
	for _, c := range historyColumns {
		def := c.def
		if c.name == "valid_to" || c.name == "ended" {
			def += " NOT NULL" // every version here ended
		}
		if _, err := tx.Exec(ctx, `ALTER TABLE `+r.past+` ADD COLUMN `+c.name+` `+def); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `COMMENT ON COLUMN `+r.past+`.`+c.name+` IS `+literal(c.comment)); err != nil {
			return err
		}
	}
	keys := make([]string, len(key))
	for i, k := range key {
		keys[i] = pgx.Identifier{k}.Sanitize()
	}
	stmts := []string{
		// The one index: a record's versions in order, and a division's (the key starts
		// with the division): <table>_at(T) of one division reads its part. Each index
		// more costs every version written.
		`CREATE INDEX ` + pgx.Identifier{r.name + "_versions"}.Sanitize() + ` ON ` + r.past + ` (` + strings.Join(keys, ", ") + `, valid_from)`,
		`COMMENT ON TABLE ` + r.past + ` IS ` + literal(`The versions of the rows of `+r.src+` that ended (changed, removed, or history turned off), written by the statement that ended them; `+r.view+` adds the current rows. Kept when the history is turned off.`),
	}
	for _, q := range stmts {
		if _, err := tx.Exec(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// syncPastColumns adds to exact_history.<name>_past the columns its table gained, with
// the table's comments, and returns the table's columns (quoted, in order) and whether it
// added any.
func syncPastColumns(ctx context.Context, tx pgx.Tx, r historyRel, created bool) (cols []string, added bool, err error) {
	rows, err := tx.Query(ctx, `
		SELECT a.attname, h.attname IS NULL,
		       format('ALTER TABLE %s ADD COLUMN %I %s', $2::text, a.attname, format_type(a.atttypid, a.atttypmod)),
		       format('COMMENT ON COLUMN %s.%I IS %L', $2::text, a.attname, col_description(a.attrelid, a.attnum))
		FROM pg_attribute a
		LEFT JOIN pg_attribute h ON h.attrelid = $3::regclass AND h.attname = a.attname AND NOT h.attisdropped
		WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
		ORDER BY a.attnum`, r.src, r.past, r.past)
	if err != nil {
		return nil, false, err
	}
	type column struct {
		name          string
		missing       bool
		add, describe string
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (column, error) {
		var c column
		var describe *string
		err := row.Scan(&c.name, &c.missing, &c.add, &describe)
		if describe != nil {
			c.describe = *describe
		}
		return c, err
	})
	if err != nil {
		return nil, false, err
	}
	for _, c := range list {
		if c.missing {
			if _, err := tx.Exec(ctx, c.add); err != nil {
				return nil, false, err
			}
			added = true
		}
		if (c.missing || created) && c.describe != "" {
			if _, err := tx.Exec(ctx, c.describe); err != nil {
				return nil, false, err
			}
		}
		cols = append(cols, pgx.Identifier{c.name}.Sanitize())
	}
	return cols, added, nil
}

// historyView (re)creates the view exact_history.<name> of every version, its comments
// and exact_history.<name>_at(timestamptz). With span nil (history off) the view holds
// the ended versions only.
func historyView(ctx context.Context, tx pgx.Tx, r historyRel, cols []string, span *historySpan) error {
	var hist []string
	for _, c := range historyColumns {
		hist = append(hist, c.name)
	}
	q := `CREATE OR REPLACE VIEW ` + r.view + ` WITH (security_invoker = true) AS
SELECT ` + strings.Join(hist, ", ") + `, ` + strings.Join(cols, ", ") + ` FROM ` + r.past
	if span != nil {
		q += `
UNION ALL
SELECT ` + span.validFrom("t") + `, NULL::timestamptz, NULL::text, ` + span.seeded("t") + `, ` + qualified("t", cols) + ` FROM ` + r.src + ` AS t`
	}
	if _, err := tx.Exec(ctx, q); err != nil {
		return err
	}
	stmts := []string{
		`COMMENT ON VIEW ` + r.view + ` IS ` + literal(`Every version exactsync wrote of the rows of `+r.src+` since EXACTSYNC_HISTORY named the entity (exact_sync.history_tables): its columns, and when each version was current (valid_from, valid_to). The current rows of `+r.src+` are the open versions (valid_to NULL); `+r.past+` holds the ended ones. `+r.at+`(T) returns the rows as they were at T. Kept when the history is turned off.`),
		`CREATE OR REPLACE FUNCTION ` + r.at + `(at timestamptz) RETURNS SETOF ` + r.view + `
LANGUAGE sql STABLE AS $f$ SELECT * FROM ` + r.view + ` WHERE valid_from <= at AND (valid_to IS NULL OR valid_to > at) $f$`,
		`COMMENT ON FUNCTION ` + r.at + `(timestamptz) IS ` + literal(`The rows of `+r.src+` as they were at the moment given, as far as its history knows them (see `+r.view+`).`),
	}
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			return err
		}
	}
	// The view's columns are described as the past's are.
	_, err := tx.Exec(ctx, `
		DO $d$ DECLARE c record; BEGIN
		FOR c IN SELECT a.attname, col_description(a.attrelid, a.attnum) AS d FROM pg_attribute a
		         WHERE a.attrelid = `+literal(r.past)+`::regclass AND a.attnum > 0 AND NOT a.attisdropped
		           AND col_description(a.attrelid, a.attnum) IS NOT NULL LOOP
			EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', `+literal(r.view)+`, c.attname, c.d);
		END LOOP; END $d$`)
	return err
}

// historyTrigger names the trigger function of table name (schema exact_sync) and the
// trigger, by the statement they follow.
func historyTrigger(name, event string) (function, trigger string) {
	return pgx.Identifier{"exact_sync", "history_" + name + "_" + event}.Sanitize(), "exactsync_history_" + event
}

// historyEvents are the statements whose rows the triggers keep: an update ends the
// versions it changes, a delete those it removes. An insert writes no history: the new
// row is its own open version.
var historyEvents = []string{"update", "delete"}

// historyTriggers (re)writes the trigger functions of the history r, whose table has the
// columns cols (quoted), and (re)creates the triggers.
func historyTriggers(ctx context.Context, tx pgx.Tx, r historyRel, cols []string, span historySpan) error {
	end := func(ended string) string { return span.endVersions(r, cols, "old_rows", "o", ended) + ";" }
	bodies := map[string]string{
		"update": end(`'changed'`),
		"delete": end(`coalesce(nullif(current_setting('` + historyEndedSetting + `', true), ''), 'deleted')`),
	}
	for _, event := range historyEvents {
		fn, trig := historyTrigger(r.name, event)
		if _, err := tx.Exec(ctx, `CREATE OR REPLACE FUNCTION `+fn+`() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $f$
BEGIN
`+bodies[event]+`
RETURN NULL;
END
$f$`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `REVOKE ALL ON FUNCTION `+fn+`() FROM PUBLIC`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `COMMENT ON FUNCTION `+fn+`() IS `+literal(`Keeps in `+r.past+` the versions of the rows of `+r.src+` that a `+event+` ends (the trigger `+trig+`).`)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE OR REPLACE TRIGGER `+trig+` AFTER `+strings.ToUpper(event)+` ON `+r.src+`
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION `+fn+`()`); err != nil {
			return err
		}
	}
	return dropLegacyInsertTrigger(ctx, tx, r)
}

// dropLegacyInsertTrigger drops the insert trigger of the first layout, which copied
// every new row into the history.
func dropLegacyInsertTrigger(ctx context.Context, tx pgx.Tx, r historyRel) error {
	fn, trig := historyTrigger(r.name, "insert")
	if _, err := tx.Exec(ctx, `DROP TRIGGER IF EXISTS `+trig+` ON `+r.src); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `DROP FUNCTION IF EXISTS `+fn+`()`)
	return err
}

// convertLegacyHistory turns a history of the first layout, exact_history.<name> a table
// of every version, open ones included, into the present one: the table becomes
// <name>_past without its open versions (the current rows are those), and the view, the
// function and the triggers are made anew by ensureHistory or, for a history turned off,
// here.
func convertLegacyHistory(ctx context.Context, tx pgx.Tx, name string, enabled bool) error {
	r := historyRelOf(name)
	stmts := []string{
		`DROP FUNCTION IF EXISTS ` + r.at + `(timestamptz)`,
		`ALTER TABLE ` + r.view + ` RENAME TO ` + pgx.Identifier{name + "_past"}.Sanitize(),
		`DELETE FROM ` + r.past + ` WHERE valid_to IS NULL`,
		`ALTER TABLE ` + r.past + ` ALTER COLUMN valid_from DROP DEFAULT`,
		`ALTER TABLE ` + r.past + ` ALTER COLUMN valid_to SET NOT NULL`,
		`ALTER TABLE ` + r.past + ` ALTER COLUMN ended SET NOT NULL`,
		`COMMENT ON TABLE ` + r.past + ` IS ` + literal(`The versions of the rows of `+r.src+` that ended (changed, removed, or history turned off), written by the statement that ended them; `+r.view+` adds the current rows. Kept when the history is turned off.`),
	}
	for _, q := range stmts {
		if _, err := tx.Exec(ctx, q); err != nil {
			return err
		}
	}
	if err := dropLegacyInsertTrigger(ctx, tx, r); err != nil {
		return err
	}
	if enabled {
		return nil
	}
	cols, _, err := syncPastColumns(ctx, tx, r, false)
	if err != nil {
		return err
	}
	return historyView(ctx, tx, r, cols, nil)
}

// stopHistory turns the history of table name off: its triggers are dropped, the current
// rows are kept as versions that ended (HistoryOff), the view shows those that ended.
func stopHistory(ctx context.Context, tx pgx.Tx, name string, enabledAt time.Time) error {
	r := historyRelOf(name)
	for _, event := range historyEvents {
		_, trig := historyTrigger(name, event)
		if _, err := tx.Exec(ctx, `DROP TRIGGER IF EXISTS `+trig+` ON `+r.src); err != nil {
			return err
		}
	}
	cols, _, err := syncPastColumns(ctx, tx, r, false)
	if err != nil {
		return err
	}
	span := historySpan{on: enabledAt}
	if err := span.loadLastOff(ctx, tx, r); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, span.endVersions(r, cols, r.src, "t", "$1"), HistoryOff); err != nil {
		return err
	}
	if err := historyView(ctx, tx, r, cols, nil); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE exact_sync.history_tables SET enabled = false, disabled_at = now() WHERE table_name = $1`, name)
	return err
}

// PruneDeletions deletes the deletions trail's rows removed before before, and returns
// how many (EXACTSYNC_DELETIONS_RETENTION).
func (s *Store) PruneDeletions(ctx context.Context, before time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM exact_history.deletions WHERE removed_at < $1`, before)
	if err != nil {
		return 0, fmt.Errorf("pruning the deletions trail: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// literal quotes s as an SQL string literal (standard_conforming_strings, the default
// since PostgreSQL 9.1).
func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
