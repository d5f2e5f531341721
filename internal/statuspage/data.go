package statuspage

import "time"

// Data is what the page shows.
type Data struct {
	Now         time.Time
	Connections []Connection
	// Entities are the grid's columns, in order (the enabled entities, then the
	// deletions).
	Entities []string
	// Intervals are the entities' schedule intervals: a lag beyond three of them is late
	// (the alert ExactsyncSyncLag); an entity without one is late after three hours.
	Intervals   map[string]time.Duration
	Cells       []Cell
	Budget      []DivisionBudget
	Calls       []EntityCalls
	Quarantined []Quarantined
	Failures    []Failure
}

// Connection is one stored connection.
type Connection struct {
	ID    int64
	Host  string
	User  string
	State string // dest.StateOK or dest.StateReauthRequired
	// Level and Line are doctor's verdict on it: OK, WARN or FAIL, and its line with the
	// fix after "→".
	Level string
	Line  string
}

// Cell is where one entity of one division stands (with several connections to a
// division, the one furthest behind).
type Cell struct {
	Division int
	Entity   string
	Status   string        // the last run's status; "" when it never ran
	Lag      time.Duration // since the last successful run finished; negative when none
}

// DivisionBudget is a division's calls of the day, as Exact last reported them.
type DivisionBudget struct {
	Division int
	Used     int
	Limit    int
}

// EntityCalls is the calls of the day's runs of an entity's job.
type EntityCalls struct {
	Entity string
	Calls  int
}

// Quarantined is the records of an entity of a division in quarantine.
type Quarantined struct {
	Division int
	Entity   string
	Records  int
}

// Failure is the last run of an entity in a division, which did not succeed.
type Failure struct {
	Connection int64
	Division   int
	Entity     string
	Status     string
	At         time.Time
	Reason     string // one line
	Fix        string
}
