package metrics

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/exactsync/exactsync/dest"
)

// ConnectionSource reads the stored connections; the store implements it (checked where
// the command wires them).
type ConnectionSource interface {
	Connections(ctx context.Context) ([]dest.Connection, error)
}

// connectionCollector reports, at each scrape, whether each connection waits for
// re-authorization and how long ago its refresh token was issued, from the database: the
// same in every process, and right after a restart.
type connectionCollector struct {
	src     ConnectionSource
	timeout time.Duration
	now     func() time.Time
	reauth  *prometheus.Desc
	age     *prometheus.Desc
}

func newConnectionCollector(src ConnectionSource, timeout time.Duration, now func() time.Time) *connectionCollector {
	return &connectionCollector{src: src, timeout: timeout, now: now,
		reauth: prometheus.NewDesc("exactsync_connection_reauth_required",
			"1 while a connection waits for re-authorization (someone must run exactsync auth login), else 0; from the database.",
			[]string{"connection"}, nil),
		age: prometheus.NewDesc("exactsync_refresh_token_age_seconds",
			"Seconds since a connection's refresh token was issued, that is since the chain was last refreshed (or imported); "+
				"Exact expires a refresh token unused for 30 days. From the database.",
			[]string{"connection"}, nil),
	}
}

func (c *connectionCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.reauth
	ch <- c.age
}

func (c *connectionCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	conns, err := c.src.Connections(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.reauth, err)
		return
	}
	now := c.now()
	for _, conn := range conns {
		id := strconv.FormatInt(conn.ID, 10)
		reauth := 0.0
		if conn.State != dest.StateOK {
			reauth = 1
		}
		ch <- prometheus.MustNewConstMetric(c.reauth, prometheus.GaugeValue, reauth, id)
		if !conn.RefreshTokenIssuedAt.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, max(now.Sub(conn.RefreshTokenIssuedAt), 0).Seconds(), id)
		}
	}
}
