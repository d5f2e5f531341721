package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	gosync "sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/exact/exacttest"
	"github.com/exactsync/exactsync/internal/benchdb"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sync"
)

// The transaction-lines benchmark: a full sync of one division's transaction lines (the
// widest common entity) through the Runner, against a plain COPY of the same rows into an
// unindexed table of the same shape. Each side runs in a fresh child process of this
// executable, with a fresh database, so that the sync's peak RSS is its own.

// linesEntity is the entity the benchmark syncs.
const linesEntity = "transaction_lines"

// Targets of the transaction-lines benchmark: reported, never enforced.
const (
	linesTargetRatio = 0.6 // full sync records/s vs plain COPY rows/s
	linesTargetRSSMB = 200 // peak RSS of the full sync
)

// Child modes of the transaction-lines benchmark (--child-lines).
const (
	linesSync = "sync" // a full sync through the Runner
	linesCopy = "copy" // the same rows by plain COPY, and through the sink's writes
)

// linesResult is what one transaction-lines child process reports.
type linesResult struct {
	Mode    string
	OmitRaw bool    // raw stored as '{}'
	Lines   int     // transaction lines in the simulator's division
	Records int     // rows the full sync upserted, or rows copied
	Seconds float64 // sync: wall time of the full sync (every job of the division)

	PeakRSSMB float64 // sync: VmHWM of the process during the timed run
	Calls     int     // sync: data calls, all jobs

	CPUSeconds          float64 // sync: the process's CPU time (user and system) during the timed run
	AllocsPerRecord     float64 // sync: heap allocations during the timed run, per record
	AllocBytesPerRecord float64 // sync: bytes allocated on the heap during the timed run, per record
	PagesReplayed       int     // sync: pages read back from the untimed pass's recording

	CopySeconds  float64 // copy: the plain COPYs alone
	WriteSeconds float64 // copy: the sink's writes of the same batches alone
	RawBytes     int64   // copy: bytes of raw JSON copied
	Columns      int     // copy: columns of a row
	Server       string  // copy: PostgreSQL's version
}

func (r linesResult) RecordsPerSecond() float64 { return float64(r.Records) / r.Seconds }
func (r linesResult) CopyRate() float64         { return float64(r.Records) / r.CopySeconds }
func (r linesResult) WriteRate() float64        { return float64(r.Records) / r.WriteSeconds }

// linesRound is one sync and one copy run, in either order.
type linesRound struct {
	omitRaw    bool
	syncFirst  bool
	sync, copy linesResult
}

func (r linesRound) ratio() float64      { return r.sync.RecordsPerSecond() / r.copy.CopyRate() }
func (r linesRound) writeRatio() float64 { return r.copy.WriteRate() / r.copy.CopyRate() }

// runLines runs rounds of the transaction-lines benchmark, with raw kept, omitted or
// both, and prints them. Rounds alternate which side runs first, so that what one leaves
// behind (the server writing out its data, a warm cache) does not always favour the
// same side. With header, it first prints the header of the report, as the only section
// run.
func (c *benchCmd) runLines(e *env, lines, rounds int, header bool) error {
	out := e.stdout
	raws := map[string][]bool{"on": {false}, "off": {true}, "both": {false, true}}[c.Raw]
	var results []linesRound
	for i := range rounds {
		for _, omit := range raws {
			r := linesRound{omitRaw: omit, syncFirst: i%2 == 1}
			order := []string{linesCopy, linesSync}
			if r.syncFirst {
				slices.Reverse(order)
			}
			for _, mode := range order {
				res, err := linesChild(e, mode, lines, omit, c.CPUProfile, c.MemProfile, c.batch())
				if err != nil {
					return err
				}
				if mode == linesSync {
					r.sync = res
				} else {
					r.copy = res
				}
			}
			results = append(results, r)
		}
	}
	first := results[0].copy
	if header {
		printBenchHeader(out, first.Server)
	} else {
		fmt.Fprintln(out)
	}
	fmt.Fprintf(out, "TRANSACTION LINES: %s lines of one division from the in-process simulator (no rate limits), %d columns, %.1f KB of raw JSON a row\n",
		fmtInt(lines), first.Columns, float64(first.RawBytes)/float64(max(first.Records, 1))/1024)
	fmt.Fprintf(out, "  sync: full sync through the Runner (a write takes at most %d pages and %d MiB of records) into a fresh database, in a fresh process,\n", c.BatchPages, c.BatchMiB)
	fmt.Fprintf(out, "  from pages the simulator rendered before the clock started (an untimed pass of the same job, read back from a file)\n")
	fmt.Fprintf(out, "  COPY: the rows the Runner makes, by plain COPY into an unindexed table of the same shape, timed alone,\n")
	fmt.Fprintf(out, "  in transactions of as many pages as a write of the sync takes (%d pages or %d MiB of records)\n", c.BatchPages, c.BatchMiB)
	fmt.Fprintf(out, "  writes: the same transactions through the sink (WriteBatch into %s), timed alone, after each COPY\n", "exact."+linesEntity)
	fmt.Fprintf(out, "  raw off: '{}' in raw, as EXACTSYNC_RAW=off, on both sides\n")
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "round\traw\tfirst\tCOPY rows/s\twrites rows/s\twrites/COPY\tsync records/s\tsync/COPY\tsync seconds\tsync CPU s\tallocs/record\tpeak RSS MB\tAPI calls\t")
	for i, r := range results {
		firstSide := linesCopy
		if r.syncFirst {
			firstSide = linesSync
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%.0f\t%.0f\t%.2f×\t%.0f\t%.2f×\t%.1f\t%.1f\t%.0f\t%.0f\t%d\t\n", i/len(raws)+1, rawName(r.omitRaw), firstSide,
			r.copy.CopyRate(), r.copy.WriteRate(), r.writeRatio(), r.sync.RecordsPerSecond(), r.ratio(), r.sync.Seconds,
			r.sync.CPUSeconds, r.sync.AllocsPerRecord, r.sync.PeakRSSMB, r.sync.Calls)
	}
	tw.Flush()
	for _, omit := range raws {
		linesVerdicts(out, omit, slices.DeleteFunc(slices.Clone(results), func(r linesRound) bool { return r.omitRaw != omit }))
	}
	return nil
}

func rawName(omit bool) string {
	if omit {
		return "off"
	}
	return "on"
}

// linesVerdicts prints the targets and whether every round met them.
func linesVerdicts(out io.Writer, omitRaw bool, results []linesRound) {
	ratios := make([]float64, len(results))
	rss := make([]float64, len(results))
	for i, r := range results {
		ratios[i], rss[i] = r.ratio(), r.sync.PeakRSSMB
	}
	fmt.Fprintf(out, "  raw %s: full sync vs plain COPY: %s, target ≥ %.2f×: %s; peak RSS of the full sync: %s, target ≤ %d MB: %s\n",
		rawName(omitRaw), floatRange(ratios, "%.2f×"), linesTargetRatio, verdict(slices.Min(ratios) >= linesTargetRatio),
		floatRange(rss, "%.0f MB"), linesTargetRSSMB, verdict(slices.Max(rss) <= linesTargetRSSMB))
}

// floatRange formats the range of vs, or its only value.
func floatRange(vs []float64, format string) string {
	lo, hi := slices.Min(vs), slices.Max(vs)
	if fmt.Sprintf(format, lo) == fmt.Sprintf(format, hi) {
		return fmt.Sprintf(format, lo)
	}
	return fmt.Sprintf(format, lo) + " to " + fmt.Sprintf(format, hi)
}

// linesChild runs one side of the benchmark in a fresh process of this executable.
func linesChild(e *env, mode string, lines int, omitRaw bool, profile, memProfile string, batch benchBatch) (linesResult, error) {
	self, err := os.Executable()
	if err != nil {
		return linesResult{}, fmt.Errorf("finding this executable: %w", err)
	}
	args := append([]string{"--child-lines", mode, "--lines", strconv.Itoa(lines), "--raw", rawName(omitRaw)}, batch.args()...)
	if profile != "" && mode == linesSync {
		args = append(args, "--cpuprofile", profile)
	}
	if memProfile != "" && mode == linesSync {
		args = append(args, "--memprofile", memProfile)
	}
	var r linesResult
	if err := runChild(e, self, args, fmt.Sprintf("transaction lines %s run", mode), &r); err != nil {
		return linesResult{}, err
	}
	if r.Records != lines {
		return r, fmt.Errorf("transaction lines %s run: %d rows written, want %d", mode, r.Records, lines)
	}
	return r, nil
}

// benchLines is the child process of one side of the benchmark.
func benchLines(ctx context.Context, base, mode string, lines int, omitRaw bool, profile, memProfile string, batch benchBatch) (linesResult, error) {
	res := linesResult{Mode: mode, OmitRaw: omitRaw, Lines: lines}
	if memProfile != "" {
		runtime.MemProfileRate = 0 // until the timed run starts (startMemProfile)
	}
	log := zerolog.New(os.Stderr).Level(zerolog.WarnLevel).With().Timestamp().Logger()
	sim := exacttest.NewServer(exacttest.Options{Divisions: []int{101}, Seed: 1, Records: map[string]int{linesEntity: lines}})
	defer sim.Close()
	err := withBenchStore(ctx, base, "lines_"+mode, log, func(db *benchdb.DB) error {
		st := db.Store
		w := &benchWorld{sim: sim, st: st, log: log, divs: []int{101}}
		if err := w.connect(ctx); err != nil {
			return err
		}
		client, err := w.client(nil, nil, nil)
		if err != nil {
			return err
		}
		cfg := batch.config(sync.Config{Logger: log, WaitForLock: true, Enabled: []string{linesEntity}, OmitRaw: omitRaw})
		if mode == linesCopy {
			return copyLines(ctx, db, client, cfg, w.conn.ID, &res)
		}
		// The pages are rendered before the clock starts: an untimed pass of the same
		// job records them, and the timed run reads them back.
		client, pages, err := prerenderLines(ctx, w, cfg)
		if err != nil {
			return err
		}
		defer pages.Close()
		if err := resetPeakRSS(); err != nil {
			return err
		}
		runner := sync.NewRunner(cfg, st, st, st)
		stopProfile, err := startCPUProfile(profile)
		if err != nil {
			return err
		}
		defer stopProfile()
		startMemProfile(memProfile)
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		cpu0 := processCPU()
		start := time.Now()
		for _, job := range runner.Jobs(w.conn.ID, 101, true) {
			r, err := runner.Run(ctx, client, job)
			if err != nil {
				return err
			}
			res.Records += r.Upserted
			res.Calls += r.Calls
		}
		res.Seconds = time.Since(start).Seconds()
		res.CPUSeconds = processCPU() - cpu0
		runtime.ReadMemStats(&m1)
		stopProfile()
		n := float64(max(res.Records, 1))
		res.AllocsPerRecord = float64(m1.Mallocs-m0.Mallocs) / n
		res.AllocBytesPerRecord = float64(m1.TotalAlloc-m0.TotalAlloc) / n
		res.PagesReplayed = int(pages.hits.Load())
		if n := pages.misses.Load(); n > 0 {
			return fmt.Errorf("the timed run asked for %d pages the untimed pass did not render", n)
		}
		return writeHeapProfile(memProfile)
	})
	if err != nil {
		return res, err
	}
	res.PeakRSSMB, err = peakRSSMB()
	return res, err
}

// copyLines pages through the division with the Runner, whose writes go to a
// copyingWriter: the rows are copied into the baseline table, then written through the
// sink, each timed alone while no page is being fetched, in chunks as large as the sync's
// writes.
func copyLines(ctx context.Context, db *benchdb.DB, client *exact.Client, cfg sync.Config, connID int64, res *linesResult) error {
	e, err := sync.Lookup(linesEntity)
	if err != nil {
		return err
	}
	baseline, err := db.NewCopyBaseline(ctx, e.Target())
	if err != nil {
		return err
	}
	defer baseline.Drop(context.WithoutCancel(ctx))
	var mu gosync.Mutex
	src := gatedSource{Client: client, mu: &mu, records: new(atomic.Int64), bytes: new(atomic.Int64)}
	w := &copyingWriter{Store: db.Store, baseline: baseline, src: src, res: res, pages: cfg.BatchPages, bytes: cfg.BatchBytes}
	runner := sync.NewRunner(cfg, w, db.Store, db.Store)
	if _, err := runner.Run(ctx, src, sync.Job{ConnectionID: connID, Division: 101, Entity: linesEntity, Full: true}); err != nil {
		return err
	}
	if err := w.flush(ctx); err != nil {
		return err
	}
	res.Columns = len(e.Columns())
	res.Server, err = db.ServerVersion(ctx)
	return err
}

// gatedSource fetches a page only while the copyingWriter is not timing a write. It
// counts the records fetched and their bytes as received, which the Runner bounds its
// writes by (sync.Config.BatchBytes) whether raw is kept or not.
type gatedSource struct {
	*exact.Client
	mu *gosync.Mutex

	records, bytes *atomic.Int64
}

func (s gatedSource) Page(ctx context.Context, division int, pageURL string) (*exact.Page, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.Client.Page(ctx, division, pageURL)
	if err != nil {
		return nil, err
	}
	for _, r := range p.Records {
		s.bytes.Add(int64(len(r.Bytes())))
	}
	s.records.Add(int64(len(p.Records)))
	// The copyingWriter keeps a page's rows after its WriteBatches returns, when the
	// Runner releases the page: the page handed on has no body to release, so its
	// buffer is never lent to another answer (exact.Page.Release).
	return &exact.Page{Records: p.Records, Next: p.Next, Count: p.Count, Calls: p.Calls}, nil
}

// copyingWriter is the Runner's writer in the copy run. Since fetching waits for its
// writes, the Runner hands it one page at a time; it gathers them into the chunks the
// sync writes when its writer is the slower side (BatchPages pages, BatchBytes of
// records), then copies a chunk's rows into the baseline table in one transaction and
// writes its batches through the sink as one batch.
type copyingWriter struct {
	*sink.Store
	baseline *benchdb.CopyBaseline
	src      gatedSource
	res      *linesResult
	pages    int
	bytes    int64

	pending      []dest.Batch
	pendingBytes int64
}

func (w *copyingWriter) WriteBatch(ctx context.Context, b dest.Batch) (dest.BatchResult, error) {
	res, err := w.WriteBatches(ctx, []dest.Batch{b})
	if err != nil {
		return dest.BatchResult{}, err
	}
	return res[0], nil
}

// WriteBatches gathers bs, and reports their rows as stored: the benchmark writes new
// rows only.
func (w *copyingWriter) WriteBatches(ctx context.Context, bs []dest.Batch) ([]dest.BatchResult, error) {
	out := make([]dest.BatchResult, len(bs))
	for i, b := range bs {
		if b.Table.Name != "" && b.Table.Name != "exact."+linesEntity {
			return nil, fmt.Errorf("copying: a batch of %s, want only %s", b.Table.Name, linesEntity)
		}
		w.pending = append(w.pending, b)
		// The records' bytes as received, from the mean size of those fetched.
		if n := w.src.records.Load(); n > 0 {
			w.pendingBytes += int64(len(b.Rows)) * w.src.bytes.Load() / n
		}
		out[i].Upserted = len(b.Rows)
	}
	if len(w.pending) >= w.pages || w.pendingBytes >= w.bytes {
		return out, w.flush(ctx)
	}
	return out, nil
}

// flush copies and writes the gathered pages.
func (w *copyingWriter) flush(ctx context.Context) error {
	if len(w.pending) == 0 {
		return nil
	}
	chunk := w.pending[len(w.pending)-1] // its cursor is the last page's
	chunk.Rows, chunk.Rejects, chunk.Released = nil, nil, nil
	for _, b := range w.pending {
		chunk.Rows = append(chunk.Rows, b.Rows...)
		chunk.Rejects = append(chunk.Rejects, b.Rejects...)
		chunk.Released = append(chunk.Released, b.Released...)
	}
	w.pending, w.pendingBytes = w.pending[:0], 0
	copied := w.baseline.Rows(chunk.Rows)
	w.src.mu.Lock()
	defer w.src.mu.Unlock()
	t0 := time.Now()
	if err := w.baseline.Copy(ctx, copied); err != nil {
		return fmt.Errorf("copying %d rows into the baseline table: %w", len(chunk.Rows), err)
	}
	t1 := time.Now()
	res, err := w.Store.WriteBatch(ctx, chunk)
	if err != nil {
		return err
	}
	t2 := time.Now()
	if res.Upserted != len(chunk.Rows) {
		return fmt.Errorf("writing %d rows through the sink stored %d", len(chunk.Rows), res.Upserted)
	}
	w.res.CopySeconds += t1.Sub(t0).Seconds()
	w.res.WriteSeconds += t2.Sub(t1).Seconds()
	w.res.Records += len(chunk.Rows)
	for _, r := range chunk.Rows {
		if raw, ok := r[len(r)-1].([]byte); ok {
			w.res.RawBytes += int64(len(raw))
		}
	}
	return nil
}
