// Package webhook receives Exact Online's webhook deliveries and turns them into early
// incremental sync runs, and keeps exactsync's webhook subscriptions in step with the
// enabled entities (docs/exact-online.md §3.14).
//
// A delivery says only that a record of a topic changed in a division; it carries no
// record data. exactsync never fetches the record by its Key (that would spend the
// division's 5,000 calls a day): a delivery only makes the division's incremental run of
// the entities the topic covers happen now. The sync endpoints and sync/Deleted stay the
// source of truth, and the schedules the safety net: a lost, late or duplicated delivery
// changes nothing but when a run happens.
//
// # Receiving
//
// [Receiver] is an http.Handler, mountable on any mux at the path of the public callback
// URL. It reads at most [Config].MaxBody bytes (413 beyond), answers the validation call
// Exact makes right after a subscription (an empty POST) with 200, and checks every
// delivery's HashCode: the upper-case hex HMAC-SHA256, keyed with the app's webhook secret,
// of the Content object exactly as received ([Parse], [Sign]), compared in constant time.
// A delivery without a valid HashCode gets 401 and triggers nothing. A verified delivery
// is answered 200 at once, whatever happens downstream: the handler does no I/O but
// reading the request, so it answers well within Exact's patience for slow callbacks.
//
// Anyone can call the callback, so what a call without a valid HashCode sent never
// reaches the log as such: such calls (and the connections the [Server] refuses) are
// counted by reason and logged as one summary line at once, then at most once per
// [Config].SummaryEvery (a minute), with a short, escaped excerpt of one call per reason.
// However many calls come, the log grows by a line a minute.
//
// # Serving
//
// [Listen] serves the callback on a listener of its own, the process's public surface,
// within the limits of [ServerConfig]: at most MaxConns connections at once (128), at most
// MaxConnsPerClient (32) from one client address, headers within HeaderTimeout (5s), the
// whole request within ReadTimeout (10s), an idle kept-alive connection for IdleTimeout
// (30s). Further connections wait in the kernel's accept queue, so an attack holds at most
// [ServerConfig.Descriptors] descriptors and one goroutine per connection, and never those
// the database pool, Exact's calls or the private /metrics and /readyz need.
//
// # Triggering
//
// The topic names entities through the catalogue (exact/catalogue's webhook_topics): a
// topic no enabled entity has is ignored, and logged once. Entities read from the same
// endpoint (accounts and suppliers) share one run, named by the first of them. Runs are
// debounced per (app, division, entity): every delivery within [Config].Window (2 s) of
// the first gives one run. They are rate-bounded: at most one webhook-triggered run per
// entity and division per [Config].Every (a minute); deliveries in between wait for the
// end of that minute rather than being dropped. A Delete also queues the division's
// deletions run. The [Trigger] (the job queue, in package worker) decides the rest:
// which connection, whether the day's budget leaves the reserve intact, and the same
// bound across processes.
//
// [Receiver.Start] starts the goroutine that fires the debounced runs and stores the
// last delivery seen per division and topic ([Recorder]); [Receiver.Stop] waits for it.
//
// # Subscriptions
//
// [Reconcile] lists a division's subscriptions, creates the missing topics of the enabled
// entities ([Topics]), deletes the subscriptions of exactsync's callback URL that are no
// longer wanted (or doubled), and leaves every other callback alone.
//
// A citation such as §3.10 in its comments names a section of docs/exact-online.md, the
// project's reference of Exact Online.
package webhook
