package worker

import (
	"context"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
)

// KeepAlivePass runs one pass of the keep-alive job.
func (w *Worker) KeepAlivePass(ctx context.Context) error { return w.keepAlive(ctx) }

// Client is the worker's Exact client of conn.
func (w *Worker) Client(ctx context.Context, conn dest.Connection) (*exact.Client, error) {
	return w.client(ctx, conn)
}
