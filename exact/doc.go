// Package exact is the Exact Online REST client of exactsync: an OAuth2 token source that
// persists every rotation of the token chain, OData paging with Exact's rate limits, typed
// errors, and conversions for Exact's data types.
//
// # Tokens
//
// Exact's access tokens live 600 s, may be refreshed only from 570 s after they were issued,
// and every refresh rotates the single-use refresh token (docs/exact-online.md §1.6–§1.9). A
// [Client] therefore keeps the chain in a [TokenStore] and refreshes under the store's row
// lock: the stored access token is used while it has at least 30 s left; otherwise the row
// is locked, re-read, and refreshed only if still needed, and the new pair is committed
// before it is used. Goroutines of one process share one refresh; processes share the lock.
// A refresh is announced on the row, committed, before the token is sent ([PendingRefresh]):
// when the announcer cannot store its pair (PostgreSQL away), the other processes wait for
// that pair within the announcement's window instead of spending the token again, and an
// "Old refresh token used" while another process's refresh of the token is pending is not
// a broken chain.
// Token times are judged on Exact's clock, learned from the Date header of its answers;
// a "too early" answer stores on the row a time before which no process refreshes, and a
// 401 refreshes at once unless that time is still ahead.
// Answers that mean the chain is broken ("Old refresh token used", an expired refresh token,
// invalid_grant, rejected client credentials) are never retried: the connection is marked
// with MarkReauthRequired and the error, a *[ReauthError], says how to re-authorize.
// [Client.Refresh] rotates the chain on demand, by the same rules, to keep an idle
// connection's refresh token from expiring (§1.7). Binaries built with the build tag
// failpoints can kill themselves at each step of a refresh (EXACTSYNC_FAILPOINT, see
// failpoint.go) so that tests can prove what survives a crash.
//
// # Fetching
//
// [Client.Page] GETs one page with Accept: application/json and the division in the path,
// honouring the per-division minute and day budgets from the X-RateLimit-* headers (§2),
// retrying 5xx and timeouts with capped, jittered backoff, and refreshing once on 401. It
// accepts both {"d":{"results":[…]}} and a bare {"d":[…]} and returns __next verbatim.
// Records are not unmarshalled: a small scanner splits the page into [Record] values that
// index their top-level members in place, and the converters ([Int64], [Decimal], [Date],
// [Code], …) read single values when they are needed. Amounts stay exact decimal text.
// The scanner validates every byte. A page it cannot split into records (truncated,
// unbalanced) is a failure like a 5xx answer, counted against the same attempts ([RetryPolicy]), then returned
// as a *[DecodeError]. A record that is
// bad on its own, invalid JSON within clear bounds or text that PostgreSQL's text and
// jsonb refuse (NUL, a lone UTF-16 surrogate, bytes that are not UTF-8), comes back in the
// page with [Record.Err] set, so that the caller can keep it aside and go on; the
// converters refuse such text too rather than replace it.
//
// # What it does not do
//
// It does not know about PostgreSQL, entities, cursors or schedules; callers decide what to
// fetch and keep. Secrets (tokens, the client secret, the Authorization header) never appear
// in its logs or error strings. Its zerolog logger is passed in: Debug per HTTP call (method,
// URL, status, rate-limit headers, duration), Warn per retry.
//
// A citation such as §3.10 in its comments names a section of docs/exact-online.md, the
// project's reference of Exact Online.
package exact
