package composetest

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// anchor is GitHub's anchor of a heading: lower case, spaces to hyphens, punctuation
// other than hyphens and underscores dropped.
func anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestREADMEContents: the contents at the top of the README link every section, in
// order, and nothing else: a section added without its link fails here.
func TestREADMEContents(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	var sections []string
	inCode := false
	for line := range strings.SplitSeq(readme, "\n") {
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
		}
		if h, ok := strings.CutPrefix(line, "## "); ok && !inCode {
			sections = append(sections, "#"+anchor(h))
		}
	}
	start := strings.Index(readme, "**Contents:**")
	end := strings.Index(readme, "\n## ")
	if start < 0 || end < start {
		t.Fatal("README.md has no **Contents:** before its first section")
	}
	var links []string
	for _, m := range regexp.MustCompile(`\]\((#[^)]+)\)`).FindAllStringSubmatch(readme[start:end], -1) {
		links = append(links, m[1])
	}
	if !slices.Equal(links, sections) {
		t.Errorf("the contents link\n  %v\nthe sections are\n  %v", links, sections)
	}
	if len(sections) < 10 {
		t.Errorf("found %d sections; the search is wrong", len(sections))
	}
}
