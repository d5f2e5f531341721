// Package statuspage is the status page of a run process, served at GET / of --listen: the
// connections and their state, a grid of divisions × entities coloured by sync lag and
// last status, today's API calls per division against the day's budget and per entity,
// quarantined records, and the recent failures with their one-line reason and the fix.
//
// The page is rendered on the server with html/template, without JavaScript; it reloads
// itself every minute. Its data ([Data]) is gathered by the command, which knows the
// fixes (the same that doctor gives); this package only orders, summarises and draws it.
// Beyond [PageSize] divisions the grid and the chart of the budget are paged, worst first,
// under a summary of every division by entity; the layout fits a phone's screen.
package statuspage
