package sync

import (
	"context"
	gosync "sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/sink"
)

// runRecorder is an Observer that keeps the results it is told.
type runRecorder struct {
	mu      gosync.Mutex
	results []Result
}

func (r *runRecorder) RunFinished(res Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.results = append(r.results, res)
}

func TestObserverIsToldEveryRunWithItsEntities(t *testing.T) {
	tests := []struct {
		name       string
		entity     string
		setup      func(src *fakeSource, st *fakeStore)
		wantStatus string
		want       []EntityResult
	}{
		{
			name:   "accounts and suppliers from one read",
			entity: "accounts",
			setup: func(src *fakeSource, st *fakeStore) {
				src.pages[firstURL(src, "accounts", 101, 0)] = page("", account(id1, 3, true), account(id2, 5, false), `{"ID":"not a guid","Timestamp":6}`)
			},
			wantStatus: StatusOK,
			want: []EntityResult{
				{Entity: "accounts", Upserted: 2, Quarantined: 1},
				// The supplier row, and the removal of the account that is not one; the
				// record quarantined as an account is quarantined as a supplier too.
				{Entity: "suppliers", Upserted: 1, Removed: 1, Quarantined: 1},
			},
		},
		{
			name:   "deletions count against the entities they remove from",
			entity: DeletionsJob,
			setup: func(src *fakeSource, st *fakeStore) {
				st.cursors = map[string]sink.Cursor{DeletionsJob: {Timestamp: 40}}
				src.pages[deletedURL(src, 101, 40)] = page("",
					`{"EntityKey":"`+id1+`","EntityType":2,"Timestamp":41}`,
					`{"EntityKey":"`+id2+`","EntityType":"two","Timestamp":42}`)
			},
			wantStatus: StatusOK,
			want: []EntityResult{
				{Entity: "accounts", Removed: 1},
				{Entity: "suppliers", Removed: 1},
				{Entity: DeletionsJob, Quarantined: 1},
			},
		},
		{
			name:       "busy: told, with nothing written",
			entity:     "accounts",
			setup:      func(src *fakeSource, st *fakeStore) { st.busy = true },
			wantStatus: StatusBusy,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &fakeSource{pages: map[string]string{}}
			st := &fakeStore{}
			tt.setup(src, st)
			rec := &runRecorder{}
			r := NewRunner(Config{Logger: zerolog.Nop(), Enabled: []string{"accounts", "suppliers"}, Observer: rec}, st, st, st)
			res, _ := r.Run(context.Background(), src, Job{ConnectionID: 1, Division: 101, Entity: tt.entity})
			if len(rec.results) != 1 {
				t.Fatalf("observer told %d times, want once", len(rec.results))
			}
			got := rec.results[0]
			if diff := cmp.Diff(res, got); diff != "" {
				t.Errorf("observer told another result than Run returned (-returned +told):\n%s", diff)
			}
			if got.Status != tt.wantStatus {
				t.Errorf("status: got %q, want %q", got.Status, tt.wantStatus)
			}
			if diff := cmp.Diff(tt.want, got.Entities, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("entities (-want +got):\n%s", diff)
			}
			var up, rm, q int
			for _, e := range got.Entities {
				up, rm, q = up+e.Upserted, rm+e.Removed, q+e.Quarantined
			}
			if up != got.Upserted || rm != got.Removed || q != got.Quarantined {
				t.Errorf("entities add up to %d/%d/%d, the result says %d/%d/%d", up, rm, q, got.Upserted, got.Removed, got.Quarantined)
			}
		})
	}
}
