package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/sync"
)

// syncTotal adds up the runs of one sync command.
type syncTotal struct {
	runs, committed, calls int
	tables                 []sync.EntityResult // what each table got, in the order first written
	waited, took           time.Duration
}

func (t *syncTotal) add(res sync.Result) {
	t.runs++
	t.committed += res.Committed
	t.calls += res.Calls
	t.waited += res.Waited
	t.took += res.Duration
	for _, e := range res.Entities {
		i := slices.IndexFunc(t.tables, func(x sync.EntityResult) bool { return x.Entity == e.Entity })
		if i < 0 {
			t.tables = append(t.tables, sync.EntityResult{Entity: e.Entity})
			i = len(t.tables) - 1
		}
		x := &t.tables[i]
		x.Upserted, x.Removed, x.Quarantined = x.Upserted+e.Upserted, x.Removed+e.Removed, x.Quarantined+e.Quarantined
	}
}

// print writes the summary line of several runs.
func (t *syncTotal) print(e *env) {
	if t.runs < 2 {
		return
	}
	fmt.Fprintf(e.stdout, "total: %d runs, %s, in %d pages, %d API calls, %s, of which %s waiting for Exact's limits\n",
		t.runs, counts(t.tables), t.committed, t.calls, t.took.Round(time.Millisecond), t.waited.Round(time.Millisecond))
}

// counts says what runs did to their tables, table by table when several got rows:
// "1000 accounts + 304 suppliers upserted, 2 accounts removed". A table that got nothing
// is left out; none at all is "0 upserted, 0 removed".
func counts(tables []sync.EntityResult) string {
	part := func(n func(sync.EntityResult) int, verb string) string {
		var terms []string
		total := 0
		for _, e := range tables {
			if v := n(e); v > 0 {
				total += v
				terms = append(terms, fmt.Sprintf("%d %s", v, e.Entity))
			}
		}
		if len(terms) == 0 {
			return "0 " + verb
		}
		if len(tables) == 1 {
			return fmt.Sprintf("%d %s", total, verb) // the line names the only table
		}
		return strings.Join(terms, " + ") + " " + verb
	}
	out := part(func(e sync.EntityResult) int { return e.Upserted }, "upserted") + ", " +
		part(func(e sync.EntityResult) int { return e.Removed }, "removed")
	quarantined := 0
	for _, e := range tables {
		quarantined += e.Quarantined
	}
	if quarantined > 0 {
		out += ", " + part(func(e sync.EntityResult) int { return e.Quarantined }, "quarantined") + " (see exactsync status)"
	}
	return out
}

// errInterrupted is matched by the error of a command stopped by SIGINT or SIGTERM.
var errInterrupted = errors.New("interrupted")

// interruptedError is a sync stopped by SIGINT or SIGTERM (exit code 130).
type interruptedError struct{ pages int }

func (e interruptedError) Error() string {
	return fmt.Sprintf("interrupted: %d pages committed, rerun to continue", e.pages)
}

func (interruptedError) Is(target error) bool { return target == errInterrupted }

// printResult writes the result line of a run: what it did to each table (a job writes
// every enabled entity of its endpoint: accounts and suppliers), pages, calls, cursor and
// time.
func printResult(e *env, res sync.Result) {
	waited := ""
	if res.Waited > 0 {
		waited = fmt.Sprintf(" (%s waiting for Exact's limits)", res.Waited.Round(time.Millisecond))
	}
	tables := res.Entities
	if len(tables) == 0 {
		tables = []sync.EntityResult{{Entity: res.Job.Entity, Upserted: res.Upserted, Removed: res.Removed, Quarantined: res.Quarantined}}
	}
	fmt.Fprintf(e.stdout, "%s division %d: %s, %s, %d pages, %d API calls, cursor %d → %d, %s%s\n",
		res.Job.Entity, res.Job.Division, res.Status, counts(tables), res.Pages, res.Calls,
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
