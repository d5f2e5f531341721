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
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/webhook"
	"github.com/exactsync/exactsync/worker"
)

// The webhook callback of `exactsync run` (see package webhook).

// webhookObserver is told of webhook deliveries and of the runs they triggered (for
// metrics, none yet).
var webhookObserver webhook.Observer = webhook.NopObserver{}

// checkWebhooks refuses a run with webhooks but no address to listen on.
func checkWebhooks(cfg *config.Config) error {
	if cfg.WebhookURL != "" && cfg.WebhookListen == "" {
		return usageError{fmt.Errorf("%s: not set while %s is; set the address the callback listens on, e.g. :8090 behind the https reverse proxy",
			config.EnvWebhookListen, config.EnvWebhookURL)}
	}
	return nil
}

// startWebhooks serves the webhook callback of run, when configured, and reconciles the
// subscriptions in the background once it listens. The returned stop ends both.
func startWebhooks(e *env, cfg *config.Config, st *sink.Store, pool *pgxpool.Pool, log zerolog.Logger, perDay int, obs webhook.Observer) (func(context.Context), error) {
	if cfg.WebhookURL == "" {
		return func(context.Context) {}, nil
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
	mux := http.NewServeMux()
	if err := webhook.Mount(mux, cfg.WebhookURL, recv); err != nil {
		return nil, usageError{err}
	}
	srv, err := webhook.Listen(cfg.WebhookListen, mux)
	if err != nil {
		return nil, err
	}
	if err := recv.Start(e.ctx); err != nil {
		return nil, err
	}
	path, _ := webhook.Path(cfg.WebhookURL)
	log.Info().Str("listen", srv.Addr).Str("path", path).Strs("topics", webhook.Topics(cfg.Entities)).Msg("serving the webhook callback")
	ctx, cancel := context.WithCancel(context.WithoutCancel(e.ctx))
	var wg gosync.WaitGroup
	wg.Go(func() {
		ctx, stop := context.WithTimeout(ctx, 10*time.Minute)
		defer stop()
		err := reconcileAll(ctx, cfg, st, log, func(r webhook.Reconciled, conn int64) {
			log.Info().Int64("connection", conn).Int("division", r.Division).Msg("webhook subscriptions: " + describeReconciled(r))
		})
		if err != nil && ctx.Err() == nil {
			log.Warn().Err(err).Msg("webhook subscriptions not all in step; `exactsync webhooks sync` tries again, and the schedules sync regardless")
		}
	})
	return func(stopCtx context.Context) {
		cancel()
		if err := srv.Stop(stopCtx); err != nil {
			log.Warn().Err(err).Msg("stopping the webhook callback")
		}
		if err := recv.Stop(stopCtx); err != nil {
			log.Warn().Err(err).Msg("stopping the webhook receiver")
		}
		wg.Wait()
	}, nil
}
