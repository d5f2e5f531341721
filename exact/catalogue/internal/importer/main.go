// The importer command turns the facts of Exact Online's entities, as gathered in the
// project's shared catalogue (exact-sync-entities.json and exact-other-entities.json), into
// the catalogue's data file, entities.json: names, paths, keys, sync/Deleted entity types
// and each field's name and Edm type. It carries over facts only; the descriptions are
// written here from the entity's path.
//
//	go run ./exact/catalogue/internal/importer -in DIR -out exact/catalogue/entities.json
//
// The data file, not this command, is the catalogue's source: an entity or a field is
// added by editing entities.json (and writing a migration for its table).
//
// A citation such as §3.10 in its comments names a section of docs/exact-online.md, the
// project's reference of Exact Online.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/exactsync/exactsync/exact/catalogue"
)

type sourceField struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

type sourceEntity struct {
	Path        string        `json:"path"`
	Key         string        `json:"key"`
	DeletedType *int          `json:"entity_type_deleted"`
	Deprecated  bool          `json:"deprecated"`
	HasModified bool          `json:"has_modified"`
	Fields      []sourceField `json:"fields"`
}

func main() {
	in := flag.String("in", "", "directory holding exact-sync-entities.json and exact-other-entities.json")
	out := flag.String("out", "entities.json", "data file to write")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "importer:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	if in == "" {
		return fmt.Errorf("-in is required: the directory of the shared entity facts")
	}
	var syncs, others []sourceEntity
	for _, f := range []struct {
		name string
		into *[]sourceEntity
	}{{"exact-sync-entities.json", &syncs}, {"exact-other-entities.json", &others}} {
		b, err := os.ReadFile(filepath.Join(in, f.name))
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, f.into); err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
	}
	var data []catalogue.Data
	for _, e := range syncs {
		d := convert(e, catalogue.ReadSync)
		data = append(data, d)
		if e.Path == "sync/CRM/Accounts" {
			// Suppliers are accounts with IsSupplier = true (docs/exact-online.md §5.1), read from
			// the same stream.
			s := d
			s.Name = "suppliers"
			s.Table = "exact.suppliers"
			s.Description = "Accounts that are suppliers (IsSupplier = true), read from the same stream as accounts."
			s.Keep = &catalogue.Keep{Field: "IsSupplier", Equals: true}
			data = append(data, s)
		}
	}
	for _, e := range others {
		read := catalogue.ReadModified
		if !e.HasModified {
			read = catalogue.ReadFull
		}
		data = append(data, convert(e, read))
	}
	b, err := json.MarshalIndent(data, "", "  ")
	if err != nil {
		return err
	}
	// One line a field keeps the file short and its diffs readable.
	b = oneLineField.ReplaceAllFunc(b, func(m []byte) []byte {
		return spaces.ReplaceAll(m, []byte(" "))
	})
	if _, err := catalogue.Parse(b); err != nil {
		return fmt.Errorf("the data written would not load: %w", err)
	}
	return os.WriteFile(out, append(b, '\n'), 0o644)
}

func convert(e sourceEntity, read string) catalogue.Data {
	last := e.Path[strings.LastIndexByte(e.Path, '/')+1:]
	name := catalogue.Snake(last)
	d := catalogue.Data{
		Name: name, Table: "exact." + name, Path: e.Path, Read: read, Key: e.Key,
		Deprecated: e.Deprecated, Description: describe(e.Path, read),
	}
	if e.DeletedType != nil && read == catalogue.ReadSync {
		d.DeletedType = *e.DeletedType
	}
	for _, f := range e.Fields {
		fd := catalogue.FieldData{Name: f.Name, Type: f.Type}
		if e.Path == "sync/CRM/Accounts" && f.Name == "Code" {
			fd.Trim = true // 18 characters, right-aligned, space-padded (§3.8)
		}
		d.Fields = append(d.Fields, fd)
	}
	return d
}

var (
	oneLineField = regexp.MustCompile(`\{\s+"name": "[^"]*",\s+"type": "[^"]*"(,\s+"trim": true)?\s+\}`)
	spaces       = regexp.MustCompile(`\s+`)
)

var camel = regexp.MustCompile(`[A-Z]+[a-z0-9]*|[a-z0-9]+`)

// describe writes an entity's description from its path.
func describe(path, read string) string {
	parts := strings.Split(path, "/")
	area := parts[len(parts)-2]
	words := strings.ToLower(strings.Join(camel.FindAllString(parts[len(parts)-1], -1), " "))
	how := map[string]string{
		catalogue.ReadSync:     "read incrementally by Timestamp, deletions from sync/Deleted",
		catalogue.ReadModified: "reference data, read incrementally by Modified",
		catalogue.ReadFull:     "reference data, read in full each run",
	}[read]
	return fmt.Sprintf("%s%s (%s area), %s.", strings.ToUpper(words[:1]), words[1:], area, how)
}
