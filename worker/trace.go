package worker

import (
	"context"

	"github.com/riverqueue/river"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// TracerName is the instrumentation scope of the worker's spans: one per sync job, the
// parent of its run's span (see sync.Config.TracerProvider).
const TracerName = "github.com/exactsync/exactsync/worker"

// tracedSyncWorker runs each sync job in a span of its own.
type tracedSyncWorker struct {
	*syncWorker
	tracer trace.Tracer
}

// syncJobWorker is the worker of sync jobs: traced when Config.TracerProvider is set.
func syncJobWorker(w *Worker) river.Worker[SyncArgs] {
	sw := &syncWorker{w: w}
	if w.cfg.TracerProvider == nil {
		return sw
	}
	return &tracedSyncWorker{syncWorker: sw, tracer: w.cfg.TracerProvider.Tracer(TracerName)}
}

func (t *tracedSyncWorker) Work(ctx context.Context, job *river.Job[SyncArgs]) error {
	a := job.Args
	ctx, span := t.tracer.Start(ctx, "job "+a.Entity, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
		attribute.Int64("exactsync.job_id", job.ID), attribute.Int("exactsync.attempt", job.Attempt),
		attribute.Int64("exactsync.connection", a.Connection), attribute.Int("exactsync.division", a.Division),
		attribute.String("exactsync.entity", a.Entity), attribute.Bool("exactsync.full", a.Full)))
	defer span.End()
	err := t.syncWorker.Work(ctx, job)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	return err
}
