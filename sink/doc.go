// Package sink is exactsync's PostgreSQL side: the connection pool, the schema migrations
// (applied from package migrations), the rows of the exact schema that downstream
// applications read, the reader roles they read them with, and exactsync's own state in
// the exact_sync schema: connections and their tokens, cursors, division locks, run
// history, rate limits last seen and the alerts notified (SyncAlerts, DeliverAlert).
//
// # Writes
//
// WriteBatch writes one batch (a page, or several consecutive pages) in one transaction,
// and is at-least-once and idempotent:
//
//   - a page's rows, its removals and the cursor that follows it commit in one transaction,
//     so a crash at any point loses nothing and the next run resumes from the last
//     committed cursor;
//   - a replayed page changes nothing (not even synced_at);
//   - an older version never overwrites a newer one, and a removal deletes a row only when
//     the stored version is not newer than the removal's;
//   - within one page, the highest version of a key wins.
//
// A page none of whose keys is stored yet (the first sync of a division, a page of new
// records) is copied (COPY) straight into the target table: it would only insert, so the
// outcome is the upsert's at about the cost of a plain COPY. Any other page is copied into
// a per-session temporary staging table, then merged with INSERT … ON CONFLICT DO UPDATE,
// so memory stays proportional to one page. The sink knows nothing about Exact Online: a
// Table names the target, its columns, key and version column. The staging table is
// created once per database session (the session remembers it), and the DISTINCT ON sort
// runs only for pages that hold a key twice. The benchmarks (BENCHMARKS.md) compare
// WriteBatch with a plain COPY of the same rows into an unindexed table, encoded alike by
// a Copier; the remaining gap is the primary-key index, the key probe and, for updates,
// the second pass over the rows and ON CONFLICT's speculative insertion.
//
// Page transactions commit with synchronous_commit off (SET LOCAL): a page's rows,
// removals and cursor are one transaction, so a server crash loses at most whole recent
// pages together with their cursor, never a page without its cursor or the reverse, and
// the next run fetches those pages again. It saves waiting for a WAL flush on every page.
// Token transactions keep the server's setting: a refresh token is single-use.
//
// There are no tombstones: a row removed and later replayed from an older page than the
// removal comes back; callers replay only pages after the committed cursor.
//
// A sweep (StartSweep, WriteBatch with dest.Cursor.Sweep, FinishSweep) reconciles a division
// with a full pass: the keys of the pass's rows are recorded with its pages, and at its end
// the rows of the division it did not see are removed in one transaction.
//
// # History and deletions
//
// Every row a removal or a sweep deletes goes to the deletions trail,
// exact_history.deletions, by the same statement (DELETE … RETURNING into an INSERT):
// its cause (dest.Removal.Cause, dest.CauseNotSeen), Exact's date and user of the
// deletion, and the row as it last was. SetHistory turns on the history of tables of
// exact: the view exact_history.<table>, the table's current rows as the open versions
// and exact_history.<table>_past the ended ones, which statement triggers with transition
// tables on the table write as an update or delete ends them, so the history is written
// by the statement that changes the table, by any process, in its transaction, and a row
// is stored once however many versions it has (history.go). PruneDeletions applies the
// trail's retention.
//
// # Notifications
//
// Every committed write of an entity's table (WriteBatches, FinishSweep) is announced on
// the channel NotifyChannel ("exactsync") with pg_notify, in the write's own transaction:
// one Notification per entity written, as JSON, delivered when the write commits and
// never for one that rolls back (a refused fence, a lost connection). A listener learns
// what changed and where the entity's cursor stands, then reads the rows the change log
// (exact_status.changes, migrations 00018 and 00021) lists after the entry it last read:
// the write adds its entries itself, in its transaction (logCopied, and the upsert's
// RETURNING), one per division and kind (inserted, changed).
// PostgreSQL serializes the commits of notifying transactions for a moment; with the
// pages' asynchronous commit that costs little.
//
// # Tokens
//
// UpdateToken serializes token refreshes of one connection across processes with a row
// lock (SELECT … FOR UPDATE under a lock timeout) and stores a refreshed pair before
// returning it. Because a refresh token is single-use, a pair whose commit fails is kept:
// written at once to a recovery file in Config.StateDir (0600, sealed like the columns)
// and stored again with a capped backoff for Config.TokenStoreWindow; RecoverTokens
// imports the files a process left behind, each only over the refresh token it replaces.
// Before a refresh token is sent, the refresh is announced on the row (dest.PendingRefresh: a
// hash of the token, the client and process sending it, and until when the others wait
// for its pair), committed, so that after an outage the other processes wait for the
// announcer's pair instead of sending the spent token again. The row also carries the
// time before which no process refreshes (after Exact answered one too early) and the
// offset of Exact's clock. Tokens are never logged nor put in error messages.
//
// # Secrets at rest
//
// The access token, the refresh token and the app's client secret of each connection are
// sealed with Config.Keyring (AES-256-GCM, package seal) on every write and opened on
// every read; each value is bound to its connection id and column, so a sealed value
// copied elsewhere does not open. ClaimConnectionUser re-seals what it moves. Without a
// keyring values are stored as plaintext. CheckSecrets opens every stored value, so a
// process without the right key can refuse to start; RotateSecrets re-encrypts plaintext
// and old-key values with the current key in one locking transaction, SealPlaintext the
// plaintext ones. GenerateKey gives a store without a key one: written into the state
// directory and recorded by id in exact_sync.encryption_key under an advisory lock, with
// the plaintext secrets sealed in the same transaction; when the database's secrets need
// another key it returns a *KeyMissingError and changes nothing, so that no two processes
// seal with different keys.
//
// # Readers
//
// Other applications read the exact, exact_history and exact_status schemas as readers: roles in the
// group ReaderGroup that AddReader makes and RemoveReader drops, each limited by
// row-level security to the divisions exact_sync.readers lists for it (migration 00012
// holds the policy and the SQL functions that apply it). Migrate applies the grants and
// policies a migration's new tables need, under the migration lock, and takes back what
// PUBLIC was granted in exact_sync; Access reports who can read the secrets.
//
// # Locks
//
// LockDivision takes a session advisory lock per (connection, division), so two
// replicas never sync the same division at once, and increments the division's fencing
// token with it. Each lock is held on a database session of its own, which nothing but
// the lock's release (or the session's end) lets go of; the sessions of the locks the
// worker's jobs take are kept a few seconds once released, for the next lock (a lock and
// its fence are then one statement on a session that has run it before). Migrate takes
// an advisory lock too, so concurrent processes migrate once.
//
// The sink does not schedule, fetch or decide what to write: package sync does.
//
// # Vocabulary
//
// What the sink is handed and returns (Batch, Table, Cursor, Reject, Run, Token,
// Connection, …) is package dest's, which imports no driver: the packages that use the
// store (sync, worker, internal/divisions, internal/onboard, internal/metrics) declare
// the methods they need as interfaces in those terms, and *Store implements them (the
// command checks it at compile time). A value PostgreSQL refuses (SQLSTATE class 22,
// data exception) comes back from WriteBatch and WriteBatches as a *dest.DataError,
// whose Reason is PostgreSQL's message; a stale fence as dest.ErrLockLost.
//
// A citation such as §3.10 in its comments names a section of docs/exact-online.md, the
// project's reference of Exact Online.
package sink
