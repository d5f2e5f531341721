package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

// commandPaths lists every command of the CLI, e.g. "sync", "auth import".
func commandPaths(t *testing.T) []string {
	t.Helper()
	var c cli
	parser, err := kong.New(&c, kong.Name("exactsync"), kong.Vars{"entities": "", "default_batch_pages": "1", "default_batch_mib": "1"})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(prefix string, n *kong.Node)
	walk = func(prefix string, n *kong.Node) {
		for _, child := range n.Children {
			path := strings.TrimSpace(prefix + " " + child.Name)
			out = append(out, path)
			walk(path, child)
		}
	}
	walk("", parser.Model.Node)
	if len(out) < 12 {
		t.Fatalf("found %d commands: %v; the walk is wrong", len(out), out)
	}
	return out
}

func runArgs(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(""), &out, &errb, func(string) string { return "" })
	return code, out.String(), errb.String()
}

// TestHelpExitsZeroForEveryCommand: --help, -h and exactsync help print the command's
// help on standard output and exit 0, without touching anything.
func TestHelpExitsZeroForEveryCommand(t *testing.T) {
	for _, path := range append([]string{""}, commandPaths(t)...) {
		words := strings.Fields(path)
		if len(words) > 0 && words[0] == "bench" {
			continue // a launcher of exactsync-bench: its help is that command's
		}
		for _, args := range [][]string{
			append(append([]string{}, words...), "--help"),
			append(append([]string{}, words...), "-h"),
			append([]string{"help"}, words...),
		} {
			code, stdout, stderr := runArgs(args...)
			if code != exitOK {
				t.Errorf("exactsync %s: exit %d, want 0; stderr %q", strings.Join(args, " "), code, stderr)
			}
			want := strings.TrimSpace("Usage: exactsync " + path)
			if !strings.Contains(stdout, want) {
				t.Errorf("exactsync %s: stdout lacks %q:\n%s", strings.Join(args, " "), want, stdout)
			}
			if stderr != "" {
				t.Errorf("exactsync %s: stderr %q, want nothing", strings.Join(args, " "), stderr)
			}
		}
	}
}

func TestBareCommandPrintsShortUsageAndExitsTwo(t *testing.T) {
	code, stdout, stderr := runArgs()
	if code != exitUsage {
		t.Errorf("exit %d, want %d", code, exitUsage)
	}
	if stdout != "" {
		t.Errorf("stdout %q, want nothing", stdout)
	}
	for _, want := range []string{"Usage: exactsync <command>", "  sync ", "  run ", "exactsync help <command>"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("usage lacks %q:\n%s", want, stderr)
		}
	}
	if n := strings.Count(stderr, "\n"); n > 25 {
		t.Errorf("usage is %d lines; want a short one", n)
	}
}

func TestUnknownCommandIsAUsageError(t *testing.T) {
	code, _, stderr := runArgs("frobnicate")
	if code != exitUsage || !strings.HasPrefix(stderr, "exactsync: ") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("got exit %d, stderr %q; want 2 and one line", code, stderr)
	}
	code, _, stderr = runArgs("help", "frobnicate")
	if code != exitUsage {
		t.Errorf("help frobnicate: exit %d, stderr %q; want 2", code, stderr)
	}
}

func TestVersionPrintsVersionAndBuildInfo(t *testing.T) {
	code, stdout, _ := runArgs("version")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	if !strings.HasPrefix(stdout, "exactsync ") || !strings.Contains(stdout, "go1.") {
		t.Errorf("got %q, want exactsync VERSION … goVERSION OS/ARCH", stdout)
	}
	// A build with no version and no commit says so, and how to give it one.
	if !strings.Contains(stdout, "(commit ") && !strings.Contains(stdout, `exactsync devel (built from source without version information: build with -ldflags "-X main.version=…"`) {
		t.Errorf("got %q, want the commit, or a word on the missing version", stdout)
	}
	version = "v9.8.7"
	t.Cleanup(func() { version = "" })
	if _, stdout, _ := runArgs("version"); !strings.HasPrefix(stdout, "exactsync v9.8.7") {
		t.Errorf("with -X main.version: got %q", stdout)
	}
}

// TestNegativeValueReachesTheCommandsCheck: --workers -1 is refused by run's own check of
// the value, not with a hint to quote it that the check would refuse as well.
func TestNegativeValueReachesTheCommandsCheck(t *testing.T) {
	for _, args := range [][]string{{"run", "--workers", "-1"}, {"run", "--workers=-1"}} {
		code, _, stderr := runArgs(args...)
		if code != exitUsage || stderr != "exactsync: --workers -1: use 1 or more\n" {
			t.Errorf("exactsync %s: exit %d, stderr %q; want 2 and the check's line", strings.Join(args, " "), code, stderr)
		}
	}
	if code, _, stderr := runArgs("run", "--grace", "-5s"); code != exitUsage || stderr != "exactsync: --grace -5s: use a duration above 0, e.g. 25s\n" {
		t.Errorf("exactsync run --grace -5s: exit %d, stderr %q; want 2 and the check's line", code, stderr)
	}
}

// TestRescueAfterBelowFourGracesIsRefused: a --rescue-after that a cut turn's last write
// could outlast is refused with one line naming the smallest value that works.
func TestRescueAfterBelowFourGracesIsRefused(t *testing.T) {
	code, _, stderr := runArgs("run", "--grace", "25s", "--rescue-after", "1m")
	want := "exactsync: --rescue-after 1m0s is shorter than four times --grace 25s: a job cut at three quarters of it may still be writing its page when River takes it for lost and runs it again; use --rescue-after 1m40s or more, or a shorter --grace\n"
	if code != exitUsage || stderr != want {
		t.Errorf("exactsync run --grace 25s --rescue-after 1m: exit %d, stderr %q; want 2 and %q", code, stderr, want)
	}
}
