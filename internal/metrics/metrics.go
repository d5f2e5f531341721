package metrics

import (
	"cmp"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/dest"
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
	// LagTimeout bounds the query of the sync lag, and that of the connections, at a
	// scrape (default 2s).
	LagTimeout time.Duration
	// Connections, when set, is read at each scrape for the state of each connection and
	// the age of its refresh token; nil: neither.
	Connections ConnectionSource
	// Divisions is the most divisions whose series are served one by one: beyond it, the
	// families labelled by division serve one series per entity (or window) instead, the
	// total of the counters, the lowest calls left, the worst lag, with an empty
	// division. 0: DefaultDivisions; AllDivisions, NoDivisions.
	Divisions int
	// Now is the clock of the refresh token's age (default time.Now).
	Now func() time.Time
	// Logger receives the errors of a scrape.
	Logger zerolog.Logger
}

// Metrics holds the collectors of one process in a registry of its own. It implements
// exact.Observer and sync.Observer; it is safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry
	log zerolog.Logger

	upserted, removed, quarantined *divisionFamily        // entity, division
	runs                           *prometheus.CounterVec // entity, status
	runDuration                    *prometheus.HistogramVec
	apiCalls                       *prometheus.CounterVec // endpoint, status
	apiDuration                    *prometheus.HistogramVec
	tooMany                        *divisionFamily        // division
	refreshes                      *prometheus.CounterVec // outcome
	remaining                      *divisionFamily        // window, division
	webhookDeliveries              *prometheus.CounterVec // topic, outcome
	webhookLatency                 *prometheus.HistogramVec
	schedule                       *prometheus.GaugeVec   // entity
	drift                          *prometheus.CounterVec // entity
	lastClean                      *prometheus.GaugeVec   // entity
}

// New returns the metrics of a process, registered with the Go runtime and process
// collectors.
func New(cfg Config) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), log: cfg.Logger}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	byDivision := func(name, help, other string, typ prometheus.ValueType, join func(a, b float64) float64) *divisionFamily {
		return newDivisionFamily(name, help+" "+divisionHelp, other, typ, join)
	}
	m.upserted = byDivision("exactsync_records_upserted_total",
		"Rows inserted or changed in an entity's table (rows already stored at the same or a newer version are not counted).", "entity", prometheus.CounterValue, sum)
	m.removed = byDivision("exactsync_records_removed_total",
		"Rows removed from an entity's table: deletions read from Exact, records that left the entity, rows a full pass did not see.", "entity", prometheus.CounterValue, sum)
	m.quarantined = byDivision("exactsync_records_quarantined_total",
		"Records written to exact_sync.rejected_records because they could not be read or stored.", "entity", prometheus.CounterValue, sum)
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
	m.tooMany = byDivision("exactsync_api_too_many_requests_total",
		"Calls Exact Online answered 429 Too Many Requests, by division.", "", prometheus.CounterValue, sum)
	m.refreshes = counter("exactsync_token_refreshes_total",
		"Refresh calls to Exact Online's token endpoint by outcome (ok, too_early, reauth_required, error).", "outcome")
	m.remaining = byDivision("exactsync_rate_limit_remaining_calls",
		"Calls left in a division's rate-limit window (minute or day), as Exact Online last reported them to this process; the fewest of any division in a total.",
		"window", prometheus.GaugeValue, math.Min)
	m.webhookDeliveries = counter("exactsync_webhook_deliveries_total",
		"Calls to the webhook callback by topic (empty when it could not be read or verified) and outcome (ok, debounced, unknown_topic, bad_signature, malformed, too_large, timeout, validation).", "topic", "outcome")
	m.webhookLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "exactsync_webhook_commit_latency_seconds",
		Help:    "From the first webhook delivery to the commit of the incremental run it triggered, by the entity of the run.",
		Buckets: []float64{1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800},
	}, []string{"entity"})
	m.schedule = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "exactsync_schedule_interval_seconds",
		Help: "Seconds between two ticks of the incremental schedule of an entity's job (deletions: of the most frequent schedule that queues them), as configured in this process.",
	}, []string{"entity"})
	// No division label: thousands of divisions would make thousands of series; which
	// division drifted is in exact_sync.verifications and in doctor.
	m.drift = counter("exactsync_verify_drift_total",
		"Verifications of an entity in a division that found drift: a difference from Exact's count or ledger totals that persisted after a fresh incremental sync.", "entity")
	m.lastClean = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "exactsync_verify_last_clean_timestamp_seconds",
		Help: "When a verification of an entity last found it clean in a division (Unix time), as seen by this process; absent until one has.",
	}, []string{"entity"})
	for _, o := range []string{exact.RefreshOK, exact.RefreshTooEarly, exact.RefreshReauth, exact.RefreshError} {
		m.refreshes.WithLabelValues(o) // every outcome from zero, so that an alert sees the first one
	}

	timeout := cmp.Or(cfg.LagTimeout, 2*time.Second)
	limit := cmp.Or(cfg.Divisions, DefaultDivisions)
	dc := &divisionCollector{families: []*divisionFamily{m.upserted, m.removed, m.quarantined, m.tooMany, m.remaining}, limit: limit,
		src: cfg.Lag, timeout: timeout,
		lag: byDivision("exactsync_sync_lag_seconds",
			"Seconds since the last successful run of an entity in a division finished, from the run history of every process; "+
				"with several connections to one division, the one furthest behind; the worst division in a total. Absent until the entity's first successful run.",
			"entity", prometheus.GaugeValue, math.Max)}
	if cfg.Entities != nil {
		dc.entities = map[string]bool{}
		for _, e := range cfg.Entities {
			dc.entities[e] = true
		}
	}
	m.reg.MustRegister(dc, m.runs, m.runDuration, m.apiCalls, m.apiDuration, m.refreshes, m.webhookDeliveries, m.webhookLatency, m.schedule,
		m.drift, m.lastClean, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if cfg.Connections != nil {
		now := cfg.Now
		if now == nil {
			now = time.Now
		}
		m.reg.MustRegister(newConnectionCollector(cfg.Connections, timeout, now))
	}
	return m
}

// divisionHelp ends the help of every family labelled by division.
const divisionHelp = "Without per-division series (EXACTSYNC_METRICS_DIVISIONS), one series per entity or window with an empty division."

// SetSchedule records the interval of an entity's incremental schedule
// (exactsync_schedule_interval_seconds), which the alert on the sync lag compares it with.
func (m *Metrics) SetSchedule(entity string, every time.Duration) {
	m.schedule.WithLabelValues(entity).Set(every.Seconds())
}

// Verified counts a verification's result: drift (exactsync_verify_drift_total), or
// when clean the time (exactsync_verify_last_clean_timestamp_seconds).
func (m *Metrics) Verified(v dest.Verification) {
	switch v.Status {
	case dest.VerifyDrift:
		m.drift.WithLabelValues(v.Entity).Inc()
	case dest.VerifyClean:
		m.lastClean.WithLabelValues(v.Entity).Set(float64(v.Finished.UnixMilli()) / 1000)
	}
}

// WebhookTopics starts the count of the deliveries of each topic at zero: a process whose
// webhooks are configured serves them before the first delivery, so that an alert sees
// the silence.
func (m *Metrics) WebhookTopics(topics []string) {
	for _, t := range topics {
		m.webhookDeliveries.WithLabelValues(t, "ok")
	}
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
		m.tooMany.add("", division, 1)
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
	if minuteRemaining >= 0 {
		m.remaining.set("minute", division, float64(minuteRemaining))
	}
	if dayRemaining >= 0 {
		m.remaining.set("day", division, float64(dayRemaining))
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
	div := res.Job.Division
	for _, e := range res.Entities {
		m.upserted.add(e.Entity, div, float64(e.Upserted))
		m.removed.add(e.Entity, div, float64(e.Removed))
		m.quarantined.add(e.Entity, div, float64(e.Quarantined))
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
