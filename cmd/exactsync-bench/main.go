// The exactsync-bench command measures exactsync: the sink's writes against a plain COPY,
// full and incremental syncs from the simulator of Exact Online (throughput, peak memory,
// API calls), a rate-limited sync and the token calls of several workers in simulated
// time, and a million transaction lines against a plain COPY. BENCHMARKS.md publishes its
// figures and how they were taken.
//
// `exactsync bench [flags]` runs it with the same flags, as does `go run
// ./cmd/exactsync-bench [flags]`. It runs each end-to-end size and each side of the
// transaction-lines benchmark in a fresh child process of itself (the hidden flags --child
// and --child-lines), so that each peak RSS is its own. It carries the simulator (package
// exacttest) and the benchmark's database code (package benchdb), which the exactsync
// command never does.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/alecthomas/kong"

	"github.com/exactsync/exactsync/sync"
)

// Exit codes, as exactsync's.
const (
	exitOK    = 0
	exitError = 1 // the work failed
	exitUsage = 2 // bad command line
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// env is what the benchmark gets.
type env struct {
	ctx    context.Context
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

// usageError marks a mistake in what the user asked for (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	var c benchCmd
	helped := false
	parser, err := kong.New(&c,
		kong.Name("exactsync-bench"),
		kong.Description("Measure write speed, end-to-end throughput and memory, API and token calls "+
			"(see BENCHMARKS.md). `exactsync bench` runs it with the same flags. DATABASE_URL names the "+
			"PostgreSQL server (default "+defaultBenchDatabaseURL+"); the benchmark creates its own "+
			"databases next to the one named and drops them when done."),
		kong.Writers(stdout, stderr),
		kong.Exit(func(int) { helped = true }),
		kong.Vars{"default_batch_pages": strconv.Itoa(sync.DefaultBatchPages),
			"default_batch_mib": strconv.Itoa(sync.DefaultBatchBytes >> 20)},
	)
	if err != nil {
		fmt.Fprintf(stderr, "exactsync-bench: %v\n", err)
		return exitError
	}
	_, err = parser.Parse(args)
	if helped {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "exactsync-bench: %s (see exactsync-bench --help)\n", err)
		return exitUsage
	}
	e := &env{ctx: ctx, stdout: stdout, stderr: stderr, getenv: getenv}
	if err := c.Run(e); err != nil {
		fmt.Fprintf(stderr, "exactsync-bench: %s\n", strings.Join(strings.Fields(err.Error()), " "))
		var ue usageError
		if errors.As(err, &ue) {
			return exitUsage
		}
		return exitError
	}
	return exitOK
}
