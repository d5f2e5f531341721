package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/exactsync/exactsync/exact/exacttest"
)

// The fault suite: go test ./cmd/exactsync -run Fault (EXACTSYNC_FAULT=full for the full
// sizes). Each test ends with one figure line for RELIABILITY.md.

// TestFaultKill9 sends SIGKILL to exactsync at random moments of full and incremental runs of
// accounts and suppliers, with simulator changes between trials; after each trial a clean
// sync must converge.
func TestFaultKill9(t *testing.T) {
	skipFaultIfShort(t)
	t.Parallel()
	began := time.Now()
	rng, seed := faultRand(t)
	trials := faultSize(t, 3, 30)
	fw := newFaultWorld(t, faultSize(t, 2500, 4000))
	fw.importToken()

	// A full run of accounts gives the span over which kills are spread.
	start := time.Now()
	fw.mustExec("sync", "--entity", "accounts")
	span := time.Since(start)
	fw.mustExec("sync", "--entity", "suppliers")
	if d := fw.diff(); d != "" {
		t.Fatalf("the first sync does not match the simulator:\n%s", d)
	}

	var fig figures
	killed := 0
	for i := range trials {
		fw.mutate(rng, 5+rng.IntN(200))
		args := []string{"sync", "--entity", []string{"accounts", "suppliers"}[rng.IntN(2)]}
		if rng.IntN(3) == 0 {
			args = append(args, "--full")
		}
		// A full run makes 4 sync calls per division (3 pages of accounts, 1 of deletions),
		// an incremental one about 2: kill after a random one of them, or during start-up.
		calls := 4
		if len(args) == 4 {
			calls = 8
		}
		k := rng.IntN(calls)
		at := time.Duration(rng.Int64N(int64(30 * time.Millisecond)))
		if k == 0 {
			at = time.Duration(rng.Int64N(int64(span)))
		}
		_, reuses := fw.chainState()
		if fw.killAt(k, at, args...) {
			killed++
		}
		ok, lost := fw.converge(reuses)
		fig.trials++
		if lost {
			fig.chainsLost++
		}
		if d := fw.diff(); d != "" {
			fig.divergences++
			t.Errorf("trial %d (%s, killed %s after sync call %d): diverged:\n%s", i, strings.Join(args, " "), at, k, d)
		} else if ok {
			fig.converged++
		}
	}
	if fig.chainsLost > 0 {
		t.Errorf("%d token chains lost by a SIGKILL", fig.chainsLost)
	}
	fig.add("killed=%d span=%s", killed, span.Round(time.Millisecond))
	fig.log(t, "kill9", seed, time.Since(began))
}

// pgCut is one PostgreSQL outage: how long, and whether it starts as Exact answers a token
// refresh or while pages are read.
type pgCut struct {
	refresh bool
	length  time.Duration
}

// TestFaultPostgresCut cuts PostgreSQL (through the proxy, never the server) for 1 s, 10 s
// and 60 s, right as Exact answers a token refresh or at a random page of a full run. A cut
// during a refresh must not lose the token chain; every trial must converge.
func TestFaultPostgresCut(t *testing.T) {
	skipFaultIfShort(t)
	t.Parallel()
	began := time.Now()
	rng, seed := faultRand(t)
	cuts := []pgCut{{true, time.Second}, {true, 10 * time.Second}, {false, time.Second}}
	if faultSize(t, 0, 1) == 1 {
		cuts = nil
		for _, l := range []time.Duration{time.Second, time.Second, time.Second, 10 * time.Second, 10 * time.Second, 10 * time.Second,
			60 * time.Second, 60 * time.Second, 60 * time.Second, 60 * time.Second} {
			cuts = append(cuts, pgCut{true, l})
		}
		for _, l := range []time.Duration{time.Second, time.Second, 10 * time.Second, 10 * time.Second, 60 * time.Second, 60 * time.Second} {
			cuts = append(cuts, pgCut{false, l})
		}
		rng.Shuffle(len(cuts), func(i, j int) { cuts[i], cuts[j] = cuts[j], cuts[i] })
	}
	fw := newFaultWorld(t, 2500)
	fw.importToken()
	fw.mustExec("sync", "--entity", "accounts")
	fw.mustExec("sync", "--entity", "suppliers")

	var fig figures
	refreshLost, refreshCuts := 0, 0
	for i, cut := range cuts {
		fw.mutate(rng, 5+rng.IntN(100))
		entity := []string{"accounts", "suppliers"}[rng.IntN(2)]
		args := []string{"sync", "--entity", entity, "--full"}
		_, reuses := fw.chainState()
		fired := make(chan struct{})
		if cut.refresh {
			refreshCuts++
			args = args[:3]
			fw.expireToken()
			hook := func() { fw.proxy.Cut(); close(fired) }
			fw.onToken.Store(&hook)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		c, out, errb := fw.command(ctx, args...)
		before := fw.syncCalls()
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		if !cut.refresh {
			// Cut once a random number of the run's page calls (a full run reads 3 pages of
			// accounts and one of deletions per division) has been answered.
			k := 1 + rng.IntN(6)
			go func() {
				poll(time.Minute, 2*time.Millisecond, func() bool { return fw.syncCalls()-before >= k })
				fw.proxy.Cut()
				close(fired)
			}()
		}
		select {
		case <-fired:
		case <-time.After(2 * time.Minute):
			t.Fatalf("cut %d (%+v): the cut never started", i, cut)
		}
		time.Sleep(cut.length)
		fw.proxy.Restore()
		fw.onToken.Store(nil)
		r, _ := fw.finish(c, out, errb)
		cancel()
		ok, lost := fw.converge(reuses)
		fig.trials++
		if lost {
			fig.chainsLost++
			if cut.refresh {
				refreshLost++
			}
			t.Errorf("cut %d (%s during a %s): the token chain was lost; the run said: %s", i, cut.length, kind(cut), lastLine(r.stderr))
		}
		if d := fw.diff(); d != "" {
			fig.divergences++
			t.Errorf("cut %d (%s during a %s): diverged:\n%s", i, cut.length, kind(cut), d)
		} else if ok {
			fig.converged++
		}
	}
	fig.add("refresh_cuts=%d refresh_chains_lost=%d paging_cuts=%d", refreshCuts, refreshLost, len(cuts)-refreshCuts)
	fig.log(t, "pgcut", seed, time.Since(began))
}

func kind(c pgCut) string {
	if c.refresh {
		return "token refresh"
	}
	return "full run's paging"
}

// maxFaultRuns bounds the runs a simulator fault scenario gets to converge.
const maxFaultRuns = 10

// TestFaultSimulator runs syncs against 5xx answers, latency, 429 storms and truncated pages
// (60 % of pages): each scenario is rerun until it succeeds, and must converge within 3 runs.
func TestFaultSimulator(t *testing.T) {
	skipFaultIfShort(t)
	t.Parallel()
	began := time.Now()
	rng, seed := faultRand(t)
	rounds := faultSize(t, 1, 4)
	fw := newFaultWorld(t, 1500)
	fw.importToken()

	type scenario struct {
		name  string
		apply func()
	}
	scenarios := []scenario{
		{"5xx", func() { fw.sim.SetFaults(exacttest.Faults{ErrorRate: 0.3}) }},
		{"latency", func() { fw.sim.SetFaults(exacttest.Faults{Latency: 150 * time.Millisecond}) }},
		{"429", func() { fw.stormReset.Store(300); fw.storm.Store(8) }},
		{"truncate60", func() { fw.sim.SetFaults(exacttest.Faults{TruncateRate: 0.6}) }},
	}
	if faultSize(t, 0, 1) == 1 {
		// Headerless 429s make the client wait for the next clock minute: full suite only.
		scenarios = append(scenarios, scenario{"429-no-headers", func() { fw.stormReset.Store(0); fw.storm.Store(4) }})
	}
	var fig figures
	runsNeeded := map[string][]int{} // runs until the data converged
	cleanRuns := map[string][]int{}  // the first run in which both syncs succeeded; 0: none
	for round := range rounds {
		for _, sc := range scenarios {
			fw.mutate(rng, 5+rng.IntN(100))
			full := round == 0 || rng.IntN(2) == 0
			sc.apply()
			// A run is one sync of each entity; the data has converged after the first run
			// that leaves the tables equal to the truth, whether or not a later, empty page
			// of that run failed. Clean is the first run in which both syncs succeeded.
			runs, ok, clean := 0, false, 0
			for runs < maxFaultRuns && !ok {
				runs++
				succeeded := true
				for _, entity := range []string{"accounts", "suppliers"} {
					args := []string{"sync", "--entity", entity}
					if full && runs == 1 {
						args = append(args, "--full") // reruns go on with the pass cut short
					}
					if r := fw.exec(args...); r.code != 0 {
						succeeded = false
						t.Logf("round %d, %s, run %d of %s: %.300s", round, sc.name, runs, entity, lastLine(r.stderr))
					}
				}
				if succeeded && clean == 0 {
					clean = runs
				}
				ok = fw.diff() == ""
			}
			fw.sim.SetFaults(exacttest.Faults{})
			fw.storm.Store(0)
			fig.trials++
			runsNeeded[sc.name] = append(runsNeeded[sc.name], runs)
			cleanRuns[sc.name] = append(cleanRuns[sc.name], clean)
			if !ok {
				t.Errorf("round %d, %s: not converged after %d runs", round, sc.name, runs)
			} else if runs > 3 {
				t.Errorf("round %d, %s: converged only after %d runs, want at most 3", round, sc.name, runs)
			}
			if !ok {
				fw.converge(0)
			}
			if d := fw.diff(); d != "" {
				fig.divergences++
				t.Errorf("round %d, %s: diverged after %d runs:\n%s", round, sc.name, runs, d)
			} else if ok {
				fig.converged++
			}
		}
	}
	names := make([]string, 0, len(runsNeeded))
	for n := range runsNeeded {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fig.add("runs_%s=%s", n, strings.Trim(strings.ReplaceAll(fmt.Sprint(runsNeeded[n]), " ", ","), "[]"))
		fig.add("clean_%s=%s", n, strings.Trim(strings.ReplaceAll(fmt.Sprint(cleanRuns[n]), " ", ","), "[]"))
	}
	fig.log(t, "simulator", seed, time.Since(began))
}

// hostileKind is one broken record Exact could serve; marker lands in the record's bytes so
// its quarantine row can be told apart.
type hostileKind struct {
	name   string
	record func(id, marker string) string
}

var hostileKinds = []hostileKind{
	{"nul", func(id, m string) string {
		return `{"ID":"` + id + `","Code":"` + m + `","Name":"has\u0000nul","IsSupplier":true}`
	}},
	{"surrogate", func(id, m string) string {
		return `{"ID":"` + id + `","Code":"` + m + `","Name":"\ud800","IsSupplier":true}`
	}},
	{"bad-guid", func(_, m string) string { return `{"ID":"not-a-guid-` + m + `","Code":"` + m + `","Name":"Geen GUID"}` }},
	{"null-timestamp", func(id, m string) string {
		return `{"ID":"` + id + `","Code":"` + m + `","Name":"Geen Timestamp","Timestamp":null}`
	}},
	{"supplier-yes", func(id, m string) string {
		return `{"ID":"` + id + `","Code":"` + m + `","Name":"Ja","IsSupplier":"yes"}`
	}},
	{"garbage-date", func(id, m string) string {
		return `{"ID":"` + id + `","Code":"` + m + `","Name":"Datum","Created":"/Date(garbage)/"}`
	}},
	{"invalid-array", func(id, m string) string { return `{"ID":"` + id + `","Code":"` + m + `","Name":[1 2 x]}` }},
	{"invalid-escape", func(id, m string) string { return `{"ID":"` + id + `","Code":"` + m + `","Name":"\x"}` }},
}

// TestFaultHostileRecords spreads every kind of hostile record over runs among good records,
// changes and deletions: each must land in exact_sync.rejected_records, everything else must
// be applied, the cursor must move past them, a later good version must replace a quarantine
// row, and --full must succeed too.
func TestFaultHostileRecords(t *testing.T) {
	skipFaultIfShort(t)
	t.Parallel()
	began := time.Now()
	rng, seed := faultRand(t)
	perKind := faultSize(t, 1, 3) // per kind, division and batch
	fw := newFaultWorld(t, 2500)
	fw.importToken()

	type injected struct {
		kind, marker, id string // id: the GUID a later good version uses; "" for bad-guid
		division         int
	}
	var all []injected
	n := 0
	// inject spreads hostile records of every kind among good changes and deletions.
	inject := func() {
		for _, d := range faultDivisions {
			for range perKind {
				for _, k := range hostileKinds {
					fw.mutate(rng, 20+rng.IntN(200)) // good records around each hostile one
					n++
					marker := fmt.Sprintf("H%04d", n)
					id := fmt.Sprintf("f0000000-0000-4000-8000-%012d", n)
					rec := k.record(id, marker)
					if k.name == "bad-guid" {
						id = ""
					}
					fw.control(map[string]any{"division": d, "raw_upsert": []string{rec}})
					all = append(all, injected{k.name, marker, id, d})
				}
			}
		}
	}
	var fig figures
	check := func(stage string) {
		t.Helper()
		fig.trials++
		diverged := false
		if d := fw.diff(); d != "" {
			diverged = true
			t.Errorf("%s: diverged:\n%s", stage, d)
		}
		// Every hostile record still served is quarantined, under accounts, found by its marker.
		rows, err := fw.pool.Query(context.Background(),
			`SELECT division, entity, ref, reason, encode(record, 'escape') FROM exact_sync.rejected_records`)
		if err != nil {
			fig.divergences++
			fig.log(t, "hostile", seed, time.Since(began))
			t.Fatalf("%s: reading exact_sync.rejected_records (the quarantine of bad records): %v", stage, err)
		}
		quarantined := map[string]int{} // "division/marker" → rows (over entities)
		total := 0
		for rows.Next() {
			var div int
			var entity, ref, reason, record string
			if err := rows.Scan(&div, &entity, &ref, &reason, &record); err != nil {
				t.Fatal(err)
			}
			total++
			if entity != "accounts" {
				continue
			}
			for _, in := range all {
				if in.division == div && strings.Contains(record, `"`+in.marker+`"`) {
					quarantined[fmt.Sprintf("%d/%s", div, in.marker)]++
				}
			}
		}
		rows.Close()
		byKind := map[string]int{}
		for _, in := range all {
			live := in.id == "" || isHostile(fw, in.division, in.id)
			got := quarantined[fmt.Sprintf("%d/%s", in.division, in.marker)]
			switch {
			case live && got == 0:
				diverged = true
				t.Errorf("%s: hostile %s record %s of division %d is not in exact_sync.rejected_records", stage, in.kind, in.marker, in.division)
			case !live && got > 0:
				diverged = true
				t.Errorf("%s: %s record %s of division %d has a good version now, but its quarantine row remains", stage, in.kind, in.marker, in.division)
			case live:
				byKind[in.kind]++
			}
		}
		fig.quarantined = total
		kinds := make([]string, 0, len(byKind))
		for _, k := range hostileKinds {
			kinds = append(kinds, fmt.Sprintf("%s:%d", k.name, byKind[k.name]))
		}
		t.Logf("%s: quarantined rows %d; hostile records quarantined under accounts by kind %s", stage, total, strings.Join(kinds, ","))
		// The cursor moved past every record.
		for _, d := range faultDivisions {
			var cursor int64
			err := fw.pool.QueryRow(context.Background(),
				`SELECT cursor_timestamp FROM exact_sync.cursors WHERE division = $1 AND entity = 'accounts'`, d).Scan(&cursor)
			if err != nil {
				t.Fatal(err)
			}
			var last int64
			for _, h := range fw.sim.HostileAccounts(d) {
				// A record served with "Timestamp":null tells no client where it stands:
				// the cursor can only pass it by a later record.
				if !strings.Contains(h.Record, `"Timestamp":null`) {
					last = max(last, h.Timestamp)
				}
			}
			if cursor < last {
				diverged = true
				t.Errorf("%s: division %d's accounts cursor %d is behind its last hostile record at %d", stage, d, cursor, last)
			}
		}
		if diverged {
			fig.divergences++
		} else {
			fig.converged++
		}
	}
	syncBoth := func(stage string, extra ...string) {
		t.Helper()
		for _, entity := range []string{"accounts", "suppliers"} {
			if r := fw.exec(append([]string{"sync", "--entity", entity}, extra...)...); r.code != 0 {
				t.Errorf("%s: sync of %s with hostile records failed: %s", stage, entity, r)
			}
		}
	}

	inject()
	syncBoth("first full run")
	check("first full run")
	inject()
	syncBoth("incremental run")
	check("incremental run")

	// Good versions of half the GUID-keyed hostile records replace them.
	replaced := 0
	for i, in := range all {
		if in.id == "" || i%2 == 1 {
			continue
		}
		fw.control(map[string]any{"division": in.division, "upsert": []map[string]any{{"ID": in.id, "Name": "Hersteld " + in.marker, "IsSupplier": true}}})
		replaced++
	}
	fw.mutate(rng, 50)
	syncBoth("after good versions")
	check("after good versions")
	syncBoth("full pass", "--full")
	check("full pass")
	fig.add("hostile_records=%d replaced=%d", len(all), replaced)
	fig.log(t, "hostile", seed, time.Since(began))
}

// isHostile reports whether the simulator still serves the hostile version of id.
func isHostile(fw *faultWorld, division int, id string) bool {
	for _, h := range fw.sim.HostileAccounts(division) {
		if h.ID == id {
			return true
		}
	}
	return false
}
