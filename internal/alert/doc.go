// Package alert tells people about the conditions exactsync cannot repair alone, without
// Prometheus: it posts JSON to an incoming webhook (EXACTSYNC_ALERT_URL) with a text field
// that Slack and Teams display, and structured fields for any other receiver.
//
// The conditions are those of deploy/prometheus/alerts.yml that a database can tell: a
// connection needs re-authorization, its refresh token has not been used for 23 days
// (Exact expires it at 30, docs/exact-online.md §1.7), the day's API budget ran out before
// the schedules finished in a division, an entity is refused in a division, and a
// division's sync lags more than three times its entity's schedule.
//
// Each condition is notified once per connection or division while it holds, then once
// "resolved". Any number of run processes may share a database: the open conditions live in
// exact_sync.alerts (package sink), a condition is opened by one process only, and each
// notification is sent by the process that holds its row's lock. A failed delivery is
// retried with an exponential backoff. Delivery is at least once: a process that dies
// between the receiver's answer and its commit leaves the notification to be sent again.
//
// No secret reaches a body or a log: the texts are built from connection states and run
// results, which carry none, and the receiver's address (itself a secret for incoming
// webhooks) appears nowhere.
package alert
