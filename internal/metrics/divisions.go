package metrics

import (
	"math"
	"strconv"
	gosync "sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Limits of Config.Divisions.
const (
	// DefaultDivisions is the most divisions served per division when Config.Divisions
	// is 0: 100 divisions × 16 entities is 1,600 series of each family by entity and
	// division.
	DefaultDivisions = 100
	// AllDivisions serves every division's series, however many.
	AllDivisions = math.MaxInt
	// NoDivisions serves the totals only.
	NoDivisions = -1
)

// divKey is one series of a divisionFamily: the value of its other label (entity,
// window; "" when it has none) and its division.
type divKey struct {
	other    string
	division int
}

// divisionFamily is a metric family with a division label. Its values are kept per
// division; a scrape serves them per division, or one series per value of the other label
// with an empty division (which Prometheus stores without the label), joined by join.
type divisionFamily struct {
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	other string                     // the other label's name; "" none
	join  func(a, b float64) float64 // sum for counters, min or max for gauges

	mu   gosync.Mutex
	vals map[divKey]float64
}

func newDivisionFamily(name, help, other string, typ prometheus.ValueType, join func(a, b float64) float64) *divisionFamily {
	labels := []string{"division"}
	if other != "" {
		labels = []string{other, "division"}
	}
	return &divisionFamily{desc: prometheus.NewDesc(name, help, labels, nil), typ: typ, other: other, join: join, vals: map[divKey]float64{}}
}

func sum(a, b float64) float64 { return a + b }

// add adds v to a series (a counter).
func (f *divisionFamily) add(other string, division int, v float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.vals[divKey{other, division}] += v
}

// set sets a series (a gauge).
func (f *divisionFamily) set(other string, division int, v float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.vals[divKey{other, division}] = v
}

// value is a series' value, and whether it exists.
func (f *divisionFamily) value(other string, division int) (float64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.vals[divKey{other, division}]
	return v, ok
}

// snapshot copies the values.
func (f *divisionFamily) snapshot() map[divKey]float64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[divKey]float64, len(f.vals))
	for k, v := range f.vals {
		out[k] = v
	}
	return out
}

// collect sends vals per division, or joined per value of the other label.
func (f *divisionFamily) collect(ch chan<- prometheus.Metric, vals map[divKey]float64, perDivision bool) {
	if !perDivision {
		joined := map[string]float64{}
		for k, v := range vals {
			if j, ok := joined[k.other]; ok {
				v = f.join(j, v)
			}
			joined[k.other] = v
		}
		vals = make(map[divKey]float64, len(joined))
		for o, v := range joined {
			vals[divKey{other: o}] = v
		}
	}
	for k, v := range vals {
		div := ""
		if perDivision {
			div = strconv.Itoa(k.division)
		}
		if f.other == "" {
			ch <- prometheus.MustNewConstMetric(f.desc, f.typ, v, div)
		} else {
			ch <- prometheus.MustNewConstMetric(f.desc, f.typ, v, k.other, div)
		}
	}
}

// divisionCollector serves the families with a division label: per division while the
// divisions known (those of the run history and those this process saw) are at most
// limit, else their totals. The sync lag is read from the run history at each scrape,
// which every process shares: the value is the same whichever process is scraped, and
// right after a restart.
type divisionCollector struct {
	families []*divisionFamily
	limit    int

	lag      *divisionFamily // its desc only: the values are read at each scrape
	src      LagSource
	entities map[string]bool // nil: all
	timeout  time.Duration
}

func (c *divisionCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range c.families {
		ch <- f.desc
	}
	if c.src != nil {
		ch <- c.lag.desc
	}
}

func (c *divisionCollector) Collect(ch chan<- prometheus.Metric) {
	divisions := map[int]bool{}
	snaps := make([]map[divKey]float64, len(c.families))
	for i, f := range c.families {
		snaps[i] = f.snapshot()
		for k := range snaps[i] {
			divisions[k.division] = true
		}
	}
	var lag map[divKey]float64
	if c.src != nil {
		var err error
		if lag, err = c.readLag(); err != nil {
			ch <- prometheus.NewInvalidMetric(c.lag.desc, err)
		}
		for k := range lag {
			divisions[k.division] = true
		}
	}
	perDivision := len(divisions) <= c.limit
	for i, f := range c.families {
		f.collect(ch, snaps[i], perDivision)
	}
	if lag != nil {
		c.lag.collect(ch, lag, perDivision)
	}
}
