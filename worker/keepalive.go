package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/exactsync/exactsync/dest"
)

// KeepAliveArgs are the arguments of the keep-alive job.
type KeepAliveArgs struct{}

func (KeepAliveArgs) Kind() string { return KindKeepAlive }

func (KeepAliveArgs) InsertOpts() river.InsertOpts { return controlOpts() }

type keepAliveWorker struct {
	river.WorkerDefaults[KeepAliveArgs]
	w *Worker
}

// Timeout: a refresh may wait for the window Exact allows it in (§1.8).
func (k *keepAliveWorker) Timeout(*river.Job[KeepAliveArgs]) time.Duration { return k.w.cfg.RunTimeout }

func (k *keepAliveWorker) Work(ctx context.Context, _ *river.Job[KeepAliveArgs]) error {
	return k.w.keepAlive(ctx)
}

// keepAlive refreshes the token chain of every connection that was not refreshed for
// Config.Keepalive, whether or not anything is due to sync: Exact expires a refresh
// token that goes unused for 30 days (§1.7, §6.4), which would strand a quiet
// connection. The refresh is exact.Client.RefreshIfOlder: under the connection's row
// lock like every refresh, judged again there (another process may have just rotated
// the chain), and never earlier than 570 s after the last one (§1.8). Connections
// needing re-authorization are skipped; the ticks report them.
func (w *Worker) keepAlive(ctx context.Context) error {
	conns, err := w.cfg.Store.Connections(ctx)
	if err != nil {
		return fmt.Errorf("keep-alive: reading the connections: %w", err)
	}
	for _, conn := range conns {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if conn.State == dest.StateReauthRequired {
			continue
		}
		log := w.log.With().Int64("connection", conn.ID).Logger()
		tok, err := w.cfg.Store.LoadToken(ctx, conn.ID)
		if err != nil {
			log.Error().Err(err).Msg("keep-alive: cannot read the token")
			continue
		}
		// IssuedAt is when the current pair was issued: the last refresh, by whoever.
		if !tok.IssuedAt.IsZero() && w.cfg.Now().Sub(tok.IssuedAt) < w.cfg.Keepalive {
			continue
		}
		client, err := w.client(ctx, conn)
		if err != nil {
			log.Error().Err(err).Msg("keep-alive: cannot build the client")
			continue
		}
		rotated, err := client.RefreshIfOlder(ctx, w.cfg.Keepalive)
		if err != nil {
			if ctx.Err() == nil {
				log.Error().Err(err).Msg("keep-alive: refreshing the token failed")
			}
			continue
		}
		if !rotated {
			continue
		}
		ev := log.Info().Dur("keepalive_ms", w.cfg.Keepalive)
		if !tok.IssuedAt.IsZero() {
			ev = ev.Time("last_refresh", tok.IssuedAt)
		}
		ev.Msg("keep-alive: refreshed the token chain")
	}
	return nil
}
