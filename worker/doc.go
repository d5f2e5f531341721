// Package worker runs exactsync's sync jobs from a job queue in PostgreSQL, shared by
// any number of `exactsync run` processes on any number of machines. The queue is River
// (github.com/riverqueue/river) with its pgx v5 driver, in its own schema ([Schema]);
// [Migrate] creates its tables with River's migrator.
//
// # Lifecycle
//
// [New] checks a [Config] and builds a [Worker]; [Worker.Start] starts it; [Worker.Stop]
// stops fetching jobs, cancels the running ones and returns when every job and
// goroutine has returned (or when its context is done). A cancelled job writes the page
// it has fetched, within the runner's write timeout, and returns: River records it for a
// retry, which any process may take.
//
// # Jobs
//
// Every process runs the same jobs; River elects one leader, which alone queues the
// periodic ones, so that a tick is queued once however many processes run.
//
//   - [KindTick] ([TickArgs]): one per [Schedule] and firing, plus one when the leader
//     starts ([Schedule.CatchUp]), which queues nothing when the schedule's last tick, by
//     whichever leader, leaves no firing missed: a leader change queues no tick twice. It queues a [KindSync] job for each of its entities in
//     every division of every connection, entity by entity across the divisions, then
//     each division's deletions job (sync.DeletionsJob), which comes after them (lower
//     priority).
//   - [KindSync] ([SyncArgs]): one sync.Job, run by the sync.Runner. A job of a division
//     outside [Config.Divisions] (queued before the divisions were restricted, or by hand
//     elsewhere) is cancelled with the reason: the restriction holds for every job, as it
//     does for the ticks. Unique by
//     (connection, division, entity, full) while queued, snoozed, retrying or running:
//     a tick never queues a duplicate. At most one job runs per (connection, division)
//     across all processes: the runner takes the division's lock (sync.Locker),
//     and a job that finds it taken is snoozed ([Config.BusySnooze]) rather than failed.
//     A spent day budget (*exact.DailyLimitError) snoozes the job until Exact's window
//     resets (00:00 UTC), looking again at least every [Config.MaxSnooze]; the other jobs
//     of the division do the same without calling Exact, as the connection's client knows
//     the budget is spent: a run, once it holds the division's lock, reads the budgets
//     every process stored (exact_sync.rate_limits), and stores what it saw before it
//     lets the division go. Exact's answer is the truth even when this app counted calls
//     left: since 2025 other applications of the licence share a daily cap with it (fact
//     sheet §2.7), so a division's sync jobs meet one 429 a day at most. A broken token chain (exact.ErrReauthRequired) cancels the job
//     and every queued job of the connection, with the reason. A refusal of Exact (400,
//     403, 404, 405; run status refused) cancels the job without a retry, and jobs of the
//     schedules and webhooks skip the entity in that division for [RefusedPause]: retries
//     would spend the endpoint's 10 errors an hour (§2.5). Other errors are retried under
//     exact's retry policy ([Config.Retry]: exact.RetryPolicy.JobWait apart), at most
//     [SyncMaxAttempts] times; the next tick queues the job afresh.
//   - [KindVerify] ([VerifyArgs]): one division of a connection verified against Exact and
//     repaired ([Config.Verify], package verify), queued by a tick whose [Schedule] has
//     Verify, after its syncs (lower priority). Unique by (connection, division) while
//     queued or running; a busy division snoozes it, a spent day waits for the reset.
//   - [KindDivisions]: hourly and at start, lists every connection's divisions through a
//     division with day budget left and stores them (exact_sync.divisions); ticks read
//     the stored list.
//   - [KindKeepAlive]: refreshes a connection's token chain when it went unrefreshed for
//     [Config.Keepalive], so that Exact's 30-day expiry of unused refresh tokens never
//     hits a quiet connection.
//   - [KindPrune]: hourly, deletes runs older than [Config.RunHistory], and removals of
//     the deletions trail older than [Config.DeletionsRetention].
//
// # Turns and rescue
//
// A process killed while running a job leaves the job running in River's table; River's
// rescuer, on the leader, takes a job running for longer than [Config.RescueAfter]
// (River's RescueStuckJobsAfter and the sync job's timeout) for lost and retries it. A
// live sync job never runs that long: it works in turns of half of RescueAfter. When its
// turn ends, the run stops after its next committed write (sync.WithTurn) and the job is
// snoozed for no time (River gives the attempt back); any process goes on with it from
// the committed cursor, a full pass included (the runner goes on with the pass an earlier
// attempt of the job started). A run still going at three quarters of RescueAfter (a
// rate-limit wait, a slow call) is cancelled as on a shutdown, its fetched pages written,
// and goes on the same way; one that committed nothing and waited for nothing counts as
// a failed attempt. Nothing in this package writes River's tables: jobs are counted and
// cancelled through River's JobList and JobCancel.
//
// # Webhooks
//
// [WebhookTrigger] queues the sync jobs webhook deliveries ask for (package webhook): the
// same [KindSync] job a tick queues, for every connection of the delivery's app that syncs
// its division, at most one a minute per entity and division across processes
// (exact_sync.webhook_runs), and none when the division's day budget, less the schedules'
// forecast for the rest of the day, would fall into the reserve. [SyncArgs].Webhook
// carries the time of the first delivery, so that [Config].WebhookCommitted learns the
// delivery-to-commit latency wherever the job runs.
//
// # Guarantees
//
// Delivery is at least once: a job cut by a shutdown or a crash runs again, and the
// runner's writes are idempotent (a page's rows and cursor commit together; a replay
// changes nothing). A run, as exact_sync.runs records it, happens once per job: each
// run carries its job's id (runs.job_id), and an attempt of a job whose earlier attempt
// ran to the end (status ok) in a process that died before River recorded the job
// complete does not run again; it returns the recorded result (sync.Result.Replayed)
// and the job completes. An attempt cut before its run ended leaves that run
// 'abandoned' next to the one that finishes the job; a job that ran in several turns has
// a run per turn, 'canceled' but the last.
//
// The package does not parse schedules, read the environment or print: the command
// passes parsed schedules ([Schedule.Next] is any Next(time.Time) time.Time, such as a
// robfig/cron schedule) and owns the terminal.
//
// A citation such as §3.10 in its comments names a section of docs/exact-online.md, the
// project's reference of Exact Online.
package worker
