package dest

import "time"

// Alert is a condition that needs a person, as the run processes notify it
// (EXACTSYNC_ALERT_URL) and store it in exact_sync.alerts. (Condition, Subject) is its
// key: one notification while it holds, one "resolved" once it clears.
type Alert struct {
	Condition string         // reauth_required, refresh_token_idle, day_budget_spent, entity_refused, sync_lag
	Subject   string         // what it concerns: "connection 3 division 101"
	Text      string         // one line for people, without secrets
	Details   map[string]any // structured fields, without secrets
}

// AlertNotice is a notification due: an alert opened (Resolved false) or cleared.
type AlertNotice struct {
	Alert
	ID         int64
	Resolved   bool
	OpenedAt   time.Time
	ResolvedAt time.Time // zero unless Resolved
	Attempts   int       // failed deliveries so far
}
