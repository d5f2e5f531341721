package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/dest"
)

// TestVerifiedFeedsTheMetrics: drift counts per entity, a clean verification sets the
// entity's last clean time, and no series carries a division.
func TestVerifiedFeedsTheMetrics(t *testing.T) {
	m := New(Config{Logger: zerolog.Nop()})
	at := time.Date(2026, 12, 7, 5, 40, 0, 0, time.UTC)
	for _, d := range []int{101, 102, 103} {
		m.Verified(dest.Verification{Division: d, Entity: "transaction_lines", Status: dest.VerifyDrift, Finished: at})
	}
	m.Verified(dest.Verification{Division: 101, Entity: "accounts", Status: dest.VerifyClean, Finished: at})
	m.Verified(dest.Verification{Division: 101, Entity: "items", Status: dest.VerifyNoCount, Finished: at})
	if got := testutil.ToFloat64(m.drift.WithLabelValues("transaction_lines")); got != 3 {
		t.Errorf("drift of transaction_lines %v, want 3", got)
	}
	if got := testutil.ToFloat64(m.lastClean.WithLabelValues("accounts")); got != float64(at.Unix()) {
		t.Errorf("last clean of accounts %v, want %d", got, at.Unix())
	}
	if n := testutil.CollectAndCount(m.lastClean); n != 1 {
		t.Errorf("%d last-clean series, want 1 (items had no count, transaction_lines drift)", n)
	}
	out, err := testutil.CollectAndFormat(m.drift, expfmt.TypeTextPlain)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "division=") {
		t.Errorf("a verification series has a division label:\n%s", out)
	}
}
