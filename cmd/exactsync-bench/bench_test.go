package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exactsync/exactsync/sink/sinktest"
)

// TestBenchQuick runs `exactsync-bench --quick` (small sizes, the same code paths as the
// published figures) and checks that it reports every figure.
func TestBenchQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the benchmark; skipped with -short")
	}
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "exactsync-bench")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	suffix := make([]byte, 4)
	rand.Read(suffix)
	dbURL := sinktest.URLFor(sinktest.ServerURL(), "exactsync_test_bench_"+hex.EncodeToString(suffix))
	cmd := exec.Command(bin, "--quick")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("exactsync-bench --quick: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	got := string(out)
	for _, want := range []string{
		"exactsync bench: ",
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

// TestUsageErrors checks the mistakes the command refuses before it measures anything.
func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"--fast"}, "exactsync-bench: unknown flag --fast"},
		{"no pages", []string{"--write-pages", "0"}, "exactsync-bench: --write-pages must be at least 1\n"},
		{"no batch", []string{"--batch-mib", "0"}, "--batch-pages and --batch-mib must be at least 1"},
		{"no rounds", []string{"--rounds", "0"}, "--rounds at least 1"},
		{"lines-only without lines", []string{"--lines-only", "--lines", "0"}, "--lines-only needs --lines above 0"},
		{"bad size", []string{"--child", "ten"}, `invalid size "ten"`},
		{"child-lines with both", []string{"--child-lines", "sync"}, "--child-lines needs --raw on or off"},
		{"bad raw", []string{"--raw", "maybe"}, "--raw must be one of"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tt.args, &out, &errb, func(string) string { return "" })
			if code != exitUsage {
				t.Errorf("exit code %d, want %d (stderr %q)", code, exitUsage, errb.String())
			}
			if !strings.Contains(errb.String(), tt.want) {
				t.Errorf("stderr %q lacks %q", errb.String(), tt.want)
			}
			if out.Len() != 0 {
				t.Errorf("stdout %q, want nothing", out.String())
			}
		})
	}
}

// TestHelpDescribesEveryFlag checks that --help gives every flag but the child modes a
// description.
func TestHelpDescribesEveryFlag(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, &out, &out, func(string) string { return "" }); code != exitOK {
		t.Fatalf("exit code %d, want 0:\n%s", code, out.String())
	}
	for _, flag := range []string{"--quick", "--write-pages", "--cpuprofile", "--batch-pages", "--batch-mib",
		"--lines", "--lines-only", "--rounds", "--raw", "DATABASE_URL", "Usage: exactsync-bench"} {
		if !strings.Contains(out.String(), flag) {
			t.Errorf("help lacks %s:\n%s", flag, out.String())
		}
	}
	for _, hidden := range []string{"--child", "--child-lines"} {
		if strings.Contains(out.String(), hidden+"=") {
			t.Errorf("help shows the hidden %s:\n%s", hidden, out.String())
		}
	}
}
