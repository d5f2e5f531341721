package sync

// Observer is told how every run ended, for metrics. RunFinished is called once per
// [Runner.Run] that began, after its summary is logged, on the run's goroutine: it must be
// quick and safe for concurrent use. A job that found its division held by another worker
// ([StatusBusy]) did not begin a run and is not told. Config.Observer is optional.
type Observer interface {
	RunFinished(res Result)
}

// EntityResult is what one run did to one entity's table in its division: a job writes
// every enabled entity read from its endpoint (accounts and suppliers), and the deletions
// job removes rows from every entity whose deletions it read, besides quarantining
// deletion records under [DeletionsJob] itself.
type EntityResult struct {
	Entity      string
	Upserted    int
	Removed     int
	Quarantined int
}

type nopObserver struct{}

func (nopObserver) RunFinished(Result) {}
