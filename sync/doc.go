// Package sync runs one synchronisation job: one entity of one division of
// one Exact Online connection, copied into PostgreSQL.
//
// A job is a self-contained unit (connection, division, entity) that any
// worker can pick up. A run takes the division lock, reads the entity's
// cursor, pages through Exact's sync endpoint from that cursor (fetching page
// n+1 while page n is written), converts each record to a typed row and
// hands the page to the sink, which writes rows, removals and the new cursor
// in one transaction. After the records it applies deletions from
// sync/Deleted the same way, and finally records the run's result.
//
// Guarantees:
//
//   - At least once, idempotent: a page's rows, removals and cursor commit
//     together, so a crash at any point loses nothing and a rerun converges.
//     Replaying a page changes nothing, and an older version of a record
//     (lower Exact Timestamp) never overwrites a newer one.
//   - Memory is flat: at most two pages are held at any time.
//   - Entities are data (see [Catalogue]): adding one is an [Entity] entry and
//     a migration for its table, not a new code path.
//
// What it does not do: HTTP details (package exact), SQL (package sink) and
// scheduling (the exactsync command).
package sync
