package sink

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/exactsync/exactsync/dest"
)

// NotifyChannel is the PostgreSQL channel on which every committed write of an entity's
// table is announced (LISTEN exactsync), with a Notification as JSON payload.
const NotifyChannel = "exactsync"

// Notification is the payload of a notification on NotifyChannel, sent with
// pg_notify in the write's own transaction, so it is delivered when the write commits
// and never for a write that rolled back. A write sends one per entity table it wrote:
// a batch of accounts and suppliers read in one call sends two. WriteBatches sends them
// for the batches with an Entity and a Table that store the entity's cursor or changed a
// row (removals routed from the deletions job store no cursor: they are announced only
// when they removed a row); FinishSweep sends one for the end of a full pass. A write
// that stored a cursor but changed no row (a replayed page) sends one with zero counts.
//
// For example: {"connection":1,"division":101,"entity":"accounts","upserted":1000,"removed":0,"cursor":12345}
type Notification struct {
	Connection int64  `json:"connection"` // exact_sync.connections.id
	Division   int    `json:"division"`
	Entity     string `json:"entity"`   // the entity's name: its table in schema exact
	Upserted   int    `json:"upserted"` // rows inserted or changed (BatchResult.Upserted)
	Removed    int    `json:"removed"`  // rows deleted
	// Cursor is the entity's cursor_timestamp in exact_sync.cursors as the write left it:
	// Exact's row version of the last record read (for entities read by Modified, its
	// time in milliseconds). Removals that the deletions job routes to an entity leave
	// its cursor as it was.
	Cursor int64 `json:"cursor"`
}

// notifyKey names the notification of one entity in one write.
type notifyKey struct {
	conn     int64
	division int
	entity   string
}

// notifications are the notifications of the committed write of bs, whose results are
// out: one per (connection, division, entity) of the batches with an Entity and a Table,
// in the order of the batches, leaving out those that neither stored a cursor nor
// changed a row. known[i] is false when the write stored no cursor for notification i
// (removals routed from another stream), whose Cursor must then be read.
func notifications(bs []dest.Batch, out []dest.BatchResult) (ns []Notification, known []bool) {
	index := map[notifyKey]int{}
	for i, b := range bs {
		if b.Entity == "" || b.Table.Name == "" {
			continue
		}
		k := notifyKey{b.ConnectionID, b.Division, b.Entity}
		j, ok := index[k]
		if !ok {
			j = len(ns)
			index[k] = j
			ns = append(ns, Notification{Connection: b.ConnectionID, Division: b.Division, Entity: b.Entity})
			known = append(known, false)
		}
		ns[j].Upserted += out[i].Upserted
		ns[j].Removed += out[i].Removed
		if !b.NoCursor {
			ns[j].Cursor, known[j] = b.Cursor.Timestamp, true
		}
	}
	keep := 0
	for j, n := range ns {
		if known[j] || n.Upserted > 0 || n.Removed > 0 {
			ns[keep], known[keep] = n, known[j]
			keep++
		}
	}
	return ns[:keep], known[:keep]
}

// notify sends ns on NotifyChannel in tx: PostgreSQL delivers them when tx commits, in
// this order, and drops them if it rolls back. The Cursor of a notification that is not
// known is read from exact_sync.cursors (0 when the entity has none).
func notify(ctx context.Context, tx pgx.Tx, ns []Notification, known []bool) error {
	if len(ns) == 0 {
		return nil
	}
	for i := range ns {
		if known[i] {
			continue
		}
		n := &ns[i]
		err := tx.QueryRow(ctx, `SELECT COALESCE(max(cursor_timestamp), 0) FROM exact_sync.cursors
			WHERE connection_id = $1 AND division = $2 AND entity = $3`, n.Connection, n.Division, n.Entity).Scan(&n.Cursor)
		if err != nil {
			return fmt.Errorf("reading the %s cursor for its notification: %w", n.Entity, err)
		}
	}
	payloads := make([]string, len(ns))
	for i, n := range ns {
		b, err := json.Marshal(n)
		if err != nil {
			return err
		}
		payloads[i] = string(b) // a few hundred bytes at most: PostgreSQL's limit is 8000
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`,
		NotifyChannel, payloads); err != nil {
		return fmt.Errorf("sending %d notifications on %s: %w", len(ns), NotifyChannel, err)
	}
	return nil
}
