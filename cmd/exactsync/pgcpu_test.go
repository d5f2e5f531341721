package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	gosync "sync"
	"time"
)

// pgCPU measures the CPU time of the local PostgreSQL server's processes, read from /proc,
// for the cycle benchmark: the whole server (the postmaster, its live children, and
// through the postmaster's cutime and cstime every child that ended), and, by sampling
// the processes' titles ("postgres: 15/main: USER DB …") every 50 ms, the part of the
// backends of one database. The sampled part misses what a backend spends after its last
// sample (the end of a short session); the whole server counts everything, the other
// databases' work included.
type pgCPU struct {
	db   string
	stop chan struct{}
	done chan struct{}

	mu      gosync.Mutex
	last    map[int]int64 // ns of CPU a backend of db had at its last sample
	dbNanos int64         // CPU of db's backends since start
	pids    map[int]bool  // every backend of db seen
	total0  float64       // the server's CPU seconds at the start
}

// startPgCPU starts measuring; it returns nil when the server's processes cannot be read
// (another machine, no /proc).
func startPgCPU(db string) *pgCPU {
	total, ok := serverCPU()
	if !ok {
		return nil
	}
	m := &pgCPU{db: db, stop: make(chan struct{}), done: make(chan struct{}), last: map[int]int64{}, pids: map[int]bool{}, total0: total}
	m.sample()
	go func() {
		defer close(m.done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-tick.C:
				m.sample()
			}
		}
	}()
	return m
}

// finish stops measuring and returns the server's CPU seconds, the sampled CPU seconds of
// db's backends, and how many backends of db were seen.
func (m *pgCPU) finish() (server, db float64, backends int) {
	m.sample()
	close(m.stop)
	<-m.done
	total, _ := serverCPU()
	m.mu.Lock()
	defer m.mu.Unlock()
	return total - m.total0, float64(m.dbNanos) / 1e9, len(m.pids)
}

// sample adds what each backend of db spent since its last sample.
func (m *pgCPU) sample() {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	want := " " + m.db + " "
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, seen := m.last[pid]; !seen {
			title, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			if err != nil || !bytes.HasPrefix(title, []byte("postgres: ")) || !strings.Contains(string(title)+" ", want) {
				continue
			}
			m.pids[pid] = true
			m.last[pid] = 0
		}
		ns, ok := schedNanos(pid)
		if !ok {
			continue
		}
		m.dbNanos += ns - m.last[pid]
		m.last[pid] = ns
	}
	// A pid that ended is forgotten, so that a new process given the same pid starts
	// from zero.
	for pid := range m.last {
		if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); err != nil {
			delete(m.last, pid)
		}
	}
}

// schedNanos is the CPU time of process pid in nanoseconds (/proc/PID/schedstat).
func schedNanos(pid int) (int64, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "schedstat"))
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	return n, err == nil
}

// serverCPU is the CPU seconds the PostgreSQL server's processes have used: the
// postmaster's own and its ended children's (utime, stime, cutime, cstime), plus its live
// children's.
func serverCPU() (float64, bool) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, false
	}
	type proc struct {
		ppid           int
		self, children int64
		comm           string
	}
	procs := map[int]proc{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid … utime(14) stime(15) cutime(16) cstime(17)
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		comm := string(b[bytes.IndexByte(b, '(')+1 : i])
		if comm != "postgres" {
			continue
		}
		f := strings.Fields(string(b[i+2:]))
		if len(f) < 15 {
			continue
		}
		num := func(k int) int64 { n, _ := strconv.ParseInt(f[k-3], 10, 64); return n }
		procs[pid] = proc{ppid: int(num(4)), self: num(14) + num(15), children: num(16) + num(17), comm: comm}
	}
	var ticks int64
	found := false
	for pid, p := range procs {
		if _, child := procs[p.ppid]; child {
			continue
		}
		found = true // the postmaster: its parent is not a postgres process
		ticks += p.self + p.children
		for _, c := range procs {
			if c.ppid == pid {
				ticks += c.self
			}
		}
	}
	return float64(ticks) / 100, found // USER_HZ is 100 on Linux
}

// pgStats are the counters of pg_stat_database the cycle benchmark reports per job.
type pgStats struct {
	sessions, commits, rollbacks, returned, fetched, inserted, updated, deleted int64
}

// readPgStats reads db's counters (they lag by up to the stats flush interval, 1 s at
// most for a busy backend; the benchmark reads them after its processes have stopped).
func readPgStats(ctx context.Context, w *world, db string) pgStats {
	w.t.Helper()
	var s pgStats
	if err := w.pool.QueryRow(ctx, `SELECT sessions, xact_commit, xact_rollback, tup_returned, tup_fetched, tup_inserted, tup_updated, tup_deleted
		FROM pg_stat_database WHERE datname = $1`, db).Scan(&s.sessions, &s.commits, &s.rollbacks, &s.returned, &s.fetched, &s.inserted, &s.updated, &s.deleted); err != nil {
		w.t.Fatal(err)
	}
	return s
}

// statementLog reads the statements the server logged, with their durations, for the
// cycle benchmark's breakdown by statement: the server's log file (readable, and the
// server's own: its path is the benchmark's EXACTSYNC_BENCH_SERVER_LOG) from the offset
// where a cycle started. The benchmark has the database log every statement
// (log_min_duration_statement = 0, set on the database, for its new sessions only).
type statementLog struct {
	path   string
	offset int64
}

// startStatementLog notes where the log ends now.
func startStatementLog(path string) (*statementLog, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	return &statementLog{path: path, offset: fi.Size()}, nil
}

// statementTime is the time the server spent in one statement over a cycle.
type statementTime struct {
	text  string
	calls int     // executions
	ms    float64 // parse, bind and execute
}

// read sums the logged durations since the start by statement, largest first.
func (l *statementLog) read() ([]statementTime, error) {
	f, err := os.Open(l.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(l.offset, 0); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	byText := map[string]*statementTime{}
	var cur *statementTime // the entry a continuation line belongs to
	var text strings.Builder
	var ms float64
	var phase string
	flush := func() {
		if cur == nil {
			return
		}
		t := normalizeStatement(text.String())
		st, ok := byText[t]
		if !ok {
			st = &statementTime{text: t}
			byText[t] = st
		}
		st.ms += ms
		if phase == "execute" || phase == "statement" {
			st.calls++
		}
		cur = nil
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if strings.HasPrefix(line, "\t") {
			if cur != nil {
				text.WriteString(" " + line)
			}
			continue
		}
		flush()
		i := strings.Index(line, "LOG:  duration: ")
		if i < 0 {
			continue
		}
		rest := line[i+len("LOG:  duration: "):]
		num, after, ok := strings.Cut(rest, " ms  ")
		if !ok {
			continue
		}
		ms, _ = strconv.ParseFloat(num, 64)
		head, stmt, ok := strings.Cut(after, ": ")
		if !ok {
			continue
		}
		phase, _, _ = strings.Cut(head, " ")
		text.Reset()
		text.WriteString(stmt)
		cur = &statementTime{}
	}
	flush()
	out := make([]statementTime, 0, len(byText))
	for _, st := range byText {
		out = append(out, *st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ms > out[j].ms })
	return out, nil
}

// normalizeStatement names a statement by its first words, or by River's query name.
func normalizeStatement(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if strings.HasPrefix(s, "-- name: ") {
		name, _, _ := strings.Cut(strings.TrimPrefix(s, "-- name: "), " ")
		return "River " + name
	}
	if len(s) > 90 {
		s = s[:90] + "…"
	}
	return s
}
