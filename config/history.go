package config

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// history reads EXACTSYNC_HISTORY: entity names separated by commas, or all, which is
// the entities synced (synced). An unknown name is reported with the closest entity.
func history(raw string, synced []string, opts Options, bad func(name, format string, args ...any)) []string {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil
	}
	if strings.EqualFold(raw, "all") {
		return slices.Clone(synced)
	}
	want := map[string]bool{}
	for _, name := range strings.Split(raw, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		switch {
		case name == "":
		case slices.Contains(opts.Entities, name):
			want[name] = true
		case opts.Unsupported[name] != "":
			bad(EnvHistory, "%s cannot be synced: %s; leave it out", name, opts.Unsupported[name])
		default:
			if near := closest(name, opts.Entities); near != "" {
				bad(EnvHistory, "unknown entity %q; did you mean %s? Use all, or names from `exactsync entities` separated by commas", name, near)
			} else {
				bad(EnvHistory, "unknown entity %q; use all, or names from `exactsync entities` separated by commas", name)
			}
		}
	}
	var out []string
	for _, e := range opts.Entities {
		if want[e] {
			out = append(out, e)
		}
	}
	return out
}

// retention reads EXACTSYNC_DELETIONS_RETENTION: keep (or unset, or 0), a number of
// days such as 730d, or a duration of 1h or more.
func retention(raw string, bad func(name, format string, args ...any)) time.Duration {
	v := strings.ToLower(strings.TrimSpace(raw))
	switch v {
	case "", "keep", "0":
		return 0
	}
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(v, "d"); ok {
		var n int
		n, err = strconv.Atoi(days)
		d = time.Duration(n) * 24 * time.Hour
		if n > 1<<20 {
			err = strconv.ErrRange
		}
	} else {
		d, err = time.ParseDuration(v)
	}
	if err != nil || d < time.Hour {
		bad(EnvDeletionsRetention, "%q is not a retention; use keep (the default), a number of days such as 730d, or a duration of 1h or more", raw)
		return 0
	}
	return d
}
