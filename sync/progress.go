package sync

import (
	"context"
	gosync "sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/exact"
)

// DefaultProgressEvery is how often a long run logs its progress (Config.ProgressEvery).
const DefaultProgressEvery = 10 * time.Second

// Progress is how a run is getting on. Config.Progress receives it whenever it changes
// and once a second while the run waits, and a last time with Done set.
type Progress struct {
	Job Job
	// Pages and Records are what the run has committed: pages written to PostgreSQL
	// and the records on them. Fetched counts the pages received from Exact.
	Pages, Records, Fetched int
	// Elapsed is the time since the run started.
	Elapsed time.Duration
	// Wait is the client's wait in progress (see exact.Wait), with WaitLeft of it to
	// go; a zero Wait.Duration when the run is not waiting.
	Wait     exact.Wait
	WaitLeft time.Duration
	// Waited is the time the run has spent waiting so far: for rate limits, retries
	// and the token refresh window.
	Waited time.Duration
	Done   bool
}

// RecordsPerSecond is the committed records over the elapsed time.
func (p Progress) RecordsPerSecond() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Records) / p.Elapsed.Seconds()
}

// tracker follows one run's progress for Config.Progress and the progress log.
type tracker struct {
	fn    func(Progress)
	now   func() time.Time
	start time.Time

	mu        gosync.Mutex
	p         Progress
	waitUntil time.Time // end of the current wait
	waitStart time.Time
}

func newTracker(job Job, fn func(Progress), now func() time.Time) *tracker {
	t := &tracker{fn: fn, now: now, start: now()}
	t.p.Job = job
	return t
}

// snapshot is the progress as of now; the lock is held.
func (t *tracker) snapshotLocked() Progress {
	now := t.now()
	p := t.p
	p.Elapsed = now.Sub(t.start)
	if !t.waitUntil.IsZero() {
		if left := t.waitUntil.Sub(now); left > 0 {
			p.WaitLeft = left
			p.Waited += now.Sub(t.waitStart)
		} else {
			p.Wait = exact.Wait{}
			p.Waited += t.waitUntil.Sub(t.waitStart)
		}
	}
	return p
}

func (t *tracker) snapshot() Progress {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.snapshotLocked()
}

// update changes the progress under the lock and reports it.
func (t *tracker) update(change func(p *Progress)) {
	t.mu.Lock()
	change(&t.p)
	p := t.snapshotLocked()
	t.mu.Unlock()
	if t.fn != nil {
		t.fn(p)
	}
}

// endWaitLocked closes the wait in progress, if any.
func (t *tracker) endWaitLocked(now time.Time) {
	if t.waitUntil.IsZero() {
		return
	}
	end := t.waitUntil
	if now.Before(end) {
		end = now // the wait ended early: the call it preceded was canceled
	}
	t.p.Waited += end.Sub(t.waitStart)
	t.waitUntil, t.p.Wait = time.Time{}, exact.Wait{}
}

// wait is the client's wait hook (exact.WithWaitHook).
func (t *tracker) wait(w exact.Wait) {
	t.update(func(p *Progress) {
		now := t.now()
		t.endWaitLocked(now)
		p.Wait, t.waitStart, t.waitUntil = w, now, now.Add(w.Duration)
	})
}

func (t *tracker) fetched() {
	t.update(func(p *Progress) {
		t.endWaitLocked(t.now())
		p.Fetched++
	})
}

func (t *tracker) committed(pages, records int) {
	t.update(func(p *Progress) {
		p.Pages += pages
		p.Records += records
	})
}

// finish reports the last progress and returns it.
func (t *tracker) finish() Progress {
	t.mu.Lock()
	t.endWaitLocked(t.now())
	t.p.Done = true
	p := t.snapshotLocked()
	t.mu.Unlock()
	if t.fn != nil {
		t.fn(p)
	}
	return p
}

// follow reports the progress every second while the run waits (a countdown for a
// display), and logs it every every, until ctx ends.
func (t *tracker) follow(ctx context.Context, every time.Duration, log zerolog.Logger) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastLog := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		p := t.snapshot()
		if t.fn != nil && p.WaitLeft > 0 {
			t.fn(p)
		}
		if every > 0 && time.Since(lastLog) >= every {
			lastLog = time.Now()
			ev := log.Info().Int("pages", p.Pages).Int("records", p.Records).Int("pages_fetched", p.Fetched).
				Float64("records_per_s", float64(int(p.RecordsPerSecond()*10))/10).Dur("elapsed_ms", p.Elapsed).Dur("waited_ms", p.Waited)
			if p.WaitLeft > 0 {
				ev = ev.Str("waiting", p.Wait.Describe(p.WaitLeft))
			}
			ev.Msg("sync progress")
		}
	}
}
