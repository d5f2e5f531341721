package dest

import "time"

// Token is a connection's stored token pair and what every process must know before it
// refreshes it. Times are on Exact's clock; zero times mean unknown.
type Token struct {
	AccessToken  string
	RefreshToken string
	Expiry       time.Time // access-token expiry
	IssuedAt     time.Time // when the access token was issued
	// NotBefore is the earliest time a refresh may be sent, set after Exact answered one
	// "too early"; zero when none is pending.
	NotBefore time.Time
	// ClockOffset is Exact's clock minus the clock of the process that wrote the row,
	// as that process learned it from Exact's answers; zero when unknown.
	ClockOffset time.Duration
	// ReauthReason is set when the connection is marked reauth_required: its refresh
	// token chain is broken and only a new authorization (or token import) repairs it.
	// It is the reason stored with the mark; only the store sets it.
	ReauthReason string
	// Pending is a refresh of RefreshToken that a client announced before sending it to
	// Exact; zero when none is pending (see PendingRefresh).
	Pending PendingRefresh
}

// PendingRefresh is a refresh of the stored refresh token that a client announced, and
// committed, before sending the token to Exact (docs/exact-online.md §1.9): Exact spends
// the token when it answers, and until the new pair is stored only the announcing process
// has it. If the database is away at that moment, that process keeps the pair and
// retries its commit; every other process waits for that pair rather than send the spent
// token again. An announcement concerns the refresh token it was made for: once another
// one is stored (by the announcing process or anyone else), it is over.
type PendingRefresh struct {
	// By is the announcing client's id; "" when no refresh of the stored token is pending.
	By string
	// Holder names the announcing process for people: "host h pid 123".
	Holder string
	// Since is when the refresh was announced, on the database's clock.
	Since time.Time
	// Left is how much longer the other processes wait for the announced pair, from when
	// the row was read, on the database's clock: the announcer's token call, the time it
	// may wait for the row lock before it, the time its store keeps retrying a pair that
	// the database refused and a margin. Zero or less: that window has passed without a
	// pair stored, and the announcement no longer holds anyone back. In an announcement
	// handed to the store, Left is how long the token call may take.
	Left time.Duration
	// Ended: the announcing process is known to have ended (a process of this machine
	// whose pid no longer runs): no pair will come from its memory.
	Ended bool
}

// ReauthCause says why a connection needs re-authorization, as far as decisions depend on it.
type ReauthCause string

const (
	// ReauthOther is any cause that only a human can repair.
	ReauthOther ReauthCause = ""
	// ReauthRefreshTokenUsed: Exact answered that the refresh token had already been used
	// (§1.9). When the pair that replaced it is recovered (from a recovery file), the
	// chain is whole again.
	ReauthRefreshTokenUsed ReauthCause = "refresh_token_used"
	// ReauthForeignRefresh: Exact answered that the refresh token had already been used,
	// and no process of this database had sent it before: another installation (or a
	// tool) refreshes the chain of the same user and app, which has one live refresh token
	// (§1.9). Only one of the two can keep the connection.
	ReauthForeignRefresh ReauthCause = "foreign_refresh"
)

// ForeignRefreshReason is the state reason of a connection marked ReauthForeignRefresh,
// followed by Exact's answer.
const ForeignRefreshReason = "another installation is using the same Exact user and app: Exact answered that the refresh token " +
	"exactsync holds as the latest was already used, and no exactsync process of this database used it; one user and app " +
	"have one live refresh token, so two installations refresh each other's chain away. Stop the other installation " +
	"(or connect one of them with another user or app), then run exactsync auth login --replace"
