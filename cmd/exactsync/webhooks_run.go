package main

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/http"
	gosync "sync"
	"sync/atomic"
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
// a listener of its own, EXACTSYNC_WEBHOOK_LISTEN (default :8090), the process's public
// surface, within the limits of EXACTSYNC_WEBHOOK_MAX_CONNS and the others; never on the
// private --listen server of /metrics, /healthz and /readyz. A nil *runWebhooks (webhooks
// not configured) does nothing.
type runWebhooks struct {
	cfg    *config.Config
	st     *sink.Store
	log    zerolog.Logger
	recv   *webhook.Receiver
	path   string
	server webhook.ServerConfig // the listener's address and limits
	srv    *webhook.Server
	cancel context.CancelFunc
	wg     gosync.WaitGroup

	misdirected atomic.Int64 // when a call on --listen was last warned about (Unix ns)
}

// webhookListenVar names EXACTSYNC_WEBHOOK_LISTEN, with the default when it is unset.
func webhookListenVar(cfg *config.Config) string {
	if cfg.WebhookListen == "" {
		return config.EnvWebhookListen + " (default " + webhook.DefaultAddr + ")"
	}
	return config.EnvWebhookListen
}

// webhookServer is the configuration of the callback's listener, from cfg.
func webhookServer(cfg *config.Config) webhook.ServerConfig {
	l := cfg.WebhookLimits
	return webhook.ServerConfig{Addr: cmp.Or(cfg.WebhookListen, webhook.DefaultAddr), MaxConns: l.MaxConns, MaxConnsPerClient: l.MaxConnsPerClient,
		HeaderTimeout: l.HeaderTimeout, ReadTimeout: l.ReadTimeout, IdleTimeout: l.IdleTimeout}
}

// Descriptors the rest of a run process may need besides the webhook listener's: the
// database pools, Exact's connections, the --listen server, files; a few per worker.
const (
	reservedDescriptors          = 256
	reservedDescriptorsPerWorker = 2
)

// checkWebhooks refuses a run whose callback would share the port of --listen (the public
// surface with the private one), or whose listener's descriptors, with those the rest of
// the process needs, would not fit in its limit of open files.
func checkWebhooks(cfg *config.Config, listen string, workers int) error {
	if cfg.WebhookURL == "" {
		return nil
	}
	sc := webhookServer(cfg)
	if listen != "" && samePort(sc.Addr, listen) {
		return usageError{fmt.Errorf("%s %q is the port of %s %q; the callback is public and /metrics, /healthz and /readyz are not: give the callback a port of its own, e.g. %s",
			webhookListenVar(cfg), sc.Addr, listenFlag, listen, otherPort(listen))}
	}
	if limit := openFileLimit(); limit > 0 {
		own, rest := sc.Descriptors(), reservedDescriptors+reservedDescriptorsPerWorker*workers
		if own+rest > limit {
			name := config.EnvWebhookMaxConns
			if cfg.WebhookLimits.MaxConns == 0 {
				name += fmt.Sprintf(" (default %d)", webhook.DefaultMaxConns)
			}
			return usageError{fmt.Errorf("%s: the webhook callback may hold %d file descriptors and the rest of the process needs %d (database, Exact, %s, %d workers), more than this process may open (%d); lower it, or raise the limit of open files (ulimit -n, or the container's nofile)",
				name, own, rest, listenFlag, workers, limit)}
		}
	}
	return nil
}

// samePort reports whether two listen addresses would take the same port: the same
// number (not 0, which picks a free one) on hosts that overlap (one of them every
// interface, or both the same).
func samePort(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil || pa != pb || pa == "0" {
		return false
	}
	every := func(h string) bool { ip := net.ParseIP(h); return h == "" || ip != nil && ip.IsUnspecified() }
	return every(ha) || every(hb) || ha == hb
}

// otherPort suggests a callback address beside listen.
func otherPort(listen string) string {
	if _, p, _ := net.SplitHostPort(listen); p == "8090" {
		return ":8091"
	}
	return webhook.DefaultAddr
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
	return &runWebhooks{cfg: cfg, st: st, log: log, recv: recv, path: path, server: webhookServer(cfg)}, nil
}

// mount answers, on the private --listen server, a POST to the callback's path with 404
// and a warning (once a minute at most) that says where the callback is served: a reverse
// proxy still pointed at --listen, where the callback was once served when
// EXACTSYNC_WEBHOOK_LISTEN was unset, loses every delivery until it is pointed at the
// callback's own port.
func (h *runWebhooks) mount(srv *metrics.Server) {
	if h == nil {
		return
	}
	srv.Handle("POST "+h.path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		if last := h.misdirected.Load(); now.UnixNano()-last >= int64(time.Minute) && h.misdirected.CompareAndSwap(last, now.UnixNano()) {
			h.log.Warn().Str("path", h.path).Str("listen", h.server.Addr).
				Msg("a webhook call came to the --listen server, which serves only /metrics, /healthz and /readyz; point the reverse proxy at the callback's own port, " +
					config.EnvWebhookListen + " (see the README's Webhooks)")
		}
		http.Error(w, "the webhook callback is served on "+config.EnvWebhookListen+", not here", http.StatusNotFound)
	}))
}

// start serves the callback on its own listener, starts the receiver, and reconciles the
// subscriptions in the background once the callback listens.
func (h *runWebhooks) start(ctx context.Context) error {
	if h == nil {
		return nil
	}
	mux := http.NewServeMux()
	mux.Handle(h.path, h.recv)
	sc := h.server
	sc.Handler, sc.Refusals = mux, h.recv
	srv, err := webhook.Listen(sc)
	if err != nil {
		return usageError{fmt.Errorf("%s: %w; free the port or choose another", webhookListenVar(h.cfg), err)}
	}
	h.srv = srv
	if err := h.recv.Start(ctx); err != nil {
		_ = srv.Stop(context.WithoutCancel(ctx))
		return err
	}
	eff := sc.WithDefaults()
	h.log.Info().Str("listen", srv.Addr).Str("path", h.path).Strs("topics", webhook.Topics(h.cfg.Entities)).
		Int("max_conns", eff.MaxConns).Int("max_conns_per_client", eff.MaxConnsPerClient).
		Dur("header_timeout_ms", eff.HeaderTimeout).Dur("read_timeout_ms", eff.ReadTimeout).Dur("idle_timeout_ms", eff.IdleTimeout).
		Msg("serving the webhook callback")
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

// stop ends the reconciling, the listener and then the receiver, which logs what its
// summary of refused calls still holds.
func (h *runWebhooks) stop(ctx context.Context) {
	if h == nil || h.cancel == nil {
		return
	}
	h.cancel()
	if err := h.srv.Stop(ctx); err != nil {
		h.log.Warn().Err(err).Msg("stopping the webhook callback")
	}
	if err := h.recv.Stop(ctx); err != nil {
		h.log.Warn().Err(err).Msg("stopping the webhook receiver")
	}
	h.wg.Wait()
}
