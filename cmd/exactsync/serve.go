package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/internal/metrics"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sync"
	"github.com/exactsync/exactsync/webhook"
)

// listenFlag names --listen and its variable in messages.
const listenFlag = "--listen (EXACTSYNC_LISTEN)"

// checkListen refuses a --listen that is no address, before anything is started.
func checkListen(addr string) error {
	if addr == "" {
		return nil
	}
	if err := metrics.CheckAddr(addr); err != nil {
		return usageError{fmt.Errorf("%s %q: %w", listenFlag, addr, err)}
	}
	return nil
}

// newMetrics returns the metrics of a run process: the sync lag of the enabled entities
// and the deletions, and the connections' state, read from st; each entity's schedule
// interval; the webhook topics' deliveries from zero when webhooks are on.
func newMetrics(cfg *config.Config, st *sink.Store, intervals map[string]time.Duration, log zerolog.Logger) *metrics.Metrics {
	m := metrics.New(metrics.Config{Lag: st, Connections: st, Entities: slices.Concat(cfg.Entities, []string{sync.DeletionsJob}),
		Divisions: cfg.MetricsDivisions, Logger: log})
	for e, d := range intervals {
		m.SetSchedule(e, d)
	}
	if cfg.WebhookURL != "" {
		m.WebhookTopics(webhook.Topics(cfg.Entities))
	}
	return m
}

// serve starts the HTTP server of --listen with /metrics, /healthz, /readyz and the status
// page (GET /) on one mux (other handlers are mounted there too, by mounts), or nothing
// when addr is empty; /readyz answers 503 until startup has finished. With a token,
// /metrics and the status page require it (EXACTSYNC_LISTEN_TOKEN); the probes stay open.
// It returns the address served on; stop shuts the server down: call it after the worker
// stopped, so that the drain is observed.
func serve(ctx context.Context, addr, token string, m *metrics.Metrics, status http.Handler, st *sink.Store, startup *metrics.Startup, log zerolog.Logger, mounts ...func(*metrics.Server)) (served string, stop func(), err error) {
	if addr == "" {
		return "", func() {}, nil
	}
	srv := metrics.NewServer(addr, log)
	srv.Handle("GET /metrics", metrics.RequireToken(token, m.Handler()))
	srv.Handle("GET /healthz", metrics.HealthHandler())
	srv.Handle("GET /readyz", startup.Gate(metrics.ReadyHandler(metrics.DefaultCheckTimeout, metrics.StoreChecks(st)...)))
	if status != nil {
		srv.Handle("GET /{$}", metrics.RequireToken(token, status))
	}
	for _, mount := range mounts {
		mount(srv)
	}
	if err := srv.Start(ctx); err != nil {
		return "", nil, usageError{fmt.Errorf("%s: %w", listenFlag, err)}
	}
	return srv.Addr(), func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Stop(sctx); err != nil {
			log.Warn().Err(err).Msg("stopping the HTTP server")
		}
	}, nil
}
