package main

import (
	"fmt"
	"io"
	"os"
	gosync "sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/exactsync/exactsync/sync"
)

// progressDisplay is the live line of the run in progress on a terminal: entity and
// division, records and pages committed, records/s and what the run is waiting for. Off
// a terminal it shows nothing; the runs log their progress instead (sync.Config
// ProgressEvery).
type progressDisplay struct {
	w  io.Writer // nil: no display
	mu gosync.Mutex
	// bar is the line of job; nil between runs.
	bar *progressbar.ProgressBar
	job sync.Job
}

// newProgressDisplay returns the display for mode auto (a terminal only), always or
// never.
func newProgressDisplay(w io.Writer, mode string) *progressDisplay {
	d := &progressDisplay{}
	switch mode {
	case "always":
		d.w = w
	case "auto":
		if isTerminal(w) {
			d.w = w
		}
	}
	return d
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// update is sync.Config.Progress.
func (d *progressDisplay) update(p sync.Progress) {
	if d.w == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.bar == nil || d.job != p.Job {
		if d.bar != nil {
			d.bar.Clear()
		}
		d.job = p.Job
		d.bar = progressbar.NewOptions64(-1,
			progressbar.OptionSetWriter(d.w),
			progressbar.OptionSetDescription(describe(p)),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionSpinnerType(14),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	d.bar.Describe(describe(p))
	d.bar.Set(p.Records)
	if p.Done {
		d.bar.Finish()
		d.bar = nil
	}
}

// describe is the text of a run's line. The rate is the run's own, in records a second,
// once there is one to tell: a rate taken over the first instants of a run says nothing.
func describe(p sync.Progress) string {
	s := fmt.Sprintf("%s division %d: %d pages, %d records", p.Job.Entity, p.Job.Division, p.Pages, p.Records)
	if p.Records > 0 && p.Elapsed >= time.Second {
		s += fmt.Sprintf(" (%.0f records/s)", p.RecordsPerSecond())
	}
	if p.WaitLeft > 0 {
		s += ", " + p.Wait.Describe(p.WaitLeft)
	}
	return s
}

// clear removes the line, so that a result line can take its place.
// say writes line to w (the display's writer, standard error) on a line of its own,
// taking the live line out of the way first.
func (d *progressDisplay) say(w io.Writer, line string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.bar != nil {
		d.bar.Clear()
		d.bar = nil // drawn again at the next update
	}
	fmt.Fprintln(w, line)
}

func (d *progressDisplay) clear() {
	if d.w == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.bar != nil {
		d.bar.Clear()
		d.bar = nil
	}
}
