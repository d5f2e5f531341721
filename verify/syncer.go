package verify

import (
	"context"

	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/sync"
)

// RunnerSyncer is the Syncer of a sync.Runner: the entity's job, then the division's
// deletions job, run here through Source.
type RunnerSyncer struct {
	Runner       *sync.Runner
	Source       sync.Source
	ConnectionID int64
	// Done, when set, is told each run's result (the command prints them).
	Done func(sync.Result)
}

// Sync runs entity of division as pass says, then the division's deletions.
func (s RunnerSyncer) Sync(ctx context.Context, division int, entity string, pass Pass) error {
	for _, name := range []string{entity, sync.DeletionsJob} {
		job := sync.Job{ConnectionID: s.ConnectionID, Division: division, Entity: name}
		if name != sync.DeletionsJob {
			job.Full, job.Since = pass.Full, pass.Since
		}
		res, err := s.Runner.Run(ctx, s.Source, job)
		if s.Done != nil {
			s.Done(res)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// WriteRecords writes records of entity of division read by key (sync.Runner.WriteRecords).
func (s RunnerSyncer) WriteRecords(ctx context.Context, division int, entity string, recs []exact.Record) (sync.Written, error) {
	return s.Runner.WriteRecords(ctx, s.ConnectionID, division, entity, recs)
}
