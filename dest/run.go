package dest

import "time"

// Run is the start of one run of one entity in one division.
type Run struct {
	ID           int64
	ConnectionID int64
	Division     int
	Entity       string
	Full         bool
	StartedAt    time.Time // zero = now
	// QueueJob is the queue's id of the job the run belongs to; 0 for a run outside the
	// queue. A job that writes several entities has one run of each with its id.
	QueueJob int64
}

// Run statuses.
const (
	RunRunning        = "running"
	RunOK             = "ok"
	RunFailed         = "failed"
	RunDailyLimit     = "daily_limit"
	RunReauthRequired = "reauth_required"
	// RunAbandoned is a run whose process died or was cut off before it could record
	// its end: the start of a job's next run marks its runs still 'running' so, under
	// the division lock.
	RunAbandoned = "abandoned"
	// RunLockLost is a run stopped because its division lock was lost to another
	// worker (see ErrLockLost).
	RunLockLost = "lock_lost"
	// RunCanceled is a run stopped on purpose (SIGINT or SIGTERM): what it committed
	// stays, and the next run continues from its cursor.
	RunCanceled = "canceled"
	// RunRefused is a run Exact answered with an error a retry cannot change (400, 403,
	// 404: a scope the app lacks, a module the company does not have); schedules leave
	// the entity alone in that division for a while (§2.5).
	RunRefused = "refused"
)

// RunResult is how a run ended.
type RunResult struct {
	Upserted, Removed, Pages, APICalls int
	Quarantined                        int // records written to exact_sync.rejected_records
	CursorFrom, CursorTo               int64
	Err                                string
	Status                             string // RunOK, RunFailed, RunDailyLimit, RunReauthRequired, RunLockLost, RunCanceled
}

// RunRecord is a run as stored in exact_sync.runs.
type RunRecord struct {
	Run
	Result     RunResult // Status is RunRunning until the run is finished
	FinishedAt time.Time // zero while running
}

// LastSuccess is when the last successful run of one entity of one division of one
// connection finished, and how long ago that is on the destination's clock.
type LastSuccess struct {
	ConnectionID int64
	Division     int
	Entity       string
	FinishedAt   time.Time
	Age          time.Duration
}
