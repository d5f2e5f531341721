// Package dest is the vocabulary of exactsync's write path: what a run hands the
// destination (a Batch of rows for a Table, with its Cursor, Removals, Rejects and
// Releases), what it records there (a Run and its RunResult) and the state every process
// shares through it (a connection's Token, the RateLimit last seen, the DivisionLock that
// fences writes, the Division list).
//
// It holds data types and the conditions callers branch on (ErrLockLost, DataError), and
// nothing else: no database driver, no I/O. Package sink implements the destination on
// PostgreSQL; packages sync, worker, webhook, internal/metrics and internal/divisions
// declare the small interfaces they need in these terms, so that their logic is tested
// with in-memory fakes and a second destination needs no change to them.
package dest
