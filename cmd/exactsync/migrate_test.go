package main

import (
	"fmt"
	"testing"

	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sink/sinktest"
	"github.com/exactsync/exactsync/worker"
)

// TestMigrateSaysWhatItApplied: on an empty database migrate says how many migrations it
// applied to each schema; run again, that the schema is up to date.
func TestMigrateSaysWhatItApplied(t *testing.T) {
	if testing.Short() {
		t.Skip("migrates a database of its own; skipped with -short")
	}
	p := newInProcess(t)
	p.vars["DATABASE_URL"] = sinktest.NewDatabase(t)
	all, err := sink.MigrationVersions()
	if err != nil {
		t.Fatal(err)
	}
	now := fmt.Sprintf("(exactsync schema at %05d, job queue at River version %d)", all[len(all)-1], worker.RiverVersion)
	r := p.run("migrate")
	if want := fmt.Sprintf("applied %d migrations of exactsync's schema and %d of the job queue's %s\n", len(all), worker.RiverVersion, now); r.code != exitOK || r.stdout != want {
		t.Errorf("migrate of an empty database: %s\nwant stdout %q", r, want)
	}
	r = p.run("migrate")
	if want := "database schema is up to date " + now + "\n"; r.code != exitOK || r.stdout != want {
		t.Errorf("migrate again: %s\nwant stdout %q", r, want)
	}
}
