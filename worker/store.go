package worker

import (
	"context"
	"time"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/internal/divisions"
)

// Store is what the worker asks of the database besides River's queue: the
// connections, their divisions and tokens, the run history and the division locks. It is
// made of the roles below; the PostgreSQL store (package sink) implements it.
type Store interface {
	ConnectionLister
	divisions.Store
	TokenLoader
	RunHistory
	LockWatcher
}

// ConnectionLister lists the stored connections.
type ConnectionLister interface {
	Connections(ctx context.Context) ([]dest.Connection, error)
}

// TokenLoader reads a connection's stored token pair (the keep-alive looks at its age).
type TokenLoader interface {
	LoadToken(ctx context.Context, connID int64) (dest.Token, error)
}

// RunHistory is what the worker reads and prunes of the run history.
type RunHistory interface {
	// LastRun is the latest run of an entity in a division; its ID is 0 when there is
	// none.
	LastRun(ctx context.Context, connID int64, division int, entity string) (dest.RunRecord, error)
	// PruneRuns deletes the runs that started before cutoff, but the newest successful
	// run of each entity in each division, and returns how many it deleted.
	PruneRuns(ctx context.Context, cutoff time.Time) (int, error)
}

// LockWatcher tells which divisions of a connection some process holds locked.
type LockWatcher interface {
	HeldDivisionLocks(ctx context.Context, connID int64) (map[int]bool, error)
}

// WebhookStore is what a WebhookTrigger asks of the database: the connections, their
// divisions and rate limits, the claim of a webhook-triggered run and the record of
// the deliveries. The PostgreSQL store (package sink) implements it.
type WebhookStore interface {
	ConnectionLister
	Divisions(ctx context.Context, connID int64) ([]dest.Division, error)
	RateLimits(ctx context.Context, connID int64) (map[int]dest.RateLimit, error)
	WebhookClaimer
	RecordWebhookDeliveries(ctx context.Context, seen []dest.WebhookDelivery) error
}

// WebhookClaimer bounds the webhook-triggered runs of an entity in a division across
// every process: ClaimWebhookRun records a claim unless one is less than every old, and
// then returns false and when the next may be, on the database's clock.
type WebhookClaimer interface {
	ClaimWebhookRun(ctx context.Context, connID int64, division int, entity string, every time.Duration) (bool, time.Time, error)
}
