package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	gosync "sync"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/exact/exacttest"
	"github.com/exactsync/exactsync/internal/benchdb"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sync"
)

// defaultBenchDatabaseURL is used when DATABASE_URL is not set. The benchmark creates
// databases named after it (exactsync_bench_writes, exactsync_bench_1x1000000, …) and
// drops them when done.
const defaultBenchDatabaseURL = "postgres://postgres@127.0.0.1:5432/exactsync_bench?sslmode=disable"

type benchCmd struct {
	Quick      bool   `help:"Small sizes only: a smoke test of a few seconds, not the published figures."`
	WritePages int    `default:"100" help:"Pages of 1,000 rows written each way in the write comparison."`
	CPUProfile string `name:"cpuprofile" type:"path" help:"Write a CPU profile of the largest end-to-end run to this file."`
	MemProfile string `name:"memprofile" type:"path" help:"Write a heap profile (allocations included) of the transaction-lines sync to this file."`
	BatchPages int    `default:"${default_batch_pages}" help:"Most pages one write takes together in the end-to-end runs (1: every page on its own), to compare with the default of ${default_batch_pages}."`
	BatchMiB   int    `name:"batch-mib" default:"${default_batch_mib}" help:"Most MiB of records one write takes together, and fetched ahead, in the end-to-end runs, to compare with the default of ${default_batch_mib}."`
	Child      string `hidden:"" help:"Run one end-to-end size, DIVISIONSxACCOUNTS, and print its figures as JSON."`

	Lines      int    `default:"1000000" help:"Transaction lines of the transaction-lines benchmark (one division; 0 skips it)."`
	LinesOnly  bool   `help:"Run the transaction-lines benchmark only."`
	Rounds     int    `default:"1" help:"Rounds of the transaction-lines benchmark, the sync and the COPY running first in turn."`
	Raw        string `enum:"on,off,both" default:"both" help:"Run the transaction-lines benchmark with raw kept (on), stored as '{}' (off, as EXACTSYNC_RAW=off), or both."`
	ChildLines string `hidden:"" enum:",sync,copy" default:"" help:"Run one side of the transaction-lines benchmark and print its figures as JSON."`

	History         bool `help:"Run the history benchmark only: a full sync of --lines transaction lines with EXACTSYNC_HISTORY off and on against a plain COPY, and an incremental run after 1 % of --history-lines lines changed, off and on, --rounds times."`
	HistoryLines    int  `default:"200000" help:"Transaction lines of the history benchmark's incremental run."`
	Storage         bool `help:"Run the storage benchmark only: full syncs of transaction lines and accounts with raw under pglz, lz4, extra and off (--rounds rounds)."`
	StorageLines    int  `default:"200000" help:"Transaction lines of the storage benchmark (0 skips them)."`
	StorageAccounts int  `default:"50000" help:"Accounts of the storage benchmark (0 skips them)."`
	StorageCycles   int  `default:"0" help:"Incremental cycles after the storage benchmark's sync of transaction lines, each after 1 % of them changed: HOT updates and dead tuples."`
}

// benchBatch is how the end-to-end runs batch their writes (sync.Config.BatchPages and
// BatchBytes).
type benchBatch struct {
	pages int
	mib   int
}

func (c *benchCmd) batch() benchBatch { return benchBatch{c.BatchPages, c.BatchMiB} }

// args passes b on to a child process.
func (b benchBatch) args() []string {
	return []string{"--batch-pages", strconv.Itoa(b.pages), "--batch-mib", strconv.Itoa(b.mib)}
}

// config sets b in cfg.
func (b benchBatch) config(cfg sync.Config) sync.Config {
	cfg.BatchPages, cfg.BatchBytes = b.pages, int64(b.mib)<<20
	return cfg
}

// benchSize is one end-to-end scenario: divisions × accounts per division.
type benchSize struct{ Divisions, Accounts int }

func (s benchSize) String() string { return fmt.Sprintf("%dx%d", s.Divisions, s.Accounts) }
func (s benchSize) records() int   { return s.Divisions * s.Accounts }

func parseBenchSize(v string) (benchSize, error) {
	d, a, ok := strings.Cut(v, "x")
	nd, err1 := strconv.Atoi(d)
	na, err2 := strconv.Atoi(a)
	if !ok || err1 != nil || err2 != nil || nd < 1 || na < 0 {
		return benchSize{}, fmt.Errorf("invalid size %q: want DIVISIONSxACCOUNTS, e.g. 1x1000000", v)
	}
	return benchSize{nd, na}, nil
}

func (c *benchCmd) Run(e *env) error {
	base := cmp.Or(strings.TrimSpace(e.getenv(config.EnvDatabaseURL)), defaultBenchDatabaseURL)
	if c.Child != "" {
		size, err := parseBenchSize(c.Child)
		if err != nil {
			return usageError{err}
		}
		res, err := benchEndToEnd(e.ctx, base, size, c.CPUProfile, c.batch())
		if err != nil {
			return err
		}
		return json.NewEncoder(e.stdout).Encode(res)
	}
	if c.ChildLines != "" {
		if c.Raw == "both" {
			return usageError{errors.New("--child-lines needs --raw on or off")}
		}
		res, err := benchLines(e.ctx, base, c.ChildLines, c.Lines, c.Raw == "off", c.CPUProfile, c.MemProfile, c.batch())
		if err != nil {
			return err
		}
		return json.NewEncoder(e.stdout).Encode(res)
	}
	if c.WritePages < 1 {
		return usageError{errors.New("--write-pages must be at least 1")}
	}
	if c.BatchPages < 1 || c.BatchMiB < 1 {
		return usageError{errors.New("--batch-pages and --batch-mib must be at least 1")}
	}
	if c.Lines < 0 || c.Rounds < 1 {
		return usageError{errors.New("--lines must not be negative, --rounds at least 1")}
	}
	if c.History {
		return c.runHistory(e, base)
	}
	if c.Storage {
		return c.runStorage(e, base)
	}
	if c.LinesOnly {
		if c.Lines == 0 {
			return usageError{errors.New("--lines-only needs --lines above 0")}
		}
		return c.runLines(e, c.plan().lines, c.Rounds, true)
	}
	return c.runAll(e, base)
}

// benchPlan is what one `exactsync bench` run measures.
type benchPlan struct {
	writePages int
	sizes      []benchSize // end to end, each in a fresh process
	profile    benchSize   // the size the CPU profile is taken of
	limit      benchSize   // the rate-limited sync
	limitRate  int         // calls per minute allowed in it
	tokens     benchSize   // the token scenario's divisions
	workers    int
	tokenSpan  time.Duration // simulated time the token scenario covers
	lines      int           // transaction lines of one division, 0 for none
}

func (c *benchCmd) plan() benchPlan {
	if c.Quick {
		return benchPlan{
			writePages: min(c.WritePages, 3),
			sizes:      []benchSize{{1, 2_000}, {2, 1_000}},
			profile:    benchSize{1, 2_000},
			limit:      benchSize{1, 8_000}, limitRate: 3,
			tokens: benchSize{3, 500}, workers: 2, tokenSpan: 20 * time.Minute,
			lines: min(c.Lines, 20_000),
		}
	}
	return benchPlan{
		writePages: c.WritePages,
		sizes: []benchSize{
			{1, 10_000}, {1, 100_000}, {1, 1_000_000}, // records
			{10, 100_000}, {50, 20_000}, // divisions, 1M records in all
		},
		profile: benchSize{1, 1_000_000},
		limit:   benchSize{1, 300_000}, limitRate: 60,
		tokens: benchSize{10, 2_000}, workers: 4, tokenSpan: time.Hour,
		lines: c.Lines,
	}
}

func (c *benchCmd) runAll(e *env, base string) error {
	p := c.plan()
	out := e.stdout
	log := zerolog.New(e.stderr).Level(zerolog.WarnLevel).With().Timestamp().Logger()

	// Writes.
	var version string
	var wc benchdb.WriteComparison
	err := withBenchStore(e.ctx, base, "writes", log, func(db *benchdb.DB) error {
		var err error
		if version, err = db.ServerVersion(e.ctx); err != nil {
			return err
		}
		wc, err = benchdb.CompareWrites(e.ctx, db, p.writePages, 1000)
		return err
	})
	if err != nil {
		return err
	}
	printBenchHeader(out, version)
	fmt.Fprintf(out, "WRITES: %d pages of 1,000 account rows (~1 KB raw JSON), each page written three ways in turn\n", wc.Rows/1000)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\trows/s\tvs COPY\ttarget\t\t")
	fmt.Fprintf(tw, "plain COPY, unindexed table (baseline)\t%.0f\t1.00×\t\t\t\n", wc.CopyRate())
	fmt.Fprintf(tw, "upsert into exact.accounts, new rows\t%.0f\t%.2f×\t≥ 0.60×\t%s\t\n", wc.InsertRate(), wc.InsertRatio(), verdict(wc.InsertRatio() >= 0.6))
	fmt.Fprintf(tw, "upsert into exact.accounts, updated rows\t%.0f\t%.2f×\t≥ 0.40×\t%s\t\n", wc.UpdateRate(), wc.UpdateRatio(), verdict(wc.UpdateRatio() >= 0.4))
	tw.Flush()

	// End to end, each size in a fresh process so that its peak RSS is its own.
	fmt.Fprintf(out, "\nEND TO END: full sync of accounts from the in-process simulator (no rate limits) into PostgreSQL,\n")
	fmt.Fprintf(out, "one worker, divisions one after another, each size in a fresh process; then an incremental run with nothing changed\n")
	var results []benchResult
	for _, size := range p.sizes {
		prof := ""
		if size == p.profile {
			prof = c.CPUProfile
		}
		r, err := benchChild(e, size, prof, c.batch())
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "divisions\taccounts each\trecords\tseconds\trecords/s\tpeak RSS MB\tAPI calls\t⌈N/1000⌉\tdeleted\textra\tincr calls/entity\tincr max ms\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%.1f\t%.0f\t%.0f\t%d\t%d\t%d\t%d\t%.1f\t%.0f\t\n",
			r.Divisions, r.Accounts, r.Records, r.Seconds, r.RecordsPerSecond(), r.PeakRSSMB,
			r.Calls, r.PageCalls(), r.DeletedCalls, r.ExtraCalls(), r.IncrementalCallsPerEntity(), r.IncrementalMaxMS)
	}
	tw.Flush()
	fmt.Fprintln(out)
	c.endToEndVerdicts(out, p, results)

	// Rate limits in simulated time.
	lr, err := benchRateLimit(e.ctx, base, p.limit, p.limitRate, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nRATE LIMIT: full sync of %d accounts with the simulator's limit at %d calls/min, simulated clock\n", p.limit.records(), p.limitRate)
	fmt.Fprintf(out, "  %d calls in %s simulated (%.1fs real); complete minutes: %d, calls in them min %d, mean %.1f; 429s: %d\n",
		lr.Calls, lr.Simulated.Round(time.Second), lr.Real.Seconds(), len(lr.PerMinute), slices.Min(append(lr.PerMinute, math.MaxInt)), lr.meanPerMinute(), lr.TooMany)
	want := float64(p.limitRate) * 55 / 60
	fmt.Fprintf(out, "  target ≥ %.0f calls/min and zero 429s: %s\n", want, verdict(lr.meanPerMinute() >= want && lr.TooMany == 0 && len(lr.PerMinute) > 0))

	// Token calls.
	tr, err := benchTokens(e.ctx, base, p, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nTOKENS: %d workers (each its own client, as separate processes would be) sharing one connection,\n", p.workers)
	fmt.Fprintf(out, "syncing %d divisions over and over for %s of simulated time (%d runs, %.1fs real)\n", p.tokens.Divisions, tr.Simulated.Round(time.Minute), tr.Runs, tr.Real.Seconds())
	fmt.Fprintf(out, "  token calls %d (allowed by one per 570 s: %d); shortest gap %s; rejected as too early or reused: %d\n",
		tr.Calls, tr.Allowed, tr.MinGap.Round(time.Second), tr.Rejected)
	fmt.Fprintf(out, "  target at most one per 570 s per connection: %s\n", verdict(tr.Calls <= tr.Allowed && tr.Rejected == 0 && (tr.Calls < 2 || tr.MinGap >= 570*time.Second)))

	if p.lines > 0 {
		return c.runLines(e, p.lines, c.Rounds, false)
	}
	return nil
}

// printBenchHeader prints when and where the figures were taken.
func printBenchHeader(out io.Writer, serverVersion string) {
	fmt.Fprintf(out, "exactsync bench: %s, Go %s, %d CPUs (GOMAXPROCS %d), PostgreSQL %s\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), strings.TrimPrefix(runtime.Version(), "go"), runtime.NumCPU(), runtime.GOMAXPROCS(0), serverVersion)
}

func (c *benchCmd) endToEndVerdicts(out io.Writer, p benchPlan, results []benchResult) {
	find := func(s benchSize) (benchResult, bool) {
		for _, r := range results {
			if r.Divisions == s.Divisions && r.Accounts == s.Accounts {
				return r, true
			}
		}
		return benchResult{}, false
	}
	if big, ok := find(p.profile); ok {
		fmt.Fprintf(out, "  %s records: %.0f records/s, target ≥ 50,000: %s; peak RSS %.0f MB, target ≤ 150 MB: %s\n",
			fmtInt(big.Records), big.RecordsPerSecond(), verdict(big.RecordsPerSecond() >= 50_000), big.PeakRSSMB, verdict(big.PeakRSSMB <= 150))
		if small, ok := find(benchSize{1, big.Records / 10}); ok {
			fmt.Fprintf(out, "  peak RSS %s records %.0f MB vs %s records %.0f MB, target the same (within 15%%): %s\n",
				fmtInt(small.Records), small.PeakRSSMB, fmtInt(big.Records), big.PeakRSSMB, verdict(math.Abs(big.PeakRSSMB-small.PeakRSSMB) <= 0.15*small.PeakRSSMB))
		}
	}
	okCalls, okIncr := true, true
	for _, r := range results {
		okCalls = okCalls && r.ExtraCalls() <= 3
		okIncr = okIncr && r.IncrementalCallsPerEntity() <= 2 && r.IncrementalMaxMS < 1000
	}
	fmt.Fprintf(out, "  full sync calls ≤ ⌈N/1000⌉ + deletion calls + 3 (per division): %s\n", verdict(okCalls))
	fmt.Fprintf(out, "  incremental run with nothing changed ≤ 2 calls per entity and < 1 s: %s\n", verdict(okIncr))
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT MET"
}

func fmtInt(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// benchResult is what one end-to-end child process reports.
type benchResult struct {
	Divisions, Accounts int
	Records             int     // rows upserted by the full sync
	Seconds             float64 // wall time of the full sync
	PeakRSSMB           float64 // VmHWM of the process after the full and the incremental runs
	Calls               int     // data calls of the full sync, all endpoints
	DeletedCalls        int     // of them, sync/Deleted calls
	IncrementalCalls    int     // data calls of the incremental runs, all divisions
	IncrementalMaxMS    float64 // the slowest incremental run
}

func (r benchResult) RecordsPerSecond() float64 { return float64(r.Records) / r.Seconds }

// PageCalls is the ⌈N/1000⌉ of the target, summed over divisions.
func (r benchResult) PageCalls() int { return r.Divisions * ((r.Accounts + 999) / 1000) }

// ExtraCalls is what the full sync spent beyond the record pages and the deletion calls,
// per division.
func (r benchResult) ExtraCalls() int {
	return (r.Calls - r.PageCalls() - r.DeletedCalls + r.Divisions - 1) / r.Divisions
}

func (r benchResult) IncrementalCallsPerEntity() float64 {
	return float64(r.IncrementalCalls) / float64(r.Divisions)
}

// benchChild runs one size in a fresh process of this executable.
func benchChild(e *env, size benchSize, profile string, batch benchBatch) (benchResult, error) {
	self, err := os.Executable()
	if err != nil {
		return benchResult{}, fmt.Errorf("finding this executable: %w", err)
	}
	args := append([]string{"--child", size.String()}, batch.args()...)
	if profile != "" {
		args = append(args, "--cpuprofile", profile)
	}
	var r benchResult
	err = runChild(e, self, args, fmt.Sprintf("end-to-end run of %s", size), &r)
	return r, err
}

// runChild runs this executable with args as a benchmark child and decodes the figures
// it prints as JSON into out; what names the run in errors.
func runChild(e *env, self string, args []string, what string, out any) error {
	cmd := exec.CommandContext(e.ctx, self, args...)
	cmd.Env = os.Environ()
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, e.stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		return fmt.Errorf("%s: reading its figures: %w", what, err)
	}
	return nil
}

// withBenchStore runs fn on a fresh, migrated database named after base and suffix,
// dropped afterwards.
func withBenchStore(ctx context.Context, base, suffix string, log zerolog.Logger, fn func(*benchdb.DB) error) error {
	dbURL, err := benchDatabaseURL(base, suffix)
	if err != nil {
		return err
	}
	db, err := benchdb.Create(ctx, dbURL, log)
	if err != nil {
		return err
	}
	defer db.Close(context.WithoutCancel(ctx))
	return fn(db)
}

// benchDatabaseURL names a benchmark database after the one base names.
func benchDatabaseURL(base, suffix string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", usageError{fmt.Errorf("%s must be a postgres:// URL for the benchmark", config.EnvDatabaseURL)}
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" || name == "postgres" {
		name = "exactsync_bench"
	}
	u.Path, u.RawPath = "/"+name+"_"+suffix, ""
	return u.String(), nil
}

// benchWorld is a simulator, a migrated database and one connection to sync with.
type benchWorld struct {
	sim  *exacttest.Server
	st   *sink.Store
	conn dest.Connection
	divs []int
	log  zerolog.Logger
}

// newBenchSim starts a simulator with size's divisions (101, 102, …) and accounts.
func newBenchSim(size benchSize, opts exacttest.Options) (*exacttest.Server, []int) {
	opts.Divisions = make([]int, size.Divisions)
	for i := range opts.Divisions {
		opts.Divisions[i] = 101 + i
	}
	opts.Accounts, opts.Seed = size.Accounts, 1
	return exacttest.NewServer(opts), opts.Divisions
}

func (w *benchWorld) connect(ctx context.Context) error {
	conn, err := w.st.UpsertConnection(ctx, w.sim.URL, "exactsim-client", "bench")
	if err != nil {
		return fmt.Errorf("storing the connection: %w", err)
	}
	if err := w.st.ImportRefreshToken(ctx, conn.ID, w.sim.RefreshToken()); err != nil {
		return fmt.Errorf("storing the refresh token: %w", err)
	}
	w.conn = conn
	return nil
}

// client returns a new client of the world's connection; now and sleep may be nil.
func (w *benchWorld) client(now func() time.Time, sleep func(context.Context, time.Duration) error, rt http.RoundTripper) (*exact.Client, error) {
	cfg := exact.Config{
		BaseURL: w.sim.URL, ClientID: "exactsim-client", ClientSecret: "exactsim-secret",
		Logger: w.log, Now: now, Sleep: sleep,
	}
	if rt != nil {
		cfg.HTTPClient = &http.Client{Transport: rt}
	}
	return exact.New(cfg, sync.NewTokenStore(w.st, w.conn.ID))
}

// benchEndToEnd is the child process: a full sync of size, then an incremental run.
func benchEndToEnd(ctx context.Context, base string, size benchSize, profile string, batch benchBatch) (benchResult, error) {
	res := benchResult{Divisions: size.Divisions, Accounts: size.Accounts}
	log := zerolog.New(os.Stderr).Level(zerolog.WarnLevel).With().Timestamp().Logger()
	sim, divs := newBenchSim(size, exacttest.Options{})
	defer sim.Close()
	err := withBenchStore(ctx, base, size.String(), log, func(db *benchdb.DB) error {
		st := db.Store
		w := &benchWorld{sim: sim, st: st, log: log, divs: divs}
		if err := w.connect(ctx); err != nil {
			return err
		}
		client, err := w.client(nil, nil, nil)
		if err != nil {
			return err
		}
		runner := sync.NewRunner(batch.config(sync.Config{Logger: log, WaitForLock: true, Enabled: []string{"accounts"}}), st, st, st)
		stopProfile, err := startCPUProfile(profile)
		if err != nil {
			return err
		}
		defer stopProfile()
		start := time.Now()
		for _, d := range w.divs {
			r, err := runner.Run(ctx, client, sync.Job{ConnectionID: w.conn.ID, Division: d, Entity: "accounts", Full: true})
			if err != nil {
				return err
			}
			res.Records += r.Upserted
			res.Calls += r.Calls
		}
		res.Seconds = time.Since(start).Seconds()
		stopProfile()
		for _, d := range w.divs {
			res.DeletedCalls += sim.Stats().Calls(d, "sync/Deleted")
		}
		for _, d := range w.divs {
			t := time.Now()
			r, err := runner.Run(ctx, client, sync.Job{ConnectionID: w.conn.ID, Division: d, Entity: "accounts"})
			if err != nil {
				return err
			}
			res.IncrementalCalls += r.Calls
			res.IncrementalMaxMS = max(res.IncrementalMaxMS, float64(time.Since(t).Microseconds())/1000)
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	res.PeakRSSMB, err = peakRSSMB()
	return res, err
}

// peakRSSMB reads the process's peak resident set size (VmHWM) in MB.
func peakRSSMB() (float64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("reading the peak RSS: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				return 0, fmt.Errorf("reading the peak RSS: %q: %w", v, err)
			}
			return float64(kb) / 1024, nil
		}
	}
	return 0, errors.New("reading the peak RSS: no VmHWM in /proc/self/status")
}

// simClock lets the client's waits pass in the simulator's frozen clock: minutes of Exact
// time go by in the time the calls take.
type simClock struct{ sim *exacttest.Server }

func (c simClock) sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d > 0 {
		c.sim.Advance(d)
	}
	return nil
}

// recorder notes the simulated time of every call, by kind.
type recorder struct {
	base http.RoundTripper
	now  func() time.Time

	mu    gosync.Mutex
	data  []time.Time
	token []time.Time
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	t := r.now()
	r.mu.Lock()
	if strings.HasSuffix(req.URL.Path, "/oauth2/token") {
		r.token = append(r.token, t)
	} else {
		r.data = append(r.data, t)
	}
	r.mu.Unlock()
	return r.base.RoundTrip(req)
}

// limitResult is the rate-limited sync's outcome.
type limitResult struct {
	Calls     int
	Simulated time.Duration
	Real      time.Duration
	PerMinute []int // calls in each complete clock minute
	TooMany   int
}

func (r limitResult) meanPerMinute() float64 {
	if len(r.PerMinute) == 0 {
		return 0
	}
	n := 0
	for _, c := range r.PerMinute {
		n += c
	}
	return float64(n) / float64(len(r.PerMinute))
}

// benchRateLimit runs a full sync against the simulator's minute limit, in simulated time.
func benchRateLimit(ctx context.Context, base string, size benchSize, perMinute int, log zerolog.Logger) (limitResult, error) {
	var res limitResult
	sim, divs := newBenchSim(size, exacttest.Options{MinutelyLimit: perMinute, FreezeClock: true})
	defer sim.Close()
	err := withBenchStore(ctx, base, "limit", log, func(db *benchdb.DB) error {
		st := db.Store
		w := &benchWorld{sim: sim, st: st, log: log, divs: divs}
		if err := w.connect(ctx); err != nil {
			return err
		}
		rec := &recorder{base: http.DefaultTransport, now: sim.Now}
		client, err := w.client(sim.Now, simClock{sim}.sleep, rec)
		if err != nil {
			return err
		}
		runner := sync.NewRunner(sync.Config{Logger: log, WaitForLock: true, Now: sim.Now, Enabled: []string{"accounts"}}, st, st, st)
		start, wall := sim.Now(), time.Now()
		r, err := runner.Run(ctx, client, sync.Job{ConnectionID: w.conn.ID, Division: w.divs[0], Entity: "accounts", Full: true})
		if err != nil {
			return err
		}
		res.Calls, res.Simulated, res.Real = r.Calls, sim.Now().Sub(start), time.Since(wall)
		res.TooMany = sim.Stats().TooManyRequests
		// Count the calls of every clock minute but the last, which the sync ends within.
		counts := map[int64]int{}
		var last int64
		for _, t := range rec.data {
			m := t.Unix() / 60
			counts[m]++
			last = max(last, m)
		}
		for m := start.Unix() / 60; m < last; m++ {
			res.PerMinute = append(res.PerMinute, counts[m])
		}
		return nil
	})
	return res, err
}

// tokenResult is the token scenario's outcome.
type tokenResult struct {
	Runs      int
	Calls     int // token endpoint calls
	Allowed   int // 1 + ⌊span / 570 s⌋
	MinGap    time.Duration
	Rejected  int // refreshes the simulator rejected as too early or with a used refresh token
	Simulated time.Duration
	Real      time.Duration
}

// benchTokens has several workers, each with its own client, sync every division of one
// connection round after round while the simulated clock moves a minute per round.
func benchTokens(ctx context.Context, base string, p benchPlan, log zerolog.Logger) (tokenResult, error) {
	var res tokenResult
	sim, divs := newBenchSim(p.tokens, exacttest.Options{MinutelyLimit: 60, FreezeClock: true})
	defer sim.Close()
	err := withBenchStore(ctx, base, "tokens", log, func(db *benchdb.DB) error {
		st := db.Store
		w := &benchWorld{sim: sim, st: st, log: log, divs: divs}
		if err := w.connect(ctx); err != nil {
			return err
		}
		rec := &recorder{base: http.DefaultTransport, now: sim.Now}
		clients := make([]*exact.Client, p.workers)
		for i := range clients {
			c, err := w.client(sim.Now, simClock{sim}.sleep, rec)
			if err != nil {
				return err
			}
			clients[i] = c
		}
		runner := sync.NewRunner(sync.Config{Logger: log, Now: sim.Now, Enabled: []string{"accounts"}}, st, st, st)
		start, wall := sim.Now(), time.Now()
		var mu gosync.Mutex
		var errs []error
		for round := 0; sim.Now().Sub(start) < p.tokenSpan; round++ {
			jobs := make(chan int, len(w.divs))
			for _, d := range w.divs {
				jobs <- d
			}
			close(jobs)
			var wg gosync.WaitGroup
			for _, c := range clients {
				wg.Go(func() {
					for d := range jobs {
						_, err := runner.Run(ctx, c, sync.Job{ConnectionID: w.conn.ID, Division: d, Entity: "accounts", Full: round%10 == 0})
						mu.Lock()
						res.Runs++
						if err != nil && !errors.Is(err, sync.ErrBusy) {
							errs = append(errs, err)
						}
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				return err
			}
			sim.Advance(time.Minute)
		}
		res.Simulated, res.Real = sim.Now().Sub(start), time.Since(wall)
		stats := sim.Stats()
		res.Calls = stats.TotalTokenCalls()
		res.Rejected = stats.EarlyRefreshRejections + stats.RefreshReuseRejections
		res.Allowed = 1 + int(res.Simulated/(570*time.Second))
		slices.SortFunc(rec.token, time.Time.Compare)
		for i := 1; i < len(rec.token); i++ {
			if g := rec.token[i].Sub(rec.token[i-1]); i == 1 || g < res.MinGap {
				res.MinGap = g
			}
		}
		return nil
	})
	return res, err
}

// startCPUProfile writes a CPU profile to path until stop is called (stop may be called
// more than once); an empty path profiles nothing.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	var once gosync.Once
	return func() {
		once.Do(func() {
			pprof.StopCPUProfile()
			f.Close()
		})
	}, nil
}
