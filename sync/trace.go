package sync

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/exactsync/exactsync/dest"
)

// TracerName is the instrumentation scope of the runner's spans.
const TracerName = "github.com/exactsync/exactsync/sync"

// Attributes of the runner's spans: one span per run ("sync ENTITY"), the parent of the
// client's spans of its calls to Exact and of one span per write to the store ("write"),
// which covers the transaction of the write's pages and cursor.
const (
	AttrEntity       = attribute.Key("exactsync.entity")        // the job's entity, or deletions
	AttrEntities     = attribute.Key("exactsync.entities")      // on a write: the entities written
	AttrDivision     = attribute.Key("exactsync.division")      //
	AttrConnection   = attribute.Key("exactsync.connection")    // the connection's id
	AttrFull         = attribute.Key("exactsync.full")          // a full pass
	AttrStatus       = attribute.Key("exactsync.status")        // the run's status (Result.Status)
	AttrRows         = attribute.Key("exactsync.rows")          // on a write: rows written
	AttrRemovals     = attribute.Key("exactsync.removals")      // on a write: removals asked
	AttrRejects      = attribute.Key("exactsync.rejects")       // on a write: records quarantined
	AttrUpserted     = attribute.Key("exactsync.rows_upserted") // on a run: rows stored
	AttrRemoved      = attribute.Key("exactsync.rows_removed")  // on a run and a sweep: rows removed
	AttrPages        = attribute.Key("exactsync.pages")         // on a run: pages fetched
	AttrCalls        = attribute.Key("exactsync.api_calls")     // on a run: calls to Exact
	AttrQuarantined  = attribute.Key("exactsync.records_quarantined")
	AttrCursorFrom   = attribute.Key("exactsync.cursor_from")
	AttrCursorTo     = attribute.Key("exactsync.cursor_to")
	AttrWaitedMS     = attribute.Key("exactsync.waited_ms") // on a run: waited for Exact's limits and retries
	attrWriteKind    = attribute.Key("exactsync.write")     // batches, sweep
	attrWriteBatches = attribute.Key("exactsync.batches")
)

// tracerOf returns the tracer of cfg's provider, or one that records nothing.
func tracerOf(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		return nil
	}
	return tp.Tracer(TracerName)
}

// startWrite starts the span of one write of bs.
func (r *Runner) startWrite(ctx context.Context, kind string, bs ...dest.Batch) (context.Context, trace.Span) {
	if r.tracer == nil {
		return ctx, trace.SpanFromContext(ctx) // not ended by endWrite: see there
	}
	var names []string
	rows, removals, rejects, division := 0, 0, 0, 0
	for _, b := range bs {
		if len(names) == 0 || names[len(names)-1] != b.Entity {
			names = append(names, b.Entity)
		}
		rows, removals, rejects, division = rows+len(b.Rows), removals+len(b.Removals), rejects+len(b.Rejects), b.Division
	}
	return r.tracer.Start(ctx, "write", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attrWriteKind.String(kind), AttrEntities.String(strings.Join(names, ",")), AttrDivision.Int(division),
		attrWriteBatches.Int(len(bs)), AttrRows.Int(rows), AttrRemovals.Int(removals), AttrRejects.Int(rejects)))
}

// endWrite ends a write's span with its error.
func (r *Runner) endWrite(span trace.Span, err error) {
	if r.tracer == nil {
		return
	}
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// writeBatch is r.writer.WriteBatch in a span.
func (r *Runner) writeBatch(ctx context.Context, b dest.Batch) (dest.BatchResult, error) {
	ctx, span := r.startWrite(ctx, "batches", b)
	out, err := r.writer.WriteBatch(ctx, b)
	r.endWrite(span, err)
	return out, err
}

// writeBatches is r.writer.WriteBatches in a span.
func (r *Runner) writeBatches(ctx context.Context, bs []dest.Batch) ([]dest.BatchResult, error) {
	ctx, span := r.startWrite(ctx, "batches", bs...)
	out, err := r.writer.WriteBatches(ctx, bs)
	r.endWrite(span, err)
	return out, err
}

// finishSweep is r.writer.FinishSweep in a span.
func (r *Runner) finishSweep(ctx context.Context, t dest.Table, connID int64, division int, entity string, c dest.Cursor, fence int64) (int, error) {
	ctx, span := r.startWrite(ctx, "sweep", dest.Batch{Division: division, Entity: entity})
	removed, err := r.writer.FinishSweep(ctx, t, connID, division, entity, c, fence)
	if r.tracer != nil {
		span.SetAttributes(AttrRemoved.Int(removed))
	}
	r.endWrite(span, err)
	return removed, err
}

// startRun starts the span of a run.
func (r *Runner) startRun(ctx context.Context, job Job) (context.Context, trace.Span) {
	if r.tracer == nil {
		return ctx, nil
	}
	return r.tracer.Start(ctx, "sync "+job.Entity, trace.WithAttributes(AttrEntity.String(job.Entity),
		AttrDivision.Int(job.Division), AttrConnection.Int64(job.ConnectionID), AttrFull.Bool(job.Full)))
}

// endRun ends a run's span with its result.
func endRun(span trace.Span, res Result, err error) {
	if span == nil {
		return
	}
	span.SetAttributes(AttrStatus.String(res.Status), AttrUpserted.Int(res.Upserted), AttrRemoved.Int(res.Removed),
		AttrQuarantined.Int(res.Quarantined), AttrPages.Int(res.Pages), AttrCalls.Int(res.Calls),
		AttrCursorFrom.Int64(res.CursorFrom), AttrCursorTo.Int64(res.CursorTo), AttrWaitedMS.Int64(res.Waited.Milliseconds()))
	if err != nil && res.Status != StatusBusy {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
