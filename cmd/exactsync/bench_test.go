package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/exactsync/exactsync/sink/sinktest"
)

// TestBenchLaunchesTheBenchmark runs `exactsync bench` with exactsync-bench next to it:
// the arguments reach the benchmark as given, --help included, its output streams through
// and its exit code is exactsync's.
func TestBenchLaunchesTheBenchmark(t *testing.T) {
	t.Parallel()
	bin := binaryWithBench(t)
	suffix := make([]byte, 4)
	rand.Read(suffix)
	dbURL := sinktest.URLFor(sinktest.ServerURL(), "exactsync_test_bench_"+hex.EncodeToString(suffix))
	tests := []struct {
		name     string
		args     []string
		code     int
		out, err string
	}{
		{"help", []string{"--help"}, exitOK, "Usage: exactsync-bench [flags]", ""},
		{"a mistake", []string{"--write-pages", "0"}, exitUsage, "", "exactsync-bench: --write-pages must be at least 1\n"},
		{"quick", []string{"--quick", "--lines-only", "--lines", "2000", "--raw", "off"}, exitOK, "TRANSACTION LINES: 2,000 lines", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, append([]string{"bench"}, tt.args...)...)
			cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code || !strings.Contains(stdout.String(), tt.out) || !strings.Contains(stderr.String(), tt.err) {
				t.Errorf("exactsync bench %s: exit code %d, want %d; want %q in stdout and %q in stderr\nstdout:\n%s\nstderr:\n%s",
					strings.Join(tt.args, " "), code, tt.code, tt.out, tt.err, stdout.String(), stderr.String())
			}
			if strings.Contains(stderr.String(), "exactsync: ") {
				t.Errorf("exactsync added an error of its own to the benchmark's:\n%s", stderr.String())
			}
		})
	}
}

// TestBenchWithoutTheBenchmark checks that bench, --help included, goes to the benchmark
// command, and says how to get it when it is nowhere to be found.
func TestBenchWithoutTheBenchmark(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no exactsync-bench, no go command to build one
	for _, args := range [][]string{{"bench"}, {"bench", "--help"}, {"bench", "--quick"}} {
		var out, errb bytes.Buffer
		code := run(context.Background(), args, strings.NewReader(""), &out, &errb, func(string) string { return "" })
		if code != exitError || !strings.Contains(errb.String(), "go install github.com/exactsync/exactsync/cmd/exactsync-bench@latest") {
			t.Errorf("exactsync %s: exit code %d, stderr %q; want 1 and how to install exactsync-bench", strings.Join(args, " "), code, errb.String())
		}
	}
}
