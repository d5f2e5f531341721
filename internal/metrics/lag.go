package metrics

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/exactsync/exactsync/dest"
)

// LagSource reads the last successful run of every entity of every division.
// The PostgreSQL store (package sink) implements it.
type LagSource interface {
	LastSuccesses(ctx context.Context) ([]dest.LastSuccess, error)
}

// lagCollector reports exactsync_sync_lag_seconds at each scrape from the run history,
// which every process shares: the value is the same whichever process is scraped, and
// right after a restart.
type lagCollector struct {
	src      LagSource
	entities map[string]bool // nil: all
	timeout  time.Duration
	desc     *prometheus.Desc
}

func newLagCollector(src LagSource, entities []string, timeout time.Duration) *lagCollector {
	c := &lagCollector{src: src, timeout: timeout, desc: prometheus.NewDesc("exactsync_sync_lag_seconds",
		"Seconds since the last successful run of an entity in a division finished, from the run history of every process; "+
			"with several connections to one division, the one furthest behind. Absent until the entity's first successful run.",
		[]string{"entity", "division"}, nil)}
	if entities != nil {
		c.entities = map[string]bool{}
		for _, e := range entities {
			c.entities[e] = true
		}
	}
	return c
}

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	all, err := c.src.LastSuccesses(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	type key struct {
		entity   string
		division int
	}
	worst := map[key]time.Duration{}
	for _, ls := range all {
		if c.entities != nil && !c.entities[ls.Entity] {
			continue
		}
		k := key{ls.Entity, ls.Division}
		if age, ok := worst[k]; !ok || ls.Age > age {
			worst[k] = ls.Age
		}
	}
	for k, age := range worst {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, max(age, 0).Seconds(), k.entity, strconv.Itoa(k.division))
	}
}
