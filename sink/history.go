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
// A table whose history is on (SetHistory) has exact_history.<table>: its columns plus
//
//   - valid_from: when the version was written (its transaction's time), or, for the
//     versions a table's history was started with (seeded), the row's synced_at;
//   - valid_to: when the next version, or the removal, replaced it; NULL while current;
//   - ended: what ended it: changed, deleted (in Exact), not seen by a full pass, no
//     longer a supplier, …, history turned off;
//   - seeded: the version is a row the table held when its history was turned on.
//
// Statement triggers on exact.<table>, with transition tables, write it: an insert
// (COPY included) adds the new rows as open versions, an update closes the open versions
// of the rows it changed (ended = changed) and adds the new ones, a delete closes them
// with the cause of the removal (the transaction's exactsync.history_ended setting, which
// the removals set). So the history is written by the very statement that changes the
// table, by every process and whatever path it takes, and the two never disagree: each
// current row is the open version of its history, and no open version lacks its row. A
// write that changes no row (a replayed page, a re-read of the same Timestamp) writes no
// version.

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
// for a table whose history is off, it creates exact_history.<table> (or adds the columns
// the table gained since), its indexes, exact_history.<table>_at(timestamptz) and the
// triggers, and seeds it with the table's rows, marked seeded, as their first versions;
// for a table whose history is on and that ts does not name, it drops the triggers and
// ends the open versions (HistoryOff), keeping the table. It runs in one transaction
// under the migration lock, so that processes starting together do it once, and takes
// the table's SHARE ROW EXCLUSIVE lock while it seeds, so that no write slips between
// the seed and the triggers. A start with everything in place changes nothing.
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
		rows, err := tx.Query(ctx, `SELECT table_name FROM exact_sync.history_tables WHERE enabled`)
		if err != nil {
			return err
		}
		on, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		names := make([]string, 0, len(want))
		for n := range want {
			names = append(names, n)
		}
		slices.Sort(names)
		created := false
		for _, name := range names {
			_, seeded, made, err := ensureHistory(ctx, tx, want[name], slices.Contains(on, name))
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
			if err := stopHistory(ctx, tx, name); err != nil {
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

// historyColumns are the columns a history table has beyond its table's.
var historyColumns = []struct{ name, def, comment string }{
	{"valid_from", "timestamptz NOT NULL DEFAULT now()", "When this version became the row: the time of the transaction that wrote it, or, for a version the history was started with (seeded), the row's synced_at then."},
	{"valid_to", "timestamptz", "When the next version, or the row's removal, replaced this one; NULL while it is the current row of exact."},
	{"ended", "text", "What ended this version: changed (a newer version follows), deleted (in Exact, through sync/Deleted), not seen by a full pass, no longer a supplier (the record left the entity's condition), history turned off; NULL while current."},
	{"seeded", "boolean NOT NULL DEFAULT false", "The version is a row the table held when its history was turned on, not one seen being written: it was so at valid_from at the latest."},
}

// ensureHistory makes the history of t be on (enabled says it was). It returns whether
// it added columns, the rows it seeded the history with (-1 when it was on already) and
// whether it created the history table.
func ensureHistory(ctx context.Context, tx pgx.Tx, t dest.Table, enabled bool) (added bool, seeded int64, created bool, err error) {
	seeded = -1
	_, name, _ := strings.Cut(t.Name, ".")
	src := pgx.Identifier{"exact", name}.Sanitize()
	hist := pgx.Identifier{"exact_history", name}.Sanitize()
	var exists, tableExists bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL, to_regclass($2) IS NOT NULL`, hist, src).Scan(&exists, &tableExists); err != nil {
		return false, -1, false, err
	}
	if !tableExists {
		return false, -1, false, fmt.Errorf("there is no table %s", src)
	}
	if !exists {
		if _, err := tx.Exec(ctx, `CREATE TABLE `+hist+` (LIKE `+src+`)`); err != nil {
			return false, -1, false, err
		}
		for _, c := range historyColumns {
			if _, err := tx.Exec(ctx, `ALTER TABLE `+hist+` ADD COLUMN `+c.name+` `+c.def); err != nil {
				return false, -1, false, err
			}
			if _, err := tx.Exec(ctx, `COMMENT ON COLUMN `+hist+`.`+c.name+` IS `+literal(c.comment)); err != nil {
				return false, -1, false, err
			}
		}
		keys := make([]string, len(t.Key))
		for i, k := range t.Key {
			keys[i] = pgx.Identifier{k}.Sanitize()
		}
		stmts := []string{
			// The one index: a record's versions in order, its open one among them (the
			// triggers' close of the versions they replace), and a division's (the key
			// starts with the division): <table>_at(T) of one division reads its part.
			// Each index more costs every version written: a unique one of the open
			// versions would make the close of a version rewrite an index entry too, and
			// one on the time alone would serve a point-in-time read, which reads most of
			// a division's versions anyway, little better.
			`CREATE INDEX ` + pgx.Identifier{name + "_versions"}.Sanitize() + ` ON ` + hist + ` (` + strings.Join(keys, ", ") + `, valid_from)`,
			`COMMENT ON TABLE ` + hist + ` IS 'Every version exactsync wrote of the rows of ` + src + ` since EXACTSYNC_HISTORY named the entity (exact_sync.history_tables): its columns, and when each version was current (valid_from, valid_to). ` + pgx.Identifier{"exact_history", name + "_at"}.Sanitize() + `(T) returns the rows as they were at T. Kept when the history is turned off.'`,
			`CREATE FUNCTION ` + pgx.Identifier{"exact_history", name + "_at"}.Sanitize() + `(at timestamptz) RETURNS SETOF ` + hist + `
LANGUAGE sql STABLE AS $f$ SELECT * FROM ` + hist + ` WHERE valid_from <= at AND (valid_to IS NULL OR valid_to > at) $f$`,
			`COMMENT ON FUNCTION ` + pgx.Identifier{"exact_history", name + "_at"}.Sanitize() + `(timestamptz) IS 'The rows of ` + src + ` as they were at the moment given, as far as its history knows them (see ` + hist + `).'`,
		}
		for _, q := range stmts {
			if _, err := tx.Exec(ctx, q); err != nil {
				return false, -1, false, err
			}
		}
		created = true
	}
	// The table's columns, and the statements that add to the history those it lacks and
	// comment them as the table's are.
	rows, err := tx.Query(ctx, `
		SELECT a.attname, h.attname IS NULL,
		       format('ALTER TABLE %s ADD COLUMN %I %s', $2::text, a.attname, format_type(a.atttypid, a.atttypmod)),
		       format('COMMENT ON COLUMN %s.%I IS %L', $2::text, a.attname, col_description(a.attrelid, a.attnum))
		FROM pg_attribute a
		LEFT JOIN pg_attribute h ON h.attrelid = $3::regclass AND h.attname = a.attname AND NOT h.attisdropped
		WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
		ORDER BY a.attnum`, src, hist, hist)
	if err != nil {
		return false, -1, false, err
	}
	type column struct {
		name          string
		missing       bool
		add, describe string
	}
	cols, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (column, error) {
		var c column
		var describe *string
		err := r.Scan(&c.name, &c.missing, &c.add, &describe)
		if describe != nil {
			c.describe = *describe
		}
		return c, err
	})
	if err != nil {
		return false, -1, false, err
	}
	var list []string
	for _, c := range cols {
		if c.missing {
			if _, err := tx.Exec(ctx, c.add); err != nil {
				return false, -1, false, err
			}
			added = true
		}
		if (c.missing || created) && c.describe != "" {
			if _, err := tx.Exec(ctx, c.describe); err != nil {
				return false, -1, false, err
			}
		}
		list = append(list, pgx.Identifier{c.name}.Sanitize())
	}
	if enabled && !added {
		return false, -1, created, nil
	}
	if err := historyTriggers(ctx, tx, name, t.Key, list, !enabled); err != nil {
		return false, -1, false, err
	}
	if enabled {
		return added, -1, created, nil
	}
	// Turning it on: no write of the table until this transaction commits, then the
	// current rows as their first versions. A version the history holds from an earlier
	// time it was on ended when it was turned off: the seeded one starts no earlier.
	if _, err := tx.Exec(ctx, `LOCK TABLE `+src+` IN SHARE ROW EXCLUSIVE MODE`); err != nil {
		return false, -1, false, err
	}
	if _, err := tx.Exec(ctx, `UPDATE `+hist+` SET valid_to = now(), ended = $1 WHERE valid_to IS NULL`, HistoryOff); err != nil {
		return false, -1, false, err
	}
	keyMatch := make([]string, len(t.Key))
	for i, k := range t.Key {
		q := pgx.Identifier{k}.Sanitize()
		keyMatch[i] = "h." + q + " = t." + q
	}
	tcols := make([]string, len(list))
	for i, c := range list {
		tcols[i] = "t." + c
	}
	tag, err := tx.Exec(ctx, `INSERT INTO `+hist+` (`+strings.Join(list, ", ")+`, valid_from, seeded)
		SELECT `+strings.Join(tcols, ", ")+`, greatest(t.synced_at, e.last), true FROM `+src+` AS t
		LEFT JOIN LATERAL (SELECT max(h.valid_to) AS last FROM `+hist+` AS h WHERE `+strings.Join(keyMatch, " AND ")+`) AS e ON true`)
	if err != nil {
		return false, -1, false, fmt.Errorf("seeding: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO exact_sync.history_tables (table_name, enabled) VALUES ($1, true)
		ON CONFLICT (table_name) DO UPDATE SET enabled = true, enabled_at = now(), disabled_at = NULL`, name); err != nil {
		return false, -1, false, err
	}
	return added, tag.RowsAffected(), created, nil
}

// historyTrigger names the trigger functions of table name (schema exact_sync) and the
// triggers, by the statement they follow.
func historyTrigger(name, event string) (function, trigger string) {
	return pgx.Identifier{"exact_sync", "history_" + name + "_" + event}.Sanitize(), "exactsync_history_" + event
}

// historyTriggers (re)writes the trigger functions of table name, whose history has the
// columns cols (quoted), and creates the triggers when create.
func historyTriggers(ctx context.Context, tx pgx.Tx, name string, key, cols []string, create bool) error {
	src := pgx.Identifier{"exact", name}.Sanitize()
	hist := pgx.Identifier{"exact_history", name}.Sanitize()
	list := strings.Join(cols, ", ")
	match := make([]string, len(key))
	for i, k := range key {
		q := pgx.Identifier{k}.Sanitize()
		match[i] = "h." + q + " = o." + q
	}
	closeOpen := `UPDATE ` + hist + ` AS h SET valid_to = now(), ended = %s FROM old_rows AS o WHERE ` + strings.Join(match, " AND ") + ` AND h.valid_to IS NULL;`
	addNew := `INSERT INTO ` + hist + ` (` + list + `) SELECT ` + list + ` FROM new_rows;`
	for _, e := range []struct{ event, body, transition string }{
		{"insert", addNew, "NEW TABLE AS new_rows"},
		{"update", fmt.Sprintf(closeOpen, "'changed'") + "\n" + addNew, "OLD TABLE AS old_rows NEW TABLE AS new_rows"},
		{"delete", fmt.Sprintf(closeOpen, `coalesce(nullif(current_setting('`+historyEndedSetting+`', true), ''), 'deleted')`), "OLD TABLE AS old_rows"},
	} {
		fn, trig := historyTrigger(name, e.event)
		if _, err := tx.Exec(ctx, `CREATE OR REPLACE FUNCTION `+fn+`() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $f$
BEGIN
`+e.body+`
RETURN NULL;
END
$f$`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `REVOKE ALL ON FUNCTION `+fn+`() FROM PUBLIC`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `COMMENT ON FUNCTION `+fn+`() IS 'Writes the `+e.event+`s of `+src+` into `+hist+` (the trigger `+trig+`).'`); err != nil {
			return err
		}
		if create {
			if _, err := tx.Exec(ctx, `CREATE OR REPLACE TRIGGER `+trig+` AFTER `+strings.ToUpper(e.event)+` ON `+src+`
REFERENCING `+e.transition+` FOR EACH STATEMENT EXECUTE FUNCTION `+fn+`()`); err != nil {
				return err
			}
		}
	}
	return nil
}

// stopHistory turns the history of table name off: its triggers are dropped, its open
// versions end (HistoryOff), the table stays.
func stopHistory(ctx context.Context, tx pgx.Tx, name string) error {
	src := pgx.Identifier{"exact", name}.Sanitize()
	for _, event := range []string{"insert", "update", "delete"} {
		_, trig := historyTrigger(name, event)
		if _, err := tx.Exec(ctx, `DROP TRIGGER IF EXISTS `+trig+` ON `+src); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE `+pgx.Identifier{"exact_history", name}.Sanitize()+` SET valid_to = now(), ended = $1 WHERE valid_to IS NULL`, HistoryOff); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `UPDATE exact_sync.history_tables SET enabled = false, disabled_at = now() WHERE table_name = $1`, name)
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
