package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/exact/exacttest"
)

// simClient is an exact.Client of the simulator, served in process, whose tokens live in rows
// (connection 1) and whose waits advance the simulator's clock.
func simClient(t *testing.T, sim *exacttest.Simulator, rows *memTokens) *exact.Client {
	t.Helper()
	rows.tokens = map[int64]dest.Token{1: {RefreshToken: sim.RefreshToken()}}
	c, err := exact.New(exact.Config{
		BaseURL: exacttest.InProcessURL, ClientID: "exactsim-client", ClientSecret: "exactsim-secret",
		HTTPClient: sim.InProcessClient(), Logger: zerolog.Nop(), Now: sim.Now,
		Sleep: func(ctx context.Context, d time.Duration) error { sim.Advance(d); return ctx.Err() },
	}, NewTokenStore(rows, 1))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// simKeys are the keys of the simulator's records of entity in division.
func simKeys(t *testing.T, sim *exacttest.Simulator, e Entity, division int) map[string]bool {
	t.Helper()
	recs, err := sim.Records(e.Name, division)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, raw := range recs {
		var rec map[string]any
		if err := json.Unmarshal(raw, &rec); err != nil {
			t.Fatal(err)
		}
		out[fmt.Sprint(rec[e.Key])] = true
	}
	return out
}

// TestReadModesThroughTheSimulator runs one entity of each read mode (sync, modified,
// full) through the real client and the simulator's handler, into the in-memory store:
// the first run copies every record; after Exact creates, changes and deletes records,
// the next runs (the deletions job for a sync entity, a full pass for the others) leave
// the copy equal to Exact's records again, with the changed record at a newer version.
// No PostgreSQL and no socket: what is tested is sync's reading, paging and conversion.
func TestReadModesThroughTheSimulator(t *testing.T) {
	for _, tt := range []struct {
		entity, mode string
	}{
		{"accounts", ReadSync},
		{"journals", ReadModified},
		{"units", ReadFull},
	} {
		t.Run(tt.entity, func(t *testing.T) {
			t.Parallel()
			e, err := Lookup(tt.entity)
			if err != nil {
				t.Fatal(err)
			}
			if e.Read != tt.mode {
				t.Fatalf("%s is read %q, want %q: pick another entity of that mode", e.Name, e.Read, tt.mode)
			}
			// More records than one page of each mode (1,000 on a sync endpoint, 60 on a
			// regular one), so that the runs follow __next.
			sim := exacttest.New(exacttest.Options{Accounts: 1100, Records: map[string]int{"journals": 130, "units": 130}, Seed: 3})
			tokens := &memTokens{}
			client := simClient(t, sim, tokens)
			st := newMemStore()
			r := NewRunner(Config{Logger: zerolog.Nop(), Enabled: []string{e.Name}, Now: sim.Now}, st, st, st)
			run := func(job Job) Result {
				t.Helper()
				res, err := r.Run(context.Background(), client, job)
				if err != nil || res.Status != StatusOK || res.Quarantined != 0 {
					t.Fatalf("Run %s: %+v, %v", job, res, err)
				}
				return res
			}
			check := func(when string) map[string][]any {
				t.Helper()
				want := simKeys(t, sim, e, 101)
				got := st.rows(e.Table, 101)
				if len(got) != len(want) {
					t.Errorf("%s: %d rows, want Exact's %d records", when, len(got), len(want))
				}
				for k := range want {
					if _, ok := got[k]; !ok {
						t.Errorf("%s: no row of %s", when, k)
					}
				}
				for k := range got {
					if _, ok := want[k]; !ok {
						t.Errorf("%s: row %s, which Exact does not have", when, k)
					}
				}
				return got
			}
			job := Job{ConnectionID: 1, Division: 101, Entity: e.Name}
			res := run(job)
			if res.Pages < 2 {
				t.Errorf("first run read %d pages, want at least 2", res.Pages)
			}
			if tok, _ := tokens.LoadToken(context.Background(), 1); tok.AccessToken == "" {
				t.Error("no access token stored in the token rows after the run")
			}
			before := check("after the first run")
			keys := slices.Sorted(maps.Keys(before))
			changed, deleted := keys[0], keys[1]
			text := slices.IndexFunc(e.Fields, func(f Field) bool { return f.Source == "Description" || f.Source == "Name" })
			if text < 0 {
				t.Fatalf("%s has no Description or Name to change", e.Name)
			}
			const newText = "changed in Exact"

			sim.Advance(time.Minute) // a newer Modified for the change
			if _, err := sim.UpsertRecords(e.Name, 101, map[string]any{e.Key: changed, e.Fields[text].Source: newText}, map[string]any{}); err != nil {
				t.Fatal(err)
			}
			if err := sim.DeleteRecords(e.Name, 101, deleted); err != nil {
				t.Fatal(err)
			}
			switch e.Read {
			case ReadSync:
				run(job)
				run(Job{ConnectionID: 1, Division: 101, Entity: DeletionsJob})
			case ReadModified:
				run(job) // the change and the new record
				if got := st.rows(e.Table, 101); len(got) != len(before)+1 {
					t.Errorf("after an incremental run: %d rows, want %d (one new record)", len(got), len(before)+1)
				}
				run(Job{ConnectionID: 1, Division: 101, Entity: e.Name, Full: true}) // the deletion
			case ReadFull:
				run(job)
			}
			after := check("after Exact's changes")
			if got := after[changed][1+text]; got != newText {
				t.Errorf("changed record %s has %s %v, want %q", changed, e.Fields[text].Column, got, newText)
			}
			version := len(after[changed]) - 2 // exact_timestamp, before raw
			if o, n := before[changed][version].(int64), after[changed][version].(int64); e.Read != ReadFull && n <= o {
				// A full read's rows carry Modified, which units do not have: version 0.
				t.Errorf("changed record %s at version %d, was %d: want a newer one", changed, n, o)
			}
		})
	}
}
