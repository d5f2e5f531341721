package config

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/sink/seal"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func parseFiveFields(spec string) error {
	if len(strings.Fields(spec)) != 5 {
		return errors.New("expected 5 fields")
	}
	return nil
}

var testOpts = Options{
	Entities:             []string{"accounts"},
	ParseSchedule:        parseFiveFields,
	DefaultSchedules:     map[string]string{"accounts": "*/15 * * * *"},
	DefaultFullSchedules: map[string]string{"accounts": "30 2 * * *"},
}

func TestLoadValid(t *testing.T) {
	got, err := Load(env(map[string]string{
		"DATABASE_URL":                      "postgres://u@db:5432/x",
		"EXACT_BASE_URL":                    "http://127.0.0.1:8080/",
		"EXACT_CLIENT_ID":                   "id",
		"EXACT_CLIENT_SECRET":               "secret",
		"EXACT_DIVISIONS":                   "101, 102",
		"LOG_LEVEL":                         "debug",
		"LOG_FORMAT":                        "console",
		"EXACTSYNC_FULL_SCHEDULE_ACCOUNTS":  "off",
		"EXACTSYNC_SCHEDULE_ACCOUNTS":       "*/5 * * * *",
		"EXACTSYNC_SCHEDULE_UNKNOWN_ENTITY": "junk",
		"EXACTSYNC_RAW":                     "Off",
	}), Needs{Database: true, Credentials: true}, testOpts)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := &Config{
		DatabaseURL: "postgres://u@db:5432/x", BaseURL: "http://127.0.0.1:8080",
		ClientID: "id", ClientSecret: "secret", Divisions: []int{101, 102},
		LogLevel: zerolog.DebugLevel, LogFormat: "console",
		Entities:      []string{"accounts"},
		Schedules:     map[string]string{"accounts": "*/5 * * * *"},
		FullSchedules: map[string]string{"accounts": ""},
		TimeZone:      "Europe/Amsterdam",
		OmitRaw:       true,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load mismatch (-want +got):\n%s", diff)
	}
}

func TestLoadDefaults(t *testing.T) {
	got, err := Load(env(nil), Needs{}, testOpts)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got.BaseURL != DefaultBaseURL {
		t.Errorf("BaseURL = %q, want %q", got.BaseURL, DefaultBaseURL)
	}
	if got.LogLevel != zerolog.InfoLevel || got.LogFormat != "auto" {
		t.Errorf("log = %v/%q, want info/auto", got.LogLevel, got.LogFormat)
	}
	if got.Schedules["accounts"] != "*/15 * * * *" || got.FullSchedules["accounts"] != "30 2 * * *" {
		t.Errorf("schedules = %v / %v, want the defaults", got.Schedules, got.FullSchedules)
	}
	if got.OmitRaw {
		t.Error("OmitRaw = true, want raw stored by default")
	}
}

// TestLoadReportsEveryProblem checks that all bad values are named at once.
func TestLoadReportsEveryProblem(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		needs Needs
		want  []string // variable names that must be reported
	}{
		{"missing credentials and database", nil, Needs{Database: true, Credentials: true},
			[]string{"DATABASE_URL", "EXACT_CLIENT_ID", "EXACT_CLIENT_SECRET"}},
		{"plain http to a remote host", map[string]string{"EXACT_BASE_URL": "http://start.exactonline.nl"}, Needs{},
			[]string{"EXACT_BASE_URL"}},
		{"everything wrong", map[string]string{
			"DATABASE_URL":                "mysql://x",
			"EXACT_BASE_URL":              "ftp://x",
			"EXACT_DIVISIONS":             "101,abc",
			"LOG_LEVEL":                   "loud",
			"LOG_FORMAT":                  "xml",
			"EXACTSYNC_SCHEDULE_ACCOUNTS": "every minute",
			"EXACTSYNC_RAW":               "no",
		}, Needs{},
			[]string{"DATABASE_URL", "EXACT_BASE_URL", "EXACT_DIVISIONS", "LOG_LEVEL", "LOG_FORMAT", "EXACTSYNC_SCHEDULE_ACCOUNTS", "EXACTSYNC_RAW"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(env(tt.env), tt.needs, testOpts)
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("Load error = %v, want *config.Error", err)
			}
			if got := len(cerr.Problems); got != len(tt.want) {
				t.Errorf("got %d problems (%v), want %d", got, err, len(tt.want))
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans several lines: %q", msg)
			}
			for _, name := range tt.want {
				if !strings.Contains(msg, name+":") {
					t.Errorf("error %q does not name %s", msg, name)
				}
			}
		})
	}
}

func TestSecretNotInErrors(t *testing.T) {
	_, err := Load(env(map[string]string{"EXACT_CLIENT_SECRET": "s3cr3t-value", "LOG_LEVEL": "bad"}), Needs{Credentials: true}, testOpts)
	if err == nil {
		t.Fatal("Load succeeded, want an error")
	}
	if strings.Contains(err.Error(), "s3cr3t-value") {
		t.Errorf("error leaks the client secret: %v", err)
	}
}

func TestLoadEncryptionKeys(t *testing.T) {
	key := strings.Repeat("ab", 32) // hex
	keyB64 := "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s="
	other := strings.Repeat("cd", 32)
	files := map[string]string{"/run/secrets/key": key + "\n", "/run/secrets/short": "abc"}
	readFile := func(name string) ([]byte, error) {
		if b, ok := files[name]; ok {
			return []byte(b), nil
		}
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	opts := testOpts
	opts.ReadFile = readFile
	tests := []struct {
		name      string
		env       map[string]string
		wantID    string   // current key id; "" = no keyring
		wantOpens []string // key ids (besides the current one) whose values open
		wantBad   []string // variables reported
		wantNone  bool     // the explicit opt-out
	}{
		{name: "none", env: nil},
		{name: "hex", env: map[string]string{"EXACTSYNC_ENCRYPTION_KEY": key}, wantID: keyID(t, key)},
		{name: "base64", env: map[string]string{"EXACTSYNC_ENCRYPTION_KEY": keyB64}, wantID: keyID(t, key)},
		{name: "file", env: map[string]string{"EXACTSYNC_ENCRYPTION_KEY_FILE": "/run/secrets/key"}, wantID: keyID(t, key)},
		{name: "with old keys", env: map[string]string{"EXACTSYNC_ENCRYPTION_KEY": other, "EXACTSYNC_ENCRYPTION_KEY_OLD": key + ", " + keyB64},
			wantID: keyID(t, other), wantOpens: []string{keyID(t, key)}},
		{name: "short key", env: map[string]string{"EXACTSYNC_ENCRYPTION_KEY": "c2VjcmV0LWtleQ=="},
			wantBad: []string{"EXACTSYNC_ENCRYPTION_KEY"}},
		{name: "key and file", env: map[string]string{"EXACTSYNC_ENCRYPTION_KEY": key, "EXACTSYNC_ENCRYPTION_KEY_FILE": "/run/secrets/key"},
			wantBad: []string{"EXACTSYNC_ENCRYPTION_KEY_FILE"}},
		{name: "missing file", env: map[string]string{"EXACTSYNC_ENCRYPTION_KEY_FILE": "/nope"},
			wantBad: []string{"EXACTSYNC_ENCRYPTION_KEY_FILE"}},
		{name: "file with a short key", env: map[string]string{"EXACTSYNC_ENCRYPTION_KEY_FILE": "/run/secrets/short"},
			wantBad: []string{"EXACTSYNC_ENCRYPTION_KEY_FILE"}},
		{name: "old without current", env: map[string]string{"EXACTSYNC_ENCRYPTION_KEY_OLD": key},
			wantBad: []string{"EXACTSYNC_ENCRYPTION_KEY_OLD"}},
		{name: "bad old key and other problems", env: map[string]string{"EXACTSYNC_ENCRYPTION_KEY": key, "EXACTSYNC_ENCRYPTION_KEY_OLD": "zz-not-a-key", "LOG_LEVEL": "loud"},
			wantBad: []string{"EXACTSYNC_ENCRYPTION_KEY_OLD", "LOG_LEVEL"}},
		{name: "opt-out", env: map[string]string{"EXACTSYNC_ENCRYPTION_KEY": "none"}, wantNone: true},
		{name: "opt-out in capitals", env: map[string]string{"EXACTSYNC_ENCRYPTION_KEY": " NONE "}, wantNone: true},
		{name: "opt-out and file", env: map[string]string{"EXACTSYNC_ENCRYPTION_KEY": "none", "EXACTSYNC_ENCRYPTION_KEY_FILE": "/run/secrets/key"},
			wantBad: []string{"EXACTSYNC_ENCRYPTION_KEY_FILE"}},
		{name: "opt-out and old keys", env: map[string]string{"EXACTSYNC_ENCRYPTION_KEY": "none", "EXACTSYNC_ENCRYPTION_KEY_OLD": key},
			wantBad: []string{"EXACTSYNC_ENCRYPTION_KEY_OLD"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Load(env(tt.env), Needs{}, opts)
			if len(tt.wantBad) > 0 {
				var cerr *Error
				if !errors.As(err, &cerr) {
					t.Fatalf("Load error = %v, want *config.Error", err)
				}
				if len(cerr.Problems) != len(tt.wantBad) {
					t.Errorf("got %d problems (%v), want %d", len(cerr.Problems), err, len(tt.wantBad))
				}
				for _, name := range tt.wantBad {
					if !strings.Contains(err.Error(), name+":") {
						t.Errorf("error %q does not name %s", err, name)
					}
				}
				for _, v := range []string{tt.env["EXACTSYNC_ENCRYPTION_KEY"], tt.env["EXACTSYNC_ENCRYPTION_KEY_OLD"]} {
					for _, part := range strings.Split(v, ",") {
						if p := strings.TrimSpace(part); len(p) >= 16 && strings.Contains(err.Error(), p) {
							t.Errorf("error %q prints a key", err)
						}
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got, want := got.Keyring.CurrentID(), tt.wantID; got != want {
				t.Errorf("current key id = %q, want %q", got, want)
			}
			if got.Unencrypted != tt.wantNone {
				t.Errorf("Unencrypted = %t, want %t", got.Unencrypted, tt.wantNone)
			}
			for _, id := range tt.wantOpens {
				old := mustKeyring(t, strings.Repeat("ab", 32))
				if old.CurrentID() != id {
					t.Fatalf("test setup: old key id %s, want %s", old.CurrentID(), id)
				}
				sealed, _ := old.Seal("v", "ctx")
				if v, err := got.Keyring.Open(sealed, "ctx"); err != nil || v != "v" {
					t.Errorf("a value sealed with old key %s: Open = %q, %v; want v", id, v, err)
				}
			}
		})
	}
}

func keyID(t *testing.T, hexKey string) string { return mustKeyring(t, hexKey).CurrentID() }

func mustKeyring(t *testing.T, hexKey string) *seal.Keyring {
	t.Helper()
	k, err := seal.ParseKey(hexKey)
	if err != nil {
		t.Fatal(err)
	}
	kr, err := seal.NewKeyring(k)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// A key file others can read gives one warning naming the file, its mode and the fix;
// the key is still used.
func TestKeyFileReadableByOthersWarns(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permission bits")
	}
	key := strings.Repeat("ab", 32)
	tests := []struct {
		name string
		mode fs.FileMode
		want []string
	}{
		{"owner only", 0o600, nil},
		{"owner read-only", 0o400, nil},
		{"group readable", 0o640, []string{`EXACTSYNC_ENCRYPTION_KEY_FILE: "PATH" is readable by group or others (mode 0640); run chmod 600 PATH so that only its owner can read the key`}},
		{"world readable", 0o644, []string{`EXACTSYNC_ENCRYPTION_KEY_FILE: "PATH" is readable by group or others (mode 0644); run chmod 600 PATH so that only its owner can read the key`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "key")
			if err := os.WriteFile(file, []byte(key+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(file, tt.mode); err != nil { // not subject to the umask
				t.Fatal(err)
			}
			cfg, err := Load(env(map[string]string{"EXACTSYNC_ENCRYPTION_KEY_FILE": file}), Needs{}, testOpts)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if cfg.Keyring == nil || cfg.Keyring.CurrentID() != keyID(t, key) {
				t.Errorf("the key in the file is not the current key")
			}
			var want []string
			for _, w := range tt.want {
				want = append(want, strings.ReplaceAll(w, "PATH", file))
			}
			if diff := cmp.Diff(want, cfg.Warnings); diff != "" {
				t.Errorf("Warnings (-want +got):\n%s", diff)
			}
		})
	}
}

// Without a key configured, the key exactsync generated into the state directory is the
// current one; a key configured, or the opt-out, wins over it.
func TestGeneratedKeyFile(t *testing.T) {
	key := strings.Repeat("cd", 32)
	tests := []struct {
		name       string
		file       string // the generated key file's content; "" for no file
		mode       fs.FileMode
		env        map[string]string
		wantID     string
		wantSource string
		wantBad    string
		wantWarn   bool
	}{
		{name: "not generated yet"},
		{name: "generated", file: key + "\n", mode: 0o600, wantID: keyID(t, key), wantSource: KeyGenerated},
		{name: "readable by others", file: key, mode: 0o644, wantID: keyID(t, key), wantSource: KeyGenerated, wantWarn: true},
		{name: "damaged", file: "not a key", mode: 0o600, wantBad: "EXACTSYNC_STATE_DIR"},
		{name: "configured key wins", file: key, mode: 0o600, env: map[string]string{"EXACTSYNC_ENCRYPTION_KEY": strings.Repeat("ef", 32)},
			wantID: keyID(t, strings.Repeat("ef", 32)), wantSource: EnvEncryptionKey},
		{name: "opt-out wins", file: key, mode: 0o600, env: map[string]string{"EXACTSYNC_ENCRYPTION_KEY": "none"}},
		{name: "old keys need a configured key", file: key, mode: 0o600, env: map[string]string{"EXACTSYNC_ENCRYPTION_KEY_OLD": strings.Repeat("ef", 32)},
			wantBad: "EXACTSYNC_ENCRYPTION_KEY_OLD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, seal.KeyFile)
			if tt.file != "" {
				if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tt.mode); err != nil {
					t.Fatal(err)
				}
			}
			e := map[string]string{"EXACTSYNC_STATE_DIR": dir}
			maps.Copy(e, tt.env)
			cfg, err := Load(env(e), Needs{}, testOpts)
			if tt.wantBad != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantBad+":") || strings.Contains(err.Error(), key) {
					t.Errorf("Load: %v; want a problem of %s that shows no key", err, tt.wantBad)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if cfg.KeyFile != path {
				t.Errorf("KeyFile %q, want %q", cfg.KeyFile, path)
			}
			if got := cfg.Keyring.CurrentID(); got != tt.wantID || cfg.KeySource != tt.wantSource {
				t.Errorf("key %q from %q, want %q from %q", got, cfg.KeySource, tt.wantID, tt.wantSource)
			}
			if warned := len(cfg.Warnings) > 0; warned != tt.wantWarn || warned && !strings.Contains(cfg.Warnings[0], "chmod 600 "+path) {
				t.Errorf("warnings %q, want a warning: %t", cfg.Warnings, tt.wantWarn)
			}
		})
	}
}

func TestEntitiesAndDefaultSchedules(t *testing.T) {
	opts := Options{
		Entities:             []string{"accounts", "gl_accounts", "suppliers", "transaction_lines"},
		DefaultEntities:      []string{"accounts", "suppliers"},
		Unsupported:          map[string]string{"quotations": "deprecated by Exact"},
		ParseSchedule:        parseFiveFields,
		DefaultSchedule:      "*/15 * * * *",
		DefaultFullSchedule:  "off",
		DefaultSchedules:     map[string]string{"accounts": "*/10 * * * *"},
		DefaultFullSchedules: map[string]string{"accounts": "30 2 * * *"},
	}
	tests := []struct {
		name      string
		env       map[string]string
		entities  []string
		schedules map[string]string
		full      map[string]string
		wantErr   []string
		notErr    string // not in the error
	}{
		{
			name:      "defaults",
			entities:  []string{"accounts", "suppliers"},
			schedules: map[string]string{"accounts": "*/10 * * * *", "gl_accounts": "*/15 * * * *", "suppliers": "*/15 * * * *", "transaction_lines": "*/15 * * * *"},
			full:      map[string]string{"accounts": "30 2 * * *", "gl_accounts": "", "suppliers": "", "transaction_lines": ""},
		},
		{
			name: "all, a default schedule and one of its own",
			env: map[string]string{"EXACTSYNC_ENTITIES": "all", "EXACTSYNC_SCHEDULE_DEFAULT": "0 * * * *",
				"EXACTSYNC_SCHEDULE_TRANSACTION_LINES": "*/5 * * * *", "EXACTSYNC_FULL_SCHEDULE_DEFAULT": "0 3 * * 0"},
			entities:  []string{"accounts", "gl_accounts", "suppliers", "transaction_lines"},
			schedules: map[string]string{"accounts": "0 * * * *", "gl_accounts": "0 * * * *", "suppliers": "0 * * * *", "transaction_lines": "*/5 * * * *"},
			full:      map[string]string{"accounts": "0 3 * * 0", "gl_accounts": "0 3 * * 0", "suppliers": "0 3 * * 0", "transaction_lines": "0 3 * * 0"},
		},
		{
			name:     "a list, in catalogue order",
			env:      map[string]string{"EXACTSYNC_ENTITIES": " Transaction_Lines, accounts ,"},
			entities: []string{"accounts", "transaction_lines"},
		},
		{
			name:    "unknown and unsupported names",
			env:     map[string]string{"EXACTSYNC_ENTITIES": "accounts,invoices,quotations", "EXACTSYNC_SCHEDULE_DEFAULT": "often"},
			wantErr: []string{`EXACTSYNC_ENTITIES: unknown entity "invoices"`, "EXACTSYNC_ENTITIES: quotations cannot be synced: deprecated by Exact", "EXACTSYNC_SCHEDULE_DEFAULT: \"often\" is not a cron schedule"},
		},
		{
			name:    "no entity",
			env:     map[string]string{"EXACTSYNC_ENTITIES": ","},
			wantErr: []string{"EXACTSYNC_ENTITIES: \",\" names no entity"},
		},
		{
			name:    "only an unknown name: said once",
			env:     map[string]string{"EXACTSYNC_ENTITIES": "nope"},
			wantErr: []string{`EXACTSYNC_ENTITIES: unknown entity "nope"`},
			notErr:  "names no entity",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Load(env(tt.env), Needs{}, opts)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("Load succeeded, want errors %q", tt.wantErr)
				}
				if tt.notErr != "" && strings.Contains(err.Error(), tt.notErr) {
					t.Errorf("error %q says %q as well", err, tt.notErr)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if diff := cmp.Diff(tt.entities, got.Entities); diff != "" {
				t.Errorf("entities (-want +got):\n%s", diff)
			}
			if tt.schedules != nil {
				if diff := cmp.Diff(tt.schedules, got.Schedules); diff != "" {
					t.Errorf("schedules (-want +got):\n%s", diff)
				}
			}
			if tt.full != nil {
				if diff := cmp.Diff(tt.full, got.FullSchedules); diff != "" {
					t.Errorf("full schedules (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestLoadRawModes: EXACTSYNC_RAW chooses between the record as received (on, the
// default), what the typed columns do not hold (extra) and '{}' (off).
func TestLoadRawModes(t *testing.T) {
	for _, tt := range []struct {
		value             string
		omit, extra, fail bool
	}{
		{value: ""}, {value: "on"}, {value: " Extra ", extra: true}, {value: "off", omit: true}, {value: "some", fail: true},
	} {
		got, err := Load(env(map[string]string{"EXACTSYNC_RAW": tt.value}), Needs{}, testOpts)
		if (err != nil) != tt.fail {
			t.Errorf("EXACTSYNC_RAW=%q: error %v, want an error: %t", tt.value, err, tt.fail)
			continue
		}
		if err == nil && (got.OmitRaw != tt.omit || got.RawExtra != tt.extra) {
			t.Errorf("EXACTSYNC_RAW=%q: OmitRaw %t, RawExtra %t; want %t, %t", tt.value, got.OmitRaw, got.RawExtra, tt.omit, tt.extra)
		}
	}
}
