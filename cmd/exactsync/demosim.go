package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/exactsync/exactsync/internal/sibling"
)

// simProcess is the simulator of Exact Online (cmd/exactsim) that the demo runs as a child
// process, so that the product binary carries none of the simulator's code. The demo talks
// to it over HTTP only, as exactsync talks to Exact, plus the simulator's control API.
type simProcess struct {
	cmd          *exec.Cmd
	stdin        io.WriteCloser // held open while the demo lives: its end stops the simulator
	url          string
	refreshToken string
	bin          *sibling.Binary // removed by stop if built for the demo
}

// startSimulator starts exactsim with args: the exactsim binary next to this executable
// or on PATH, or, in a checkout of exactsync's source with the go command at hand (as
// with `go run ./cmd/exactsync demo`), one built from ./cmd/exactsim.
func startSimulator(ctx context.Context, args ...string) (*simProcess, error) {
	bin, err := sibling.Find(ctx, "exactsim")
	if errors.Is(err, sibling.ErrNotFound) {
		return nil, errNoSimulator
	}
	if err != nil {
		return nil, fmt.Errorf("finding the simulator: %w", err)
	}
	p := &simProcess{bin: bin}
	// However the demo ends (a signal, SIGKILL, a closed terminal), its end closes the
	// simulator's standard input, and the simulator stops with it.
	p.cmd = exec.Command(bin.Path, append([]string{"--exit-on-stdin-eof"}, args...)...)
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		p.stop()
		return nil, err
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		p.stop()
		return nil, err
	}
	var stderr bytes.Buffer
	p.cmd.Stderr = &stderr
	if err := p.cmd.Start(); err != nil {
		p.stop()
		return nil, fmt.Errorf("starting the simulator: %w", err)
	}
	lines := bufio.NewScanner(out)
	for (p.url == "" || p.refreshToken == "") && lines.Scan() {
		line := lines.Text()
		if u, ok := strings.CutPrefix(line, "exactsim listening on "); ok {
			p.url = u
		}
		if rt, ok := strings.CutPrefix(line, "refresh_token: "); ok {
			p.refreshToken = rt
		}
	}
	go io.Copy(io.Discard, out) // the rest of its output
	if p.url == "" || p.refreshToken == "" {
		p.stop()
		return nil, fmt.Errorf("the simulator did not start: %s", strings.TrimSpace(stderr.String()))
	}
	return p, nil
}

var errNoSimulator = errors.New("the demo needs the simulator of Exact Online: install it with " +
	"`go install github.com/exactsync/exactsync/cmd/exactsim@latest`, or run the demo from a checkout of exactsync's source")

// stop ends the simulator and removes what the demo built.
func (p *simProcess) stop() {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.stdin.Close()
		_ = p.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = p.cmd.Process.Kill()
			<-done
		}
	}
	if p.bin != nil {
		p.bin.Close()
	}
}

// simAccount is an account as the control API lists it.
type simAccount struct {
	ID         string `json:"ID"`
	Name       string `json:"Name"`
	IsSupplier bool   `json:"IsSupplier"`
}

// accounts lists a division's accounts (GET /_sim/accounts).
func (p *simProcess) accounts(ctx context.Context, division int) ([]simAccount, error) {
	var out []simAccount
	err := p.control(ctx, http.MethodGet, fmt.Sprintf("/_sim/accounts?division=%d", division), nil, &out)
	return out, err
}

// changeAccounts upserts and deletes accounts (POST /_sim/accounts).
func (p *simProcess) changeAccounts(ctx context.Context, division int, upsert []map[string]any, del []string) error {
	body := map[string]any{"division": division, "upsert": upsert, "delete": del}
	return p.control(ctx, http.MethodPost, "/_sim/accounts", body, nil)
}

func (p *simProcess) control(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.url+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("simulator %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("simulator %s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}
