package metrics

import (
	"context"

	"github.com/exactsync/exactsync/dest"
)

// LagSource reads the last successful run of every entity of every division.
// The PostgreSQL store (package sink) implements it.
type LagSource interface {
	LastSuccesses(ctx context.Context) ([]dest.LastSuccess, error)
}

// readLag reads the age of the last successful run of each entity and division; with
// several connections to a division, the one furthest behind.
func (c *divisionCollector) readLag() (map[divKey]float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	all, err := c.src.LastSuccesses(ctx)
	if err != nil {
		return nil, err
	}
	worst := map[divKey]float64{}
	for _, ls := range all {
		if c.entities != nil && !c.entities[ls.Entity] {
			continue
		}
		k := divKey{ls.Entity, ls.Division}
		age := max(ls.Age, 0).Seconds()
		if w, ok := worst[k]; !ok || age > w {
			worst[k] = age
		}
	}
	return worst, nil
}
