package main

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"go.yaml.in/yaml/v3"

	"github.com/exactsync/exactsync/exact/catalogue"
	"github.com/exactsync/exactsync/sink/sinktest"
)

// dbtTest is what the tests read of a data test: its name and its column_name argument.
type dbtTest struct {
	Name, ColumnName string
}

func (d *dbtTest) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		d.Name = n.Value
		return nil
	}
	var m map[string]struct {
		Arguments struct {
			ColumnName string `yaml:"column_name"`
		} `yaml:"arguments"`
	}
	if err := n.Decode(&m); err != nil {
		return err
	}
	for k, v := range m {
		d.Name, d.ColumnName = k, v.Arguments.ColumnName
	}
	return nil
}

// parsedSources is a sources.yml as dbt reads the parts the tests check.
type parsedSources struct {
	Version int `yaml:"version"`
	Sources []struct {
		Name   string `yaml:"name"`
		Schema string `yaml:"schema"`
		Config struct {
			LoadedAtField string `yaml:"loaded_at_field"`
		} `yaml:"config"`
		Tables []parsedTable `yaml:"tables"`
	} `yaml:"sources"`
}

type parsedTable struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	Config      struct {
		Freshness *struct {
			WarnAfter  dbtAfter `yaml:"warn_after"`
			ErrorAfter dbtAfter `yaml:"error_after"`
		} `yaml:"freshness"`
		Meta struct {
			PrimaryKey []string `yaml:"primary_key"`
		} `yaml:"meta"`
	} `yaml:"config"`
	Columns []struct {
		Name        string    `yaml:"name"`
		Description string    `yaml:"description"`
		DataType    string    `yaml:"data_type"`
		DataTests   []dbtTest `yaml:"data_tests"`
	} `yaml:"columns"`
	DataTests []dbtTest `yaml:"data_tests"`
}

func parseSources(t *testing.T, b []byte) parsedSources {
	t.Helper()
	var p parsedSources
	if err := yaml.Unmarshal(b, &p); err != nil {
		t.Fatalf("sources.yml does not parse: %v\n%s", err, b)
	}
	if p.Version != 2 || len(p.Sources) != 1 || p.Sources[0].Name != "exact" || p.Sources[0].Schema != "exact" ||
		p.Sources[0].Config.LoadedAtField != "synced_at" {
		t.Fatalf("sources.yml: version %d, %d sources; want version 2 and source exact on schema exact with loaded_at_field synced_at", p.Version, len(p.Sources))
	}
	return p
}

// dbColumns reads the columns (name → type) and primary key of every table of schema
// exact.
func dbColumns(t *testing.T, url string) (map[string]map[string]string, map[string][]string) {
	t.Helper()
	ctx := context.Background()
	pool := sinktest.NewPool(t, url)
	rows, err := pool.Query(ctx, `
		SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
		FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'exact' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped`)
	if err != nil {
		t.Fatal(err)
	}
	cols := map[string]map[string]string{}
	var table, col, typ string
	if _, err := pgx.ForEachRow(rows, []any{&table, &col, &typ}, func() error {
		if cols[table] == nil {
			cols[table] = map[string]string{}
		}
		cols[table][col] = typ
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	rows, err = pool.Query(ctx, `
		SELECT c.relname, string_agg(a.attname, ',' ORDER BY k.n)
		FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace ns ON ns.oid = c.relnamespace
		CROSS JOIN unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
		WHERE ns.nspname = 'exact' AND i.indisprimary GROUP BY c.relname`)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string][]string{}
	var key string
	if _, err := pgx.ForEachRow(rows, []any{&table, &key}, func() error {
		keys[table] = strings.Split(key, ",")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return cols, keys
}

// sqlTypeNames are format_type's names of the data types the YAML gives.
var sqlTypeNames = map[string]string{
	"uuid": "uuid", "text": "text", "integer": "integer", "bigint": "bigint", "numeric": "numeric",
	"boolean": "boolean", "timestamptz": "timestamp with time zone", "bytea": "bytea", "jsonb": "jsonb",
}

// disagreements lists where the YAML and the tables the migrations made (from the
// catalogue) disagree: a table missing or extra, a column missing, extra or of another
// type, a primary key other than the table's, a key column without its not_null test.
func disagreements(p parsedSources, want []string, cols map[string]map[string]string, keys map[string][]string) []string {
	var out []string
	seen := map[string]bool{}
	for _, tb := range p.Sources[0].Tables {
		seen[tb.Name] = true
		dbCols, ok := cols[tb.Name]
		if !ok || !slices.Contains(want, tb.Name) {
			out = append(out, fmt.Sprintf("%s: in the YAML, not among the tables wanted", tb.Name))
			continue
		}
		got := map[string]string{}
		notNull := map[string]bool{}
		for _, c := range tb.Columns {
			got[c.Name] = sqlTypeNames[c.DataType]
			if c.Description == "" {
				out = append(out, fmt.Sprintf("%s.%s: no description", tb.Name, c.Name))
			}
			for _, dt := range c.DataTests {
				notNull[c.Name] = notNull[c.Name] || dt.Name == "not_null"
			}
		}
		if diff := cmp.Diff(dbCols, got); diff != "" {
			out = append(out, fmt.Sprintf("%s: columns (-table +YAML):\n%s", tb.Name, diff))
		}
		if !slices.Equal(tb.Config.Meta.PrimaryKey, keys[tb.Name]) {
			out = append(out, fmt.Sprintf("%s: primary key %v in the YAML, %v in the table", tb.Name, tb.Config.Meta.PrimaryKey, keys[tb.Name]))
		}
		for _, k := range keys[tb.Name] {
			if !notNull[k] {
				out = append(out, fmt.Sprintf("%s.%s: a primary key column without its not_null test", tb.Name, k))
			}
		}
		wantUnique := strings.Join(keys[tb.Name], " || '|' || ")
		if !slices.Contains(tb.DataTests, dbtTest{Name: "unique", ColumnName: wantUnique}) {
			out = append(out, fmt.Sprintf("%s: data tests %v, want unique on %s", tb.Name, tb.DataTests, wantUnique))
		}
		if tb.Description == "" {
			out = append(out, fmt.Sprintf("%s: no description", tb.Name))
		}
	}
	for _, w := range want {
		if !seen[w] {
			out = append(out, fmt.Sprintf("%s: wanted, not in the YAML", w))
		}
	}
	return out
}

// TestDbtSourcesAgreeWithTheTables: the sources.yml of every entity parses and names
// every table the migrations made from the catalogue, with its columns, their types and
// its primary key; and the check fails when the two disagree.
func TestDbtSourcesAgreeWithTheTables(t *testing.T) {
	t.Parallel()
	url := sinktest.NewMigratedDatabase(t)
	cols, keys := dbColumns(t, url)
	var all []string
	for _, e := range catalogue.All() {
		if !e.Deprecated {
			all = append(all, e.Name)
		}
	}
	if len(all) != len(cols) {
		t.Fatalf("the catalogue has %d tables, schema exact %d", len(all), len(cols))
	}
	schedules := map[string]string{}
	for _, n := range all {
		schedules[n] = "*/15 * * * *"
	}
	b, err := dbtSources(all, schedules, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	p := parseSources(t, b)
	if d := disagreements(p, all, cols, keys); len(d) > 0 {
		t.Errorf("the YAML and the tables disagree:\n%s", strings.Join(d, "\n"))
	}

	// The check fails on each kind of disagreement.
	tests := []struct {
		name   string
		change func(p *parsedSources)
	}{
		{"a column missing", func(p *parsedSources) { p.Sources[0].Tables[0].Columns = p.Sources[0].Tables[0].Columns[1:] }},
		{"a column of another type", func(p *parsedSources) { p.Sources[0].Tables[0].Columns[0].DataType = "text" }},
		{"another primary key", func(p *parsedSources) { p.Sources[0].Tables[0].Config.Meta.PrimaryKey = []string{"id"} }},
		{"a table missing", func(p *parsedSources) { p.Sources[0].Tables = p.Sources[0].Tables[1:] }},
		{"no unique test", func(p *parsedSources) { p.Sources[0].Tables[0].DataTests = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			changed := parseSources(t, b)
			tt.change(&changed)
			if d := disagreements(changed, all, cols, keys); len(d) == 0 {
				t.Errorf("no disagreement found")
			}
		})
	}
}

func TestDbtSourcesCommand(t *testing.T) {
	t.Parallel()
	run1 := func(env map[string]string, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"dbt-sources"}, args...), strings.NewReader(""), &out, &errb,
			func(k string) string { return env[k] })
		return code, out.String(), errb.String()
	}
	code, out, errs := run1(map[string]string{"EXACTSYNC_ENTITIES": "accounts,vat_codes,units",
		"EXACTSYNC_SCHEDULE_UNITS": "off", "EXACTSYNC_SCHEDULE_VAT_CODES": "0 6 * * 1-5"})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	p := parseSources(t, []byte(out))
	type fresh struct {
		Warn, Error dbtAfter
	}
	got := map[string]*fresh{}
	for _, tb := range p.Sources[0].Tables {
		got[tb.Name] = nil
		if f := tb.Config.Freshness; f != nil {
			got[tb.Name] = &fresh{f.WarnAfter, f.ErrorAfter}
		}
	}
	want := map[string]*fresh{
		"accounts": {dbtAfter{45, "minute"}, dbtAfter{3, "hour"}}, // every 15 minutes
		// Weekdays at 6: three days from Friday to Monday.
		"vat_codes": {dbtAfter{9, "day"}, dbtAfter{36, "day"}},
		"units":     nil, // no incremental schedule: no freshness
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tables and freshness (-want +got):\n%s", diff)
	}

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown entity", []string{"--entities", "accounts,nope"}, `unknown entity "nope"`},
		{"deprecated entity", []string{"--entities", "quotations"}, "quotations has no table"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := run1(nil, tt.args...)
			if code != exitUsage || out != "" || !strings.Contains(errs, tt.want) || strings.Count(errs, "\n") != 1 {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 and one line saying %q", code, out, errs, tt.want)
			}
		})
	}
	code, out, _ = run1(nil, "--entities", "all")
	if n := len(parseSources(t, []byte(out)).Sources[0].Tables); code != 0 || n < 70 {
		t.Errorf("--entities all: exit %d, %d tables; want every one of the catalogue's", code, n)
	}
}

func TestAfter(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want dbtAfter
	}{
		{45 * time.Minute, dbtAfter{45, "minute"}},
		{3 * time.Hour, dbtAfter{3, "hour"}},
		{72 * time.Hour, dbtAfter{3, "day"}},
		{90 * time.Second, dbtAfter{2, "minute"}},
	}
	for _, tt := range tests {
		if got := after(tt.d); got != tt.want {
			t.Errorf("after(%s) = %v, want %v", tt.d, got, tt.want)
		}
	}
}
