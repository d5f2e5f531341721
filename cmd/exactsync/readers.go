package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/sink"
)

// readersCmd manages the roles other people's applications read the database with
// (README, "Giving an application access").
type readersCmd struct {
	Add    readersAddCmd    `cmd:"" help:"Create a reader role for an application, or update one: it may read schemas exact, exact_history and exact_status, limited to --divisions, and nothing of exactsync's own."`
	List   readersListCmd   `cmd:"" help:"List the readers of this database and the divisions each sees."`
	Remove readersRemoveCmd `cmd:"" help:"Drop a reader role."`
}

type readersAddCmd struct {
	Name          string `arg:"" help:"The role's name: lower-case letters, digits and _, e.g. bi_app."`
	Divisions     []int  `sep:"," help:"The divisions it sees, comma separated, e.g. 101,102 (default: every division)."`
	PasswordStdin bool   `name:"password-stdin" help:"Read its password from standard input (a terminal asks for it without echo); the role may then log in. Without a password it cannot log in: grant it to a login role, which takes it with SET ROLE."`
}

// Run creates or updates the reader.
func (c *readersAddCmd) Run(e *env) error {
	if err := sink.CheckReaderName(c.Name); err != nil {
		return usageError{err}
	}
	for _, d := range c.Divisions {
		if d <= 0 {
			return usageError{fmt.Errorf("--divisions: %d is not a division code; use a comma list such as 101,102", d)}
		}
	}
	var password string
	if c.PasswordStdin {
		p, err := readPassword(e, c.Name)
		if err != nil {
			return err
		}
		password = p
	}
	cfg, _, st, err := setup(e, config.Needs{Database: true})
	if err != nil {
		return err
	}
	defer st.Close()
	created, err := st.AddReader(e.ctx, c.Name, c.Divisions, password)
	if err != nil {
		return readerError(err)
	}
	verb := "updated"
	if created {
		verb = "created"
	}
	readers, err := st.Readers(e.ctx)
	if err != nil {
		return err
	}
	var r sink.Reader
	for _, x := range readers {
		if x.Name == c.Name {
			r = x
		}
	}
	fmt.Fprintf(e.stdout, "%s reader %s: sees %s in schemas exact, exact_history and exact_status, nothing of exactsync's own\n", verb, c.Name, divisionsText(r.Divisions))
	if r.Login {
		fmt.Fprintf(e.stdout, "connect as it: %s\n", readerURL(cfg.DatabaseURL, c.Name))
	} else {
		fmt.Fprintf(e.stdout, "it cannot log in: GRANT %s TO an application's login role, which runs SET ROLE %[1]s; or add it again with --password-stdin\n", c.Name)
	}
	return nil
}

// readPassword reads a reader's password: from a terminal without echo, else the first
// line of standard input.
func readPassword(e *env, name string) (string, error) {
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(e.stderr, "password for reader %s: ", name)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		return checkPassword(string(b))
	}
	line, err := bufio.NewReader(io.LimitReader(e.stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password from standard input: %w", err)
	}
	return checkPassword(strings.TrimRight(line, "\r\n"))
}

func checkPassword(p string) (string, error) {
	if strings.TrimSpace(p) == "" {
		return "", usageError{errors.New("--password-stdin: standard input holds no password; pipe one in, e.g. openssl rand -base64 24 | exactsync readers add NAME --password-stdin")}
	}
	return p, nil
}

// readerURL is the database URL with the reader as its user and a placeholder for the
// password.
func readerURL(databaseURL, name string) string {
	u, err := url.Parse(databaseURL)
	if err != nil || u.Host == "" {
		return "the server and database of " + config.EnvDatabaseURL + ", user " + name
	}
	u.User = url.UserPassword(name, "PASSWORD")
	return strings.Replace(u.String(), "PASSWORD@", "<password>@", 1)
}

type readersListCmd struct{}

// Run lists the readers.
func (readersListCmd) Run(e *env) error {
	_, _, st, err := setup(e, config.Needs{Database: true})
	if err != nil {
		return err
	}
	defer st.Close()
	readers, err := st.Readers(e.ctx)
	if err != nil {
		return err
	}
	if len(readers) == 0 {
		fmt.Fprintln(e.stdout, "no readers: exactsync readers add NAME [--divisions 101,102] [--password-stdin] makes one")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "READER\tLOGIN\tSEES\tSINCE\tNOTE")
	for _, r := range readers {
		login, note := "no", ""
		if r.Login {
			login = "yes"
		}
		switch {
		case r.Missing:
			login, note = "-", "its role is gone: exactsync readers remove "+r.Name
		case !r.Member:
			note = "not in " + sink.ReaderGroup + ": it reads nothing; exactsync readers add " + r.Name + " again"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, login, divisionsText(r.Divisions), r.CreatedAt.Local().Format("2006-01-02 15:04"), note)
	}
	return tw.Flush()
}

type readersRemoveCmd struct {
	Name string `arg:"" help:"The reader to drop."`
}

// Run drops the reader.
func (c *readersRemoveCmd) Run(e *env) error {
	if err := sink.CheckReaderName(c.Name); err != nil {
		return usageError{err}
	}
	_, _, st, err := setup(e, config.Needs{Database: true})
	if err != nil {
		return err
	}
	defer st.Close()
	gone, err := st.RemoveReader(e.ctx, c.Name)
	if err != nil {
		return readerError(err)
	}
	if gone {
		fmt.Fprintf(e.stdout, "removed reader %s (its role was gone already)\n", c.Name)
		return nil
	}
	fmt.Fprintf(e.stdout, "removed reader %s: role dropped, its sessions can read nothing more\n", c.Name)
	return nil
}

// readerError makes the readers' mistakes usage errors (exit 2).
func readerError(err error) error {
	for _, target := range []error{sink.ErrReaderName, sink.ErrRoleTaken, sink.ErrNotReader, sink.ErrCannotCreateRoles, sink.ErrReaderPassword} {
		if errors.Is(err, target) {
			return usageError{err}
		}
	}
	return err
}
