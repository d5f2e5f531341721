package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	gosync "sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sync"
)

// Pages rendered before the clock starts: the transaction-lines sync is timed against
// answers the simulator rendered beforehand, so that its figures are exactsync's alone.
// A first, untimed pass of the same job records every answer of the entity's endpoint in
// a file; the timed run reads them back from it (the server's page cache, since the file
// was just written), while the other calls (tokens, deletions) still go to the simulator.

// pageRecorder is an http.RoundTripper that records, then replays, the answers to GETs
// of one endpoint, by their request URI. It is not safe to switch modes while requests
// are in flight.
type pageRecorder struct {
	next   http.RoundTripper
	prefix string // path of the endpoint recorded, such as /api/v1/101/sync/Financial/TransactionLines

	file      *os.File
	size      int64
	replaying bool

	mu      gosync.Mutex
	answers map[string]recordedAnswer

	hits, misses atomic.Int64 // replaying: answers from the file, GETs of the endpoint not recorded
}

// recordedAnswer is one answer in the file.
type recordedAnswer struct {
	status        int
	header        http.Header
	contentLength int64
	off, n        int64
}

// newPageRecorder records the answers of the endpoint at path into a new temporary file
// in dir ("" for the system's), passing every request on to next.
func newPageRecorder(next http.RoundTripper, dir, path string) (*pageRecorder, error) {
	f, err := os.CreateTemp(dir, "exactsync-bench-pages-*")
	if err != nil {
		return nil, fmt.Errorf("creating the file of recorded pages: %w", err)
	}
	return &pageRecorder{next: next, prefix: path, file: f, answers: map[string]recordedAnswer{}}, nil
}

// replay switches from recording to replaying, after writing the file out to disk, so
// that the timed run does not share the disk with its writing.
func (p *pageRecorder) replay() error {
	if err := p.file.Sync(); err != nil {
		return fmt.Errorf("writing out the recorded pages: %w", err)
	}
	p.replaying = true
	return nil
}

// Close removes the file.
func (p *pageRecorder) Close() error {
	p.file.Close()
	return os.Remove(p.file.Name())
}

func (p *pageRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, p.prefix) {
		return p.next.RoundTrip(r)
	}
	key := r.URL.RequestURI()
	if p.replaying {
		p.mu.Lock()
		a, ok := p.answers[key]
		p.mu.Unlock()
		if !ok {
			p.misses.Add(1)
			return p.next.RoundTrip(r)
		}
		p.hits.Add(1)
		return &http.Response{
			Status: fmt.Sprintf("%d %s", a.status, http.StatusText(a.status)), StatusCode: a.status,
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: a.header.Clone(), ContentLength: a.contentLength,
			Body:    io.NopCloser(io.NewSectionReader(p.file, a.off, a.n)),
			Request: r,
		}, nil
	}
	resp, err := p.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if resp.StatusCode != http.StatusOK {
		return resp, nil // only answers worth replaying
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.file.Write(body); err != nil {
		return nil, fmt.Errorf("recording a page: %w", err)
	}
	p.answers[key] = recordedAnswer{status: resp.StatusCode, header: resp.Header.Clone(),
		contentLength: resp.ContentLength, off: p.size, n: int64(len(body))}
	p.size += int64(len(body))
	return resp, nil
}

// discardingWriter is the writer of the recording pass: it stores nothing, neither rows
// nor cursor, so that the timed run starts from the same state and asks for the same
// pages.
type discardingWriter struct{ *sink.Store }

func (discardingWriter) WriteBatch(_ context.Context, b dest.Batch) (dest.BatchResult, error) {
	return dest.BatchResult{Upserted: len(b.Rows)}, nil
}

func (w discardingWriter) WriteBatches(ctx context.Context, bs []dest.Batch) ([]dest.BatchResult, error) {
	out := make([]dest.BatchResult, len(bs))
	for i, b := range bs {
		out[i], _ = w.WriteBatch(ctx, b)
	}
	return out, nil
}

func (discardingWriter) StartSweep(context.Context, dest.Table, int64, int, string) (bool, error) {
	return false, nil
}

func (discardingWriter) FinishSweep(context.Context, dest.Table, int64, int, string, dest.Cursor, int64) (int, error) {
	return 0, nil
}

// resetPeakRSS resets the process's peak RSS (VmHWM) to its current RSS, after a full
// collection, so that the peak read at the end is the timed run's (Linux 4.0 and later).
func resetPeakRSS() error {
	runtime.GC()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return fmt.Errorf("resetting the peak RSS: %w", err)
	}
	return nil
}

// processCPU is the CPU time, user and system, the process has used so far, in seconds.
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// startMemProfile starts sampling allocations for the heap profile of path, when there is
// one; the child sets runtime.MemProfileRate to 0 at its start, so that the profile holds
// the timed run's allocations only.
func startMemProfile(path string) {
	if path != "" {
		runtime.MemProfileRate = 64 << 10
	}
}

// writeHeapProfile writes the allocations sampled since startMemProfile to path, if any.
func writeHeapProfile(path string) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("writing the heap profile: %w", err)
	}
	return f.Close()
}

// prerenderLines renders the pages of a full pass over the transaction lines of division
// 101 before the clock starts: an untimed pass of the same job, through a writer that
// stores nothing, records them, and the client it returns reads them back. The caller
// closes the recorder.
func prerenderLines(ctx context.Context, w *benchWorld, cfg sync.Config) (*exact.Client, *pageRecorder, error) {
	e, err := sync.Lookup(linesEntity)
	if err != nil {
		return nil, nil, err
	}
	pages, err := newPageRecorder(http.DefaultTransport, "", "/api/v1/101/"+e.Path)
	if err != nil {
		return nil, nil, err
	}
	client, err := w.client(nil, nil, pages)
	if err == nil {
		job := sync.Job{ConnectionID: w.conn.ID, Division: 101, Entity: linesEntity, Full: true}
		if _, err = sync.NewRunner(cfg, discardingWriter{w.st}, w.st, w.st).Run(ctx, client, job); err != nil {
			err = fmt.Errorf("rendering the pages: %w", err)
		}
	}
	if err == nil {
		err = pages.replay()
	}
	if err != nil {
		pages.Close()
		return nil, nil, err
	}
	return client, pages, nil
}
