package sync

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestForecastCalls(t *testing.T) {
	f, err := ForecastCalls([]Plan{
		{Entity: "suppliers", Schedule: "*/15 * * * *", FullSchedule: "30 2 * * *", IncrementalPerDay: 96, FullPerDay: 1},
		{Entity: "accounts", Schedule: "*/15 * * * *", FullSchedule: "30 2 * * *", IncrementalPerDay: 96, FullPerDay: 1},
		{Entity: "transaction_lines", IncrementalPerDay: 288},
		{Entity: "journals", IncrementalPerDay: 24},
	}, 288)
	if err != nil {
		t.Fatal(err)
	}
	want := Forecast{
		Entities:   map[string]int{"accounts": 97, "suppliers": 0, "transaction_lines": 288, "journals": 24},
		SharedWith: map[string]string{"suppliers": "accounts"},
		Deletions:  288, Listing: ListingsPerDay,
		Total: 97 + 288 + 24 + 288 + ListingsPerDay,
	}
	if diff := cmp.Diff(want, f); diff != "" {
		t.Errorf("forecast (-want +got):\n%s", diff)
	}
	if f.Over() {
		t.Errorf("%d calls over the limit of %d", f.Total, Limit())
	}

	// Reference entities alone read no deletions; a schedule of their own unshares.
	f, err = ForecastCalls([]Plan{{Entity: "journals", Schedule: "* * * * *", IncrementalPerDay: 1440},
		{Entity: "vat_codes", Schedule: "* * * * *", IncrementalPerDay: 1440},
		{Entity: "costcenters", Schedule: "* * * * *", IncrementalPerDay: 1440}}, 1440)
	if err != nil {
		t.Fatal(err)
	}
	if f.Deletions != 0 || f.Total != 3*1440+ListingsPerDay || !f.Over() {
		t.Errorf("forecast %+v: want no deletions, %d calls, over the limit", f, 3*1440+ListingsPerDay)
	}
	if _, err := ForecastCalls([]Plan{{Entity: "invoices"}}, 0); err == nil {
		t.Error("an unknown entity was forecast")
	}
}

// TestDayBudget tells a day this app spent from one other applications of the licence
// spent (§2.7): by this app's own calls against its limit, once Exact says none are left.
func TestDayBudget(t *testing.T) {
	now := time.Date(2026, 1, 5, 14, 0, 0, 0, time.UTC)
	reset := time.Date(2026, 1, 6, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name          string
		b             DayBudget
		spent, others bool
	}{
		{"calls left", DayBudget{Limit: 5000, Remaining: 1200, Reset: reset, Own: 3800}, false, false},
		{"spent by this app", DayBudget{Limit: 5000, Remaining: 0, Reset: reset, Own: 4980}, true, false},
		{"spent by this app, some calls unrecorded", DayBudget{Limit: 5000, Remaining: 0, Reset: reset, Own: 4600}, true, false},
		{"spent by other applications", DayBudget{Limit: 5000, Remaining: 0, Reset: reset, Own: 37}, true, true},
		{"reset since", DayBudget{Limit: 5000, Remaining: 0, Reset: now.Add(-time.Minute), Own: 37}, false, false},
		{"never seen", DayBudget{}, false, false},
	} {
		if got := tt.b.Spent(now); got != tt.spent {
			t.Errorf("%s: Spent = %v, want %v", tt.name, got, tt.spent)
		}
		if got := tt.b.SpentByOthers(now); got != tt.others {
			t.Errorf("%s: SpentByOthers = %v, want %v", tt.name, got, tt.others)
		}
	}
	if got := DayStart(reset); !got.Equal(time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("DayStart(%s) = %s, want the start of that UTC day", reset, got)
	}
}
