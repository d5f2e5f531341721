package sink

import (
	"context"
	"fmt"
	"time"
)

// ChangeLogRetention is how long exact_sync.changes keeps an entry (migration 00018):
// long enough for an application that polls "what changed" to be down a few days.
const ChangeLogRetention = 7 * 24 * time.Hour

// pruneChanges deletes the change log's entries older than ChangeLogRetention and
// returns how many.
func (s *Store) pruneChanges(ctx context.Context) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM exact_sync.changes WHERE changed_at < now() - $1::interval`, ChangeLogRetention)
	if err != nil {
		return 0, fmt.Errorf("pruning the change log: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
