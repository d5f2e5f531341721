package worker

import (
	"context"
	"encoding/json"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// TracerName is the instrumentation scope of the worker's spans: one per job of the
// queue ("job exactsync_sync", "job exactsync_tick", …), the parent of a sync job's run
// (see sync.Config.TracerProvider) and of the calls a control job makes.
const TracerName = "github.com/exactsync/exactsync/worker"

// jobTracer is River's middleware that works each job in a span of its own.
type jobTracer struct {
	river.MiddlewareDefaults
	tracer trace.Tracer
}

var _ rivertype.WorkerMiddleware = (*jobTracer)(nil)

// middleware is River's middleware of the worker: the job spans when a TracerProvider is
// configured.
func (w *Worker) middleware() []rivertype.Middleware {
	if w.cfg.TracerProvider == nil {
		return nil
	}
	return []rivertype.Middleware{&jobTracer{tracer: w.cfg.TracerProvider.Tracer(TracerName)}}
}

func (t *jobTracer) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	attrs := []attribute.KeyValue{attribute.String("exactsync.job_kind", job.Kind),
		attribute.Int64("exactsync.job_id", job.ID), attribute.Int("exactsync.attempt", job.Attempt)}
	var a SyncArgs
	if job.Kind == KindSync && json.Unmarshal(job.EncodedArgs, &a) == nil {
		attrs = append(attrs, attribute.Int64("exactsync.connection", a.Connection), attribute.Int("exactsync.division", a.Division),
			attribute.String("exactsync.entity", a.Entity), attribute.Bool("exactsync.full", a.Full))
	}
	ctx, span := t.tracer.Start(ctx, "job "+job.Kind, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...))
	defer span.End()
	err := doInner(ctx)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	return err
}
