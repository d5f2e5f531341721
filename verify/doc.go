// Package verify compares exactsync's copy of a division with Exact Online and repairs
// what differs: the question an accountant asks first, whether the copy is complete.
//
// For each enabled entity it compares the rows stored with Exact's count of the same
// population: the entity's regular endpoint with $inlinecount=allpages and the filter that
// defines its table (suppliers: IsSupplier eq true), docs/exact-online.md §3.16. An entity
// Exact names no regular endpoint for, or whose count Exact refuses, is reported as having
// no count (dest.VerifyNoCount), never guessed. For transaction_lines it also compares the
// ledger's control totals: financial/ReportingBalance, added up per group (financial year
// and period, G/L account, cost centre, cost unit, type, status), against the stored lines
// grouped the same way: the count exactly, the amount to the cent; a group on one side only
// is a finding. That mapping is our inference (§3.16), stated in the README.
//
// No false alarms: Exact changes while it is compared. A first comparison that differs is
// followed by a fresh incremental sync of the entity (and the division's deletions) and a
// second comparison; only a difference that persists is drift (dest.VerifyDrift).
//
// Repair (Options.Repair): rows extra by the count are looked up by an ID-set comparison
// (the entity's bulk endpoint, $select of its key, 1,000 a call, §3.13) and the rows Exact
// no longer has are removed (deletions older than Exact's two-month log, §3.12); other drift
// is re-read: from the last clean verification's time where there is one (sync.Job.Since,
// which asks read/sync/Sync/SyncTimestamp, §3.10), else, or when that did not help, a full
// pass. Rows still missing after a full pass are records Exact counts that its sync
// endpoint never serves: the same ID-set comparison finds the keys the copy lacks, the
// records are read by key from the bulk endpoint with the catalogue's fields ($filter of
// "ID eq guid'…' or …" within Exact's 6,000-character URL limit, §2.6) and written
// through the sync's write path (Syncer.WriteRecords: the same conversion and
// quarantine) at version 0, which the sync endpoint's next version replaces; the
// repair is recorded as "id_fetch". Then the entity is verified again.
//
// Budget: a verification costs one call per entity with a count, plus the ReportingBalance
// pages (Calls). An entity whose comparison would take the division's day below the
// reserve the syncs keep (sync.BudgetReserve) is skipped and recorded so
// (dest.VerifySkipped). A repair's reads of the bulk endpoint (the keys, 1,000 a call; the
// records by key) are made only while they leave that reserve whole; otherwise the drift
// stays reported, with a note that the read by key waits.
//
// The package holds Exact through Source, the store through Store and the syncs through
// Syncer, its own small interfaces; it imports neither sink nor pgx.
//
// A citation such as §3.16 in its comments names a section of docs/exact-online.md, the
// project's reference of Exact Online.
package verify
