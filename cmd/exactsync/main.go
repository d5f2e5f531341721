// The exactsync command keeps a PostgreSQL copy of Exact Online data fresh.
//
// It migrates the database, stores a connection's refresh token, runs one
// sync by hand, or runs a worker on the shared job queue until SIGTERM. See the README for the
// commands, the environment variables and the tables it writes.
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

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the work failed
	exitUsage = 2 // bad command line or configuration
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// cli is the command line.
type cli struct {
	Migrate  migrateCmd  `cmd:"" help:"Create or upgrade the database schema (run and sync do it too)."`
	Auth     authCmd     `cmd:"" help:"Manage the Exact Online connection's tokens."`
	Sync     syncCmd     `cmd:"" help:"Run one sync by hand, then exit."`
	Run      runCmd      `cmd:"" help:"Run queued sync jobs until SIGTERM; the leader among the run processes queues them on the schedules."`
	Status   statusCmd   `cmd:"" help:"Show each entity of each division: rows stored, last run, last success, what the next run does."`
	Entities entitiesCmd `cmd:"" help:"List what can be synced."`
	Demo     demoCmd     `cmd:"" help:"Sync from a built-in simulator of Exact Online into PostgreSQL and show what landed."`
	Bench    benchCmd    `cmd:"" help:"Measure write speed, end-to-end throughput and memory, API and token calls (see BENCHMARKS.md)."`
}

// env is what every command gets.
type env struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

// usageError marks a mistake in what the user asked for (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	var c cli
	parser, err := kong.New(&c,
		kong.Name("exactsync"),
		kong.Description("Keeps a PostgreSQL copy of Exact Online data fresh."),
		kong.Writers(stdout, stderr),
		kong.Exit(func(int) {}),
		kong.Vars{"entities": strings.Join(sync.Names(), ", "), "default_batch_pages": strconv.Itoa(sync.DefaultBatchPages),
			"default_batch_mib": strconv.Itoa(sync.DefaultBatchBytes >> 20)},
	)
	if err != nil {
		fmt.Fprintf(stderr, "exactsync: %v\n", err)
		return exitError
	}
	if len(args) == 0 {
		args = []string{"--help"}
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "exactsync: %s (see exactsync --help)\n", redactArgs(err.Error(), args))
		return exitUsage
	}
	if kctx.Command() == "" || hasHelp(args) {
		return exitOK
	}
	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	if err := kctx.Run(e); err != nil {
		fmt.Fprintf(stderr, "exactsync: %s\n", oneLine(err.Error()))
		var ue usageError
		if errors.As(err, &ue) {
			return exitUsage
		}
		return exitError
	}
	return exitOK
}

// redactArgs hides long command-line values in a parse error: a token put
// in the wrong place must not be echoed back.
func redactArgs(msg string, args []string) string {
	for _, a := range args {
		if _, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(a, "--") {
			a = v
		}
		if len(a) >= 16 && !strings.HasPrefix(a, "-") {
			msg = strings.ReplaceAll(msg, a, "[redacted]")
		}
	}
	return msg
}

func hasHelp(args []string) bool {
	for _, a := range args {
		if a == "--help" || a == "-h" {
			return true
		}
	}
	return false
}

// oneLine keeps an error message on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
