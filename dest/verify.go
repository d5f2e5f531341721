package dest

import "time"

// Verification statuses (exact_sync.verifications.status).
const (
	// VerifyClean: every comparison of the entity agreed with Exact.
	VerifyClean = "clean"
	// VerifyDrift: a difference persisted after a fresh incremental sync.
	VerifyDrift = "drift"
	// VerifyNoCount: Exact has no count of the entity's population; nothing compared.
	VerifyNoCount = "no_count"
	// VerifySkipped: not verified, to keep the division's day budget out of its reserve.
	VerifySkipped = "skipped"
)

// LedgerKey is one group of the ledger's control totals (docs/exact-online.md §3.16):
// financial year and period, G/L account, cost centre and unit (trimmed codes, "" for
// none), transaction type and status.
type LedgerKey struct {
	Year       int    `json:"year"`
	Period     int    `json:"period"`
	GLAccount  string `json:"gl_account"`
	CostCenter string `json:"cost_center"`
	CostUnit   string `json:"cost_unit"`
	Type       int    `json:"type"`
	Status     int    `json:"status"`
}

// LedgerGroup is one group's totals: how many lines and the exact sum of their AmountDC,
// as decimal text.
type LedgerGroup struct {
	LedgerKey
	Count  int64
	Amount string
}

// Difference is one finding of a verification: a count that differs (Kind "count"), or a
// ledger group whose count or amount differs or that one side lacks (Kind "ledger").
type Difference struct {
	Kind string `json:"kind"`
	// Exact and Local are the counts of Kind "count".
	Exact int64 `json:"exact,omitempty"`
	Local int64 `json:"local,omitempty"`
	// The ledger group of Kind "ledger", and its two sides: counts and amounts (decimal
	// text, "0" for a side without the group).
	*LedgerKey
	ExactCount  int64  `json:"exact_count,omitempty"`
	LocalCount  int64  `json:"local_count,omitempty"`
	ExactAmount string `json:"exact_amount,omitempty"`
	LocalAmount string `json:"local_amount,omitempty"`
}

// Verification is one entity of one division verified: a row of exact_sync.verifications.
type Verification struct {
	ConnectionID int64
	Division     int
	Entity       string
	Started      time.Time
	Finished     time.Time
	Status       string // VerifyClean, …
	// ExactCount is Exact's count, -1 when none; LocalCount the rows stored.
	ExactCount, LocalCount int64
	Groups                 int // ledger groups compared (transaction_lines)
	Differences            []Difference
	Resynced               bool   // compared again after a fresh incremental sync
	Repair                 string // what the repair did: "since 2026-01-01", "full", "id_set", "id_fetch", ""
	Calls                  int    // API calls of the comparisons
	Note                   string
}
