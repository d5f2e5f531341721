package sync

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/exact/exacttest"
)

// A run is a span with its calls to Exact and its writes below it, and every log line of
// the run carries its trace id; a full pass's end (the sweep) is a write of its own.
// Without a TracerProvider there is no span and no trace_id.
func TestRunSpansAndTraceIDInLogs(t *testing.T) {
	t.Parallel()
	const units = 130 // three pages of a regular endpoint (60 a page)
	sim := exacttest.New(exacttest.Options{Records: map[string]int{"units": units}, Seed: 3})
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	tokens := &memTokens{tokens: map[int64]dest.Token{1: {RefreshToken: sim.RefreshToken()}}}
	client, err := exact.New(exact.Config{
		BaseURL: exacttest.InProcessURL, ClientID: "exactsim-client", ClientSecret: "exactsim-secret",
		HTTPClient: sim.InProcessClient(), Logger: zerolog.Nop(), Now: sim.Now, TracerProvider: tp,
		Sleep: func(ctx context.Context, d time.Duration) error { sim.Advance(d); return ctx.Err() },
	}, NewTokenStore(tokens, 1))
	if err != nil {
		t.Fatal(err)
	}
	st := newMemStore()
	var logs bytes.Buffer
	r := NewRunner(Config{Logger: zerolog.New(&logs), Enabled: []string{"units"}, Now: sim.Now, TracerProvider: tp}, st, st, st)
	job := Job{ConnectionID: 1, Division: 101, Entity: "units"}

	var traces []trace.TraceID
	for i, full := range []bool{false, true} {
		exp.Reset()
		logs.Reset()
		job.Full = full
		res, err := r.Run(context.Background(), client, job)
		if err != nil || res.Status != StatusOK {
			t.Fatalf("run %d: %+v, %v", i, res, err)
		}
		spans := exp.GetSpans()
		var run *tracetest.SpanStub
		for k := range spans {
			if spans[k].Name == "sync units" {
				run = &spans[k]
			}
		}
		if run == nil {
			t.Fatalf("run %d: no span of the run among %v", i, spanNames(spans))
		}
		if run.Parent.IsValid() {
			t.Errorf("run %d: the run's span has a parent outside a job", i)
		}
		a := attrMap(*run)
		if a[AttrStatus] != StatusOK || a[AttrUpserted] != itoa(res.Upserted) || a[AttrCalls] != itoa(res.Calls) || a[AttrFull] != boolText(full) {
			t.Errorf("run %d: run span attributes %v, result %+v", i, a, res)
		}
		calls, rows := 0, 0
		kinds := map[string]int{}
		for _, s := range spans {
			if s.SpanContext.SpanID() == run.SpanContext.SpanID() {
				continue
			}
			if s.Parent.SpanID() != run.SpanContext.SpanID() {
				t.Errorf("run %d: span %q is not below the run", i, s.Name)
			}
			switch {
			case strings.HasPrefix(s.Name, "GET "):
				calls++
			case s.Name == "write":
				wa := attrMap(s)
				kinds[wa[attrWriteKind]]++
				if wa[attrWriteKind] == "batches" {
					rows += atoi(t, wa[AttrRows])
				}
			}
		}
		if calls != res.Calls || rows != units {
			t.Errorf("run %d: %d call spans and %d rows in write spans; the run made %d calls of %d records", i, calls, rows, res.Calls, units)
		}
		if kinds["batches"] == 0 || (kinds["sweep"] == 1) != full {
			t.Errorf("run %d (full %t): write spans by kind %v; want batches, and a sweep for the full pass", i, full, kinds)
		}
		id := run.SpanContext.TraceID()
		traces = append(traces, id)
		lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
		for _, line := range lines {
			var fields map[string]any
			if err := json.Unmarshal([]byte(line), &fields); err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			if fields["trace_id"] != id.String() {
				t.Errorf("run %d: log line without the run's trace_id %s: %s", i, id, line)
			}
		}
	}
	if traces[0] == traces[1] {
		t.Errorf("two runs share trace %s", traces[0])
	}

	logs.Reset()
	untraced := NewRunner(Config{Logger: zerolog.New(&logs), Enabled: []string{"units"}, Now: sim.Now}, st, st, st)
	if _, err := untraced.Run(context.Background(), client, Job{ConnectionID: 1, Division: 101, Entity: "units"}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "trace_id") || !strings.Contains(logs.String(), "sync run finished") {
		t.Errorf("a run without a tracer: log\n%s\nwant its summary, without trace_id", logs.String())
	}
}

func attrMap(s tracetest.SpanStub) map[attribute.Key]string {
	m := map[attribute.Key]string{}
	for _, kv := range s.Attributes {
		m[kv.Key] = kv.Value.String()
	}
	return m
}

func spanNames(spans tracetest.SpanStubs) []string {
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = s.Name
	}
	return out
}

func itoa(n int) string { return attribute.IntValue(n).String() }

func boolText(b bool) string { return attribute.BoolValue(b).String() }

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if err := json.Unmarshal([]byte(s), &n); err != nil {
		t.Fatalf("%q is not a number", s)
	}
	return n
}
