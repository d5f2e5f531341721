// Package config reads exactsync's configuration from the environment into its own
// [Config], which the command hands on to the other packages' constructors.
//
// Every invalid or missing value is reported at once, each by the name of its variable
// and with the fix, before anything runs; so is a variable named like exactsync's
// (EXACT_…, EXACTSYNC_…) that it does not read, with the closest name it does. Load applies the defaults of what it reads
// (EXACT_BASE_URL, LOG_LEVEL, LOG_FORMAT, EXACTSYNC_TIMEZONE, the schedules, the state
// directory); the defaults of everything else, and every connection, belong to each
// package's constructor.
//
// A citation such as §3.10 in its comments names a section of docs/exact-online.md, the
// project's reference of Exact Online.
package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/sink/seal"
	"github.com/exactsync/exactsync/webhook"
)

// DefaultBaseURL is Exact Online's Dutch host (docs/exact-online.md §1.1).
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
	LogFormat    string // json, console, or auto (the default): console on a terminal, json elsewhere
	// Entities are the entities to sync (EXACTSYNC_ENTITIES), in Options.Entities order.
	Entities []string
	// Schedules maps every entity name of Options.Entities to its incremental cron
	// schedule, and FullSchedules to its full-pass schedule ("" disables it).
	Schedules     map[string]string
	FullSchedules map[string]string
	TimeZone      string // for schedules, default Europe/Amsterdam
	// VerifySchedule is when run verifies and repairs the copy (EXACTSYNC_VERIFY_SCHEDULE,
	// default Options.DefaultVerifySchedule); "" for never.
	VerifySchedule string
	// OmitRaw stores '{}' in the raw columns instead of each record as received
	// (EXACTSYNC_RAW=off; see sync.Config.OmitRaw).
	OmitRaw bool
	// History are the entities whose tables keep every version of their rows in schema
	// exact_history (EXACTSYNC_HISTORY), in Options.Entities order; none by default.
	History []string
	// DeletionsRetention is how long exact_history.deletions keeps a removal
	// (EXACTSYNC_DELETIONS_RETENTION); 0, the default, keeps every one.
	DeletionsRetention time.Duration
	// RawExtra stores in the raw columns only what the typed columns do not give back,
	// from which exact.received(t) rebuilds the record (EXACTSYNC_RAW=extra; see
	// sync.Config.RawExtra).
	RawExtra bool
	// ProgressInterval is how often a run logs its progress (EXACTSYNC_PROGRESS_INTERVAL);
	// 0 means the default, negative never.
	ProgressInterval time.Duration
	// Keyring seals the tokens and client secrets stored in PostgreSQL: the key of
	// EXACTSYNC_ENCRYPTION_KEY or EXACTSYNC_ENCRYPTION_KEY_FILE, else the one exactsync
	// generated into KeyFile. Nil when there is none (yet), or with Unencrypted.
	Keyring *seal.Keyring
	// KeySource says where Keyring's current key comes from: EnvEncryptionKey,
	// EnvEncryptionKeyFile, KeyGenerated (KeyFile), or "" when there is no key.
	KeySource string
	// KeyFile is where the key exactsync generates is kept: seal.KeyFile in StateDir; ""
	// without a state directory. A command that has a secret to seal and no key generates
	// one there (see sink.Store.GenerateKey), unless Unencrypted.
	KeyFile string
	// Unencrypted is the operator's explicit choice to store secrets as plaintext
	// (EXACTSYNC_ENCRYPTION_KEY=none).
	Unencrypted bool
	// StateDir holds the recovery files of refreshed token pairs that PostgreSQL could not
	// store (EXACTSYNC_STATE_DIR, default $XDG_STATE_HOME/exactsync or
	// ~/.local/state/exactsync); empty when no directory can be named.
	StateDir string
	// WebhookSecret is the app's webhook secret, which signs Exact's webhook deliveries
	// (EXACT_WEBHOOK_SECRET, docs/exact-online.md §3.14). It is a secret: never logged nor echoed.
	WebhookSecret string
	// WebhookURL is the public https address Exact calls with webhook deliveries
	// (EXACTSYNC_WEBHOOK_URL); empty when webhooks are off. Set together with WebhookSecret.
	WebhookURL string
	// WebhookListen is the address the webhook callback listens on, host:port
	// (EXACTSYNC_WEBHOOK_LISTEN); empty: the webhook package's default (webhook.DefaultAddr).
	// It is never the address of the process's other server: the callback is public.
	WebhookListen string
	// WebhookLimits are the limits of the callback's listener; zero values mean the
	// webhook package's defaults.
	WebhookLimits WebhookLimits
	// MetricsDivisions is the most divisions whose metrics are served one by one
	// (EXACTSYNC_METRICS_DIVISIONS): 0 for the default, MetricsDivisionsAll,
	// MetricsDivisionsNone or a number; metrics.Config.Divisions takes it as it is.
	MetricsDivisions int
	// ListenToken, when set, is the bearer token that /metrics and the status page of
	// --listen require (EXACTSYNC_LISTEN_TOKEN). It is a secret: never logged nor echoed.
	ListenToken string
	// AlertURL, when set, receives a JSON POST for each condition that needs a person
	// (EXACTSYNC_ALERT_URL; package alert). An incoming-webhook address holds its own
	// secret: never logged nor echoed.
	AlertURL string
	// Warnings are problems that do not stop a start, each with its fix, for the
	// command to log (a key file that others can read).
	Warnings []string
}

// WebhookLimits are the limits of the webhook callback's listener (see
// webhook.ServerConfig), each from its variable.
type WebhookLimits struct {
	MaxConns          int           // EXACTSYNC_WEBHOOK_MAX_CONNS
	MaxConnsPerClient int           // EXACTSYNC_WEBHOOK_MAX_CONNS_PER_CLIENT
	HeaderTimeout     time.Duration // EXACTSYNC_WEBHOOK_HEADER_TIMEOUT
	ReadTimeout       time.Duration // EXACTSYNC_WEBHOOK_READ_TIMEOUT
	IdleTimeout       time.Duration // EXACTSYNC_WEBHOOK_IDLE_TIMEOUT
}

// Needs says which values a command requires.
type Needs struct {
	Database    bool
	Credentials bool
}

// Options tune how the environment is read.
type Options struct {
	// Entities are the entity names that can be synced and have schedules.
	Entities []string
	// DefaultEntities are synced when EXACTSYNC_ENTITIES is unset; nil means all.
	DefaultEntities []string
	// Unsupported names entities that cannot be chosen, with the reason (e.g. deprecated
	// by Exact), so that asking for one gets a clear answer.
	Unsupported map[string]string
	// DefaultSchedule and DefaultFullSchedule apply to an entity without a schedule of
	// its own in DefaultSchedules or DefaultFullSchedules; EXACTSYNC_SCHEDULE_DEFAULT and
	// EXACTSYNC_FULL_SCHEDULE_DEFAULT replace both.
	DefaultSchedule, DefaultFullSchedule string
	// DefaultVerifySchedule is the verification's schedule when EXACTSYNC_VERIFY_SCHEDULE
	// is unset.
	DefaultVerifySchedule string
	// ParseSchedule validates a cron schedule; nil skips schedule checks.
	ParseSchedule func(spec string) error
	// DefaultSchedules and DefaultFullSchedules apply when a schedule
	// variable is unset.
	DefaultSchedules     map[string]string
	DefaultFullSchedules map[string]string
	// ReadFile reads EXACTSYNC_ENCRYPTION_KEY_FILE; by default the file is read from
	// disk, and a warning is given when its mode lets group or others read it.
	ReadFile func(name string) ([]byte, error)
	// Environ is the whole environment ("NAME=value", as os.Environ), in which every
	// variable named EXACT_… or EXACTSYNC_… that exactsync does not read is reported, with
	// the closest known name; nil checks nothing.
	Environ []string
	// Known are the variables read elsewhere (the command's flags' variables, such as
	// EXACTSYNC_KEEPALIVE), known besides Load's own.
	Known []string
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

	// EnvEncryptionKey is the current key sealing secrets at rest: 32 bytes as base64 or
	// 64 hex digits, or KeyNone to store them as plaintext. EnvEncryptionKeyFile names a
	// file holding it instead. Without either, exactsync generates a key into its state
	// directory (Config.KeyFile).
	EnvEncryptionKey     = "EXACTSYNC_ENCRYPTION_KEY"
	EnvEncryptionKeyFile = "EXACTSYNC_ENCRYPTION_KEY_FILE"
	// EnvEncryptionKeyOld lists earlier keys, comma separated, which only open values
	// (until `exactsync auth rotate-key` re-encrypts them with the current key).
	EnvEncryptionKeyOld = "EXACTSYNC_ENCRYPTION_KEY_OLD"

	// EnvStateDir is the directory of exactsync's local state: the recovery files of
	// refreshed token pairs that PostgreSQL could not store.
	EnvStateDir = "EXACTSYNC_STATE_DIR"

	// EnvEntities lists the entities to sync: names separated by commas, or all.
	EnvEntities = "EXACTSYNC_ENTITIES"
	// EnvScheduleDefault and EnvFullScheduleDefault are the schedules of every entity
	// without a variable of its own.
	EnvScheduleDefault     = "EXACTSYNC_SCHEDULE_DEFAULT"
	EnvFullScheduleDefault = "EXACTSYNC_FULL_SCHEDULE_DEFAULT"
	// EnvVerifySchedule is when run verifies the copy against Exact (exactsync verify
	// --repair, every division): a cron schedule, or off.
	EnvVerifySchedule = "EXACTSYNC_VERIFY_SCHEDULE"

	// EnvWebhookSecret is the app's webhook secret (App Center), EnvWebhookURL the public
	// https address of the callback, EnvWebhookListen the address it listens on.
	EnvWebhookSecret = "EXACT_WEBHOOK_SECRET"
	EnvWebhookURL    = "EXACTSYNC_WEBHOOK_URL"
	EnvWebhookListen = "EXACTSYNC_WEBHOOK_LISTEN"
	// The limits of the callback's listener: connections open at once, in all and from
	// one client address; how long a request's headers, and the whole request, may take
	// to arrive; how long a kept-alive connection may wait for its next request.
	EnvWebhookMaxConns          = "EXACTSYNC_WEBHOOK_MAX_CONNS"
	EnvWebhookMaxConnsPerClient = "EXACTSYNC_WEBHOOK_MAX_CONNS_PER_CLIENT"
	EnvWebhookHeaderTimeout     = "EXACTSYNC_WEBHOOK_HEADER_TIMEOUT"
	EnvWebhookReadTimeout       = "EXACTSYNC_WEBHOOK_READ_TIMEOUT"
	EnvWebhookIdleTimeout       = "EXACTSYNC_WEBHOOK_IDLE_TIMEOUT"

	// EnvRaw is on (the default) to store every record as received in its table's raw
	// column, off to store '{}' there.
	EnvRaw = "EXACTSYNC_RAW"

	// EnvHistory lists the entities whose tables keep every version of their rows in
	// schema exact_history: names separated by commas, or all (the synced entities).
	EnvHistory = "EXACTSYNC_HISTORY"
	// EnvDeletionsRetention is how long exact_history.deletions keeps a removal: a
	// duration such as 730d or 8760h, or keep (the default).
	EnvDeletionsRetention = "EXACTSYNC_DELETIONS_RETENTION"

	// EnvProgressInterval is how often a run logs a "sync progress" line while it lasts:
	// a duration such as 10s (the default) or 1m, or off.
	EnvProgressInterval = "EXACTSYNC_PROGRESS_INTERVAL"

	// EnvMetricsDivisions says which divisions' metrics are served one by one: all, none,
	// or a number N, per division while there are at most N divisions (the default 100);
	// beyond, one series per entity.
	EnvMetricsDivisions = "EXACTSYNC_METRICS_DIVISIONS"
	// EnvListenToken is the bearer token that /metrics and the status page of --listen
	// require; unset, they are open (keep the port private).
	EnvListenToken = "EXACTSYNC_LISTEN_TOKEN"
	// EnvAlertURL is where `exactsync run` posts its notifications (a Slack or Teams
	// incoming webhook, or any receiver of JSON); unset, none are sent.
	EnvAlertURL = "EXACTSYNC_ALERT_URL"
)

// Values of Config.MetricsDivisions besides a number (metrics.AllDivisions and
// metrics.NoDivisions).
const (
	MetricsDivisionsAll  = math.MaxInt
	MetricsDivisionsNone = -1
)

// MinListenTokenLength is the shortest EXACTSYNC_LISTEN_TOKEN accepted.
const MinListenTokenLength = 16

// KeyNone, as EXACTSYNC_ENCRYPTION_KEY, stores secrets as plaintext: the explicit
// opt-out of their encryption.
const KeyNone = "none"

// KeyGenerated is Config.KeySource for the key exactsync generated into Config.KeyFile.
const KeyGenerated = "generated"

// ScheduleEnv is the variable holding an entity's incremental schedule,
// e.g. EXACTSYNC_SCHEDULE_ACCOUNTS.
func ScheduleEnv(entity string) string { return "EXACTSYNC_SCHEDULE_" + strings.ToUpper(entity) }

// FullScheduleEnv is the variable holding an entity's full-pass schedule,
// e.g. EXACTSYNC_FULL_SCHEDULE_ACCOUNTS.
func FullScheduleEnv(entity string) string {
	return "EXACTSYNC_FULL_SCHEDULE_" + strings.ToUpper(entity)
}

// Load reads the configuration through getenv (os.Getenv in production).
// The returned error is an *Error listing every problem, joined with "; " on one line.
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
		c.LogFormat = "auto"
	case "json", "console", "auto":
	default:
		bad(EnvLogFormat, "%q is not a format; use json, console or auto (console on a terminal, json elsewhere)", c.LogFormat)
	}

	switch v := strings.ToLower(strings.TrimSpace(getenv(EnvRaw))); v {
	case "", "on":
	case "off":
		c.OmitRaw = true
	case "extra":
		c.RawExtra = true
	default:
		bad(EnvRaw, "%q is not a choice; use on (store each record as received), extra (store what the typed columns do not hold) or off (store '{}')", v)
	}

	switch v := strings.TrimSpace(getenv(EnvProgressInterval)); v {
	case "":
	case "off":
		c.ProgressInterval = -1
	default:
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			bad(EnvProgressInterval, "%q is not a duration of 1s or more; use e.g. 10s or 1m, or off", v)
		} else {
			c.ProgressInterval = d
		}
	}

	switch v := strings.ToLower(strings.TrimSpace(getenv(EnvMetricsDivisions))); v {
	case "":
	case "all":
		c.MetricsDivisions = MetricsDivisionsAll
	case "none", "0":
		c.MetricsDivisions = MetricsDivisionsNone
	default:
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			bad(EnvMetricsDivisions, "%q is not a choice; use all, none, or a number of divisions up to which each has series of its own, e.g. 100 (the default)", v)
		} else {
			c.MetricsDivisions = n
		}
	}
	c.ListenToken = listenToken(getenv(EnvListenToken), bad)
	c.AlertURL = alertURL(getenv(EnvAlertURL), bad)

	c.Entities = entities(getenv, opts, bad)
	c.History = history(getenv(EnvHistory), c.Entities, opts, bad)
	c.DeletionsRetention = retention(getenv(EnvDeletionsRetention), bad)
	checkSchedule := func(env, spec string) string {
		spec = strings.TrimSpace(spec)
		if spec != "" && spec != "off" && opts.ParseSchedule != nil {
			if err := opts.ParseSchedule(spec); err != nil {
				bad(env, "%q is not a cron schedule (%v); use five fields such as \"*/15 * * * *\", or \"off\"", spec, err)
			}
		}
		if spec == "off" {
			return ""
		}
		return spec
	}
	for _, v := range []struct {
		env, perEntity, builtIn string
		defaults, out           map[string]string
	}{
		{EnvScheduleDefault, "", opts.DefaultSchedule, opts.DefaultSchedules, c.Schedules},
		{EnvFullScheduleDefault, "full", opts.DefaultFullSchedule, opts.DefaultFullSchedules, c.FullSchedules},
	} {
		def, defSet := lookup(getenv, v.env)
		def = checkSchedule(v.env, def)
		for _, e := range opts.Entities {
			env := ScheduleEnv(e)
			if v.perEntity == "full" {
				env = FullScheduleEnv(e)
			}
			spec, set := lookup(getenv, env)
			switch {
			case set:
				spec = checkSchedule(env, spec)
			case defSet:
				spec = def
			default:
				d, ok := v.defaults[e]
				if !ok {
					d = v.builtIn
				}
				spec = checkSchedule(env, d)
			}
			v.out[e] = spec
		}
	}
	if spec, set := lookup(getenv, EnvVerifySchedule); set {
		c.VerifySchedule = checkSchedule(EnvVerifySchedule, spec)
	} else {
		c.VerifySchedule = checkSchedule(EnvVerifySchedule, opts.DefaultVerifySchedule)
	}
	if c.TimeZone == "" {
		c.TimeZone = "Europe/Amsterdam"
	}

	c.WebhookSecret, c.WebhookURL, c.WebhookListen = webhooks(getenv, bad)
	c.WebhookLimits = webhookLimits(getenv, c.WebhookURL != "", bad)

	c.StateDir = stateDir(getenv)
	if c.StateDir != "" {
		c.KeyFile = filepath.Join(c.StateDir, seal.KeyFile)
	}
	c.Keyring, c.KeySource, c.Unencrypted = loadKeyring(getenv, opts.ReadFile, c.KeyFile, bad, func(w string) { c.Warnings = append(c.Warnings, w) })
	unknownVariables(opts.Environ, opts, bad)

	if len(errs) > 0 {
		return nil, &Error{Problems: errs}
	}
	return c, nil
}

// entities reads EXACTSYNC_ENTITIES: names separated by commas, or all. Unset, it is
// opts.DefaultEntities.
func entities(getenv func(string) string, opts Options, bad func(name, format string, args ...any)) []string {
	raw, set := lookup(getenv, EnvEntities)
	raw = strings.TrimSpace(raw)
	if !set || raw == "" {
		if opts.DefaultEntities == nil {
			return slices.Clone(opts.Entities)
		}
		return slices.Clone(opts.DefaultEntities)
	}
	if strings.EqualFold(raw, "all") {
		return slices.Clone(opts.Entities)
	}
	want := map[string]bool{}
	reported := false // a name was refused: that says it all
	for _, name := range strings.Split(raw, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		switch {
		case name == "":
		case slices.Contains(opts.Entities, name):
			want[name] = true
		case opts.Unsupported[name] != "":
			bad(EnvEntities, "%s cannot be synced: %s; leave it out", name, opts.Unsupported[name])
			reported = true
		default:
			bad(EnvEntities, "unknown entity %q; use all, or names from `exactsync entities` separated by commas", name)
			reported = true
		}
	}
	var out []string
	for _, e := range opts.Entities {
		if want[e] {
			out = append(out, e)
		}
	}
	if len(out) == 0 && !reported {
		bad(EnvEntities, "%q names no entity; use all, or names from `exactsync entities` separated by commas", raw)
	}
	return out
}

// loadKeyring reads the encryption keys: the configured key and the old ones, or else
// the key exactsync generated into keyFile, if there is one. It returns the keyring, where
// its current key came from (see Config.KeySource) and whether the operator opted out of
// encryption. Problems go to bad, warnings to warn; key material never appears in them.
func loadKeyring(getenv func(string) string, readFile func(string) ([]byte, error), keyFile string,
	bad func(name, format string, args ...any), warn func(string)) (kr *seal.Keyring, source string, none bool) {
	if readFile == nil {
		readFile = func(name string) ([]byte, error) {
			b, mode, err := readKeyFile(name)
			if err == nil && mode&0o044 != 0 && runtime.GOOS != "windows" {
				warn(fmt.Sprintf("%s: %q is readable by group or others (mode %04o); run chmod 600 %s so that only its owner can read the key",
					EnvEncryptionKeyFile, name, mode.Perm(), shellQuote(name)))
			}
			return b, err
		}
	}
	const howTo = "use 32 random bytes as base64 or 64 hex digits, e.g. from `openssl rand -base64 32`, or none to store secrets unencrypted"
	raw, file := getenv(EnvEncryptionKey), strings.TrimSpace(getenv(EnvEncryptionKeyFile))
	none = strings.EqualFold(strings.TrimSpace(raw), KeyNone)
	var current []byte
	switch {
	case strings.TrimSpace(raw) != "" && file != "":
		bad(EnvEncryptionKeyFile, "set together with %s; set only one of them", EnvEncryptionKey)
	case none:
		source = ""
	case strings.TrimSpace(raw) != "":
		k, err := seal.ParseKey(raw)
		if err != nil {
			bad(EnvEncryptionKey, "not a 32-byte key; %s", howTo)
		}
		current, source = k, EnvEncryptionKey
	case file != "":
		b, err := readFile(file)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err // the path is named already
			}
			bad(EnvEncryptionKeyFile, "cannot read %q: %v", file, err)
			break
		}
		k, err := seal.ParseKey(string(b))
		if err != nil {
			bad(EnvEncryptionKeyFile, "%q does not hold a 32-byte key; %s", file, howTo)
		}
		current, source = k, EnvEncryptionKeyFile
	case keyFile != "":
		b, mode, err := readKeyFile(keyFile)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// None generated yet: the first command with a secret to seal generates it.
		case err != nil:
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			bad(EnvStateDir, "cannot read the generated encryption key %q: %v; make it readable by this user, or set %s", keyFile, err, EnvEncryptionKey)
		default:
			k, err := seal.ParseKey(string(b))
			if err != nil {
				bad(EnvStateDir, "%q does not hold a 32-byte key; restore the key exactsync generated there, or set %s to the key that sealed the stored secrets", keyFile, EnvEncryptionKey)
				break
			}
			if mode&0o077 != 0 && runtime.GOOS != "windows" {
				warn(fmt.Sprintf("%s: the generated key %q is readable by others than its owner (mode %04o); run chmod 600 %s",
					EnvStateDir, keyFile, mode.Perm(), shellQuote(keyFile)))
			}
			current, source = k, KeyGenerated
		}
	}

	var old [][]byte
	if s := strings.TrimSpace(getenv(EnvEncryptionKeyOld)); s != "" {
		for i, part := range strings.Split(s, ",") {
			if strings.TrimSpace(part) == "" {
				continue
			}
			k, err := seal.ParseKey(part)
			if err != nil {
				bad(EnvEncryptionKeyOld, "entry %d is not a 32-byte key; %s", i+1, howTo)
				continue
			}
			old = append(old, k)
		}
		switch {
		case none:
			bad(EnvEncryptionKeyOld, "set while %s=%s; set %s (or %s) to the new key to rotate to it", EnvEncryptionKey, KeyNone, EnvEncryptionKey, EnvEncryptionKeyFile)
		case current == nil && strings.TrimSpace(raw) == "" && file == "" || source == KeyGenerated:
			bad(EnvEncryptionKeyOld, "set without a current key; set %s (or %s) to the new key", EnvEncryptionKey, EnvEncryptionKeyFile)
		}
	}
	if current == nil {
		return nil, "", none
	}
	kr, err := seal.NewKeyring(current, old...)
	if err != nil {
		bad(EnvEncryptionKey, "%v", err)
		return nil, "", none
	}
	return kr, source, none
}

// stateDir is EXACTSYNC_STATE_DIR, or the per-user state directory of the XDG base
// directory convention: $XDG_STATE_HOME/exactsync, else $HOME/.local/state/exactsync.
func stateDir(getenv func(string) string) string {
	if d := strings.TrimSpace(getenv(EnvStateDir)); d != "" {
		return d
	}
	if d := strings.TrimSpace(getenv("XDG_STATE_HOME")); filepath.IsAbs(d) {
		return filepath.Join(d, "exactsync")
	}
	if h := strings.TrimSpace(getenv("HOME")); filepath.IsAbs(h) {
		return filepath.Join(h, ".local", "state", "exactsync")
	}
	return ""
}

// shellQuote quotes a file name for a command to copy, when it needs quoting.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+=:,@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// readKeyFile reads a key file and returns its permission bits (0 when it is not a
// regular file), taken from the file it read.
func readKeyFile(name string) ([]byte, fs.FileMode, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	b, err := io.ReadAll(io.LimitReader(f, 64<<10)) // a key is 44 bytes; anything far larger is not one
	if !fi.Mode().IsRegular() {
		return b, 0, err // a pipe (<(…)) or a device: no one else reads it later
	}
	return b, fi.Mode().Perm(), err
}

// lookup returns a variable's value and whether it is set. getenv cannot tell an
// unset variable from an empty one, so an empty value counts as unset.
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
		if exact.IsLoopbackHost(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%q uses plain http; Exact Online needs https (plain http is allowed only for a local simulator on a loopback address)", raw)
	default:
		return fmt.Errorf("%q is not an http(s) URL; use https://start.exactonline.nl or your country's host", raw)
	}
}

// webhooks reads the webhook variables: the secret and the URL go together, the
// listen address needs them. The secret's value never appears in a problem.
func webhooks(getenv func(string) string, bad func(name, format string, args ...any)) (secret, callback, listen string) {
	secret = getenv(EnvWebhookSecret)
	callback = strings.TrimSpace(getenv(EnvWebhookURL))
	listen = strings.TrimSpace(getenv(EnvWebhookListen))
	switch {
	case strings.TrimSpace(secret) == "" && secret != "":
		bad(EnvWebhookSecret, "blank; set it to the webhook secret of your app in the Exact Online App Center")
	case secret != "" && callback == "":
		bad(EnvWebhookURL, "not set while %s is; set it to the public https address Exact calls, e.g. https://sync.example.com/exact/webhook", EnvWebhookSecret)
	case secret == "" && callback != "":
		bad(EnvWebhookSecret, "not set while %s is; set it to the webhook secret of your app in the Exact Online App Center, which signs every delivery", EnvWebhookURL)
	}
	if callback != "" {
		if err := CheckWebhookURL(callback); err != nil {
			bad(EnvWebhookURL, "%v", err)
		}
	}
	if listen != "" {
		if err := checkListen(listen); err != nil {
			bad(EnvWebhookListen, "%v", err)
		} else if callback == "" {
			bad(EnvWebhookListen, "set without %s; set both, or neither", EnvWebhookURL)
		}
	}
	return secret, callback, listen
}

// Bounds of the webhook listener's limits: a timeout beyond maxWebhookTimeout only
// lets slow clients hold connections longer.
const (
	minWebhookTimeout = time.Second
	maxWebhookTimeout = 10 * time.Minute
)

// webhookLimits reads the limits of the callback's listener: each a positive number or a
// duration from 1s to 10m, set only with the callback, and together within
// webhook.ServerConfig's rules (per client at most the cap of all, the headers within the
// whole request's time), the defaults counted for the ones unset.
func webhookLimits(getenv func(string) string, on bool, bad func(name, format string, args ...any)) WebhookLimits {
	var l WebhookLimits
	var set []string
	count := func(env string, dst *int) {
		v := strings.TrimSpace(getenv(env))
		if v == "" {
			return
		}
		set = append(set, env)
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			bad(env, "%q is not a number of connections; use a whole number of 1 or more, e.g. 128", v)
			return
		}
		*dst = n
	}
	duration := func(env string, dst *time.Duration) {
		v := strings.TrimSpace(getenv(env))
		if v == "" {
			return
		}
		set = append(set, env)
		d, err := time.ParseDuration(v)
		if err != nil || d < minWebhookTimeout || d > maxWebhookTimeout {
			bad(env, "%q is not a duration from %s to %s; use e.g. 10s", v, minWebhookTimeout, maxWebhookTimeout)
			return
		}
		*dst = d
	}
	count(EnvWebhookMaxConns, &l.MaxConns)
	count(EnvWebhookMaxConnsPerClient, &l.MaxConnsPerClient)
	duration(EnvWebhookHeaderTimeout, &l.HeaderTimeout)
	duration(EnvWebhookReadTimeout, &l.ReadTimeout)
	duration(EnvWebhookIdleTimeout, &l.IdleTimeout)
	if !on {
		for _, env := range set {
			bad(env, "set without %s; the limits apply only to the webhook callback: set both, or neither", EnvWebhookURL)
		}
		return WebhookLimits{}
	}
	err := webhook.ServerConfig{MaxConns: l.MaxConns, MaxConnsPerClient: l.MaxConnsPerClient,
		HeaderTimeout: l.HeaderTimeout, ReadTimeout: l.ReadTimeout, IdleTimeout: l.IdleTimeout}.Check()
	var errs interface{ Unwrap() []error }
	if errors.As(err, &errs) {
		for _, e := range errs.Unwrap() {
			var le *webhook.LimitError
			if !errors.As(e, &le) {
				continue
			}
			switch le.Field {
			case "MaxConnsPerClient":
				bad(EnvWebhookMaxConnsPerClient, "%s; lower it, or raise %s", le.Problem, EnvWebhookMaxConns)
			case "HeaderTimeout":
				bad(EnvWebhookHeaderTimeout, "%s; shorten it, or lengthen %s", le.Problem, EnvWebhookReadTimeout)
			}
		}
	}
	return l
}

// listenToken checks EXACTSYNC_LISTEN_TOKEN: empty, or at least MinListenTokenLength
// visible ASCII characters (it travels in an Authorization header). The problems never
// quote it.
func listenToken(v string, bad func(name, format string, args ...any)) string {
	if v == "" {
		return ""
	}
	for _, r := range v {
		if r <= ' ' || r > '~' {
			bad(EnvListenToken, "holds a space, a control or a non-ASCII character; use visible ASCII only, e.g. the output of openssl rand -hex 32")
			return ""
		}
	}
	if len(v) < MinListenTokenLength {
		bad(EnvListenToken, "too short (%d characters); use %d or more random characters, e.g. the output of openssl rand -hex 32", len(v), MinListenTokenLength)
		return ""
	}
	return v
}

// alertURL accepts an absolute http or https URL. Its value is never echoed: an incoming
// webhook's address is its secret.
func alertURL(v string, bad func(name, format string, args ...any)) string {
	v = strings.TrimSpace(v)
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		bad(EnvAlertURL, "is not an absolute http or https URL; set it to the address of the receiver, e.g. a Slack or Teams incoming webhook's https://hooks.… address")
		return ""
	}
	return v
}

// CheckWebhookURL accepts the public address of the webhook callback: an absolute https
// URL without user information or fragment (Exact calls only https, on the domain of the
// app's redirect URI, §3.14), or plain http on a loopback host (a local simulator).
func CheckWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("%q is not an absolute URL; use the public https address Exact calls, e.g. https://sync.example.com/exact/webhook", raw)
	}
	switch {
	case u.User != nil || u.Fragment != "":
		return fmt.Errorf("%q has user information or a fragment; use a plain https address, as Exact cannot authenticate its calls", raw)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && exact.IsLoopbackHost(u.Hostname()):
		return nil
	case u.Scheme == "http":
		return fmt.Errorf("%q uses plain http; Exact calls only https addresses (put a reverse proxy with a certificate in front; plain http is allowed only for a loopback simulator)", raw)
	default:
		return fmt.Errorf("%q is not an https URL; use the public https address Exact calls", raw)
	}
}

// checkListen accepts host:port with a numeric port (an empty host listens on every
// interface).
func checkListen(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port; use an address such as :8090 or 127.0.0.1:8090", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q has no valid port; use an address such as :8090 or 127.0.0.1:8090", addr)
	}
	return nil
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
