package main

import (
	"context"
	"fmt"
	"net/http"
	gosync "sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/internal/metrics"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/webhook"
	"github.com/exactsync/exactsync/worker"
)

// runWebhooks is the webhook callback of one run process (see package webhook): served on
// EXACTSYNC_WEBHOOK_LISTEN, or on the --listen server when that is unset. A nil
// *runWebhooks (webhooks not configured) does nothing.
type runWebhooks struct {
	cfg    *config.Config
	st     *sink.Store
	log    zerolog.Logger
	recv   *webhook.Receiver
	path   string
	srv    *webhook.Server // its own listener; nil when mounted on --listen
	cancel context.CancelFunc
	wg     gosync.WaitGroup
}

// checkWebhooks refuses a run with webhooks but no address to listen on.
func checkWebhooks(cfg *config.Config, listen string) error {
	if cfg.WebhookURL != "" && cfg.WebhookListen == "" && listen == "" {
		return usageError{fmt.Errorf("%s: not set while %s is; set the address the callback listens on, e.g. :8090 behind the https reverse proxy (or serve it with the metrics on %s)",
			config.EnvWebhookListen, config.EnvWebhookURL, listenFlag)}
	}
	return nil
}

// newWebhooks builds the callback of run, when webhooks are configured: its trigger
// queues the runs (within perDay, the schedules' forecast), obs counts the deliveries.
func newWebhooks(cfg *config.Config, st *sink.Store, pool *pgxpool.Pool, log zerolog.Logger, perDay int, obs webhook.Observer) (*runWebhooks, error) {
	if cfg.WebhookURL == "" {
		return nil, nil
	}
	log = log.With().Str("component", "webhook").Logger()
	trig, err := worker.NewWebhookTrigger(worker.WebhookConfig{Pool: pool, Store: st, Divisions: cfg.Divisions, ForecastPerDay: perDay, Logger: log})
	if err != nil {
		return nil, err
	}
	recv, err := webhook.New(webhook.Config{Secret: []byte(cfg.WebhookSecret), Entities: cfg.Entities, Trigger: trig, Recorder: trig, Observer: obs, Logger: log})
	if err != nil {
		return nil, err
	}
	path, err := webhook.Path(cfg.WebhookURL)
	if err != nil {
		return nil, usageError{err}
	}
	return &runWebhooks{cfg: cfg, st: st, log: log, recv: recv, path: path}, nil
}

// mount puts the callback on the --listen server, unless it has a listener of its own.
func (h *runWebhooks) mount(srv *metrics.Server) {
	if h != nil && h.cfg.WebhookListen == "" {
		srv.Handle(h.path, h.recv)
	}
}

// start serves the callback (on its own listener when it has one), starts the receiver,
// and reconciles the subscriptions in the background once the callback listens.
func (h *runWebhooks) start(ctx context.Context, listen string) error {
	if h == nil {
		return nil
	}
	addr := listen
	if h.cfg.WebhookListen != "" {
		mux := http.NewServeMux()
		mux.Handle(h.path, h.recv)
		srv, err := webhook.Listen(h.cfg.WebhookListen, mux)
		if err != nil {
			return err
		}
		h.srv, addr = srv, srv.Addr
	}
	if err := h.recv.Start(ctx); err != nil {
		return err
	}
	h.log.Info().Str("listen", addr).Str("path", h.path).Strs("topics", webhook.Topics(h.cfg.Entities)).Msg("serving the webhook callback")
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Minute)
	h.cancel = cancel
	h.wg.Go(func() {
		err := reconcileAll(rctx, h.cfg, h.st, h.log, func(r webhook.Reconciled, conn int64) {
			h.log.Info().Int64("connection", conn).Int("division", r.Division).Msg("webhook subscriptions: " + describeReconciled(r))
		})
		if err != nil && rctx.Err() == nil {
			h.log.Warn().Err(err).Msg("webhook subscriptions not all in step; `exactsync webhooks sync` tries again, and the schedules sync regardless")
		}
	})
	return nil
}

// stop ends the reconciling, its own listener and the receiver.
func (h *runWebhooks) stop(ctx context.Context) {
	if h == nil || h.cancel == nil {
		return
	}
	h.cancel()
	if h.srv != nil {
		if err := h.srv.Stop(ctx); err != nil {
			h.log.Warn().Err(err).Msg("stopping the webhook callback")
		}
	}
	if err := h.recv.Stop(ctx); err != nil {
		h.log.Warn().Err(err).Msg("stopping the webhook receiver")
	}
	h.wg.Wait()
}
