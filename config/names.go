package config

import (
	"regexp"
	"slices"
	"strings"

	"github.com/agnivade/levenshtein"
)

// Prefixes of exactsync's variables: a variable with one of them that exactsync does not
// read is reported, with the known name closest to it (a typo is otherwise ignored in
// silence).
var prefixes = []string{"EXACT_", "EXACTSYNC_"}

// testVariables are read by exactsync's tests and test builds, and may be set in a shell
// that runs exactsync too.
var testVariables = []string{"EXACTSYNC_FAILPOINT", "EXACTSYNC_FAULT", "EXACTSYNC_FAULT_SEED", "EXACTSYNC_FUZZTIME", "EXACTSYNC_SCREENSHOT_DIR"}

// serviceLink matches the variables Docker links and Kubernetes set for a service named
// exact or exactsync (EXACTSYNC_PORT, EXACTSYNC_SERVICE_HOST, EXACTSYNC_PORT_9464_TCP_ADDR,
// …): not exactsync's, and not a typo of one.
var serviceLink = regexp.MustCompile(`^EXACT(SYNC)?_(PORT|SERVICE_[A-Z0-9_]+|PORT_[0-9]+_(TCP|UDP|SCTP)(_[A-Z]+)?|NAME|ENV_[A-Z0-9_]+)$`)

// knownNames are the variables Load reads with opts, plus opts.Known and the test
// variables.
func knownNames(opts Options) []string {
	known := []string{
		EnvDatabaseURL, EnvBaseURL, EnvClientID, EnvClientSecret, EnvRedirectURL, EnvDivisions, EnvLogLevel, EnvLogFormat,
		EnvTimeZone, EnvEncryptionKey, EnvEncryptionKeyFile, EnvEncryptionKeyOld, EnvStateDir, EnvEntities,
		EnvScheduleDefault, EnvFullScheduleDefault, EnvWebhookSecret, EnvWebhookURL, EnvWebhookListen, EnvRaw,
		EnvProgressInterval, EnvWebhookMaxConns, EnvWebhookMaxConnsPerClient, EnvWebhookHeaderTimeout,
		EnvWebhookReadTimeout, EnvWebhookIdleTimeout, EnvMetricsDivisions, EnvListenToken, EnvAlertURL,
		EnvVerifySchedule, EnvHistory, EnvDeletionsRetention,
	}
	for _, e := range opts.Entities {
		known = append(known, ScheduleEnv(e), FullScheduleEnv(e))
	}
	known = append(known, opts.Known...)
	return append(known, testVariables...)
}

// unknownVariables reports each variable of environ ("NAME=value") with exactsync's
// prefix that it does not read, naming the closest known one. A schedule of an entity
// that cannot be synced says why.
func unknownVariables(environ []string, opts Options, bad func(name, format string, args ...any)) {
	known := knownNames(opts)
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(name, p) }) ||
			slices.Contains(known, name) || serviceLink.MatchString(name) {
			continue
		}
		for entity, why := range opts.Unsupported {
			if name == ScheduleEnv(entity) || name == FullScheduleEnv(entity) {
				bad(name, "%s cannot be synced: %s; unset it", entity, why)
				name = ""
				break
			}
		}
		if name == "" {
			continue
		}
		if near := closest(name, known); near != "" {
			bad(name, "not a variable exactsync reads; did you mean %s? (unset it if it is not exactsync's)", near)
		} else {
			bad(name, "not a variable exactsync reads (the README's Configuration lists them); unset it if it is not exactsync's")
		}
	}
}

// closest is the known name nearest to name by edit distance, when it is near enough to
// be what was meant: within a third of its length.
func closest(name string, known []string) string {
	best, dist := "", len(name)/3+1
	for _, k := range known {
		if d := levenshtein.ComputeDistance(name, k); d < dist {
			best, dist = k, d
		}
	}
	return best
}
