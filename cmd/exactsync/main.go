// The exactsync command keeps a PostgreSQL copy of Exact Online data fresh.
//
// It migrates the database, stores a connection's refresh token, runs one
// sync by hand, or runs a worker on the shared job queue until SIGTERM. See the README for the
// commands, the environment variables and the tables it writes.
//
// A citation such as §3.10 in its comments names a section of docs/exact-online.md, the
// project's reference of Exact Online.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kong"

	"github.com/exactsync/exactsync/sync"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the work failed
	exitUsage = 2 // bad command line or configuration
	// exitInterrupted is the shell's code for a process ended by SIGINT (128+2); a sync
	// stopped by SIGINT or SIGTERM exits with it after recording the run as canceled.
	exitInterrupted = 130
)

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first SIGINT or SIGTERM stops the command cleanly; a second one ends the
		// process at once: PostgreSQL rolls back the transaction in flight.
		<-sigs
		cancel()
		<-sigs
		fmt.Fprintln(os.Stderr, "exactsync: interrupted again: stopped at once; what was being written is rolled back, rerun to continue")
		os.Exit(exitInterrupted)
	}()
	code := runEnv(&env{ctx: ctx, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, environ: os.Environ}, os.Args[1:])
	signal.Stop(sigs)
	os.Exit(code)
}

// cli is the command line.
type cli struct {
	Migrate    migrateCmd    `cmd:"" help:"Create or upgrade the database schema (run and sync do it too)."`
	Auth       authCmd       `cmd:"" help:"Manage the Exact Online connection's tokens."`
	Sync       syncCmd       `cmd:"" help:"Run one sync by hand, then exit."`
	Run        runCmd        `cmd:"" help:"Run queued sync jobs until SIGTERM; the leader among the run processes queues them on the schedules."`
	Status     statusCmd     `cmd:"" help:"Show each entity of each division: rows stored, last run, last success, what the next run does."`
	Entities   entitiesCmd   `cmd:"" help:"List what can be synced."`
	Verify     verifyCmd     `cmd:"" help:"Compare the copy with Exact Online: counts, and the ledger's control totals; exit 1 on drift (--repair repairs it)."`
	Demo       demoCmd       `cmd:"" help:"Sync from a built-in simulator of Exact Online into PostgreSQL and show what landed."`
	Bench      benchCmd      `cmd:"" passthrough:"" help:"Measure write speed, end-to-end throughput and memory, API and token calls (see BENCHMARKS.md); runs exactsync-bench, whose flags exactsync bench --help lists."`
	Doctor     doctorCmd     `cmd:"" help:"Check the setup and say what to fix: database, encryption key, secrets in plain text, who can read them, readers, connections, divisions, budget, refused runs, schedules, Exact's clock."`
	Webhooks   webhooksCmd   `cmd:"" help:"Manage the Exact Online webhook subscriptions that trigger early incremental runs."`
	Alerts     alertsCmd     `cmd:"" help:"Check the notifications that exactsync run posts to EXACTSYNC_ALERT_URL."`
	Readers    readersCmd    `cmd:"" help:"Manage the roles applications read the database with: schemas exact, exact_history and exact_status, limited by division."`
	DbtSources dbtSourcesCmd `cmd:"" name:"dbt-sources" help:"Print a dbt sources.yml for the enabled tables: descriptions, freshness from the schedules, primary key tests."`
	Version    versionCmd    `cmd:"" help:"Print the version and build information."`
	Help       helpCmd       `cmd:"" help:"Show the help of a command: exactsync help [command]."`
}

// env is what every command gets.
type env struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	// environ lists the whole environment, in which the configuration reports the
	// variables named like exactsync's that it does not read; nil checks nothing.
	environ func() []string
	// flagEnvs are the variables the command line's flags read (EXACTSYNC_KEEPALIVE, …).
	flagEnvs []string
	// now and sleep are the clock of the waits a person sees (auth import's
	// countdown); nil: the real one.
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
	// warnedPlaintext: the command has warned that secrets are stored unencrypted;
	// warnedConfig: it has logged the configuration's warnings.
	warnedPlaintext, warnedConfig bool
	// sealedAtStart is how many secrets stored in plain text the command's start sealed.
	sealedAtStart int
	// startHook, when set, is told each step of run's start as it begins (see
	// startStep), for tests that take the database away at a chosen step.
	startHook func(step string)
}

// usageError marks a mistake in what the user asked for (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// exitCodeError makes exactsync exit with code, printing nothing: a command it ran
// (exactsync bench) has said what happened.
type exitCodeError struct{ code int }

func (e exitCodeError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	return runEnv(&env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}, args)
}

// runEnv runs the command line args in e and returns the exit code.
func runEnv(e *env, args []string) (code int) {
	stdout, stderr := e.stdout, e.stderr
	var c cli
	parser, err := kong.New(&c,
		kong.Name("exactsync"),
		kong.Description("Keeps a PostgreSQL copy of Exact Online data fresh."),
		kong.Writers(stdout, stderr),
		// Help (-h, --help) ends the parse through Exit: unwind to the exit code.
		kong.Exit(func(code int) { panic(exitRequest(code)) }),
		kong.Vars{"entities": strings.Join(sync.Names(), ", "), "default_batch_pages": strconv.Itoa(sync.DefaultBatchPages),
			"default_batch_mib": strconv.Itoa(sync.DefaultBatchBytes >> 20)},
	)
	if err != nil {
		fmt.Fprintf(stderr, "exactsync: %v\n", err)
		return exitError
	}
	e.flagEnvs = flagEnvs(parser.Model.Node)
	defer func() {
		if r := recover(); r != nil {
			ex, ok := r.(exitRequest)
			if !ok {
				panic(r)
			}
			code = int(ex)
		}
	}()
	if len(args) == 0 {
		printShortUsage(stderr, parser)
		return exitUsage
	}
	if args[0] == "help" && !slices.Contains(args, "--help") && !slices.Contains(args, "-h") {
		// exactsync help [command...] is exactsync [command...] --help.
		args = append(slices.Clone(args[1:]), "--help")
	}
	kctx, err := parser.Parse(negativeValues(parser.Model.Node, args))
	if err != nil {
		fmt.Fprintf(stderr, "exactsync: %s (see exactsync help)\n", redactArgs(err.Error(), args))
		return exitUsage
	}
	if err := kctx.Run(e); err != nil {
		var ue usageError
		var ec exitCodeError
		switch {
		case errors.As(err, &ec):
			return ec.code
		case errors.As(err, &ue):
			fmt.Fprintf(stderr, "exactsync: %s\n", oneLine(err.Error()))
			return exitUsage
		case errors.Is(err, errInterrupted):
			fmt.Fprintf(stderr, "exactsync: %s\n", oneLine(err.Error()))
			return exitInterrupted
		}
		fmt.Fprintf(stderr, "exactsync: %s\n", oneLine(err.Error()))
		return exitError
	}
	return exitOK
}

// negativeNumber is a value that looks like a flag to the parser: -1, -5s.
var negativeNumber = regexp.MustCompile(`^-[0-9][0-9.]*[a-zµ]*$`)

// negativeValues joins a flag that takes a value and a negative number after it
// (--workers -1 becomes --workers=-1), which the parser would take for a short flag,
// so that the value reaches the command's own check ("--workers -1: use 1 or more")
// instead of a hint to write --workers="-1", which that check refuses anyway.
func negativeValues(root *kong.Node, args []string) []string {
	takesValue := map[string]bool{}
	var walk func(n *kong.Node)
	walk = func(n *kong.Node) {
		for _, f := range n.Flags {
			if !f.IsBool() && !f.IsCounter() {
				takesValue["--"+f.Name] = true
			}
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(root)
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		if i+1 < len(args) && takesValue[args[i]] && negativeNumber.MatchString(args[i+1]) {
			out = append(out, args[i]+"="+args[i+1])
			i++
			continue
		}
		if args[i] == "--" {
			return append(out, args[i:]...) // the rest are arguments, as given
		}
		out = append(out, args[i])
	}
	return out
}

// flagEnvs are the variables the flags of n and its subcommands read.
func flagEnvs(n *kong.Node) []string {
	var out []string
	for _, f := range n.Flags {
		out = append(out, f.Envs...)
	}
	for _, c := range n.Children {
		out = append(out, flagEnvs(c)...)
	}
	return out
}

// exitRequest is kong asking to exit (after printing help).
type exitRequest int

// printShortUsage is what a bare exactsync prints: the commands, a line each.
func printShortUsage(w io.Writer, parser *kong.Kong) {
	fmt.Fprintln(w, "Usage: exactsync <command> [flags]")
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, n := range parser.Model.Children {
		if !n.Hidden {
			fmt.Fprintf(tw, "  %s\t%s\n", n.Name, n.Help)
		}
	}
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run `exactsync help <command>` (or exactsync <command> --help) for its flags.")
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

// oneLine keeps an error message on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
