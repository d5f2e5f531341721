package main

import (
	"context"
	"fmt"
	"time"

	"github.com/schollz/progressbar/v3"
)

// countdown waits d where a person sees it: on a terminal, a bar that fills up to the
// end of the wait with the time left; elsewhere, a line now and one a minute. Ctrl-C
// ends it.
func countdown(e *env, d time.Duration) error {
	d = d.Round(time.Second) + time.Second // Exact's Date headers count whole seconds
	secs := int(d / time.Second)
	if isTerminal(e.stderr) {
		bar := progressbar.NewOptions(secs,
			progressbar.OptionSetWriter(e.stderr),
			progressbar.OptionSetDescription("waiting for Exact to allow the refresh"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(false),
			progressbar.OptionShowCount(),
			progressbar.OptionSetItsString("s"),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionSetRenderBlankState(true),
		)
		defer bar.Finish()
		for range secs {
			if err := e.pause(time.Second); err != nil {
				return err
			}
			bar.Add(1)
		}
		return nil
	}
	for left := secs; left > 0; left -= 60 {
		fmt.Fprintf(e.stderr, "waiting %s more for Exact to allow the refresh (Ctrl-C stops; --no-check stores the token without waiting)\n",
			time.Duration(left)*time.Second)
		if err := e.pause(time.Duration(min(left, 60)) * time.Second); err != nil {
			return err
		}
	}
	return nil
}

// pause sleeps d on the command's clock (env.sleep), or until the command is stopped.
func (e *env) pause(d time.Duration) error {
	if e.sleep != nil {
		return e.sleep(e.ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-e.ctx.Done():
		return context.Cause(e.ctx)
	}
}
