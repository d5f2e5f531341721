// Package sync runs one synchronisation job: one entity of one division of
// one Exact Online connection, copied into PostgreSQL.
//
// A job is a self-contained unit (connection, division, entity) that any
// worker can pick up. A run takes the division lock, reads the entity's
// cursor, pages through Exact's sync endpoint from that cursor (fetching the
// next pages, and converting their records to typed rows, while a write
// runs) and hands the rows to the store (a Writer), which writes rows, removals and the
// new cursor in one transaction. A write takes one page, or, when the writer
// is the slower side, every page already waiting, up to [Config.BatchPages]
// pages and [Config.BatchBytes] of records. A full
// pass over a division that holds rows then removes the rows it did not see
// (a sweep, see Writer.StartSweep); an entity last synced successfully more
// than [DeletionLogSafeAge] ago gets a full pass, because Exact's deletion
// log no longer reaches back that far. Every enabled entity read from the same
// endpoint is written by the same run (accounts and suppliers share
// sync/CRM/Accounts). Deletions have a job of their own, [DeletionsJob]: one
// read of the division's sync/Deleted stream from its own cursor, each
// deletion routed by its EntityType to the table of its entity, if enabled.
// Each run records its result.
//
// A job of the queue runs in turns: under [WithTurn], a run stops after a committed
// write once its turn has ended and returns [ErrTurnEnded], and the next run of the job
// goes on from the committed cursor. A full pass goes on too: a later attempt of the job
// whose earlier attempt started the pass and committed pages of it reads on from the
// cursor, recording the keys of the sweep, instead of starting over.
//
// Guarantees:
//
//   - At least once, idempotent: a write's rows, removals and cursor commit
//     together, so a crash at any point loses nothing and a rerun converges.
//     Replaying a page changes nothing, and an older version of a record
//     (lower Exact Timestamp) never overwrites a newer one.
//   - Memory is flat: at most 2 × BatchPages + 1 pages, and about
//     2 × BatchBytes of records, are held at any time, whatever the number of
//     records.
//   - Entities are data (package exact/catalogue): adding one is an entry of
//     its data file and a migration for its table, not a new code path.
//
// What it does not do: HTTP details (package exact), SQL (package sink, which it never
// imports: it declares the store's roles it needs, Writer, History, Locker and
// TokenRows, in the terms of package dest) and scheduling (package worker).
//
// A citation such as §3.10 in its comments names a section of docs/exact-online.md, the
// project's reference of Exact Online.
package sync
