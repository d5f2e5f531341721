package migrations_test

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"

	"github.com/exactsync/exactsync/migrations"
)

// TestFiles checks the house rules for migration files: numbered from 1, each number once,
// snake_case names, an Up section and no Down section.
func TestFiles(t *testing.T) {
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatal("no migration files embedded")
	}
	valid := regexp.MustCompile(`^\d{5}_[a-z0-9_]+\.sql$`)
	for i, name := range names {
		if !valid.MatchString(name) {
			t.Errorf("file %s: want NNNNN_snake_case.sql", name)
		}
		// Numbers rise from 1, each used once. Gaps are allowed while branches that each
		// hold a number of their own are merged; goose applies the files in order.
		if i == 0 && !strings.HasPrefix(name, "00001_") {
			t.Errorf("the first file is %s, want 00001_…", name)
		}
		if i > 0 && name[:5] <= names[i-1][:5] {
			t.Errorf("%s does not follow %s with a higher number", name, names[i-1])
		}
		body, err := fs.ReadFile(migrations.FS, name)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(body), "-- +goose Up") {
			t.Errorf("%s has no -- +goose Up section", name)
		}
		if strings.Contains(string(body), "-- +goose Down") {
			t.Errorf("%s has a -- +goose Down section; migrations are up only", name)
		}
	}
}
