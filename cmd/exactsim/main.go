// The exactsim command serves the Exact Online simulator (package exacttest) as a standalone
// server, for demos and black-box tests of exactsync.
//
// On start it prints "exactsim listening on http://HOST:PORT", then the client id and, when
// --refresh-token was not given, the refresh token at the head of the chain (generated, or
// the one --state kept). It stops on SIGINT or SIGTERM.
//
//	exactsim --addr 127.0.0.1:8080 --divisions 101,102 --accounts 1000 --records transaction_lines=200000,items=5000
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/exactsync/exactsync/exact/exacttest"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "exactsim:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

// helpError carries the help text asked for with -h or --help.
type helpError struct{ text string }

func (e helpError) Error() string { return e.text }

type usageError struct{ err error }

func (e usageError) Error() string        { return e.err.Error() + " (see exactsim -h)" }
func (e usageError) Is(target error) bool { return target == errUsage }

// parseFlags turns the command line into listen address and simulator options, and
// whether to stop when standard input ends.
func parseFlags(args []string) (string, exacttest.Options, bool, error) {
	fs := flag.NewFlagSet("exactsim", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		opts      exacttest.Options
		divisions string
		mandatory bool
		start     string
		window    string
		body401   string
		bare      bool
		records   string
		syncTS    string
		hidden    string
	)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (port 0 picks a free port)")
	stdinEOF := fs.Bool("exit-on-stdin-eof", false, "stop when standard input ends: a parent that holds a pipe to it takes the simulator with it however it ends")
	fs.StringVar(&divisions, "divisions", "101,102", "comma-separated division codes; the first is the user's current division")
	fs.IntVar(&opts.Accounts, "accounts", 500, "generated accounts per division")
	fs.StringVar(&records, "records", "", `generated records per division of other entities, like transaction_lines=200000,items=5000; "*=N" sizes every entity not named (default 20 each)`)
	fs.Int64Var(&opts.Seed, "seed", 1, "seed of the generated data")
	fs.StringVar(&opts.ClientID, "client-id", "exactsim-client", "OAuth client id")
	fs.StringVar(&opts.ClientSecret, "client-secret", "exactsim-secret", "OAuth client secret")
	fs.StringVar(&opts.RefreshToken, "refresh-token", "", "refresh token accepted as the start of a chain (generated and printed when empty)")
	fs.StringVar(&opts.AuthStateFile, "state", "", "file that keeps the token chain across restarts, as Exact does (created if missing; empty: memory only)")
	fs.StringVar(&opts.RedirectURI, "redirect-uri", "https://localhost:8443/callback", "registered redirect URI")
	fs.IntVar(&opts.MinutelyLimit, "minutely-limit", 60, "calls per division per clock minute (0 = no limit)")
	fs.IntVar(&opts.DailyLimit, "daily-limit", 5000, "calls per division per UTC day (0 = no limit)")
	fs.BoolVar(&mandatory, "mandatory-filter", true, "require a $filter on crm/Accounts, bulk/CRM/Accounts and logistics/Items")
	fs.BoolVar(&opts.ErrorBudget, "error-budget", false, "block an endpoint (the token endpoint too) for an hour after 10 errors in an hour, doubling when it repeats")
	fs.IntVar(&opts.Licence.DailyLimit, "licence-daily-limit", 0, "calls per UTC day of all apps of the licence together, e.g. 20000 (0 = no cap)")
	fs.BoolVar(&opts.Licence.PerDivision, "licence-per-division", false, "count -licence-daily-limit per division (an administration) instead of over all divisions")
	fs.IntVar(&opts.Licence.OtherAppCalls, "other-app-calls", 0, "calls other apps of the licence spend each UTC day, from its start")
	fs.Float64Var(&opts.Faults.ErrorRate, "fault-rate", 0, "probability of a 500/503 on a REST data call")
	fs.DurationVar(&opts.Faults.Latency, "latency", 0, "latency added to each REST call")
	fs.Float64Var(&opts.Faults.TruncateRate, "truncate-rate", 0, "probability of a truncated page body")
	fs.StringVar(&start, "start", "now", `simulated clock start, RFC 3339, or "now"`)
	fs.BoolVar(&opts.FreezeClock, "freeze-clock", false, "move the simulated clock only through POST /_sim/clock")
	fs.BoolVar(&opts.Maintenance, "maintenance", false, "answer 503 during the daily maintenance window")
	fs.StringVar(&window, "maintenance-window", "04:00-04:30", "daily maintenance window, HH:MM-HH:MM in Amsterdam time")
	fs.StringVar(&body401, "unauthorized-body", "html", `body of the REST 401: "html" (Object moved page) or "empty"`)
	fs.BoolVar(&bare, "bare-envelope", true, `serve {"d":[…]} for a GET with $top of at most 60 and no $skiptoken (docs/exact-online.md §3.5)`)
	fs.StringVar(&opts.Webhooks.Secret, "webhook-secret", exacttest.DefaultWebhookSecret, "the app's webhook secret, which signs deliveries")
	fs.DurationVar(&opts.Webhooks.ValidationDelay, "webhook-validation-delay", time.Second, "wait between a subscription and its validation call")
	fs.DurationVar(&opts.Webhooks.Delay, "webhook-delay", 0, "delay of every webhook delivery")
	fs.Float64Var(&opts.Webhooks.LossRate, "webhook-loss", 0, "probability that a webhook delivery is lost")
	fs.IntVar(&opts.Webhooks.Duplicates, "webhook-duplicates", 0, "extra copies of every webhook delivery")
	fs.BoolVar(&opts.Webhooks.WrongSignature, "webhook-wrong-signature", false, "sign webhook deliveries with another secret")
	fs.DurationVar(&opts.DeletedRetention, "deleted-retention", 60*24*time.Hour, "how long sync/Deleted keeps a deletion (Exact: two months)")
	fs.StringVar(&hidden, "hidden-from-sync", "", "generated records per division the sync endpoint never serves though counts include them (drift), like transaction_lines=2,accounts=1")
	fs.StringVar(&syncTS, "sync-timestamp-endpoints", "TransactionLines,SalesInvoices,PurchaseOrders,Projects,SalesOrderHeaders",
		"comma-separated endpoint names read/sync/Sync/SyncTimestamp accepts")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			var b strings.Builder
			b.WriteString("usage: exactsim [flags]\n\nServes a simulator of Exact Online's OAuth2 and REST API (see package exacttest).\n\nFlags:\n")
			fs.SetOutput(&b)
			fs.PrintDefaults()
			return "", opts, false, helpError{b.String()}
		}
		return "", opts, false, usageError{err}
	}
	if fs.NArg() > 0 {
		return "", opts, false, usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	opts.NoMandatoryFilter = !mandatory
	opts.NoBareEnvelope = !bare
	switch body401 {
	case "html":
	case "empty":
		opts.EmptyUnauthorizedBody = true
	default:
		return "", opts, false, usageError{fmt.Errorf("invalid value %q for flag -unauthorized-body: want html or empty", body401)}
	}
	from, to, ok := strings.Cut(window, "-")
	var (
		errs [2]error
		err  error
	)
	opts.MaintenanceStart, errs[0] = timeOfDay(from)
	opts.MaintenanceEnd, errs[1] = timeOfDay(to)
	if !ok || errs[0] != nil || errs[1] != nil || opts.MaintenanceStart == opts.MaintenanceEnd {
		return "", opts, false, usageError{fmt.Errorf("invalid value %q for flag -maintenance-window: want HH:MM-HH:MM like 04:00-04:30", window)}
	}
	if opts.Records, err = parseRecords(records); err != nil {
		return "", opts, false, usageError{err}
	}
	if opts.HiddenFromSync, err = parseHidden(hidden); err != nil {
		return "", opts, false, usageError{err}
	}
	for d := range strings.SplitSeq(divisions, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(d))
		if err != nil || n <= 0 {
			return "", opts, false, usageError{fmt.Errorf("invalid value %q for flag -divisions: want division codes like 101,102", divisions)}
		}
		opts.Divisions = append(opts.Divisions, n)
	}
	opts.SyncTimestampEndpoints = []string{}
	for name := range strings.SplitSeq(syncTS, ",") {
		if name = strings.TrimSpace(name); name != "" {
			opts.SyncTimestampEndpoints = append(opts.SyncTimestampEndpoints, name)
		}
	}
	switch {
	case opts.DeletedRetention <= 0:
		return "", opts, false, usageError{fmt.Errorf("invalid value %v for flag -deleted-retention: want a positive duration like 1440h", opts.DeletedRetention)}
	case opts.Webhooks.LossRate < 0 || opts.Webhooks.LossRate > 1 || opts.Webhooks.Duplicates < 0:
		return "", opts, false, usageError{errors.New("-webhook-loss must be from 0 to 1 and -webhook-duplicates not negative")}
	case opts.Accounts < 0 || opts.MinutelyLimit < 0 || opts.DailyLimit < 0:
		return "", opts, false, usageError{errors.New("-accounts, -minutely-limit and -daily-limit must not be negative")}
	case opts.Licence.DailyLimit < 0 || opts.Licence.OtherAppCalls < 0:
		return "", opts, false, usageError{errors.New("-licence-daily-limit and -other-app-calls must not be negative")}
	case opts.Faults.ErrorRate < 0 || opts.Faults.ErrorRate > 1 || opts.Faults.TruncateRate < 0 || opts.Faults.TruncateRate > 1:
		return "", opts, false, usageError{errors.New("-fault-rate and -truncate-rate are probabilities between 0 and 1")}
	}
	if start == "now" {
		opts.Start = time.Now().UTC()
	} else {
		t, err := time.Parse(time.RFC3339, start)
		if err != nil {
			return "", opts, false, usageError{fmt.Errorf("invalid value %q for flag -start: want RFC 3339 or \"now\"", start)}
		}
		opts.Start = t
	}
	return *addr, opts, *stdinEOF, nil
}

// parseRecords parses --records: name=count pairs of the simulator's entities, or "*=count".
func parseRecords(s string) (map[string]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	valid := exacttest.Entities()
	out := map[string]int{}
	for pair := range strings.SplitSeq(s, ",") {
		name, count, ok := strings.Cut(strings.TrimSpace(pair), "=")
		n, err := strconv.Atoi(count)
		switch {
		case !ok || err != nil || n < 0:
			return nil, fmt.Errorf("invalid value %q for flag -records: want name=count pairs like transaction_lines=200000,items=5000", s)
		case name == "accounts":
			return nil, errors.New("-records: size the accounts with -accounts")
		case name == "divisions":
			return nil, errors.New("-records: the divisions are -divisions")
		case name != "*" && !slices.Contains(valid, name):
			return nil, fmt.Errorf("-records: unknown entity %q; the simulator serves %s", name, strings.Join(valid, ", "))
		}
		out[name] = n
	}
	return out, nil
}

// parseHidden parses --hidden-from-sync: name=count pairs of entities with a sync endpoint.
func parseHidden(s string) (map[string]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	out := map[string]int{}
	for pair := range strings.SplitSeq(s, ",") {
		name, count, ok := strings.Cut(strings.TrimSpace(pair), "=")
		n, err := strconv.Atoi(count)
		switch {
		case !ok || err != nil || n < 0:
			return nil, fmt.Errorf("invalid value %q for flag -hidden-from-sync: want name=count pairs like transaction_lines=2,accounts=1", s)
		case !slices.Contains(exacttest.SyncEntities(), name):
			return nil, fmt.Errorf("-hidden-from-sync: %q is no entity with a sync endpoint; those are %s", name, strings.Join(exacttest.SyncEntities(), ", "))
		}
		out[name] = n
	}
	return out, nil
}

// timeOfDay parses "HH:MM" as an offset from midnight.
func timeOfDay(s string) (time.Duration, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		return 0, err
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	addr, opts, stdinEOF, err := parseFlags(args)
	var help helpError
	if errors.As(err, &help) {
		fmt.Fprint(stdout, help.text)
		return nil
	}
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if stdinEOF {
		ctx, stop = context.WithCancel(ctx)
		defer stop()
		go func() {
			_, _ = io.Copy(io.Discard, stdin)
			stop()
		}()
	}

	srv, err := exacttest.Listen(addr, opts)
	if err != nil {
		return fmt.Errorf("starting on %s: %w", addr, err)
	}
	fmt.Fprintf(stdout, "exactsim listening on %s\n", srv.URL)
	fmt.Fprintf(stdout, "client_id: %s\n", opts.ClientID)
	if opts.RefreshToken == "" {
		fmt.Fprintf(stdout, "refresh_token: %s\n", srv.RefreshToken())
	}
	<-ctx.Done()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}
