package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/internal/onboard"
)

type authLoginCmd struct {
	Listen   string        `placeholder:"HOST:PORT" help:"Address of the local callback listener (default: the redirect URI's port, on the loopback interface when its host is localhost, else on every interface)."`
	NoListen bool          `name:"no-listen" help:"Do not listen for the redirect; only accept the pasted redirected URL or code."`
	Timeout  time.Duration `default:"5m" help:"How long to wait for the authorization."`
	Replace  bool          `help:"Give the authorization to the connection the same Exact user and app already have, keeping its divisions' cursors; without it a second connection of a user and app is refused (Exact keeps one live refresh token per user and app)."`
}

// Run prints the authorization URL, waits for the code (from the browser's redirect to the
// callback listener, or pasted into the terminal), exchanges it at once (a code works once
// and only for a few minutes, §1.7), stores the token pair under the user's connection, and
// proves it works with current/Me and the list of divisions.
func (c *authLoginCmd) Run(e *env) error {
	if c.Timeout <= 0 {
		return usageError{fmt.Errorf("--timeout %s: use a positive duration such as 5m", c.Timeout)}
	}
	cfg, err := loadConfig(e, config.Needs{Database: true, Credentials: true})
	if err != nil {
		return err
	}
	redirectRaw := cmp.Or(cfg.RedirectURL, onboard.DefaultRedirectURL)
	redirect, err := onboard.ParseRedirectURL(redirectRaw)
	if err != nil {
		return usageError{fmt.Errorf("%s %q: %w", config.EnvRedirectURL, redirectRaw, err)}
	}
	lcfg := *cfg
	lcfg.RedirectURL = redirectRaw // sent verbatim: Exact compares it character for character (§1.4)
	log := newLogger(cfg, e.stderr)

	st, err := openStore(e, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := sealingKey(e, cfg, st, log, true); err != nil {
		return err
	}
	ocfg := onboardConfig(e, &lcfg, st, log)
	ocfg.Replace = c.Replace
	ob, err := onboard.Begin(e.ctx, st, ocfg)
	if err != nil {
		return err
	}
	defer ob.Abandon(e.ctx) // an abandoned login leaves no empty connection behind
	state, err := onboard.NewState()
	if err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(e.ctx, c.Timeout)
	defer cancel()
	var codes <-chan string
	var where string
	if !c.NoListen {
		cb := onboard.NewCallback(onboard.CallbackConfig{RedirectURL: redirect, Addr: c.Listen, State: state, Logger: log})
		if err := cb.Start(ctx); err != nil {
			fmt.Fprintf(e.stdout, "Cannot listen for the redirect (%v); paste the redirected URL instead, or use --listen HOST:PORT.\n\n", err)
		} else {
			defer func() {
				// Let the browser receive its page before the listener goes away.
				ctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx), 2*time.Second)
				defer cancel()
				_ = cb.Stop(ctx)
			}()
			codes = cb.Codes()
			where = fmt.Sprintf("exactsync listens on %s for the redirect to %s", strings.Join(cb.Addrs(), " and "), redirectRaw)
			if fp := cb.Fingerprint(); fp != "" {
				where += ", with a self-signed certificate (SHA-256 " + fp + "): the browser warns about it; that is expected, continue to the page"
			}
		}
	}

	fmt.Fprintf(e.stdout, "Open this URL in a browser and sign in to Exact Online with the user whose data is to be synced:\n\n  %s\n\n", ob.AuthCodeURL(state))
	fmt.Fprintf(e.stdout, "The redirect URI %s must be registered exactly so (scheme, host, port and path) for client ID %s in the Exact Online App Center; set EXACT_REDIRECT_URL to use another.\n", redirectRaw, cfg.ClientID)
	if where != "" {
		fmt.Fprintf(e.stdout, "%s.\nOr paste the URL the browser was sent to (or just its code) here and press Enter:\n", where)
	} else {
		fmt.Fprintln(e.stdout, "Paste the URL the browser was sent to (it starts with the redirect URI; the page itself may fail to load), or just its code, here and press Enter:")
	}

	pasted := readLines(ctx, e.stdin)
	code, err := waitForCode(ctx, e, state, codes, pasted)
	if err != nil {
		if e.ctx.Err() != nil {
			return errors.New("login interrupted before an authorization arrived; nothing was stored")
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("no authorization arrived within %s: run `exactsync auth login` again (if Exact showed an error about the redirect URI, register %s in the App Center or set EXACT_REDIRECT_URL to the registered one)",
				c.Timeout, redirectRaw)
		}
		return err
	}

	// Exchange at once, with the process's context: the code expires in minutes (§1.7).
	if err := ob.Exchange(e.ctx, code); err != nil {
		return loginError(err, cfg.BaseURL)
	}
	res, err := ob.Finish(e.ctx)
	if err != nil {
		return loginError(err, cfg.BaseURL)
	}
	who := cmp.Or(res.User.FullName, res.User.UserID)
	if res.User.Email != "" {
		who += " <" + res.User.Email + ">"
	}
	conn := res.Connection
	fmt.Fprintf(e.stdout, "\nConnected to %s as %s: connection %d.\n", host(conn.BaseURL), who, conn.ID)
	divs, err := saveDivisions(e.ctx, st, conn.ID, res.Client, cfg.Divisions, log)
	if err != nil {
		return loginError(fmt.Errorf("listing the divisions of connection %d: %w", conn.ID, err), cfg.BaseURL)
	}
	if len(divs) == 0 {
		fmt.Fprintln(e.stdout, "The user granted no divisions: nothing can be synced. Check the user's rights in Exact Online, then run `exactsync auth login` again.")
		return nil
	}
	fmt.Fprintln(e.stdout, "Divisions granted:")
	for _, d := range divs {
		fmt.Fprintf(e.stdout, "  %d  %s%s\n", d.Code, d.Description, divisionStatus(d.Status))
	}
	fmt.Fprintln(e.stdout, "Next: `exactsync sync --entity accounts` syncs once; `exactsync run` keeps syncing on schedule.")
	return nil
}

// loginError adds the fix to errors whose cause the message alone does not cure.
func loginError(err error, baseURL string) error {
	var op *net.OpError
	var dns *net.DNSError
	var code *exact.CodeError
	switch {
	case errors.As(err, &op) || errors.As(err, &dns):
		return fmt.Errorf("%w; check EXACT_BASE_URL (%s) and this machine's network connection, then run `exactsync auth login` again", err, baseURL)
	case errors.As(err, &code):
		return fmt.Errorf("%w; run `exactsync auth login` again", err)
	}
	return err
}

// waitForCode returns the first authorization code that arrives through the callback
// listener (codes; nil without one) or the terminal and belongs to this login (state).
// Pasted mistakes are reported and another paste is awaited; a denied authorization ends
// the login.
func waitForCode(ctx context.Context, e *env, state string, codes <-chan string, pasted <-chan string) (string, error) {
	listening := codes != nil
	for {
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case code := <-codes:
			return code, nil
		case line, ok := <-pasted:
			if !ok {
				pasted = nil
				if !listening {
					return "", errors.New("standard input ended before a redirected URL or code was pasted: run `exactsync auth login` in a terminal, or without --no-listen")
				}
				continue
			}
			if strings.TrimSpace(line) == "" {
				continue
			}
			code, err := onboard.ParseCode(line, state, false)
			if err == nil {
				return code, nil
			}
			var denied *exact.AuthDeniedError
			if errors.As(err, &denied) {
				return "", fmt.Errorf("%w; nothing was stored", err)
			}
			fmt.Fprintf(e.stdout, "%v\nPaste the redirected URL (or its code) again:\n", err)
		}
	}
}

// readLines delivers the lines of r until it ends (the channel is then closed) or ctx ends.
func readLines(ctx context.Context, r io.Reader) <-chan string {
	out := make(chan string)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			select {
			case out <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}
