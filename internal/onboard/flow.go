package onboard

import (
	"context"
	"errors"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
)

// Config is what an onboarding needs to know.
type Config struct {
	// BaseURL and ClientID name the Exact Online host and the app of the connection.
	BaseURL, ClientID string
	// ClientSecret is stored with the connection (sealed when the store has a key), so
	// that later runs need no credentials; empty stores none.
	ClientSecret string
	// Replace lets Finish move the token to a live connection of the same user and app;
	// without it, Finish refuses with a *dest.ConnectedError (one live refresh token per
	// user and app, docs/exact-online.md §1.9).
	Replace bool
	// Client builds the Exact client of a stored connection: its host, app, stored client
	// secret, and the redirect URI registered for the app. Required.
	Client func(ctx context.Context, conn dest.Connection) (*exact.Client, error)
	Logger zerolog.Logger
}

// Store is what onboarding asks of the database: a pending connection that holds the
// token until the user is known, then moved to the user's connection. The PostgreSQL
// store (package sink) implements it.
type Store interface {
	// UpsertConnection returns the connection of (baseURL, clientID, userKey), creating
	// it when missing; userKey is empty for a pending one.
	UpsertConnection(ctx context.Context, baseURL, clientID, userKey string) (dest.Connection, error)
	SetClientSecret(ctx context.Context, connID int64, secret string) error
	// ImportRefreshToken stores a refresh token as the head of the connection's chain.
	ImportRefreshToken(ctx context.Context, connID int64, refreshToken string) error
	PendingConnections
}

// PendingConnections ends a pending connection: ClaimConnectionUser names its user
// (moving the token to the user's connection if there is one, which it returns),
// DeletePendingConnection removes it when it never received a token.
type PendingConnections interface {
	ClaimConnectionUser(ctx context.Context, pendingID int64, userKey string, replace bool) (dest.Connection, error)
	DeletePendingConnection(ctx context.Context, id int64) (bool, error)
}

// Onboarding is one attempt to connect a user: a pending connection that holds the token
// until Finish moves it to the user's connection. Its methods are called in order from one
// goroutine.
type Onboarding struct {
	st       Store
	cfg      Config
	pending  dest.Connection
	client   *exact.Client
	finished bool
}

// Result is a finished onboarding.
type Result struct {
	// Connection is the user's connection, which now holds the token: a new one, or the
	// one the user had before (its cursors kept).
	Connection dest.Connection
	// User is who authorized the app, as current/Me says.
	User exact.Me
	// Client is the Exact client of Connection.
	Client *exact.Client
}

// Begin stores a pending connection for cfg's host and app, with the client secret, and
// builds its client. The caller defers Abandon.
func Begin(ctx context.Context, st Store, cfg Config) (*Onboarding, error) {
	if cfg.Client == nil {
		panic("onboard: Config.Client is required")
	}
	pending, err := st.UpsertConnection(ctx, cfg.BaseURL, cfg.ClientID, "")
	if err != nil {
		return nil, err
	}
	o := &Onboarding{st: st, cfg: cfg, pending: pending}
	if cfg.ClientSecret != "" {
		if err := st.SetClientSecret(ctx, pending.ID, cfg.ClientSecret); err != nil {
			o.Abandon(ctx)
			return nil, fmt.Errorf("storing the client secret: %w", err)
		}
	}
	if o.client, err = cfg.Client(ctx, pending); err != nil {
		o.Abandon(ctx)
		return nil, err
	}
	return o, nil
}

// AuthCodeURL is the URL that asks the user to authorize the app; Exact sends the browser
// back to the redirect URI with the code and state.
func (o *Onboarding) AuthCodeURL(state string) string { return o.client.AuthCodeURL(state) }

// Exchange trades an authorization code (decoded once) for a token pair and stores it
// under the pending connection. A code Exact refuses gives an *exact.CodeError.
func (o *Onboarding) Exchange(ctx context.Context, code string) error {
	_, err := o.client.Exchange(ctx, code)
	return err
}

// ImportRefreshToken stores a refresh token obtained elsewhere under the pending
// connection. Exact has not seen it yet: Finish proves it.
func (o *Onboarding) ImportRefreshToken(ctx context.Context, token string) error {
	if err := o.st.ImportRefreshToken(ctx, o.pending.ID, token); err != nil {
		return fmt.Errorf("storing the refresh token: %w", err)
	}
	return nil
}

// Finish proves the stored token with current/Me (for an imported token, the first refresh
// stores the rotated pair before it is used, §6.1), and moves it to the user's connection,
// keeping that connection's cursors if it exists (a live one only with Config.Replace). A token Exact refuses leaves nothing
// behind: the pending connection is removed.
func (o *Onboarding) Finish(ctx context.Context) (Result, error) {
	me, err := o.client.Me(ctx)
	if errors.Is(err, exact.ErrTooEarly) {
		// Exact allows the check later (a client with NoRefreshWait): Finish may be
		// called again, or Keep store the token unchecked.
		return Result{}, fmt.Errorf("checking the token with Exact Online: %w", err)
	}
	if err != nil {
		o.Abandon(ctx)
		return Result{}, fmt.Errorf("checking the token with Exact Online: %w", err)
	}
	conn, err := o.st.ClaimConnectionUser(ctx, o.pending.ID, me.UserID, o.cfg.Replace)
	var connected *dest.ConnectedError
	if errors.As(err, &connected) {
		o.finished = true // the pending connection is gone with its token
		return Result{}, err
	}
	if err != nil {
		return Result{}, fmt.Errorf("storing the connection's user: %w", err)
	}
	o.finished = true
	client := o.client
	if conn.ID != o.pending.ID {
		// The token moved to the user's existing connection: a client bound to the
		// deleted pending row must not refresh it.
		if client, err = o.cfg.Client(ctx, conn); err != nil {
			return Result{}, err
		}
	}
	return Result{Connection: conn, User: me, Client: client}, nil
}

// Keep ends the onboarding without proving the token: the pending connection keeps it,
// unchecked and without a user, and the first run that uses it proves it (a token Exact
// refuses then marks the connection reauth_required). It is for a refresh token whose
// access token was issued less than 570 s ago (§1.8), which Exact does not let anyone
// use yet.
func (o *Onboarding) Keep() dest.Connection {
	o.finished = true
	return o.pending
}

// Abandon removes the pending connection unless Finish moved the token to the user's
// connection; it is safe to call more than once, and after a cancelled ctx.
func (o *Onboarding) Abandon(ctx context.Context) {
	if o.finished {
		return
	}
	o.finished = true
	// A pending connection that received a token is kept (DeletePendingConnection):
	// the token may be the only live one of its chain.
	if _, err := o.st.DeletePendingConnection(context.WithoutCancel(ctx), o.pending.ID); err != nil {
		o.cfg.Logger.Warn().Err(err).Int64("connection", o.pending.ID).Msg("cannot remove the pending connection")
	}
}
