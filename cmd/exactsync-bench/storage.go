package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/exact/exacttest"
	"github.com/exactsync/exactsync/internal/benchdb"
	"github.com/exactsync/exactsync/sync"
)

// The raw modes the storage benchmark compares: raw kept and compressed with pglz (the
// server's default) or lz4 (migration 00018), raw=extra and raw=off (both under lz4).
var storageModes = []string{"pglz", "lz4", "extra", "off"}

// indexedMode is lz4 on a table as it was before migration 00018 set it up for HOT
// updates: its synced_at index back, default fillfactor, no change log. The update
// cycles compare it with lz4 (the table as migrated).
const indexedMode = "lz4-indexed"

// storageResult is one full sync of one entity in one raw mode.
type storageResult struct {
	Mode, Entity string
	Records      int
	Seconds      float64
	TableBytes   int64   // pg_total_relation_size: heap, TOAST and indexes
	RawBytes     float64 // average pg_column_size(raw): raw as stored, compressed
	Received     float64 // average octet_length(exact.received(t)::text)

	// Over the update cycles, when asked: pg_stat_user_tables' counts and the heap.
	Updated, HOT, Dead int64
	HeapBefore         int64
	HeapAfter          int64
}

func (r storageResult) RecordsPerSecond() float64 { return float64(r.Records) / r.Seconds }

// runStorage runs rounds of the storage benchmark: for each entity and raw mode, a full
// sync from the simulator into a fresh database, then, for transaction lines with cycles
// above 0, that many incremental runs each after 1 % of the lines changed in the
// simulator. The modes run in a rotated order each round.
func (c *benchCmd) runStorage(e *env, base string) error {
	out := e.stdout
	sizes := map[string]int{"transaction_lines": c.StorageLines, "accounts": c.StorageAccounts}
	var results []storageResult
	for round := range c.Rounds {
		for _, entity := range []string{"transaction_lines", "accounts"} {
			if sizes[entity] == 0 {
				continue
			}
			modes := storageModes
			if entity == "transaction_lines" && c.StorageCycles > 0 {
				modes = append(slices.Clone(modes), indexedMode)
			}
			for i := range modes {
				mode := modes[(i+round)%len(modes)]
				cycles := 0
				if entity == "transaction_lines" && (mode == "lz4" || mode == indexedMode) {
					cycles = c.StorageCycles
				}
				r, err := benchStorage(e.ctx, base, entity, mode, sizes[entity], cycles)
				if err != nil {
					return fmt.Errorf("storage benchmark, %s with raw %s: %w", entity, mode, err)
				}
				r.Mode = fmt.Sprintf("%d %s", round+1, mode)
				results = append(results, r)
				// Each result as it comes, in full: a later failure loses only its own.
				fmt.Fprintf(e.stderr, "storage: round %d %s %s: %.0f records/s, %.0f B a row, raw %.0f B stored, received %.0f B; updates %d, HOT %d, dead %d, heap %d -> %d\n",
					round+1, entity, mode, r.RecordsPerSecond(), float64(r.TableBytes)/float64(max(r.Records, 1)), r.RawBytes, r.Received,
					r.Updated, r.HOT, r.Dead, r.HeapBefore, r.HeapAfter)
			}
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(out, "STORAGE: full sync of one division from the simulator (served over HTTP in the same process) into a fresh database, per raw mode; load average %s", load)
	fmt.Fprintln(out, "  pglz, lz4: raw kept (EXACTSYNC_RAW=on) with that compression; extra, off: EXACTSYNC_RAW=extra or off, lz4")
	fmt.Fprintln(out, "  lz4-indexed: lz4 on the table as before migration 00018 (synced_at indexed, fillfactor 100, no change log)")
	fmt.Fprintln(out, "  updates, HOT, dead: over the update cycles, each after 1 % of the lines changed, from pg_stat_user_tables")
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "round mode\tentity\trecords\trecords/s\ttable B/row\traw B/row (stored)\treceived B/row\tupdates\tHOT\tdead\theap growth\t")
	for _, r := range results {
		upd := "\t\t\t"
		if r.Updated > 0 {
			upd = fmt.Sprintf("%d\t%d\t%d\t%+.1f %%", r.Updated, r.HOT, r.Dead, 100*float64(r.HeapAfter-r.HeapBefore)/float64(max(r.HeapBefore, 1)))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.0f\t%.0f\t%.0f\t%.0f\t%s\t\n", r.Mode, r.Entity, r.Records, r.RecordsPerSecond(),
			float64(r.TableBytes)/float64(max(r.Records, 1)), r.RawBytes, r.Received, upd)
	}
	return tw.Flush()
}

// benchStorage is one full sync of entity with n records in raw mode mode, and cycles
// update cycles after it.
func benchStorage(ctx context.Context, base, entity, mode string, n, cycles int) (storageResult, error) {
	res := storageResult{Entity: entity}
	log := zerolog.New(os.Stderr).Level(zerolog.WarnLevel).With().Timestamp().Logger()
	opts := exacttest.Options{Divisions: []int{101}, Seed: 1}
	if entity == "accounts" {
		opts.Accounts = n
	} else {
		opts.Records = map[string]int{entity: n}
	}
	sim := exacttest.NewServer(opts)
	defer sim.Close()
	e, err := sync.Lookup(entity)
	if err != nil {
		return res, err
	}
	err = withBenchStore(ctx, base, "storage", log, func(db *benchdb.DB) error {
		st := db.Store
		w := &benchWorld{sim: sim, st: st, log: log, divs: []int{101}}
		if err := w.connect(ctx); err != nil {
			return err
		}
		client, err := w.client(nil, nil, nil)
		if err != nil {
			return err
		}
		if mode == indexedMode {
			if _, err := db.Pool.Exec(ctx, `CREATE INDEX ON `+e.Table+` (synced_at); ALTER TABLE `+e.Table+` RESET (fillfactor);
				DROP TRIGGER IF EXISTS exactsync_inserted ON `+e.Table+`; DROP TRIGGER IF EXISTS exactsync_updated ON `+e.Table); err != nil {
				return err
			}
		}
		if mode == "pglz" {
			if _, err := db.Pool.Exec(ctx, `ALTER TABLE `+e.Table+` ALTER COLUMN raw SET COMPRESSION pglz`); err != nil {
				return err
			}
		}
		cfg := sync.Config{Logger: log, WaitForLock: true, Enabled: []string{entity}, OmitRaw: mode == "off", RawExtra: mode == "extra"}
		runner := sync.NewRunner(cfg, st, st, st)
		start := time.Now()
		for _, job := range runner.Jobs(w.conn.ID, 101, true) {
			r, err := runner.Run(ctx, client, job)
			if err != nil {
				return err
			}
			res.Records += r.Upserted
		}
		res.Seconds = time.Since(start).Seconds()
		if _, err := db.Pool.Exec(ctx, `VACUUM ANALYZE `+e.Table); err != nil {
			return err
		}
		err = db.Pool.QueryRow(ctx, `SELECT pg_total_relation_size($1::regclass), avg(pg_column_size(raw)), avg(octet_length(exact.received(t)::text)) FROM `+e.Table+` t`,
			e.Table).Scan(&res.TableBytes, &res.RawBytes, &res.Received)
		if err != nil || cycles == 0 {
			return err
		}
		return updateCycles(ctx, db, sim.Simulator, runner, client, w.conn.ID, e, cycles, &res)
	})
	return res, err
}

// updateCycles changes 1 % of the entity's records in the simulator, runs the incremental
// sync, cycles times, and reads what PostgreSQL's statistics say of the updates.
func updateCycles(ctx context.Context, db *benchdb.DB, sim *exacttest.Simulator, runner *sync.Runner, client sync.Source, connID int64, e sync.Entity, cycles int, res *storageResult) error {
	// The writers' sessions report their counts to the statistics within a second or so
	// of their transactions: stats waits until they add up to want updates (30 s at most).
	stats := func(want int64) (upd, hot, dead, heap int64, err error) {
		for deadline := time.Now().Add(30 * time.Second); ; {
			err = db.Pool.QueryRow(ctx, `SELECT n_tup_upd, n_tup_hot_upd, n_dead_tup, pg_relation_size(relid) FROM pg_stat_user_tables WHERE relid = $1::regclass`,
				e.Table).Scan(&upd, &hot, &dead, &heap)
			if err != nil || upd >= want || time.Now().After(deadline) {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	upd0, hot0, _, heap0, err := stats(0)
	if err != nil {
		return err
	}
	res.HeapBefore = heap0
	var total int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM `+e.Table).Scan(&total); err != nil {
		return err
	}
	var upserted int64
	for cycle := range cycles {
		rows, err := db.Pool.Query(ctx, `SELECT `+e.KeyColumn+`::text FROM `+e.Table+` ORDER BY random() LIMIT $1`, max(total/100, 1))
		if err != nil {
			return err
		}
		var recs []map[string]any
		for rows.Next() {
			var key string
			if err := rows.Scan(&key); err != nil {
				return err
			}
			recs = append(recs, map[string]any{e.Key: key, "Description": fmt.Sprintf("changed in cycle %d", cycle+1)})
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if _, err := sim.UpsertRecords(e.Name, 101, recs...); err != nil {
			return err
		}
		r, err := runner.Run(ctx, client, sync.Job{ConnectionID: connID, Division: 101, Entity: e.Name})
		if err != nil {
			return err
		}
		if r.Upserted != len(recs) {
			return fmt.Errorf("cycle %d: %d rows upserted, want %d", cycle+1, r.Upserted, len(recs))
		}
		upserted += int64(r.Upserted)
	}
	upd, hot, dead, heap, err := stats(upd0 + upserted)
	res.Updated, res.HOT, res.Dead, res.HeapAfter = upd-upd0, hot-hot0, dead, heap
	return err
}
