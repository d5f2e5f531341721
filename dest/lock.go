package dest

import "sync"

// DivisionLock is a held division lock: one worker at a time syncs a (connection,
// division).
type DivisionLock struct {
	// Fence is the lock's fencing token: every taking of the division's lock increments
	// it. Writes given it (Batch.Fence) fail with ErrLockLost once someone else has taken
	// the lock since.
	Fence  int64
	unlock func()
}

// NewDivisionLock returns a lock with the given fence whose Unlock calls unlock once.
func NewDivisionLock(fence int64, unlock func()) *DivisionLock {
	var once sync.Once
	return &DivisionLock{Fence: fence, unlock: func() { once.Do(unlock) }}
}

// Unlock releases the lock; it is idempotent.
func (l *DivisionLock) Unlock() {
	if l != nil && l.unlock != nil {
		l.unlock()
	}
}
