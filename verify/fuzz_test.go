package verify

import (
	"math/big"
	"testing"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
)

// FuzzReportingBalancePage reads pages of financial/ReportingBalance as Exact might send
// them: no input panics, and the totals a page gives, compared with the same totals as the
// copy would hold them (amounts as decimal text), show no difference.
func FuzzReportingBalancePage(f *testing.F) {
	f.Add([]byte(`{"d":{"results":[{"ReportingYear":2024,"ReportingPeriod":12,"GLAccount":"5d1f0c0a-1b2c-4d3e-8f40-5a6b7c8d9e0f","CostCenterCode":"  CC1","CostUnitCode":null,"Type":20,"Status":50,"Count":3,"Amount":138301.82}]}}`))
	f.Add([]byte(`{"d":{"results":[{"ReportingYear":2025,"ReportingPeriod":1,"GLAccount":null,"CostCenterCode":"","CostUnitCode":"","Type":"10","Status":20,"Count":"1","Amount":1E-05},` +
		`{"ReportingYear":2025,"ReportingPeriod":1,"GLAccount":null,"CostCenterCode":"","CostUnitCode":"","Type":"10","Status":20,"Count":"2","Amount":-0.005}],"__count":"2"}}`))
	f.Add([]byte(`{"d":[{"Amount":"x"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := exact.DecodePage(ReportingBalance, body)
		if err != nil {
			return
		}
		side := map[dest.LedgerKey]total{}
		for _, r := range p.Records {
			k, tot, err := balanceRow(r)
			if err != nil {
				continue
			}
			cur, ok := side[k]
			if !ok {
				cur = total{amount: new(big.Rat)}
			}
			cur.count += tot.count
			cur.amount.Add(cur.amount, tot.amount)
			side[k] = cur
		}
		var local []dest.LedgerGroup
		for k, tot := range side {
			local = append(local, dest.LedgerGroup{LedgerKey: k, Count: tot.count, Amount: decimalText(tot.amount)})
		}
		if diffs, n := compareLedger(side, local); len(diffs) != 0 || n != len(side) {
			t.Fatalf("a ledger compared with itself: %d groups, differences %+v", n, diffs)
		}
	})
}
