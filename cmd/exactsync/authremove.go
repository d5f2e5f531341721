package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sync"
	"github.com/exactsync/exactsync/worker"
)

type authRemoveCmd struct {
	Connection int64 `required:"" help:"The connection to remove (its id in exactsync auth status)."`
	DeleteRows bool  `name:"delete-rows" help:"Also delete its rows from the tables of schema exact (of the divisions no other connection syncs); without it they are kept."`
	Yes        bool  `help:"Remove without asking; needed when standard input is not a terminal."`
}

// Run removes a stored connection: its jobs in the queue are cancelled, then its tokens,
// client secret, cursors, run history, division list and quarantined records are
// deleted, with its rows in schema exact when --delete-rows says so. It asks first on a
// terminal. It needs no encryption key: a connection whose secrets cannot be opened any
// more can be removed.
func (c *authRemoveCmd) Run(e *env) error {
	if c.Connection <= 0 {
		return usageError{fmt.Errorf("--connection %d is not a connection id; see exactsync auth status", c.Connection)}
	}
	cfg, err := loadConfig(e, config.Needs{Database: true})
	if err != nil {
		return err
	}
	log := newLogger(cfg, e.stderr)
	st, err := sink.Open(e.ctx, storeConfig(cfg, log))
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(e.ctx); err != nil {
		return fmt.Errorf("migrating the database: %w", err)
	}
	conns, err := st.Connections(e.ctx)
	if err != nil {
		return fmt.Errorf("reading connections: %w", err)
	}
	var conn *dest.Connection
	for i := range conns {
		if conns[i].ID == c.Connection {
			conn = &conns[i]
		}
	}
	if conn == nil {
		return usageError{fmt.Errorf("--connection %d: no such connection; see exactsync auth status", c.Connection)}
	}
	what := describeConnection(*conn)
	rows := "its rows in schema exact are kept (--delete-rows deletes them)"
	if c.DeleteRows {
		rows = "its rows in schema exact are deleted (of the divisions no other connection syncs)"
	}
	if !c.Yes {
		if !isTerminalReader(e.stdin) {
			return usageError{fmt.Errorf("auth remove: standard input is not a terminal to confirm on; add --yes to remove connection %d (%s)", conn.ID, what)}
		}
		fmt.Fprintf(e.stderr, "Remove connection %d (%s)? Its tokens, cursors, run history and queued jobs are deleted; %s. Type yes to remove: ", conn.ID, what, rows)
		answer, _ := bufio.NewReader(e.stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "yes" && a != "y" {
			return fmt.Errorf("connection %d not removed: not confirmed", conn.ID)
		}
	}

	pool, err := openQueue(e.ctx, cfg, log, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	queue, err := worker.NewQueue(pool)
	if err != nil {
		return err
	}
	// Jobs first, so that no worker starts one of them while the connection goes; again
	// after, for a job a tick queued meanwhile.
	cancelled, err := queue.CancelConnection(e.ctx, conn.ID)
	if err != nil {
		return err
	}
	removed, err := st.RemoveConnection(e.ctx, conn.ID, c.DeleteRows, sync.Targets()...)
	if errors.Is(err, sink.ErrNotFound) {
		return fmt.Errorf("connection %d was removed meanwhile", conn.ID)
	}
	if err != nil {
		return err
	}
	if n, err := queue.CancelConnection(e.ctx, conn.ID); err == nil {
		cancelled += n
	}
	log.Info().Int64("connection", conn.ID).Int("jobs_cancelled", cancelled).Int("rows", removed.Rows).Bool("rows_deleted", removed.RowsDeleted).
		Msg("connection removed")
	printRemoved(e.stdout, removed, what, cancelled)
	return nil
}

// printRemoved says what went with the connection and what stayed.
func printRemoved(w io.Writer, r sink.Removed, what string, jobs int) {
	fmt.Fprintf(w, "removed connection %d (%s): its tokens, %d cursors, %d runs, %d quarantined records and %d queued jobs\n",
		r.Connection.ID, what, r.Cursors, r.Runs, r.Quarantined, jobs)
	own := r.Own()
	switch {
	case len(own) == 0:
		fmt.Fprintln(w, "it synced no division of its own: no row of schema exact was its alone")
	case r.RowsDeleted:
		fmt.Fprintf(w, "deleted its %d rows of divisions %s from schema exact\n", r.Rows, joinInts(own))
	default:
		fmt.Fprintf(w, "kept its %d rows of divisions %s in schema exact (--delete-rows would have deleted them)\n", r.Rows, joinInts(own))
	}
	if len(r.Shared) > 0 {
		fmt.Fprintf(w, "kept the rows of divisions %s: another connection syncs them too\n", joinInts(r.Shared))
	}
}

// describeConnection names a connection for a person: host, user, state.
func describeConnection(c dest.Connection) string {
	who := c.UserKey
	if who == "" {
		who = "user not known yet"
	}
	out := host(c.BaseURL) + ", " + who
	if c.State == dest.StateReauthRequired {
		out += ", needs re-authorization"
	}
	return out
}

// isTerminalReader reports whether r is a terminal.
func isTerminalReader(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
