package dest

import "time"

// Cursor is where the next incremental run of an entity in a division starts.
// The zero Cursor means "from the start".
type Cursor struct {
	Timestamp        int64     // Exact row version of the last record written
	DeletedTimestamp int64     // row version in the deletion log
	LastFullAt       time.Time // when the last full run completed; zero = never
	// Sweep is set while a full pass reconciles the division (a sweep): the keys of its
	// pages are recorded, and the end of the sweep removes the rows it did not see.
	Sweep bool
}
