package dest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"
)

// Table describes a target table of a write. The destination knows nothing else about
// it: the table must exist, have a unique constraint on Key, a synced_at timestamptz
// column (set by the destination, not listed in Columns), and Columns must name Key and
// VersionColumn.
type Table struct {
	Name          string   // schema-qualified, e.g. "exact.accounts"
	Columns       []string // every column written, in Rows order
	Key           []string // conflict key, e.g. "division", "id"
	VersionColumn string   // monotonic row version, e.g. "exact_timestamp"
}

// Removal asks a write to delete one row when its stored version is <= Version.
// Division and ID match the first and second Key column of the table. The write records
// the row it deletes in the deletions trail, with Cause and, when Exact told them,
// DeletedAt and DeletedBy; the row's history, when it has one, ends with Cause.
type Removal struct {
	Division int
	ID       string
	Version  int64
	// Cause says why the row goes, for a person: CauseDeleted, or why the record no
	// longer belongs to the table ("no longer a supplier"); "" is CauseDeleted.
	Cause string
	// DeletedAt and DeletedBy are Exact's date and user of the deletion (sync/Deleted's
	// DeletedDate and DeletedBy, §3.12); zero and "" when unknown.
	DeletedAt time.Time
	DeletedBy string
}

// Causes of a removal that the destination records (Removal.Cause, and the sweep's).
const (
	// CauseDeleted is a deletion Exact reported (sync/Deleted).
	CauseDeleted = "deleted in Exact"
	// CauseNotSeen is a row a full pass did not see: Exact forgot its deletion, or the
	// record left the endpoint.
	CauseNotSeen = "not seen by a full pass"
	// CauseConnectionRemoved is a row deleted with its connection (auth remove
	// --delete-rows).
	CauseConnectionRemoved = "connection removed"
	// CauseNotInExact is a row a verification found Exact no longer has.
	CauseNotInExact = "not in Exact at a verification"
)

// Batch is what one transaction writes: the rows and removals of one page, or of several
// consecutive pages, and the cursor that follows the last of them.
type Batch struct {
	Table    Table
	Rows     [][]any // values in Table.Columns order (int32, int, int64, string, bool, time.Time, []byte JSON, nil, …)
	Removals []Removal

	// The cursor of (ConnectionID, Division, Entity) is set to Cursor in the same
	// transaction. An empty Entity, or NoCursor, writes no cursor.
	ConnectionID int64
	Division     int
	Entity       string
	Cursor       Cursor
	// NoCursor leaves the entity's cursor alone: the batch's Entity only names the
	// quarantine of its Released (removals routed from another stream, say).
	NoCursor bool

	// Rejects are records of the batch's pages that could not be decoded or stored:
	// they go to the quarantine (exact_sync.rejected_records) under (ConnectionID,
	// Division, Entity).
	Rejects []Reject
	// Released are quarantined records that this batch holds in good shape, or that
	// were deleted: their quarantine rows are removed.
	Released []Release

	// Fence, when not zero, is the fencing token of the run's division lock
	// (DivisionLock.Fence): the write fails with ErrLockLost if another worker has taken
	// the division since.
	Fence int64
}

// BatchResult counts what the write of a Batch changed.
type BatchResult struct {
	Upserted int // rows inserted or changed; rows already stored at the same or a newer version are not counted
	Removed  int // rows deleted
}

// Reject is a record that could not be decoded or stored: the write of its Batch puts it
// in quarantine (exact_sync.rejected_records) in the batch's transaction, so the rest of
// its page and the cursor move on without it.
type Reject struct {
	// Key is the record's key when it could be read (a canonical GUID for the entities
	// exactsync knows), else "".
	Key string
	// Timestamp is Exact's row version when it could be read; HasTimestamp says so.
	Timestamp    int64
	HasTimestamp bool
	Reason       string // what is wrong, for a person
	Record       []byte // the record's bytes as received
}

// Ref is how the quarantine identifies r: its key, or the hash of its bytes when the
// key is unreadable.
func (r Reject) Ref() string {
	if r.Key != "" {
		return r.Key
	}
	sum := sha256.Sum256(r.Record)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Release asks a write to take a record out of quarantine: its version Version arrived
// in good shape, or was deleted. A reject of the same ref in the same batch stays only
// if its Timestamp is newer.
type Release struct {
	Ref     string
	Version int64
}

// ErrLockLost reports that a write's fencing token is no longer the division's: another
// worker took the division lock after this run's lock was lost (its database session
// ended). The run must stop; the other worker carries on.
var ErrLockLost = errors.New("the division lock was lost to another worker")

// DataError is a write the destination refused for a value it holds (in PostgreSQL,
// SQLSTATE class 22, data exception: text with NUL, invalid JSON for jsonb, a number out
// of range): a problem of the data written, not of the destination. The write changed
// nothing, and the same rows without the offending one may be written.
type DataError struct {
	// Reason is the destination's own words about the value, for a person, without
	// the callers' wrapping: for PostgreSQL, its message and SQLSTATE.
	Reason string
	Err    error
}

// Error returns the destination's error text.
func (e *DataError) Error() string { return e.Err.Error() }

// Unwrap returns the destination's error.
func (e *DataError) Unwrap() error { return e.Err }

// IsDataError reports whether err is, or wraps, a *DataError.
func IsDataError(err error) bool {
	var d *DataError
	return errors.As(err, &d)
}
