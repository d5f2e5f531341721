package sync

import (
	"testing"

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
