package worker

import (
	"fmt"
	"hash/fnv"
	"time"

	"github.com/riverqueue/river"
)

// Schedule is one periodic tick: when it fires, the leader queues a job for each of its
// entities in every division of every connection and, with Deletions, each division's
// deletions job after them.
type Schedule struct {
	// Spec names the schedule in logs and in the queue, e.g. "*/15 * * * *".
	Spec string
	// Next is when the tick fires after a time: a parsed cron schedule in the
	// configured time zone.
	Next interface{ Next(time.Time) time.Time }
	// Entities are the jobs of the tick.
	Entities []TickEntity
	// Deletions queues each division's deletions job (sync.DeletionsJob) after the
	// entities' jobs.
	Deletions bool
	// Verify queues each division's verification job (Config.Verify) after the others.
	Verify bool
	// CatchUp queues the tick's incremental entities when the leader starts, instead of
	// waiting for the first tick, unless no firing of the schedule was missed since its
	// last tick: a new leader after a leader's death queues nothing the old one queued.
	CatchUp bool
}

// TickEntity is one job of a tick: an entity's name (the first of its endpoint; the
// run writes the others) and whether it is a full pass.
type TickEntity struct {
	Entity string `json:"entity"`
	Full   bool   `json:"full,omitempty"`
}

// never is a schedule that does not fire: the catch-up tick runs on start only.
type never struct{}

func (never) Next(t time.Time) time.Time { return t.AddDate(100, 0, 0) }

// periodicJobs are the River periodic jobs of the configuration: a schedule's ticks, and
// its catch-up tick, which River queues when this process becomes the leader.
func (w *Worker) periodicJobs() []*river.PeriodicJob {
	var out []*river.PeriodicJob
	for _, s := range w.cfg.Schedules {
		args := TickArgs{Schedule: s.Spec, Entities: s.Entities, Deletions: s.Deletions, Verify: s.Verify}
		out = append(out, river.NewPeriodicJob(s.Next, func() (river.JobArgs, *river.InsertOpts) {
			return args, nil
		}, &river.PeriodicJobOpts{ID: periodicID(s.Spec)}))
		if !s.CatchUp {
			continue
		}
		catchUp := TickArgs{Schedule: s.Spec, Deletions: s.Deletions, CatchUp: true}
		for _, e := range s.Entities {
			if !e.Full {
				catchUp.Entities = append(catchUp.Entities, e)
			}
		}
		if len(catchUp.Entities) > 0 {
			out = append(out, river.NewPeriodicJob(never{}, func() (river.JobArgs, *river.InsertOpts) {
				return catchUp, nil
			}, &river.PeriodicJobOpts{ID: "catch-up-" + periodicID(s.Spec)[len("tick-"):], RunOnStart: true}))
		}
	}
	out = append(out,
		river.NewPeriodicJob(river.PeriodicInterval(DivisionsEvery), func() (river.JobArgs, *river.InsertOpts) {
			return DivisionsArgs{}, nil
		}, &river.PeriodicJobOpts{ID: "divisions", RunOnStart: true}),
		river.NewPeriodicJob(river.PeriodicInterval(w.keepAliveEvery()), func() (river.JobArgs, *river.InsertOpts) {
			return KeepAliveArgs{}, nil
		}, &river.PeriodicJobOpts{ID: "keepalive", RunOnStart: true}),
	)
	if w.cfg.RunHistory > 0 || w.pruneDeletions() {
		out = append(out, river.NewPeriodicJob(river.PeriodicInterval(PruneEvery), func() (river.JobArgs, *river.InsertOpts) {
			return PruneArgs{}, nil
		}, &river.PeriodicJobOpts{ID: "prune", RunOnStart: true}))
	}
	return out
}

// keepAliveEvery is how often the keep-alive looks: a few times per period, at most
// hourly, so that a refresh is never much later than the period.
func (w *Worker) keepAliveEvery() time.Duration {
	return max(min(w.cfg.Keepalive/4, time.Hour), time.Minute)
}

// periodicID names a schedule's periodic job in River's characters: "tick-" and a hash
// of the spec.
func periodicID(spec string) string {
	h := fnv.New32a()
	h.Write([]byte(spec))
	return fmt.Sprintf("tick-%08x", h.Sum32())
}
