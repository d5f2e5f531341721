package sink_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/exactsync/exactsync/sink"
)

// FuzzReaderNameAndPassword: a name readers add accepts is a PostgreSQL identifier that
// needs no quoting and can name no role of PostgreSQL's or exactsync's own group; a
// password it accepts becomes a well-formed SCRAM-SHA-256 verifier; anything else is
// refused with the condition's error, never a panic.
func FuzzReaderNameAndPassword(f *testing.F) {
	for _, s := range [][2]string{{"bi_app", "s3cret!"}, {"BI", ""}, {"pg_monitor", "x"}, {`a"; DROP ROLE x; --`, "wachtwoörd"},
		{"exactsync_reader", "pass\tword"}, {strings.Repeat("a", 64), "'; SELECT 1; --"}, {"_", " "}, {"public", "\x00"}} {
		f.Add(s[0], s[1])
	}
	ident := regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)
	verifier := regexp.MustCompile(`^SCRAM-SHA-256\$4096:[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$`)
	f.Fuzz(func(t *testing.T, name, password string) {
		err := sink.CheckReaderName(name)
		switch {
		case err == nil && (!ident.MatchString(name) || strings.HasPrefix(name, "pg_") || name == sink.ReaderGroup):
			t.Fatalf("CheckReaderName accepted %q", name)
		case err != nil && !errors.Is(err, sink.ErrReaderName):
			t.Fatalf("CheckReaderName(%q): %v, not ErrReaderName", name, err)
		}
		v, err := sink.ScramVerifierSalt(password, []byte("0123456789abcdef"), 4096)
		switch {
		case err == nil && !verifier.MatchString(v):
			t.Fatalf("password %q gave the verifier %q", password, v)
		case err != nil && !errors.Is(err, sink.ErrReaderPassword):
			t.Fatalf("password %q: %v, not ErrReaderPassword", password, err)
		case err == nil && strings.ContainsFunc(password, func(r rune) bool { return r < 0x20 || r > 0x7e }):
			t.Fatalf("password %q, not printable ASCII, was accepted", password)
		}
	})
}
