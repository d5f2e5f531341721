package sink

import (
	"flag"
	"os"
	"testing"
)

// TestMain raises -parallel to 8 unless the command line sets it: each test works in a
// database of its own and spends most of its time waiting on PostgreSQL, not on the
// CPU, so they overlap well even on two cores.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		flag.Set("test.parallel", "8")
	}
	os.Exit(m.Run())
}
