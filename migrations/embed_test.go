package migrations_test

import (
	"fmt"
	"io/fs"
	"regexp"
	"strings"
	"testing"

	"github.com/exactsync/exactsync/migrations"
)

// TestFiles checks the house rules for migration files: numbered from 1 without gaps,
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
		if want := fmt.Sprintf("%05d_", i+1); !strings.HasPrefix(name, want) {
			t.Errorf("file %d is %s, want a name starting %s", i+1, name, want)
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
