// Package config reads exactsync's configuration from the environment and
// turns it into the Config structs of the other packages.
//
// Every invalid or missing value is reported at once, each by the name of
// its variable and with the fix, before anything runs. Defaults and
// connections belong to each package's constructor; this package only reads
// and validates.
package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/rs/zerolog"
)

// DefaultBaseURL is Exact Online's Dutch host (fact sheet §1.1).
const DefaultBaseURL = "https://start.exactonline.nl"

// Config is exactsync's whole configuration.
type Config struct {
	DatabaseURL  string
	BaseURL      string
	ClientID     string
	ClientSecret string
	RedirectURL  string
	Divisions    []int // empty: every division the token can see
	LogLevel     zerolog.Level
	LogFormat    string // json or console
	// Schedules maps an entity name to its incremental cron schedule, and
	// FullSchedules to its full-pass schedule ("" disables it).
	Schedules     map[string]string
	FullSchedules map[string]string
	TimeZone      string // for schedules, default Europe/Amsterdam
}

// Needs says which values a command requires.
type Needs struct {
	Database    bool
	Credentials bool
}

// Options tune how the environment is read.
type Options struct {
	// Entities are the entity names that can have schedules.
	Entities []string
	// ParseSchedule validates a cron schedule; nil skips schedule checks.
	ParseSchedule func(spec string) error
	// DefaultSchedules and DefaultFullSchedules apply when a schedule
	// variable is unset.
	DefaultSchedules     map[string]string
	DefaultFullSchedules map[string]string
}

// Environment variables read by [Load].
const (
	EnvDatabaseURL  = "DATABASE_URL"
	EnvBaseURL      = "EXACT_BASE_URL"
	EnvClientID     = "EXACT_CLIENT_ID"
	EnvClientSecret = "EXACT_CLIENT_SECRET"
	EnvRedirectURL  = "EXACT_REDIRECT_URL"
	EnvDivisions    = "EXACT_DIVISIONS"
	EnvLogLevel     = "LOG_LEVEL"
	EnvLogFormat    = "LOG_FORMAT"
	EnvTimeZone     = "EXACTSYNC_TIMEZONE"
)

// ScheduleEnv is the variable holding an entity's incremental schedule,
// e.g. EXACTSYNC_SCHEDULE_ACCOUNTS.
func ScheduleEnv(entity string) string { return "EXACTSYNC_SCHEDULE_" + strings.ToUpper(entity) }

// FullScheduleEnv is the variable holding an entity's full-pass schedule,
// e.g. EXACTSYNC_FULL_SCHEDULE_ACCOUNTS.
func FullScheduleEnv(entity string) string {
	return "EXACTSYNC_FULL_SCHEDULE_" + strings.ToUpper(entity)
}

// Load reads the configuration through getenv (os.Getenv in production).
// The returned error lists every problem, one per line.
func Load(getenv func(string) string, needs Needs, opts Options) (*Config, error) {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	c := &Config{
		DatabaseURL:   strings.TrimSpace(getenv(EnvDatabaseURL)),
		BaseURL:       strings.TrimRight(strings.TrimSpace(getenv(EnvBaseURL)), "/"),
		ClientID:      strings.TrimSpace(getenv(EnvClientID)),
		ClientSecret:  getenv(EnvClientSecret),
		RedirectURL:   strings.TrimSpace(getenv(EnvRedirectURL)),
		LogFormat:     strings.ToLower(strings.TrimSpace(getenv(EnvLogFormat))),
		TimeZone:      strings.TrimSpace(getenv(EnvTimeZone)),
		Schedules:     map[string]string{},
		FullSchedules: map[string]string{},
	}

	if c.DatabaseURL == "" {
		if needs.Database {
			bad(EnvDatabaseURL, "not set; set it to a PostgreSQL URL such as postgres://user@127.0.0.1:5432/exactsync")
		}
	} else if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		bad(EnvDatabaseURL, "not a postgres:// URL; use the form postgres://user:password@host:5432/dbname")
	}

	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	if err := CheckBaseURL(c.BaseURL); err != nil {
		bad(EnvBaseURL, "%v", err)
	}

	if needs.Credentials {
		if c.ClientID == "" {
			bad(EnvClientID, "not set; use the client ID of your app in the Exact Online App Center")
		}
		if c.ClientSecret == "" {
			bad(EnvClientSecret, "not set; use the client secret of your app in the Exact Online App Center")
		}
	}
	if c.RedirectURL != "" {
		if u, err := url.Parse(c.RedirectURL); err != nil || u.Host == "" {
			bad(EnvRedirectURL, "not an absolute URL; use the redirect URI registered for your app")
		}
	}

	if s := strings.TrimSpace(getenv(EnvDivisions)); s != "" {
		for _, part := range strings.Split(s, ",") {
			part = strings.TrimSpace(part)
			n, err := strconv.Atoi(part)
			if err != nil || n <= 0 {
				bad(EnvDivisions, "%q is not a division code; use a comma list of numbers such as 101,102", part)
				continue
			}
			c.Divisions = append(c.Divisions, n)
		}
	}

	c.LogLevel = zerolog.InfoLevel
	if s := strings.ToLower(strings.TrimSpace(getenv(EnvLogLevel))); s != "" {
		lvl, err := zerolog.ParseLevel(s)
		if err != nil {
			bad(EnvLogLevel, "%q is not a level; use debug, info, warn or error", s)
		} else {
			c.LogLevel = lvl
		}
	}
	switch c.LogFormat {
	case "":
		c.LogFormat = "json"
	case "json", "console":
	default:
		bad(EnvLogFormat, "%q is not a format; use json or console", c.LogFormat)
	}

	for _, e := range opts.Entities {
		for _, v := range []struct {
			env string
			def map[string]string
			out map[string]string
		}{
			{ScheduleEnv(e), opts.DefaultSchedules, c.Schedules},
			{FullScheduleEnv(e), opts.DefaultFullSchedules, c.FullSchedules},
		} {
			spec, set := lookup(getenv, v.env)
			if !set {
				spec = v.def[e]
			}
			spec = strings.TrimSpace(spec)
			if spec != "" && spec != "off" && opts.ParseSchedule != nil {
				if err := opts.ParseSchedule(spec); err != nil {
					bad(v.env, "%q is not a cron schedule (%v); use five fields such as \"*/15 * * * *\", or \"off\"", spec, err)
				}
			}
			if spec == "off" {
				spec = ""
			}
			v.out[e] = spec
		}
	}
	if c.TimeZone == "" {
		c.TimeZone = "Europe/Amsterdam"
	}

	if len(errs) > 0 {
		return nil, &Error{Problems: errs}
	}
	return c, nil
}

// lookup distinguishes an unset variable from an empty one where getenv
// cannot: an empty value counts as unset.
func lookup(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

// CheckBaseURL accepts https URLs, and plain http only for loopback hosts
// (a local simulator).
func CheckBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not a URL; use https://start.exactonline.nl or your country's host", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%q uses plain http; Exact Online needs https (plain http is allowed only for a local simulator on a loopback address)", raw)
	default:
		return fmt.Errorf("%q is not an http(s) URL; use https://start.exactonline.nl or your country's host", raw)
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Error lists every configuration problem found.
type Error struct {
	Problems []error
}

func (e *Error) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Error()
	}
	return "invalid configuration: " + strings.Join(msgs, "; ")
}

// Unwrap gives errors.Is and errors.As access to each problem.
func (e *Error) Unwrap() []error { return e.Problems }
