package sync

import (
	"context"
	"errors"
)

// ErrTurnEnded is returned by a run whose turn ended (see WithTurn): it stopped after a
// committed write, and the next run of its job goes on from the committed cursor. The
// run is recorded canceled.
var ErrTurnEnded = errors.New("the run's turn ended; its job goes on from the committed cursor")

type turnKey struct{}

// WithTurn returns ctx with a turn that ends when end is closed: a run under it stops
// after its next committed write and returns ErrTurnEnded, instead of being cut in the
// middle of a call as a cancellation of ctx would. The queue's worker so bounds how long
// a job runs at a time without wasting a call. A run that reads an entity in full each
// time (ReadFull) has no cursor to go on from: it ignores the turn.
func WithTurn(ctx context.Context, end <-chan struct{}) context.Context {
	return context.WithValue(ctx, turnKey{}, end)
}

// turnEnded reports whether the turn of ctx (see WithTurn) has ended.
func turnEnded(ctx context.Context) bool {
	end, _ := ctx.Value(turnKey{}).(<-chan struct{})
	if end == nil {
		return false
	}
	select {
	case <-end:
		return true
	default:
		return false
	}
}

// resumable reports whether a run of the stream can stop after any write and be gone on
// with from its cursors: none of its members is read in full each run.
func (s *stream) resumable() bool {
	for _, m := range s.members {
		if m.e != nil && m.e.Read == ReadFull {
			return false
		}
	}
	return true
}
