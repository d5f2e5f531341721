package sync

import (
	"testing"
	"time"

	"github.com/exactsync/exactsync/exact"
)

func TestTrackerFollowsPagesAndWaits(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	var got []Progress
	tr := newTracker(Job{Entity: "accounts", Division: 101}, func(p Progress) { got = append(got, p) }, func() time.Time { return now })

	tr.fetched()
	tr.committed(1, 1000)
	now = now.Add(2 * time.Second)
	tr.wait(exact.Wait{Division: 101, Duration: 32 * time.Second, Reason: exact.WaitMinuteLimit})
	now = now.Add(2 * time.Second)
	p := tr.snapshot()
	if p.WaitLeft != 30*time.Second || p.Wait.Reason != exact.WaitMinuteLimit || p.Waited != 2*time.Second {
		t.Errorf("while waiting: got left %s reason %q waited %s; want 30s minute_limit 2s", p.WaitLeft, p.Wait.Reason, p.Waited)
	}
	if d := p.Wait.Describe(p.WaitLeft); d != "waiting 30s for Exact's minute limit" {
		t.Errorf("described as %q", d)
	}
	now = now.Add(30 * time.Second)
	tr.fetched() // the wait is over: the next page arrived
	tr.committed(1, 500)
	now = now.Add(2 * time.Second)
	end := tr.finish()
	want := Progress{Job: end.Job, Pages: 2, Records: 1500, Fetched: 2, Elapsed: 36 * time.Second, Waited: 32 * time.Second, Done: true}
	if end != want {
		t.Errorf("at the end: got %+v, want %+v", end, want)
	}
	if r := end.RecordsPerSecond(); r < 41 || r > 42 {
		t.Errorf("records/s %.1f, want 1500/36", r)
	}
	if len(got) != 6 || !got[len(got)-1].Done {
		t.Errorf("reported %d times, want 6 ending with Done", len(got))
	}
}

func TestWaitCutShortCountsTheTimeSpent(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	tr := newTracker(Job{}, nil, func() time.Time { return now })
	tr.wait(exact.Wait{Duration: time.Minute, Reason: exact.WaitTooMany})
	now = now.Add(5 * time.Second)
	if p := tr.finish(); p.Waited != 5*time.Second || p.WaitLeft != 0 {
		t.Errorf("got waited %s left %s; want 5s and nothing left", p.Waited, p.WaitLeft)
	}
}
