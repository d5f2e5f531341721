// Package metrics is exactsync's Prometheus metrics and health endpoints: the collectors,
// fed by the observers that package exact (API calls, token refreshes, rate-limit budgets),
// package sync (runs and what they wrote) and package webhook (deliveries and the
// delivery-to-commit latency of the runs they trigger) declare; the sync lag, read from the run
// history at scrape time; the liveness and readiness checks; and the HTTP server that
// serves them, on which the command may mount other handlers.
//
// Every metric is named exactsync_…, with its unit in the name, and labelled with
// low-cardinality values only: entity (a table name, or "deletions"), division (a code),
// endpoint (the API path without host, version, division, keys or query, such as
// sync/CRM/Accounts), an HTTP status, a run status, a refresh outcome, or a webhook topic
// (only of verified deliveries, so Exact's few) and delivery outcome. Each process has
// a registry of its own (never the global default) with the Go runtime and process
// collectors beside exactsync's. README's "Metrics and health" lists the metrics.
//
// Counters count what this process did since it started; the sync lag, the connections'
// state and the readiness checks read the database, so they say the same in every process
// and are right after a restart.
//
// The families labelled by division are kept per division in memory and served per
// division while the divisions known are at most Config.Divisions
// (EXACTSYNC_METRICS_DIVISIONS); beyond, one series per entity (or window) with an empty
// division: the counters' total, the worst lag, the fewest calls left.
package metrics
