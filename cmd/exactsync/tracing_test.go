package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	gosync "sync"
	"testing"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/exactsync/exactsync/sink/sinktest"
)

func TestTracingWanted(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		vars    map[string]string
		want    bool
		wantErr string // a part of the error, "" for none
	}{
		{name: "nothing set", vars: nil, want: false},
		{name: "endpoint", vars: map[string]string{envOTelEndpoint: "http://collector:4318"}, want: true},
		{name: "traces endpoint", vars: map[string]string{envOTelTracesEndpoint: "https://collector/v1/traces"}, want: true},
		{name: "exporter otlp alone", vars: map[string]string{envOTelTracesExporter: "otlp"}, want: true},
		{name: "exporter none", vars: map[string]string{envOTelTracesExporter: "none", envOTelEndpoint: "http://c:4318"}, want: false},
		{name: "sdk disabled", vars: map[string]string{envOTelSDKDisabled: "true", envOTelEndpoint: "http://c:4318"}, want: false},
		{name: "exporter console", vars: map[string]string{envOTelTracesExporter: "console"}, wantErr: "OTEL_TRACES_EXPORTER=console: exactsync exports traces over OTLP only"},
		{name: "grpc", vars: map[string]string{envOTelEndpoint: "http://c:4317", envOTelProtocol: "grpc"}, wantErr: "OTEL_EXPORTER_OTLP_PROTOCOL=grpc: exactsync sends traces with OTLP over HTTP"},
		{name: "traces protocol", vars: map[string]string{envOTelEndpoint: "http://c:4318", envOTelTracesProtocol: "http/json"}, wantErr: "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/json"},
		{name: "http/protobuf", vars: map[string]string{envOTelEndpoint: "http://c:4318", envOTelProtocol: "http/protobuf"}, want: true},
		{name: "endpoint not a URL", vars: map[string]string{envOTelEndpoint: "collector:4318"}, wantErr: "OTEL_EXPORTER_OTLP_ENDPOINT is not a URL"},
		{name: "endpoint secret not echoed", vars: map[string]string{envOTelTracesEndpoint: "ftp://user:hunter2@c"}, wantErr: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is not a URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tracingWanted(func(k string) string { return tt.vars[k] })
			switch {
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") || strings.Count(err.Error(), "\n") > 0 {
					t.Errorf("error %q: want one line without the URL's password", err)
				}
			case err != nil:
				t.Fatalf("error %v, want none", err)
			case got != tt.want:
				t.Errorf("tracingWanted = %t, want %t", got, tt.want)
			}
		})
	}
}

func TestTraceEndpoint(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ generic, traces, want string }{
		{"", "", ""},
		{"http://c:4318", "", "http://c:4318/v1/traces"},
		{"http://c:4318/", "", "http://c:4318/v1/traces"},
		{"http://c:4318", "https://t/custom", "https://t/custom"},
	} {
		vars := map[string]string{envOTelEndpoint: tt.generic, envOTelTracesEndpoint: tt.traces}
		if got := traceEndpoint(func(k string) string { return vars[k] }); got != tt.want {
			t.Errorf("traceEndpoint(%q, %q) = %q, want %q", tt.generic, tt.traces, got, tt.want)
		}
	}
}

// collector is an OTLP/HTTP trace receiver: it keeps every request body.
type collector struct {
	mu     gosync.Mutex
	bodies [][]byte
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "want a protobuf POST to /v1/traces", http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.bodies = append(c.bodies, body)
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

// spans decodes every span received, with the service.name of its resource.
func (c *collector) spans(t *testing.T) (spans []*tracepb.Span, services map[string]bool, raw []byte) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	services = map[string]bool{}
	for _, b := range c.bodies {
		raw = append(raw, b...)
		var req coltrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			t.Fatalf("the collector received a body that is not an OTLP request: %v", err)
		}
		for _, rs := range req.ResourceSpans {
			for _, kv := range rs.GetResource().GetAttributes() {
				if kv.Key == "service.name" {
					services[kv.Value.GetStringValue()] = true
				}
			}
			for _, ss := range rs.ScopeSpans {
				spans = append(spans, ss.Spans...)
			}
		}
	}
	return spans, services, raw
}

// exactsync sync with an OTLP endpoint sends the run's trace to it before it exits: the
// run's span, below it the calls to Exact and the writes; the run's log lines carry the
// trace id; the service is named by OTEL_SERVICE_NAME's rule (here the default); no
// refresh token or client secret is in what was sent.
func TestSyncCommandExportsItsTrace(t *testing.T) {
	if testing.Short() {
		t.Skip("syncs against the simulator and PostgreSQL; skipped with -short")
	}
	t.Parallel()
	p := newInProcess(t)
	col := &collector{}
	srv := httptest.NewServer(col)
	t.Cleanup(srv.Close)
	first := p.sim.RefreshToken()
	if r := p.run("auth", "import", "--refresh-token", first); r.code != exitOK {
		t.Fatalf("auth import: exit %d\n%s", r.code, r.stderr)
	}
	p.vars[envOTelEndpoint] = srv.URL
	r := p.run("sync", "--entity", "accounts")
	if r.code != exitOK {
		t.Fatalf("sync: exit %d\n%s", r.code, r.stderr)
	}
	spans, services, raw := col.spans(t)
	var run *tracepb.Span
	for _, s := range spans {
		if s.Name == "sync accounts" {
			run = s
		}
	}
	if run == nil {
		t.Fatalf("no span of the run among %d received; stderr:\n%s", len(spans), r.stderr)
	}
	below := map[string]int{}
	for _, s := range spans {
		if bytes.Equal(s.ParentSpanId, run.SpanId) {
			below[s.Name]++
		}
	}
	if below["GET sync/CRM/Accounts"] == 0 || below["write"] == 0 {
		t.Errorf("below the run: %v; want its calls of sync/CRM/Accounts and its writes", below)
	}
	if !services[defaultTraceServiceName] {
		t.Errorf("services %v, want %q", services, defaultTraceServiceName)
	}
	if id := hex.EncodeToString(run.TraceId); !strings.Contains(r.stderr, id) {
		t.Errorf("the run's log lines do not carry its trace id %s:\n%s", id, r.stderr)
	}
	for _, sec := range []string{testClientSecret, first, p.sim.RefreshToken()} {
		if bytes.Contains(raw, []byte(sec)) {
			t.Errorf("the exported spans carry a credential (%d characters, starting %.4s…)", len(sec), sec)
		}
	}
}

// exactsync run with an OTLP endpoint traces each job of the queue with its run below
// it, and sends what is left of its spans when it stops.
func TestRunCommandExportsJobTraces(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the worker against the simulator and PostgreSQL; skipped with -short")
	}
	t.Parallel()
	p := newInProcess(t)
	col := &collector{}
	srv := httptest.NewServer(col)
	t.Cleanup(srv.Close)
	if r := p.run("auth", "import", "--refresh-token", p.sim.RefreshToken()); r.code != exitOK {
		t.Fatalf("auth import: exit %d\n%s", r.code, r.stderr)
	}
	p.vars["EXACTSYNC_ENTITIES"] = "accounts"
	p.vars["LOG_FORMAT"] = "json"
	p.vars[envOTelTracesEndpoint] = srv.URL + "/v1/traces"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &lockedBuffer{}
	e := &env{ctx: ctx, stdin: strings.NewReader(""), stdout: &lockedBuffer{}, stderr: stderr,
		getenv: func(k string) string { return p.vars[k] }, environ: p.environ}
	done := make(chan int, 1)
	go func() { done <- runEnv(e, []string{"run"}) }()
	// The catch-up tick queues the accounts job of division 101 at start.
	if !eventually(2*time.Minute, func() bool {
		var n int
		err := p.pool.QueryRow(context.Background(),
			`SELECT count(*) FROM exact_river.river_job WHERE kind = 'exactsync_sync' AND state = 'completed' AND args->>'entity' = 'accounts'`).Scan(&n)
		return err == nil && n > 0
	}) {
		t.Fatalf("no accounts job completed within 2 minutes:\n%s", stderr)
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("run exited %d, want 0:\n%s", code, stderr)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("run did not stop within 2 minutes of its context's end")
	}
	spans, _, raw := col.spans(t)
	byID := map[string]*tracepb.Span{}
	for _, s := range spans {
		byID[hex.EncodeToString(s.SpanId)] = s
	}
	found := false
	for _, s := range spans {
		if s.Name != "sync accounts" {
			continue
		}
		job := byID[hex.EncodeToString(s.ParentSpanId)]
		if job == nil || job.Name != "job exactsync_sync" {
			t.Errorf("the run's span has no job's span for a parent (%v)", job)
			continue
		}
		found = true
	}
	if !found {
		t.Errorf("no run's span among the %d spans received", len(spans))
	}
	for _, sec := range []string{testClientSecret, p.sim.RefreshToken()} {
		if bytes.Contains(raw, []byte(sec)) {
			t.Errorf("the exported spans carry a credential (%d characters, starting %.4s…)", len(sec), sec)
		}
	}
}

// A trace exporter or protocol exactsync does not ship stops sync and run with one line
// naming the variable and what to set, exit 2, before the database is touched.
func TestBadTraceSettingsAreRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL; skipped with -short")
	}
	t.Parallel()
	dbURL := sinktest.NewDatabase(t)
	p := newInProcessAt(t, dbURL)
	for _, tt := range []struct {
		name, value, want string
	}{
		{envOTelTracesExporter, "zipkin", "OTEL_TRACES_EXPORTER=zipkin: exactsync exports traces over OTLP only; set it to otlp"},
		{envOTelProtocol, "grpc", "OTEL_EXPORTER_OTLP_PROTOCOL=grpc: exactsync sends traces with OTLP over HTTP (http/protobuf) only"},
	} {
		for _, cmd := range [][]string{{"sync", "--entity", "accounts"}, {"run"}} {
			p.vars = maps.Clone(p.vars)
			p.vars[envOTelTracesExporter], p.vars[envOTelProtocol] = "", ""
			p.vars[tt.name] = tt.value
			if tt.name == envOTelProtocol {
				p.vars[envOTelEndpoint] = "http://127.0.0.1:4318"
			}
			r := p.run(cmd...)
			if r.code != exitUsage || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Errorf("%s with %s=%s: exit %d, stderr\n%s\nwant exit 2 and one line", cmd[0], tt.name, tt.value, r.code, r.stderr)
			}
			checkErrorLine(t, r, tt.want)
		}
	}
	var schemas int
	if err := p.pool.QueryRow(context.Background(), `SELECT count(*) FROM information_schema.schemata WHERE schema_name IN ('exact_sync', 'exact_river')`).Scan(&schemas); err != nil {
		t.Fatal(err)
	}
	if schemas != 0 {
		t.Errorf("the refused commands created %d of exactsync's schemas, want none", schemas)
	}
}
