package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	gosync "sync"
	"time"

	"github.com/exactsync/exactsync/dest"
)

// Store is what readiness asks of the database. The PostgreSQL store (package sink)
// implements it.
type Store interface {
	Ping(ctx context.Context) error
	PendingMigrations(ctx context.Context) ([]int64, error)
	Connections(ctx context.Context) ([]dest.Connection, error)
}

// Check is one condition of readiness: Func returns nil when it holds, or an error saying
// why not.
type Check struct {
	Name string
	Func func(ctx context.Context) error
}

// DefaultCheckTimeout bounds each readiness check.
const DefaultCheckTimeout = 2 * time.Second

// StoreChecks are the readiness checks of a run process on st: the database answers, its
// schema has every migration this binary embeds, and at least one connection is usable
// (not waiting for re-authorization).
func StoreChecks(st Store) []Check {
	return []Check{
		{Name: "database", Func: st.Ping},
		{Name: "migrations", Func: func(ctx context.Context) error {
			pending, err := st.PendingMigrations(ctx)
			if err != nil {
				return err
			}
			if len(pending) > 0 {
				return fmt.Errorf("the schema lacks migrations %s of this binary; run `exactsync migrate`", joinInts(pending))
			}
			return nil
		}},
		{Name: "connections", Func: func(ctx context.Context) error {
			conns, err := st.Connections(ctx)
			if err != nil {
				return err
			}
			if len(conns) == 0 {
				return errors.New("no Exact Online connection is stored; run `exactsync auth login` or `exactsync auth import`")
			}
			for _, c := range conns {
				if c.State == dest.StateOK {
					return nil
				}
			}
			return fmt.Errorf("every connection needs re-authorization (connection %d: %s); run `exactsync auth login` or `exactsync auth import`",
				conns[0].ID, conns[0].StateReason)
		}},
	}
}

// HealthHandler answers 200 "ok": the process is up and serves HTTP.
func HealthHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
}

// ReadyHandler runs the checks at each request, at once, each within timeout (default
// DefaultCheckTimeout), and answers 200 "ok" when all hold, or 503 with one line
// "name: reason" for each that does not, in the order given.
func ReadyHandler(timeout time.Duration, checks ...Check) http.Handler {
	if timeout <= 0 {
		timeout = DefaultCheckTimeout
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		errs := make([]error, len(checks))
		var wg gosync.WaitGroup
		for i, c := range checks {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(r.Context(), timeout)
				defer cancel()
				errs[i] = runCheck(ctx, c, timeout)
			})
		}
		wg.Wait()
		var lines []string
		for i, err := range errs {
			if err != nil {
				lines = append(lines, checks[i].Name+": "+oneLine(err.Error()))
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if len(lines) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, strings.Join(lines, "\n"))
			return
		}
		fmt.Fprintln(w, "ok")
	})
}

// runCheck runs c, and says so when it ran out of time: a check that cannot answer
// within its timeout fails.
func runCheck(ctx context.Context, c Check, timeout time.Duration) error {
	err := c.Func(ctx)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no answer within %s: %w", timeout, err)
	}
	return err
}

func joinInts(vs []int64) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = fmt.Sprint(v)
	}
	return strings.Join(s, ", ")
}

// oneLine keeps a message on one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
