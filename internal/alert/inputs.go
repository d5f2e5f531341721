package alert

import (
	"context"
	"time"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/sink"
)

// StateReader is what StoreInputs reads (package sink's Store).
type StateReader interface {
	Connections(ctx context.Context) ([]dest.Connection, error)
	SyncStates(ctx context.Context) ([]sink.SyncState, error)
}

// StoreInputs returns a Config.Inputs that reads the connections and the run history of
// st, with the schedule intervals of the scheduled entities and now's clock.
func StoreInputs(st StateReader, intervals map[string]time.Duration, now func() time.Time) func(context.Context) (Inputs, error) {
	return func(ctx context.Context) (Inputs, error) {
		conns, err := st.Connections(ctx)
		if err != nil {
			return Inputs{}, err
		}
		states, err := st.SyncStates(ctx)
		if err != nil {
			return Inputs{}, err
		}
		in := Inputs{Now: now(), Connections: conns, Intervals: intervals}
		for _, s := range states {
			if s.LastRun.ID == 0 {
				continue
			}
			in.Entities = append(in.Entities, Entity{ConnectionID: s.ConnectionID, Division: s.Division, Entity: s.Entity,
				LastStatus: s.LastRun.Result.Status, LastError: s.LastRun.Result.Err, LastSuccess: s.LastSuccess})
		}
		return in, nil
	}
}
