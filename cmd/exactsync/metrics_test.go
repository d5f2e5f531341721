package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/exact/exacttest"
	"github.com/exactsync/exactsync/internal/tcpproxy"
	"github.com/exactsync/exactsync/sink/sinktest"
)

// The metrics and health tests run `exactsync run --listen` against the simulator, with
// rate limits on, served through a handler that can answer 429s, and PostgreSQL reached
// through a proxy the test can cut.

// opsWorld is a world whose simulator can answer 429s and whose database the test can cut.
type opsWorld struct {
	*world
	proxy *tcpproxy.Proxy
	storm atomic.Int64 // sync endpoint calls still to answer 429
}

func newOpsWorld(t *testing.T, divisions []int, accounts int) *opsWorld {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the exactsync binary against the simulator; skipped with -short")
	}
	sim := exacttest.New(exacttest.Options{
		ClientID: testClientID, ClientSecret: testClientSecret, Divisions: divisions, Accounts: accounts, Seed: 5,
		MinutelyLimit: 60, DailyLimit: 5000, Start: time.Now(), // rate-limit resets mean the same to both clocks
	})
	ow := &opsWorld{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/sync/") && ow.storm.Add(-1) >= 0 {
			h := w.Header()
			h.Set("X-RateLimit-Minutely-Limit", "60")
			h.Set("X-RateLimit-Minutely-Remaining", "0")
			h.Set("X-RateLimit-Minutely-Reset", strconv.FormatInt(time.Now().Add(300*time.Millisecond).UnixMilli(), 10))
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)

	ow.world = newWorldAt(t, &exacttest.Server{Simulator: sim, URL: hs.URL}, divisions, "info")
	ow.env["DATABASE_URL"], ow.proxy = sinktest.Proxied(t, ow.dbURL)
	return ow
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu gosync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// runProcess is `exactsync run` started by a test.
type runProcess struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	addr   string // where it serves HTTP
	token  string // EXACTSYNC_LISTEN_TOKEN, sent with every request; "" none
}

var servingAddr = regexp.MustCompile(`"addr":"([^"]+)"[^\n]*serving HTTP`)

// startServing starts `exactsync run --listen 127.0.0.1:0` and waits for the address it
// serves on.
func (w *world) startServing(args ...string) *runProcess {
	w.t.Helper()
	p := &runProcess{stderr: &lockedBuffer{}, token: w.env[config.EnvListenToken]}
	p.cmd = w.cmd(nil, append([]string{"run", "--listen", "127.0.0.1:0"}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = io.Discard, p.stderr
	if err := p.cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		w.mu.Lock()
		w.logs = append(w.logs, p.stderr.String())
		w.mu.Unlock()
	})
	if !eventually(30*time.Second, func() bool {
		m := servingAddr.FindStringSubmatch(p.stderr.String())
		if m != nil {
			p.addr = m[1]
		}
		return m != nil
	}) {
		w.t.Fatalf("exactsync run did not say where it serves in 30 s:\n%s", p.stderr)
	}
	return p
}

// get fetches path from the process's server.
func (p *runProcess) get(t *testing.T, path string) (int, string) {
	t.Helper()
	code, body := p.try(path)
	if code == 0 {
		t.Fatalf("GET %s: %s\nexactsync run's stderr:\n%s", path, body, p.stderr)
	}
	return code, body
}

// try fetches path from the process's server; status 0 and the error when it cannot.
func (p *runProcess) try(path string) (int, string) {
	req, err := http.NewRequest(http.MethodGet, "http://"+p.addr+path, nil)
	if err != nil {
		return 0, err.Error()
	}
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err.Error()
	}
	return resp.StatusCode, string(body)
}

// stop sends SIGTERM and expects a clean exit within 30 s.
func (p *runProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exactsync run exited with %v after SIGTERM\nstderr:\n%s", err, p.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("exactsync run did not exit within 30 s of SIGTERM")
	}
}

// eventually polls cond every 50 ms until it holds or d passes.
func eventually(d time.Duration, cond func() bool) bool {
	return poll(d, 50*time.Millisecond, cond)
}

var sampleLabel = regexp.MustCompile(`(\w+)="([^"]*)"`)

// sample returns the value of the first sample of metric name in a scrape whose labels
// include labels ("k=v,…"), and whether there is one.
func sample(scrape, name, labels string) (float64, bool) {
	want := map[string]string{}
	for kv := range strings.SplitSeq(labels, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			want[k] = v
		}
	}
	for line := range strings.SplitSeq(scrape, "\n") {
		series, value, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		metric, lbls, _ := strings.Cut(series, "{")
		if metric != name {
			continue
		}
		have := map[string]string{}
		for _, m := range sampleLabel.FindAllStringSubmatch(lbls, -1) {
			have[m[1]] = m[2]
		}
		match := true
		for k, v := range want {
			match = match && have[k] == v
		}
		if !match {
			continue
		}
		f, err := strconv.ParseFloat(value, 64)
		return f, err == nil
	}
	return 0, false
}

// TestMetricsAfterASync scrapes a run process after it synced changes, deletions, a
// hostile record and a storm of 429s with a token refresh: every metric of the README's
// list is there, non-zero where the work happened. /metrics and the status page require
// EXACTSYNC_LISTEN_TOKEN, which the log never shows; the probes do not.
func TestMetricsAfterASync(t *testing.T) {
	t.Parallel()
	ow := newOpsWorld(t, []int{101, 102}, 1200)
	ow.importToken()
	for _, e := range []string{"accounts", "suppliers"} {
		ow.mustRun("sync", "--entity", e)
	}
	// Changes for the run: a rename, two deletions, a record that cannot be stored.
	accts := ow.sim.Accounts(101)
	renamed := accts[0]
	renamed.Name = "Renamed by the metrics test"
	if err := ow.sim.UpsertAccounts(101, renamed); err != nil {
		t.Fatal(err)
	}
	if err := ow.sim.DeleteAccounts(101, accts[1].ID, accts[2].ID); err != nil {
		t.Fatal(err)
	}
	if err := ow.sim.UpsertRawAccounts(101, json.RawMessage(`{"ID":"not-a-guid","Name":"x","IsSupplier":true}`)); err != nil {
		t.Fatal(err)
	}
	ow.expireToken() // the run refreshes
	ow.storm.Store(2)

	const listenToken = "metrics-test-listen-token-0123456789"
	ow.env[config.EnvListenToken] = listenToken
	p := ow.startServing("--workers", "2")
	var scrape string
	if !eventually(60*time.Second, func() bool {
		_, scrape = p.try("/metrics")
		ok := func(entity, division string) bool {
			v, _ := sample(scrape, "exactsync_runs_total", "entity="+entity+",status=ok")
			lag, hasLag := sample(scrape, "exactsync_sync_lag_seconds", "entity="+entity+",division="+division)
			return v > 0 && hasLag && lag >= 0
		}
		removed, _ := sample(scrape, "exactsync_records_removed_total", "entity=accounts,division=101")
		return ok("accounts", "101") && ok("deletions", "101") && removed > 0
	}) {
		t.Fatalf("the run did not sync the accounts and their deletions in 60 s; last scrape:\n%s\nstderr:\n%s", scrape, p.stderr)
	}

	nonZero := []struct{ name, labels string }{
		{"exactsync_records_upserted_total", "entity=accounts,division=101"},
		{"exactsync_records_removed_total", "entity=accounts,division=101"},
		{"exactsync_records_quarantined_total", "entity=accounts,division=101"},
		{"exactsync_api_calls_total", "endpoint=sync/CRM/Accounts,status=200"},
		{"exactsync_api_calls_total", "endpoint=sync/CRM/Accounts,status=429"},
		{"exactsync_api_calls_total", "endpoint=sync/Deleted,status=200"},
		{"exactsync_api_call_duration_seconds_count", "endpoint=sync/CRM/Accounts"},
		{"exactsync_api_too_many_requests_total", ""},
		{"exactsync_token_refreshes_total", "outcome=ok"},
		{"exactsync_rate_limit_remaining_calls", "division=101,window=minute"},
		{"exactsync_rate_limit_remaining_calls", "division=101,window=day"},
		{"exactsync_run_duration_seconds_count", "entity=accounts"},
		{"exactsync_runs_total", "entity=accounts,status=ok"},
		{"exactsync_sync_lag_seconds", "entity=accounts,division=102"},
		{"exactsync_refresh_token_age_seconds", "connection=1"},
		{"exactsync_schedule_interval_seconds", "entity=accounts"},
		{"exactsync_schedule_interval_seconds", "entity=deletions"},
		{"go_goroutines", ""},
		{"process_resident_memory_bytes", ""},
	}
	for _, m := range nonZero {
		if v, ok := sample(scrape, m.name, m.labels); !ok || v <= 0 {
			t.Errorf("%s{%s}: got %v (present: %t), want a value above zero", m.name, m.labels, v, ok)
		}
	}
	// The lag is seconds since the last successful run: the runs just finished.
	if v, _ := sample(scrape, "exactsync_sync_lag_seconds", "entity=accounts,division=101"); v > 120 {
		t.Errorf("sync lag of accounts in 101: %v s, want less than the test took", v)
	}
	if v, _ := sample(scrape, "exactsync_token_refreshes_total", "outcome=reauth_required"); v != 0 {
		t.Errorf("refreshes that broke the chain: %v, want 0", v)
	}
	if code, body := p.get(t, "/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: got %d %q, want 200 ok", code, body)
	}
	if code, body := p.get(t, "/readyz"); code != 200 || body != "ok\n" {
		t.Errorf("/readyz: got %d %q, want 200 ok", code, body)
	}
	if v, ok := sample(scrape, "exactsync_connection_reauth_required", "connection=1"); !ok || v != 0 {
		t.Errorf("exactsync_connection_reauth_required{connection=1}: got %v (present: %t), want 0", v, ok)
	}
	if code, body := p.get(t, "/"); code != 200 || !strings.Contains(body, "exactsync status") || !strings.Contains(body, `title="division 101, accounts`) {
		t.Errorf("the status page: got %d, want 200 with the grid of division 101:\n%s", code, body)
	}
	anonymous := &runProcess{addr: p.addr}
	for path, want := range map[string]int{"/metrics": 401, "/": 401, "/healthz": 200, "/readyz": 200} {
		if code, _ := anonymous.get(t, path); code != want {
			t.Errorf("GET %s without the token: %d, want %d", path, code, want)
		}
	}
	p.stop(t)
	if strings.Contains(p.stderr.String(), listenToken) {
		t.Error("the log shows EXACTSYNC_LISTEN_TOKEN")
	}
}

// TestMetricsListenRefusesABadAddress: a --listen that is no address, or one that cannot
// be listened on, is one line and exit 2.
func TestMetricsListenRefusesABadAddress(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 5})
	w.importToken()
	taken := httptest.NewServer(http.NotFoundHandler())
	defer taken.Close()
	tests := []struct {
		name  string
		env   map[string]string
		args  []string
		wants []string
	}{
		{"no port", nil, []string{"run", "--listen", "9464"}, []string{"--listen (EXACTSYNC_LISTEN)", `"9464"`, "HOST:PORT"}},
		{"port out of range, from the environment", map[string]string{"EXACTSYNC_LISTEN": "127.0.0.1:70000"}, []string{"run"},
			[]string{"EXACTSYNC_LISTEN", `"70000"`}},
		{"address taken", nil, []string{"run", "--listen", strings.TrimPrefix(taken.URL, "http://")},
			[]string{"--listen (EXACTSYNC_LISTEN)", strings.TrimPrefix(taken.URL, "http://")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := w.run(tt.env, tt.args...)
			if r.code != exitUsage {
				t.Fatalf("exit %d, want %d: %s", r.code, exitUsage, r)
			}
			checkErrorLine(t, r, tt.wants...)
		})
	}
}
