package main

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/exact/catalogue"
)

type dbtSourcesCmd struct {
	Entities []string `sep:"," help:"The entities to describe, by table name, comma separated, or all (default: the enabled ones, EXACTSYNC_ENTITIES)."`
}

// Run prints a dbt sources.yml (properties version 2) for the enabled tables of schema
// exact, read by nothing but the catalogue and the configuration: no database is needed.
func (c *dbtSourcesCmd) Run(e *env) error {
	cfg, err := loadConfig(e, config.Needs{})
	if err != nil {
		return err
	}
	loc, err := time.LoadLocation(cfg.TimeZone)
	if err != nil {
		return usageError{fmt.Errorf("%s: %q is not a time zone; use a name such as Europe/Amsterdam", config.EnvTimeZone, cfg.TimeZone)}
	}
	names := cfg.Entities
	if len(c.Entities) > 0 {
		if names, err = pickEntities(c.Entities); err != nil {
			return usageError{err}
		}
	}
	out, err := dbtSources(names, cfg.Schedules, loc)
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(out)
	return err
}

// pickEntities reads --entities: table names of the catalogue, or all.
func pickEntities(args []string) ([]string, error) {
	opts := configOptions()
	if len(args) == 1 && strings.EqualFold(strings.TrimSpace(args[0]), "all") {
		return opts.Entities, nil
	}
	var out []string
	for _, a := range args {
		a = strings.ToLower(strings.TrimSpace(a))
		switch {
		case a == "":
		case opts.Unsupported[a] != "":
			return nil, fmt.Errorf("--entities: %s has no table: %s", a, opts.Unsupported[a])
		case !slices.Contains(opts.Entities, a):
			return nil, fmt.Errorf("--entities: unknown entity %q; use all, or table names from `exactsync entities` separated by commas", a)
		case !slices.Contains(out, a):
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--entities names no entity; use all, or table names from `exactsync entities` separated by commas")
	}
	return out, nil
}

// The shape of dbt's properties file for sources, as dbt 1.10.8 and later read it:
// freshness, loaded_at_field and meta under config, data_tests with their arguments under
// arguments.
type (
	dbtFile struct {
		Version int         `yaml:"version"`
		Sources []dbtSource `yaml:"sources"`
	}
	dbtSource struct {
		Name        string          `yaml:"name"`
		Description string          `yaml:"description"`
		Schema      string          `yaml:"schema"`
		Loader      string          `yaml:"loader"`
		Config      dbtSourceConfig `yaml:"config"`
		Tables      []dbtTable      `yaml:"tables"`
	}
	dbtSourceConfig struct {
		LoadedAtField string `yaml:"loaded_at_field"`
	}
	dbtTable struct {
		Name        string         `yaml:"name"`
		Description string         `yaml:"description"`
		Config      dbtTableConfig `yaml:"config"`
		Columns     []dbtColumn    `yaml:"columns"`
		DataTests   []any          `yaml:"data_tests"`
	}
	dbtTableConfig struct {
		// Freshness is null for an entity without an incremental schedule.
		Freshness *dbtFreshness `yaml:"freshness"`
		Meta      dbtMeta       `yaml:"meta"`
	}
	dbtFreshness struct {
		WarnAfter  dbtAfter `yaml:"warn_after,flow"`
		ErrorAfter dbtAfter `yaml:"error_after,flow"`
	}
	dbtAfter struct {
		Count  int    `yaml:"count"`
		Period string `yaml:"period"`
	}
	dbtMeta struct {
		PrimaryKey []string `yaml:"primary_key,flow"`
		Endpoint   string   `yaml:"exact_endpoint"`
		Read       string   `yaml:"read"`
		Schedule   string   `yaml:"schedule"`
	}
	dbtColumn struct {
		Name        string `yaml:"name"`
		Description string `yaml:"description"`
		DataType    string `yaml:"data_type"`
		DataTests   []any  `yaml:"data_tests,omitempty"`
	}
)

// Freshness: a table warns after this many intervals of its incremental schedule without
// a row inserted or changed, and errs after errorIntervals.
const (
	warnIntervals  = 3
	errorIntervals = 12
)

// dbtSources writes the sources.yml of the entities names, in the catalogue's order, with
// freshness thresholds from their incremental schedules (in loc).
func dbtSources(names []string, schedules map[string]string, loc *time.Location) ([]byte, error) {
	src := dbtSource{
		Name: "exact",
		Description: "Exact Online's records, kept by exactsync: one table per entity, live records only (a record deleted in Exact is deleted here), " +
			"each row with its division. A reader role (exactsync readers add) sees the rows of its divisions only; exact_status says how each entity's runs went.",
		Schema: "exact",
		Loader: "exactsync",
		Config: dbtSourceConfig{LoadedAtField: "synced_at"},
	}
	for _, ent := range catalogue.All() {
		if ent.Deprecated || !slices.Contains(names, ent.Name) {
			continue
		}
		t, err := dbtTableOf(ent, schedules[ent.Name], loc)
		if err != nil {
			return nil, err
		}
		src.Tables = append(src.Tables, t)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# dbt sources of the Exact Online tables exactsync keeps (exactsync dbt-sources).\n"+
		"# Freshness: a warning after %d intervals of a table's incremental schedule without a row inserted or changed, an error after %d;\n"+
		"# synced_at moves only when a row changes, so a quiet table looks stale: exact_status.entities.lag is each entity's real lag.\n",
		warnIntervals, errorIntervals)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(dbtFile{Version: 2, Sources: []dbtSource{src}}); err != nil {
		return nil, fmt.Errorf("writing sources.yml: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("writing sources.yml: %w", err)
	}
	return b.Bytes(), nil
}

// dbtTableOf describes one entity's table.
func dbtTableOf(ent catalogue.Entity, schedule string, loc *time.Location) (dbtTable, error) {
	keyDesc := "the primary key (division, " + ent.KeyColumn + ")"
	t := dbtTable{
		Name: ent.Name,
		Description: fmt.Sprintf("%s Exact Online endpoint %s; %s.",
			strings.TrimSpace(ent.Description), ent.Path, keyDesc),
		Config: dbtTableConfig{Meta: dbtMeta{PrimaryKey: []string{"division", ent.KeyColumn}, Endpoint: ent.Path, Read: ent.Read, Schedule: orOff(schedule)}},
		// The primary key is two columns: dbt's unique test takes the expression.
		DataTests: []any{map[string]any{"unique": map[string]any{"arguments": map[string]string{
			"column_name": "division || '|' || " + ent.KeyColumn,
		}}}},
	}
	if schedule != "" {
		every, err := scheduleInterval(schedule, loc)
		if err != nil {
			return dbtTable{}, fmt.Errorf("the schedule of %s: %w", ent.Name, err)
		}
		t.Config.Freshness = &dbtFreshness{WarnAfter: after(warnIntervals * every), ErrorAfter: after(errorIntervals * every)}
	}
	notNull := []any{"not_null"}
	t.Columns = append(t.Columns, dbtColumn{Name: "division", DataType: "integer", DataTests: notNull,
		Description: "The Exact Online division (administration) the record belongs to, by its code; part of " + keyDesc + "."})
	for _, col := range ent.Columns {
		c := dbtColumn{Name: col.Name, DataType: col.SQL, Description: columnDescription(col)}
		if col.Name == ent.KeyColumn {
			c.Description += "; with division, the primary key"
			c.DataTests = notNull
		}
		c.Description += "."
		t.Columns = append(t.Columns, c)
	}
	stamp := "Exact's Timestamp, the record's row version: an older version never replaces a newer one."
	if ent.Read != catalogue.ReadSync {
		stamp = "The record's row version: its Modified time in milliseconds since 1970 UTC (0 without one); an older version never replaces a newer one."
	}
	t.Columns = append(t.Columns,
		dbtColumn{Name: "exact_timestamp", DataType: "bigint", Description: stamp},
		dbtColumn{Name: "raw", DataType: "jsonb", Description: "The record as Exact Online sent it, without __metadata, navigation collections included; with EXACTSYNC_RAW=extra only what the typed columns do not give back (exact.received(t) rebuilds the record); {} with EXACTSYNC_RAW=off."},
		dbtColumn{Name: "synced_at", DataType: "timestamptz", Description: "When exactsync last inserted or changed the row, on the database's clock (the loaded_at_field of freshness); not indexed, so that updates stay HOT: exact_status.changes lists what changed."},
	)
	return t, nil
}

// columnDescription describes a column by the Exact field it holds.
func columnDescription(col catalogue.Column) string {
	d := fmt.Sprintf("Exact Online's %s (%s)", col.Field, col.Type)
	switch col.Type {
	case catalogue.EdmDouble, catalogue.EdmDecimal:
		d += ", holding exactly the digits Exact sent"
	case catalogue.EdmDateTime:
		d += ", converted from Amsterdam time to an instant"
	}
	if col.Trim {
		d += ", its padding trimmed"
	}
	return d
}

// scheduleInterval is the longest time between two runs of a cron schedule, over ten
// weeks of winter (no daylight-saving change) in loc.
func scheduleInterval(spec string, loc *time.Location) (time.Duration, error) {
	s, err := cronParser.Parse(spec)
	if err != nil {
		return 0, err
	}
	from := time.Date(2026, time.January, 5, 0, 0, 0, 0, loc)
	until := from.AddDate(0, 0, 70)
	var longest time.Duration
	prev := s.Next(from)
	for i := 0; i < 20000 && !prev.IsZero() && prev.Before(until); i++ {
		next := s.Next(prev)
		if next.IsZero() {
			break
		}
		longest = max(longest, next.Sub(prev))
		prev = next
	}
	if longest == 0 {
		return 0, fmt.Errorf("%q does not run twice in ten weeks", spec)
	}
	return longest, nil
}

// after writes a duration in dbt's terms: whole days or hours when it is one, else
// minutes, rounded up.
func after(d time.Duration) dbtAfter {
	switch {
	case d%(24*time.Hour) == 0:
		return dbtAfter{Count: int(d / (24 * time.Hour)), Period: "day"}
	case d%time.Hour == 0:
		return dbtAfter{Count: int(d / time.Hour), Period: "hour"}
	}
	return dbtAfter{Count: int((d + time.Minute - 1) / time.Minute), Period: "minute"}
}
