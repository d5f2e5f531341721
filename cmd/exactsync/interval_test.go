package main

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/sync"
)

func TestLongestGap(t *testing.T) {
	t.Parallel()
	loc, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 2, 10, 7, 0, 0, loc) // a Wednesday
	tests := []struct {
		spec string
		want time.Duration
	}{
		{"*/15 * * * *", 15 * time.Minute},
		{"0 * * * *", time.Hour},
		{"0 9 * * 1-5", 72 * time.Hour}, // Friday to Monday
		{"0 0 30 2 *", 0},               // never
	}
	for _, tt := range tests {
		sched, err := cronParser.Parse(tt.spec)
		if err != nil {
			t.Fatal(err)
		}
		if got := longestGap(inZone{sched, loc}, now, 7*24*time.Hour); got != tt.want {
			t.Errorf("%q: got %s, want %s", tt.spec, got, tt.want)
		}
	}
}

// TestScheduleIntervals: each entity has its incremental schedule's interval, the
// deletions the most frequent schedule's that queues them, an entity with only a full pass
// the full pass's.
func TestScheduleIntervals(t *testing.T) {
	t.Parallel()
	cfg := &config.Config{
		Entities:      []string{"accounts", "suppliers", "transaction_lines", "journals"},
		Schedules:     map[string]string{"accounts": "*/15 * * * *", "suppliers": "*/15 * * * *", "transaction_lines": "*/5 * * * *", "journals": ""},
		FullSchedules: map[string]string{"accounts": "30 2 * * *", "suppliers": "30 2 * * *", "journals": "15 2 * * *"},
	}
	got, err := scheduleIntervals(cfg, time.UTC, time.Date(2026, 12, 2, 10, 7, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Duration{"accounts": 15 * time.Minute, "suppliers": 15 * time.Minute, "transaction_lines": 5 * time.Minute,
		"journals": 24 * time.Hour, sync.DeletionsJob: 5 * time.Minute}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("intervals (-want +got):\n%s", diff)
	}
}
