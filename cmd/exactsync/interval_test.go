package main

import (
	"testing"
	"time"
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
