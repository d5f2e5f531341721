package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/exactsync/exactsync/internal/sibling"
)

// benchCmd runs the benchmark, the exactsync-bench command (cmd/exactsync-bench), with the
// arguments as given: the benchmark, and the simulator it syncs from, are no part of the
// product binary. It finds the command as the demo finds the simulator (package sibling).
type benchCmd struct {
	Args []string `arg:"" optional:"" help:"The benchmark's flags; exactsync bench --help lists them."`
}

// benchStopGrace is how long the benchmark has, once exactsync is told to stop, to drop
// its databases and exit before it is killed.
const benchStopGrace = 10 * time.Second

func (c *benchCmd) Run(e *env) error {
	bin, err := sibling.Find(e.ctx, "exactsync-bench")
	if errors.Is(err, sibling.ErrNotFound) {
		return errNoBench
	}
	if err != nil {
		return fmt.Errorf("finding the benchmark: %w", err)
	}
	defer bin.Close()
	cmd := exec.CommandContext(e.ctx, bin.Path, c.Args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = e.stdin, e.stdout, e.stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = benchStopGrace
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() > 0 {
		return exitCodeError{exit.ExitCode()} // the benchmark said what went wrong
	}
	if err != nil {
		return fmt.Errorf("running the benchmark: %w", err)
	}
	return nil
}

var errNoBench = errors.New("exactsync bench runs the benchmark command, exactsync-bench: install it with " +
	"`go install github.com/exactsync/exactsync/cmd/exactsync-bench@latest`, or run exactsync from a checkout of exactsync's source")
