package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	gosync "sync"
	"testing"
)

// The end-to-end tests run the real exactsync binary (and exactsync-bench next to it). Each
// is built once per test binary and build tags, into one temporary directory that TestMain
// removes; with -race when the tests run with -race.

var builds struct {
	mu    gosync.Mutex
	dir   string
	paths map[string]string // name → binary
	errs  map[string]error
}

// parallelDefault is how many tests of this package run at once unless -parallel says
// otherwise. They spend most of their time waiting on the processes they start (run,
// the simulator, PostgreSQL): measured, the package used 320 s of CPU in 580 s with
// four at a time on two cores. go test's default (GOMAXPROCS, two here) would leave the
// cores idle and the package near go test's 10-minute timeout.
const parallelDefault = 6

func TestMain(m *testing.M) {
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given {
		if err := flag.Set("test.parallel", strconv.Itoa(max(parallelDefault, runtime.GOMAXPROCS(0)))); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	// A command started without EXACTSYNC_STATE_DIR keeps its state (the generated
	// encryption key) under $XDG_STATE_HOME: a directory of this run's, never the home
	// directory of whoever runs the tests, whose key a later test would find.
	state, err := os.MkdirTemp("", "exactsync-test-state")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("XDG_STATE_HOME", state)
	os.Unsetenv("EXACTSYNC_STATE_DIR")
	code := m.Run()
	if builds.dir != "" {
		os.RemoveAll(builds.dir)
	}
	os.RemoveAll(state)
	os.Exit(code)
}

// buildBinary builds the exactsync command with tags, once. Under -short the test is
// skipped: the quick loop runs no binaries.
func buildBinary(t *testing.T, tags string) string {
	t.Helper()
	name := "exactsync"
	if tags != "" {
		name += "-" + tags
	}
	return build(t, name, ".", tags, raceEnabled)
}

// build builds the command in pkg (a directory relative to this one) with tags, and with
// -race when race is set, into the build directory as name, once.
func build(t *testing.T, name, pkg, tags string, race bool) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the exactsync binary; skipped with -short")
	}
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if err := builds.errs[name]; err != nil {
		t.Fatal(err)
	}
	if p := builds.paths[name]; p != "" {
		return p
	}
	if builds.dir == "" {
		dir, err := os.MkdirTemp("", "exactsync-test-bin")
		if err != nil {
			t.Fatal(err)
		}
		builds.dir, builds.paths, builds.errs = dir, map[string]string{}, map[string]error{}
	}
	path := filepath.Join(builds.dir, name)
	args := []string{"build", "-tags", tags, "-o", path, pkg}
	if race {
		args = append([]string{"build", "-race"}, args[1:]...)
	}
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		builds.errs[name] = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		t.Fatal(builds.errs[name])
	}
	builds.paths[name] = path
	return path
}

// binary is the exactsync command as shipped; built with -race when this test binary is
// (race_test.go), so that the end-to-end and fault tests run a race-detecting exactsync,
// whose reports fail the test (raceReport).
func binary(t *testing.T) string { return buildBinary(t, "") }

// plainBinary is the exactsync command as shipped, without the race detector whatever the
// test binary was built with: for the tests whose point is volume rather than concurrency
// (the catalogue sweep runs a hundred syncs one after the other), where the detector
// would triple the time and find nothing the other end-to-end tests do not reach.
func plainBinary(t *testing.T) string {
	t.Helper()
	if !raceEnabled {
		return binary(t)
	}
	return build(t, "exactsync-plain", ".", "", false)
}

// failpointBinary is the exactsync command with the failpoints compiled in
// (exact/failpoint.go), for the crash tests.
func failpointBinary(t *testing.T) string { return buildBinary(t, "failpoints") }

// binaryWithBench is the exactsync command with the exactsync-bench command built next to
// it, where exactsync bench looks first.
func binaryWithBench(t *testing.T) string {
	t.Helper()
	// The benchmark measures speed: built without the race detector, always.
	build(t, "exactsync-bench", "../exactsync-bench", "", false)
	return binary(t)
}

// TestBinariesFollowTheRaceDetector: the exactsync the end-to-end tests run is built with
// -race exactly when the tests are, as its build information records.
func TestBinariesFollowTheRaceDetector(t *testing.T) {
	t.Parallel()
	bin := binary(t)
	out, err := exec.Command("go", "version", "-m", bin).CombinedOutput()
	if err != nil {
		t.Fatalf("go version -m %s: %v\n%s", bin, err, out)
	}
	if got := strings.Contains(string(out), "\tbuild\t-race=true\n"); got != raceEnabled {
		t.Errorf("the exactsync binary built with -race: %v, want %v (as this test binary)\n%s", got, raceEnabled, out)
	}
}
