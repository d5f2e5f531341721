package sync

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/exactsync/exactsync/dest"
)

// cause is why a record that no longer matches c leaves the table, for the deletions
// trail and the history (dest.Removal.Cause): "no longer a supplier" for IsSupplier =
// true, "now a supplier" for IsSupplier = false, else the field and the value it lost.
func (c *Condition) cause() string {
	rest, ok := strings.CutPrefix(c.Source, "Is")
	if !ok || rest == "" || !unicode.IsUpper(rune(rest[0])) {
		return fmt.Sprintf("%s no longer %v", c.Source, c.Equals)
	}
	var words []string
	start := 0
	for i := 1; i <= len(rest); i++ {
		if i == len(rest) || unicode.IsUpper(rune(rest[i])) {
			words = append(words, strings.ToLower(rest[start:i]))
			start = i
		}
	}
	noun := strings.Join(words, " ")
	article := "a "
	if strings.ContainsRune("aeiou", rune(noun[0])) {
		article = "an "
	}
	if c.Equals {
		return "no longer " + article + noun
	}
	return "now " + article + noun
}

// removalCause is the cause of a removal of entity e's table by a record read from its
// own endpoint: it left e's Keep.
func (e *Entity) removalCause() string {
	if e.Keep == nil {
		return dest.CauseDeleted
	}
	return e.Keep.cause()
}
