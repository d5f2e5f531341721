package dest

import (
	"fmt"
	"time"
)

// Connection states.
const (
	StateOK             = "ok"
	StateReauthRequired = "reauth_required"
)

// Connection is one Exact Online host + app (client id) + user, as stored in
// exact_sync.connections. It carries no secrets. Zero times mean unknown.
type Connection struct {
	ID          int64
	BaseURL     string
	ClientID    string
	UserKey     string
	State       string // StateOK or StateReauthRequired
	StateReason string
	// StateCause is why the connection is StateReauthRequired, as far as decisions depend
	// on it (ReauthForeignRefresh: another installation uses the same user and app).
	StateCause ReauthCause

	AccessTokenExpiry    time.Time
	AccessTokenIssuedAt  time.Time
	RefreshTokenIssuedAt time.Time // when the current refresh token was received or imported
	LastRefreshAt        time.Time // when a refresh was last stored
	CreatedAt            time.Time

	// HasClientSecret says whether the app's client secret is stored with the connection.
	HasClientSecret bool
	// KeyIDs are the ids of the encryption keys that sealed the stored secrets, sorted;
	// "" stands for secrets stored as plaintext. Nil when no secret is stored.
	KeyIDs []string
}

// ConnectedError refuses a second connection of an Exact user and app that already have
// a live one: Exact keeps one live refresh token per user and app (docs/exact-online.md
// §1.9), so the two would break each other's chain. Its text is the one line a person
// reads, with the fix.
type ConnectedError struct {
	ID       int64  // the existing connection
	UserKey  string // current/Me's UserID
	ClientID string
}

func (e *ConnectedError) Error() string {
	return fmt.Sprintf("connection %d already connects Exact user %s with app %s, and Exact keeps one live refresh token per user and app "+
		"(a new authorization ends the chain issued before it): nothing was stored; run the command again with --replace "+
		"to give connection %d this token, keeping its divisions' cursors", e.ID, e.UserKey, e.ClientID, e.ID)
}

// Division is a division (an Exact Online company) a connection has been granted, as
// last listed.
type Division struct {
	Code        int
	Description string
	Status      int       // as Exact reports it (exact.DivisionActive, …)
	MoveDate    time.Time // when Exact last moved the division to another database; zero if never
	SeenAt      time.Time
}

// RateLimit is the rate-limit state of one division as last seen in Exact's response
// headers. Zero values mean unknown.
type RateLimit struct {
	DailyLimit, DailyRemaining       int
	DailyReset                       time.Time
	MinutelyLimit, MinutelyRemaining int
	MinutelyReset                    time.Time
	ObservedAt                       time.Time // zero = now, on save
}

// WebhookDelivery is the last webhook delivery seen for an app, a division and a topic.
type WebhookDelivery struct {
	ClientID   string
	Division   int
	Topic      string
	Action     string
	Outcome    string
	At         time.Time
	Deliveries int // how many were seen since the last record
}
