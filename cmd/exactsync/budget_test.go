package main

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/exact/exacttest"
)

func TestRunsPerDay(t *testing.T) {
	loc, _ := time.LoadLocation("Europe/Amsterdam")
	now := time.Date(2026, 3, 27, 12, 0, 0, 0, loc) // the next days cross the change to summer time
	for spec, want := range map[string]int{"*/15 * * * *": 96, "5 * * * *": 24, "30 2 * * *": 1, "0 3 * * 0": 1, "": 0, "* * * * *": 1440} {
		got, err := runsPerDay(spec, loc, now)
		if err != nil || got != want {
			t.Errorf("runsPerDay(%q) = %d, %v; want %d", spec, got, err, want)
		}
	}
}

// TestBudgetForecast: `entities` shows each entity's share of the forecast, and `run`
// refuses a configuration whose forecast exceeds 80 % of Exact's day budget, in one line
// with the numbers and what to change, before it touches anything.
func TestBudgetForecast(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 10})
	w.env["EXACTSYNC_ENTITIES"] = "accounts,suppliers"
	out := w.mustRun("entities").stdout
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^enabled \(EXACTSYNC_ENTITIES\):\nENTITY +ENDPOINT +READ +SCHEDULE +FULL PASS +CALLS/DAY\naccounts +sync/CRM/Accounts +sync +\*/15 \* \* \* \* +30 2 \* \* \* +\d+\nsuppliers +sync/CRM/Accounts +sync +\*/15 \* \* \* \* +30 2 \* \* \* +with accounts\n\n`),
		regexp.MustCompile(`(?m)^transaction_lines +sync/Financial/TransactionLines +sync$`),
		regexp.MustCompile(`(?m)^not synced:\n(  .*\n)*  quotations: Exact marks sync/CRM/Quotations deprecated$`),
		regexp.MustCompile(`(?m)^each entity's table is exact.<entity>`),
		regexp.MustCompile(`(?m)^forecast per division: \d+ calls a day .*, verification 2\),\nwithin the 4000`),
		regexp.MustCompile(`(?m)^verification \(EXACTSYNC_VERIFY_SCHEDULE 40 5 \* \* \*\): 2 calls per division`),
	} {
		if !want.MatchString(out) {
			t.Errorf("entities output lacks %s:\n%s", want, out)
		}
	}
	for line := range strings.SplitSeq(out, "\n") {
		if len(line) > 120 {
			t.Errorf("entities line of %d columns, want at most 120: %q", len(line), line)
		}
	}

	every := map[string]string{"EXACTSYNC_SCHEDULE_DEFAULT": "* * * * *", "EXACTSYNC_FULL_SCHEDULE_DEFAULT": "* * * * *"}
	if out := w.run(every, "entities").stdout; !strings.Contains(out, "OVER the 4000") {
		t.Errorf("entities does not flag the over-full forecast:\n%s", out)
	}
	r := w.run(every, "run")
	if r.code != 2 {
		t.Fatalf("run with an over-full schedule: %s; want exit 2", r)
	}
	checkErrorLine(t, r, "forecast 4346 API calls a day per division, over 4000", "5000", "EXACTSYNC_SCHEDULE_DEFAULT", "exactsync entities")
}

// TestDefaultEntitiesFitTheBudget: the default bookkeeping set with the default schedules,
// and every entity at the default schedule is refused with the numbers.
func TestDefaultEntitiesFitTheBudget(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 10})
	out := w.mustRun("entities").stdout
	for _, want := range []string{"transaction_lines", "gl_accounts", "vat_codes", "within the 4000"} {
		if !strings.Contains(out, want) {
			t.Errorf("entities output lacks %q:\n%s", want, out)
		}
	}
	r := w.run(map[string]string{"EXACTSYNC_ENTITIES": "all"}, "run")
	if r.code != 2 {
		t.Fatalf("run with every entity every 15 minutes: %s; want exit 2", r)
	}
	checkErrorLine(t, r, "API calls a day per division, over 4000")
}

func TestSchedulesShareOneReadPerEndpoint(t *testing.T) {
	cfg := &config.Config{
		Entities:      []string{"accounts", "suppliers", "journals", "transaction_lines"},
		Schedules:     map[string]string{"accounts": "*/15 * * * *", "suppliers": "*/15 * * * *", "journals": "5 * * * *", "transaction_lines": "*/5 * * * *"},
		FullSchedules: map[string]string{"accounts": "30 2 * * *", "suppliers": "30 2 * * *", "journals": "15 2 * * *"},
	}
	ticks, err := schedules(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var got []tick
	for _, tk := range ticks {
		got = append(got, *tk)
	}
	want := []tick{
		{spec: "*/15 * * * *", entity: "accounts", with: []string{"suppliers"}, deletions: true},
		{spec: "30 2 * * *", entity: "accounts", with: []string{"suppliers"}, full: true, deletions: true},
		{spec: "5 * * * *", entity: "journals"},
		{spec: "15 2 * * *", entity: "journals", full: true},
		{spec: "*/5 * * * *", entity: "transaction_lines", deletions: true},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(tick{})); diff != "" {
		t.Errorf("ticks (-want +got):\n%s", diff)
	}
}
