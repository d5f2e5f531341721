package citetest

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// reference is the page every § citation points to, relative to the module root.
const reference = "docs/exact-online.md"

var (
	// heading is a numbered heading of the reference: "## 3. REST and OData",
	// "### 3.10 Sync endpoints: …".
	heading = regexp.MustCompile(`(?m)^#{2,4} (\d+(?:\.\d+)*)\.? `)
	// citation is "§" and what follows it: a section number when well formed.
	citation = regexp.MustCompile(`§(\d+(?:\.\d+)*)?`)
	// repoPath is a path the reference names in backquotes that must exist in the
	// repository: a file of ours (lower-case directories, a known extension) or a package
	// directory. Exact's endpoints have upper-case segments (sync/CRM/Accounts), so they
	// never match.
	repoPath = regexp.MustCompile("`((?:cmd|config|docs|exact|internal|migrations|sink|sync|webhook|worker)(?:/[a-z0-9_]+)*(?:\\.(?:go|json|md|sql))?)`")
)

func TestCitationsNameSectionsOfTheReference(t *testing.T) {
	root := moduleRoot(t)
	sections := readSections(t, root)
	self, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}

	found := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (d.Name() == ".git" || d.Name() == "testdata") || path == self {
				return filepath.SkipDir // this package speaks of § without citing
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if !bytes.ContainsRune(b, '§') || bytes.IndexByte(b, 0) >= 0 || !utf8.Valid(b) {
			return nil // no citation, or not text
		}
		rel, _ := filepath.Rel(root, path)
		for _, c := range cite(b) {
			found++
			switch {
			case c.section == "":
				t.Errorf("%s:%d: %q: a § must be followed by a section number of %s (write other documents' sections out: \"RFC 8259, section 4\")", rel, c.line, c.context, reference)
			case !sections[c.section]:
				t.Errorf("%s:%d: cites §%s, which %s does not have: cite one of its sections (%s), or add the section there", rel, c.line, c.section, reference, sectionList(sections))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The code cites the reference hundreds of times: finding few means the walk is wrong.
	if found < 100 {
		t.Fatalf("found %d § citations under %s, want hundreds; the walk is wrong", found, root)
	}
}

// TestReferenceNamesFilesThatExist: where the reference says which file or package of
// exactsync relies on a fact, that file or package exists.
func TestReferenceNamesFilesThatExist(t *testing.T) {
	root := moduleRoot(t)
	b, err := os.ReadFile(filepath.Join(root, reference))
	if err != nil {
		t.Fatal(err)
	}
	// The sources at the end name files of other repositories.
	text, _, ok := strings.Cut(string(b), "\n## Sources")
	if !ok {
		t.Fatalf("%s has no \"## Sources\" section", reference)
	}
	names := 0
	for _, m := range repoPath.FindAllStringSubmatch(text, -1) {
		names++
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(m[1]))); err != nil {
			t.Errorf("%s names `%s`, which does not exist: correct the name", reference, m[1])
		}
	}
	if names < 10 {
		t.Fatalf("%s names %d files or packages of exactsync, want more; the pattern is wrong", reference, names)
	}
}

// TestCite pins what counts as a citation.
func TestCite(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string // sections, "" for a § without one
	}{
		{"section", "(§3.10)", []string{"3.10"}},
		{"chapter", "§2, and §0", []string{"2", "0"}},
		{"end of sentence", "see §3.14.", []string{"3.14"}},
		{"range", "§1.6–§1.9", []string{"1.6", "1.9"}},
		{"list", "§3.12, §6.16", []string{"3.12", "6.16"}},
		{"no number", `§"Data"`, []string{""}},
		{"none", "section 3.10 of RFC 8259", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, c := range cite([]byte(tt.text)) {
				got = append(got, c.section)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("cite(%q): got %q, want %q", tt.text, got, tt.want)
			}
		})
	}
}

// TestReadSections: the reference has the sections the code has always cited, each once.
func TestReadSections(t *testing.T) {
	sections := readSections(t, moduleRoot(t))
	for _, want := range []string{"0", "1.8", "2", "2.7", "3.5", "3.10", "3.16", "4.4", "5.3", "6.1", "6.17", "7", "8"} {
		if !sections[want] {
			t.Errorf("%s lacks §%s", reference, want)
		}
	}
}

type cited struct {
	line    int
	section string // "" when the § has no section number
	context string
}

// cite finds the § citations of a text.
func cite(b []byte) []cited {
	var out []cited
	for _, m := range citation.FindAllSubmatchIndex(b, -1) {
		c := cited{line: 1 + bytes.Count(b[:m[0]], []byte("\n"))}
		if m[2] >= 0 {
			c.section = string(b[m[2]:m[3]])
		}
		end := min(len(b), m[1]+20)
		if nl := bytes.IndexByte(b[m[1]:end], '\n'); nl >= 0 {
			end = m[1] + nl
		}
		for end > m[1] && !utf8.Valid(b[m[0]:end]) {
			end--
		}
		c.context = string(b[m[0]:end])
		out = append(out, c)
	}
	return out
}

// readSections returns the section numbers of the reference's headings, failing on one
// that occurs twice.
func readSections(t *testing.T, root string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, reference))
	if err != nil {
		t.Fatalf("reading the reference: %v", err)
	}
	sections := map[string]bool{}
	for _, m := range heading.FindAllSubmatch(b, -1) {
		s := string(m[1])
		if sections[s] {
			t.Errorf("%s has two sections numbered %s", reference, s)
		}
		sections[s] = true
	}
	if len(sections) < 50 {
		t.Fatalf("%s: found %d numbered sections, want the whole reference; the pattern is wrong", reference, len(sections))
	}
	return sections
}

func sectionList(sections map[string]bool) string {
	first, last := "", ""
	for s := range sections {
		if first == "" || less(s, first) {
			first = s
		}
		if last == "" || less(last, s) {
			last = s
		}
	}
	return fmt.Sprintf("§%s to §%s", first, last)
}

// less orders section numbers: 3.9 before 3.10.
func less(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := range min(len(as), len(bs)) {
		if len(as[i]) != len(bs[i]) {
			return len(as[i]) < len(bs[i])
		}
		if as[i] != bs[i] {
			return as[i] < bs[i]
		}
	}
	return len(as) < len(bs)
}

// moduleRoot is the directory of the module's go.mod: two levels up from this package.
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no go.mod two levels above the test: %v", err)
	}
	return root
}
