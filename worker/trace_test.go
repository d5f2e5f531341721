package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/exact/exacttest"
	"github.com/exactsync/exactsync/sync"
	"github.com/exactsync/exactsync/worker"
)

// secretsSeen is an http.RoundTripper that notes every credential that crosses it: the
// bearer tokens of data calls, the client secret and refresh token of token calls, and
// the pair of each token answer. A trace is then searched for each of them.
type secretsSeen struct {
	base http.RoundTripper
	mu   gosync.Mutex
	seen map[string]bool
}

func (s *secretsSeen) add(vs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range vs {
		if v != "" {
			s.seen[v] = true
		}
	}
}

func (s *secretsSeen) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.seen))
	for v := range s.seen {
		out = append(out, v)
	}
	return out
}

func (s *secretsSeen) RoundTrip(req *http.Request) (*http.Response, error) {
	if a := req.Header.Get("Authorization"); a != "" {
		s.add(strings.TrimPrefix(a, "Bearer "))
	}
	isToken := strings.HasSuffix(req.URL.Path, "/oauth2/token")
	if isToken && req.Body != nil {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		s.add(form.Get("client_secret"), form.Get("refresh_token"), form.Get("code"))
	}
	resp, err := s.base.RoundTrip(req)
	if err != nil || !isToken {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var pair struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if json.Unmarshal(body, &pair) == nil {
		s.add(pair.AccessToken, pair.RefreshToken)
	}
	return resp, nil
}

// A sync job run by the worker against the simulator is one trace: the job's span, the
// run's below it, and below the run a span per call to Exact (its endpoint, division,
// status, the rate limits left, the retry number and the wait before it) and a span per
// write; the run's log lines carry the trace's id. No token, refresh token or client
// secret is in any attribute, event or status of any span.
func TestJobTraceHasItsRunCallsAndWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for River to work a job; skipped with -short")
	}
	t.Parallel()
	const accounts = 2500 // three pages of sync/CRM/Accounts
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: accounts, FreezeClock: true,
		DailyLimit: 5000, MinutelyLimit: 100})
	firstRefresh := w.sim.RefreshToken()

	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	seen := &secretsSeen{base: http.DefaultTransport, seen: map[string]bool{}}
	var logs syncBuffer
	log := zerolog.New(&logs)

	ctx := context.Background()
	noSleep := func(context.Context, time.Duration) error { return nil }
	cfg := worker.Config{Logger: log, Pool: w.pool, Store: w.st, Now: w.sim.Now, TracerProvider: tp,
		Runner: sync.NewRunner(sync.Config{Logger: log, Enabled: []string{"accounts"}, Now: w.sim.Now, TracerProvider: tp}, w.st, w.st, w.st),
		NewClient: func(_ context.Context, conn dest.Connection) (*exact.Client, error) {
			return exact.New(exact.Config{BaseURL: conn.BaseURL, ClientID: testClientID, ClientSecret: testClientSecret,
				Logger: log, Now: w.sim.Now, Sleep: noSleep, Retry: exact.RetryPolicy{Attempts: 20, Base: 400 * time.Millisecond},
				HTTPClient: &http.Client{Transport: seen}, TracerProvider: tp}, sync.NewTokenStore(w.st, conn.ID))
		}}
	wk, err := worker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := wk.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := wk.Stop(sctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	// The division listing the worker runs at start calls Exact too; once it is done,
	// the sync job is the only one to call. Then half the data calls fail with a 500 or
	// a 503, drawn from the simulator's seeded generator: the same calls fail every time,
	// and the trace shows the retries and their waits.
	w.waitFor("the division listing of the start", 2*time.Minute, func() bool {
		return w.count(`SELECT count(*) FROM exact_river.river_job WHERE kind = $1 AND state = 'completed'`, worker.KindDivisions) > 0
	})
	w.sim.SetFaults(exacttest.Faults{ErrorRate: 0.5})
	q, err := worker.NewQueue(w.pool)
	if err != nil {
		t.Fatal(err)
	}
	id, _, err := q.Enqueue(ctx, sync.Job{ConnectionID: w.conn.ID, Division: 101, Entity: "accounts"})
	if err != nil {
		t.Fatal(err)
	}
	w.waitFor("the job completed", 2*time.Minute, func() bool {
		return w.count(`SELECT count(*) FROM exact_river.river_job WHERE id = $1 AND state = 'completed'`, id) == 1
	})
	// The job's span ended, and was exported, when Work returned: before River recorded
	// the job completed.
	spans := exp.GetSpans()

	byName := map[string][]tracetest.SpanStub{}
	for _, s := range spans {
		byName[s.Name] = append(byName[s.Name], s)
	}
	one := func(name string) tracetest.SpanStub {
		t.Helper()
		if got := len(byName[name]); got != 1 {
			t.Fatalf("%d spans named %q, want 1; spans: %v", got, name, names(spans))
		}
		return byName[name][0]
	}
	job, run := one("job exactsync_sync"), one("sync accounts")
	if job.Parent.IsValid() {
		t.Errorf("the job's span has a parent %v, want none", job.Parent.SpanID())
	}
	checkAttrs(t, job, map[attribute.Key]any{"exactsync.job_id": id, "exactsync.division": int64(101), "exactsync.entity": "accounts"})
	if run.Parent.SpanID() != job.SpanContext.SpanID() {
		t.Errorf("the run's span's parent is %v, want the job's %v", run.Parent.SpanID(), job.SpanContext.SpanID())
	}
	checkAttrs(t, run, map[attribute.Key]any{sync.AttrStatus: sync.StatusOK, sync.AttrUpserted: int64(accounts),
		sync.AttrDivision: int64(101), sync.AttrConnection: w.conn.ID})

	calls := byName["GET sync/CRM/Accounts"]
	retries, okCalls := 0, 0
	for _, c := range calls {
		if c.Parent.SpanID() != run.SpanContext.SpanID() {
			t.Errorf("call span %v has parent %v, want the run's", c.SpanContext.SpanID(), c.Parent.SpanID())
		}
		a := attrs(c)
		for _, k := range []attribute.Key{exact.AttrEndpoint, exact.AttrDivision, exact.AttrRetry, exact.AttrWaitMS,
			exact.AttrMinuteRemaining, exact.AttrDayRemaining, "http.response.status_code", "url.full"} {
			if _, ok := a[k]; !ok {
				t.Errorf("call span %v has no %s; attributes %v", c.SpanContext.SpanID(), k, a)
			}
		}
		if a[exact.AttrDivision].AsInt64() != 101 || a[exact.AttrEndpoint].AsString() != "sync/CRM/Accounts" {
			t.Errorf("call span: division %v, endpoint %v; want 101, sync/CRM/Accounts", a[exact.AttrDivision].String(), a[exact.AttrEndpoint].String())
		}
		if !strings.Contains(a["url.full"].AsString(), "/api/v1/101/sync/CRM/Accounts?") {
			t.Errorf("call span: url.full %q, want the page's URL", a["url.full"].AsString())
		}
		switch status := a["http.response.status_code"].AsInt64(); {
		case status == http.StatusOK:
			okCalls++
			day, minute := a[exact.AttrDayRemaining].AsInt64(), a[exact.AttrMinuteRemaining].AsInt64()
			if day <= 0 || day >= 5000 || minute <= 0 || minute >= 100 {
				t.Errorf("call span: budgets left %d a day, %d a minute; want the simulator's counts (of 5000, 100)", day, minute)
			}
		case status >= 500:
		default:
			t.Errorf("call span: status %d, want 200 or an injected 5xx", status)
		}
		if a[exact.AttrRetry].AsInt64() > 0 {
			retries++
			if wait := a[exact.AttrWaitMS].AsInt64(); wait < 200 || wait > 30_000 {
				t.Errorf("retry span: waited %d ms, want the backoff after the failure (200 ms to 30 s)", wait)
			}
		}
	}
	if okCalls != 3 {
		t.Errorf("%d answered calls of sync/CRM/Accounts, want 3 (one per page); spans: %v", okCalls, names(spans))
	}
	t.Logf("%d call spans of sync/CRM/Accounts, %d of them retries; %d faults injected", len(calls), retries, w.sim.Stats().FaultsInjected)
	if retries == 0 || w.sim.Stats().FaultsInjected == 0 {
		t.Errorf("%d retry spans for %d injected faults, want some of each", retries, w.sim.Stats().FaultsInjected)
	}
	if got, want := len(calls), w.sim.Stats().APICalls["101 sync/CRM/Accounts"]; got != want {
		t.Errorf("%d call spans, the simulator received %d calls", got, want)
	}

	rows := int64(0)
	for _, s := range byName["write"] {
		if s.Parent.SpanID() != run.SpanContext.SpanID() {
			t.Errorf("write span %v has parent %v, want the run's", s.SpanContext.SpanID(), s.Parent.SpanID())
		}
		rows += attrs(s)[sync.AttrRows].AsInt64()
	}
	if len(byName["write"]) == 0 || rows != accounts {
		t.Errorf("%d write spans with %d rows, want some with %d", len(byName["write"]), rows, accounts)
	}
	for _, s := range byName["POST oauth2/token"] {
		if outcome := attrs(s)[exact.AttrRefreshOutcome].AsString(); outcome != exact.RefreshOK {
			t.Errorf("token refresh span: outcome %q, want %q", outcome, exact.RefreshOK)
		}
	}

	// Every span of the run, and only those, is in the job's trace; the calls the
	// worker makes outside a sync job (the division listing at start) are in their
	// own job's.
	traceID := job.SpanContext.TraceID().String()
	for _, s := range spans {
		inJob := s.SpanContext.TraceID().String() == traceID
		if below := s.Name == "sync accounts" || s.Parent.SpanID() == run.SpanContext.SpanID(); below != inJob && s.SpanContext.SpanID() != job.SpanContext.SpanID() {
			t.Errorf("span %q: in the job's trace %t, below its run %t", s.Name, inJob, below)
		}
		if !s.Parent.IsValid() && !strings.HasPrefix(s.Name, "job ") {
			t.Errorf("span %q has no parent, want a job's", s.Name)
		}
	}
	if !strings.Contains(logs.String(), `"trace_id":"`+traceID+`"`) || !strings.Contains(logs.String(), "sync run finished") {
		t.Errorf("the run's log lines do not carry trace_id %s:\n%s", traceID, logs.String())
	}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(line, "sync run finished") && !strings.Contains(line, traceID) {
			t.Errorf("the run's summary has no trace_id: %s", line)
		}
	}

	secrets := append(seen.list(), testClientSecret, firstRefresh, w.sim.RefreshToken())
	if len(secrets) < 5 { // at least an access token and the pair that came with it
		t.Fatalf("only %d credentials seen on the wire; the scan would prove nothing", len(secrets))
	}
	for _, s := range spans {
		for _, text := range spanTexts(s) {
			for _, sec := range secrets {
				if strings.Contains(text, sec) {
					t.Errorf("span %q carries a credential (%d characters, starting %.4s…) in %q", s.Name, len(sec), sec, text)
				}
			}
		}
	}
}

// attrs are a span's attributes by key.
func attrs(s tracetest.SpanStub) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes {
		m[kv.Key] = kv.Value
	}
	return m
}

// checkAttrs checks that s has want's attributes with their values.
func checkAttrs(t *testing.T, s tracetest.SpanStub, want map[attribute.Key]any) {
	t.Helper()
	a := attrs(s)
	for k, v := range want {
		got, ok := a[k]
		if !ok {
			t.Errorf("span %q has no attribute %s", s.Name, k)
			continue
		}
		if got.AsInterface() != v {
			t.Errorf("span %q: %s = %v, want %v", s.Name, k, got.AsInterface(), v)
		}
	}
}

// spanTexts is every text a span exports: its name, status, attributes, events and
// resource.
func spanTexts(s tracetest.SpanStub) []string {
	out := []string{s.Name, s.Status.Description}
	add := func(kvs []attribute.KeyValue) {
		for _, kv := range kvs {
			out = append(out, string(kv.Key), kv.Value.String())
		}
	}
	add(s.Attributes)
	for _, e := range s.Events {
		out = append(out, e.Name)
		add(e.Attributes)
	}
	if s.Resource != nil {
		add(s.Resource.Attributes())
	}
	return out
}

func names(spans tracetest.SpanStubs) []string {
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = s.Name
	}
	return out
}
