package sync

import (
	"bytes"
	"context"
	"errors"
	"strings"
	gosync "sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/dest"
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
				st.cursors = map[string]dest.Cursor{DeletionsJob: {Timestamp: 40}}
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

// TestBusyIsNotARun: a job that finds its division held by another worker did not run;
// the observer (the runs metric) is not told, and the log says so at debug level only.
func TestBusyIsNotARun(t *testing.T) {
	var logs bytes.Buffer
	rec := &runRecorder{}
	st := &fakeStore{busy: true}
	r := NewRunner(Config{Logger: zerolog.New(&logs).Level(zerolog.InfoLevel), Enabled: []string{"accounts", "suppliers"}, Observer: rec}, st, st, st)
	res, err := r.Run(context.Background(), &fakeSource{pages: map[string]string{}}, Job{ConnectionID: 1, Division: 101, Entity: "accounts"})
	if !errors.Is(err, ErrBusy) || res.Status != StatusBusy {
		t.Fatalf("Run on a held division: %q, %v; want busy, ErrBusy", res.Status, err)
	}
	if len(rec.results) != 0 {
		t.Errorf("observer told of %d runs, want none: %+v", len(rec.results), rec.results)
	}
	if logs.Len() != 0 {
		t.Errorf("a busy division logged at info or above:\n%s", logs.String())
	}
	var debug bytes.Buffer
	r = NewRunner(Config{Logger: zerolog.New(&debug).Level(zerolog.DebugLevel), Observer: rec}, st, st, st)
	_, _ = r.Run(context.Background(), &fakeSource{pages: map[string]string{}}, Job{ConnectionID: 1, Division: 101, Entity: "accounts"})
	if !strings.Contains(debug.String(), `"level":"debug"`) || !strings.Contains(debug.String(), "division busy") {
		t.Errorf("a busy division at debug level: %q, want one debug line", debug.String())
	}
}
