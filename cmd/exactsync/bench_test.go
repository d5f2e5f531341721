package main

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/exactsync/exactsync/sink/sinktest"
)

// TestBenchQuick runs `exactsync bench --quick` (small sizes, the same code paths as the
// published figures) and checks that it reports every figure.
func TestBenchQuick(t *testing.T) {
	t.Parallel()
	suffix := make([]byte, 4)
	rand.Read(suffix)
	dbURL := sinktest.URLFor(sinktest.ServerURL(), "exactsync_test_bench_"+hex.EncodeToString(suffix))
	cmd := exec.Command(binary(t), "bench", "--quick")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("exactsync bench --quick: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	got := string(out)
	for _, want := range []string{
		"plain COPY, unindexed table (baseline)",
		"upsert into exact.accounts, new rows",
		"upsert into exact.accounts, updated rows",
		"peak RSS",
		"full sync calls ≤ ⌈N/1000⌉ + deletion calls + 3 (per division): met",
		"incremental run with nothing changed ≤ 2 calls per entity and < 1 s: met",
		"429s: 0",
		"target at most one per 570 s per connection: met",
		"TRANSACTION LINES: 20,000 lines",
		"raw on: full sync vs plain COPY: ",
		"raw off: full sync vs plain COPY: ",
		"peak RSS of the full sync: ",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if lines := strings.Count(got, "\n"); lines < 28 {
		t.Errorf("got %d lines of output, want the full report:\n%s", lines, got)
	}
}
