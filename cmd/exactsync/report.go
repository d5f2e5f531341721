package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/sync"
)

// syncTotal adds up the runs of one sync command.
type syncTotal struct {
	runs, records, committed, calls int
	waited, took                    time.Duration
}

func (t *syncTotal) add(res sync.Result) {
	t.runs++
	t.records += res.Upserted + res.Removed + res.Quarantined
	t.committed += res.Committed
	t.calls += res.Calls
	t.waited += res.Waited
	t.took += res.Duration
}

// print writes the summary line of several runs.
func (t *syncTotal) print(e *env) {
	if t.runs < 2 {
		return
	}
	fmt.Fprintf(e.stdout, "total: %d runs, %d records in %d pages, %d API calls, %s, of which %s waiting for Exact's limits\n",
		t.runs, t.records, t.committed, t.calls, t.took.Round(time.Millisecond), t.waited.Round(time.Millisecond))
}

// errInterrupted is matched by the error of a command stopped by SIGINT or SIGTERM.
var errInterrupted = errors.New("interrupted")

// interruptedError is a sync stopped by SIGINT or SIGTERM (exit code 130).
type interruptedError struct{ pages int }

func (e interruptedError) Error() string {
	return fmt.Sprintf("interrupted: %d pages committed, rerun to continue", e.pages)
}

func (interruptedError) Is(target error) bool { return target == errInterrupted }

func printResult(e *env, res sync.Result) {
	quarantined := ""
	if res.Quarantined > 0 {
		quarantined = fmt.Sprintf(", %d quarantined (see exactsync status)", res.Quarantined)
	}
	waited := ""
	if res.Waited > 0 {
		waited = fmt.Sprintf(" (%s waiting for Exact's limits)", res.Waited.Round(time.Millisecond))
	}
	fmt.Fprintf(e.stdout, "%s division %d: %s, %d upserted, %d removed%s, %d pages, %d API calls, cursor %d → %d, %s%s\n",
		res.Job.Entity, res.Job.Division, res.Status, res.Upserted, res.Removed, quarantined, res.Pages, res.Calls,
		res.CursorFrom, res.CursorTo, res.Duration.Round(time.Millisecond), waited)
}

// joinOneLine reports several errors in one line.
func joinOneLine(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	msgs := make([]string, len(errs))
	for i, err := range errs {
		msgs[i] = err.Error()
	}
	return fmt.Errorf("%d failures: %s", len(errs), strings.Join(msgs, "; "))
}

// refusalHint adds the way out to a run Exact refused (exact.APIError.Refused): an
// endpoint outside the app's scope, or a module the company does not have.
func refusalHint(err error, entity string) error {
	var api *exact.APIError
	if !errors.As(err, &api) || !api.Refused() {
		return err
	}
	return fmt.Errorf("%w; Exact refuses %s here: %s; the schedules try it once an hour meanwhile", err, api.Endpoint, refusalFix(entity, entity))
}

// refusalFix is the way out of a refusal of entity's requests, for the sync's last line
// and doctor; called names the entity in the sentence ("accounts", or "it").
func refusalFix(entity, called string) string {
	fix := "grant the app its scope in Exact's App Center (then authorize again)"
	if entity == sync.DeletionsJob {
		return fix // every sync entity's deletions come through it
	}
	return fmt.Sprintf("%s, or leave %s out of %s", fix, called, config.EnvEntities)
}
