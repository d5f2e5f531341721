package metrics

import (
	"cmp"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/sync"
	"github.com/exactsync/exactsync/webhook"
)

var (
	_ exact.Observer   = (*Metrics)(nil)
	_ sync.Observer    = (*Metrics)(nil)
	_ webhook.Observer = (*Metrics)(nil)
)

// Config configures Metrics. Zero values mean the defaults.
type Config struct {
	// Lag, when set, is read at each scrape for exactsync_sync_lag_seconds; nil: no
	// sync lag.
	Lag LagSource
	// Entities restricts the sync lag to these entities (the enabled ones and
	// sync.DeletionsJob), so that an entity no longer synced does not look late for
	// ever; nil: every entity with a successful run.
	Entities []string
	// LagTimeout bounds the query of the sync lag at a scrape (default 2s).
	LagTimeout time.Duration
	// Logger receives the errors of a scrape.
	Logger zerolog.Logger
}

// Metrics holds the collectors of one process in a registry of its own. It implements
// exact.Observer and sync.Observer; it is safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry
	log zerolog.Logger

	upserted, removed, quarantined *prometheus.CounterVec // entity, division
	runs                           *prometheus.CounterVec // entity, status
	runDuration                    *prometheus.HistogramVec
	apiCalls                       *prometheus.CounterVec // endpoint, status
	apiDuration                    *prometheus.HistogramVec
	tooMany                        *prometheus.CounterVec // division
	refreshes                      *prometheus.CounterVec // outcome
	remaining                      *prometheus.GaugeVec   // division, window
	webhookDeliveries              *prometheus.CounterVec // topic, outcome
	webhookLatency                 *prometheus.HistogramVec
}

// New returns the metrics of a process, registered with the Go runtime and process
// collectors.
func New(cfg Config) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), log: cfg.Logger}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	m.upserted = counter("exactsync_records_upserted_total",
		"Rows inserted or changed in an entity's table (rows already stored at the same or a newer version are not counted).", "entity", "division")
	m.removed = counter("exactsync_records_removed_total",
		"Rows removed from an entity's table: deletions read from Exact, records that left the entity, rows a full pass did not see.", "entity", "division")
	m.quarantined = counter("exactsync_records_quarantined_total",
		"Records written to exact_sync.rejected_records because they could not be read or stored.", "entity", "division")
	m.runs = counter("exactsync_runs_total",
		"Runs by the entity of their job and how they ended (ok, failed, daily_limit, reauth_required, lock_lost, budget_reserve, canceled, refused); a job that waits for its division is not a run.", "entity", "status")
	m.runDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "exactsync_run_duration_seconds",
		Help:    "How long a run took, by the entity of its job.",
		Buckets: []float64{0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200},
	}, []string{"entity"})
	m.apiCalls = counter("exactsync_api_calls_total",
		"REST calls to Exact Online by endpoint and HTTP status (\"error\": no answer), retries included.", "endpoint", "status")
	m.apiDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "exactsync_api_call_duration_seconds",
		Help:    "How long a REST call to Exact Online took, body included, by endpoint.",
		Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"endpoint"})
	m.tooMany = counter("exactsync_api_too_many_requests_total",
		"Calls Exact Online answered 429 Too Many Requests, by division.", "division")
	m.refreshes = counter("exactsync_token_refreshes_total",
		"Refresh calls to Exact Online's token endpoint by outcome (ok, too_early, reauth_required, error).", "outcome")
	m.remaining = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "exactsync_rate_limit_remaining_calls",
		Help: "Calls left in a division's rate-limit window (minute or day), as Exact Online last reported them to this process.",
	}, []string{"division", "window"})
	m.webhookDeliveries = counter("exactsync_webhook_deliveries_total",
		"Calls to the webhook callback by topic (empty when it could not be read or verified) and outcome (ok, debounced, unknown_topic, bad_signature, malformed, too_large, timeout, validation).", "topic", "outcome")
	m.webhookLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "exactsync_webhook_commit_latency_seconds",
		Help:    "From the first webhook delivery to the commit of the incremental run it triggered, by the entity of the run.",
		Buckets: []float64{1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800},
	}, []string{"entity"})
	for _, o := range []string{exact.RefreshOK, exact.RefreshTooEarly, exact.RefreshReauth, exact.RefreshError} {
		m.refreshes.WithLabelValues(o) // every outcome from zero, so that an alert sees the first one
	}

	m.reg.MustRegister(m.upserted, m.removed, m.quarantined, m.runs, m.runDuration,
		m.apiCalls, m.apiDuration, m.tooMany, m.refreshes, m.remaining, m.webhookDeliveries, m.webhookLatency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if cfg.Lag != nil {
		m.reg.MustRegister(newLagCollector(cfg.Lag, cfg.Entities, cmp.Or(cfg.LagTimeout, 2*time.Second)))
	}
	return m
}

// Gatherer is the registry, for tests and for whoever serves it otherwise.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// Handler serves the registry in the Prometheus text formats. A collector that fails (the
// sync lag while the database is unreachable) is logged and left out; the rest is served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      errorLog{m.log},
		ErrorHandling: promhttp.ContinueOnError,
		Timeout:       10 * time.Second,
	})
}

// Request counts one REST call (exact.Observer).
func (m *Metrics) Request(endpoint string, division int, status int, d time.Duration) {
	endpoint = endpointLabel(endpoint)
	code := "error"
	if status > 0 {
		code = strconv.Itoa(status)
	}
	m.apiCalls.WithLabelValues(endpoint, code).Inc()
	m.apiDuration.WithLabelValues(endpoint).Observe(d.Seconds())
	if status == http.StatusTooManyRequests {
		m.tooMany.WithLabelValues(strconv.Itoa(division)).Inc()
	}
}

// Delivered counts one call to the webhook callback (webhook.Observer).
func (m *Metrics) Delivered(topic, outcome string) {
	m.webhookDeliveries.WithLabelValues(topic, outcome).Inc()
}

// Committed observes how long after its first delivery a webhook-triggered run
// committed (webhook.Observer).
func (m *Metrics) Committed(entity string, latency time.Duration) {
	m.webhookLatency.WithLabelValues(entity).Observe(latency.Seconds())
}

// Refresh counts one refresh call by its outcome (exact.Observer).
func (m *Metrics) Refresh(outcome string) {
	m.refreshes.WithLabelValues(outcome).Inc()
}

// RateLimit records a division's remaining budgets; a negative one is not known
// (exact.Observer).
func (m *Metrics) RateLimit(division int, minuteRemaining, dayRemaining int) {
	div := strconv.Itoa(division)
	if minuteRemaining >= 0 {
		m.remaining.WithLabelValues(div, "minute").Set(float64(minuteRemaining))
	}
	if dayRemaining >= 0 {
		m.remaining.WithLabelValues(div, "day").Set(float64(dayRemaining))
	}
}

// RunFinished counts a run, its duration and the rows it wrote (sync.Observer). A
// replayed run wrote nothing in this process: only the run is counted.
func (m *Metrics) RunFinished(res sync.Result) {
	m.runs.WithLabelValues(res.Job.Entity, res.Status).Inc()
	m.runDuration.WithLabelValues(res.Job.Entity).Observe(res.Duration.Seconds())
	if res.Replayed {
		return
	}
	div := strconv.Itoa(res.Job.Division)
	for _, e := range res.Entities {
		m.upserted.WithLabelValues(e.Entity, div).Add(float64(e.Upserted))
		m.removed.WithLabelValues(e.Entity, div).Add(float64(e.Removed))
		m.quarantined.WithLabelValues(e.Entity, div).Add(float64(e.Quarantined))
	}
}

// endpointLabel keeps an endpoint's path only: a key in parentheses
// (crm/Accounts(guid'…')) would make a series per record.
func endpointLabel(endpoint string) string {
	if i := strings.IndexByte(endpoint, '('); i >= 0 {
		endpoint = endpoint[:i]
	}
	return endpoint
}

// errorLog sends promhttp's errors to the logger.
type errorLog struct{ log zerolog.Logger }

func (l errorLog) Println(v ...any) {
	l.log.Warn().Msg("serving metrics: " + strings.TrimSpace(fmt.Sprintln(v...)))
}
